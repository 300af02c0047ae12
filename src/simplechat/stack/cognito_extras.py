"""What moto's Cognito leaves out, put in front of it: emailed codes, reset rules, MFA_SETUP,
RevokeToken, a key of our own, and a port that only the stack can use.

moto (5.x) accepts any sign-up confirmation code, has no ResendConfirmationCode nor
RevokeToken, hands the forgot-password code back in a header of its own, does not check a reset
password against the pool's policy, sends an unsigned GlobalSignOut (the browser's) to a region
without the pool, never asks for TOTP enrolment at USER_PASSWORD_AUTH sign-in in a pool whose
MFA is required, publishes the JWKS of the key every moto shares, and answers unsigned admin
calls from anyone who reaches its port. This WSGI layer answers those calls as Cognito does and
passes all else on, to callers that show this process's secret (the stack's proxy and its admin
client); the JWKS, public anyway, is served to all.
"""

from __future__ import annotations

import io
import json
import logging
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from moto.server import ThreadedMotoServer

from simplechat.stack.authenticators import AuthenticatorSecrets, motos_code

if TYPE_CHECKING:
    from simplechat.stack.cognito import UserPool
    from simplechat.stack.signing import LocalSigner

log = logging.getLogger("simplechat")

#: How long an emailed code is good for, as Cognito: sign-up 24 hours, password reset 1 hour.
CODE_LIFETIME_SECONDS = {"sign-up": 24 * 3600, "reset": 3600}
#: Wrong codes before a code is void and the user must ask for a new one.
MAX_CODE_ATTEMPTS = 5
#: Codes sent to one user for one purpose in an hour: with fresh codes at will, 5 guesses each
#: would add up to the whole million.
MAX_CODES_PER_HOUR = 5
#: The symbols Cognito counts for RequireSymbols.
SYMBOLS = set("^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+-")
MOTO_CODE_HEADER = "x-moto-forgot-password-confirmation-code"
#: The admin secret's header (cognito.ADMIN_SECRET_HEADER) as WSGI names it.
SECRET_ENVIRON_KEY = "HTTP_X_SIMPLECHAT_COGNITO_SECRET"
JSON_TYPE = "application/x-amz-json-1.1"

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class CognitoError(Exception):
    """Answered as Cognito answers a client error: 400 with `__type` and `message`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class _Code:
    value: str
    expires: float
    failures: int = 0


class CodeMail:
    """The codes Cognito would email: issued, printed (nothing is sent locally) and checked."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._codes: dict[tuple[str, str], _Code] = {}
        self._sent: dict[tuple[str, str], list[float]] = {}

    def issue(self, purpose: str, username: str, value: str | None = None) -> str:
        now = self._clock()
        key = (purpose, username.lower())
        sent = [at for at in self._sent.get(key, []) if at > now - 3600]
        if len(sent) >= MAX_CODES_PER_HOUR:
            raise CognitoError(
                "LimitExceededException", "Attempt limit exceeded, please try after some time."
            )
        self._sent[key] = [*sent, now]
        code = value or f"{secrets.randbelow(1_000_000):06d}"
        lifetime = CODE_LIFETIME_SECONDS[purpose]
        self._codes[(purpose, username.lower())] = _Code(code, self._clock() + lifetime)
        what = "sign-up confirmation" if purpose == "sign-up" else "password reset"
        log.info("local Cognito sends no email: the %s code for %s is %s", what, username, code)
        return code

    def check(self, purpose: str, username: str, value: str) -> None:
        """Raises CognitoError as Cognito does for a wrong, expired or worn-out code."""
        key = (purpose, username.lower())
        code = self._codes.get(key)
        if code is None or code.expires <= self._clock():
            self._codes.pop(key, None)
            raise CognitoError(
                "ExpiredCodeException", "Invalid code provided, please request a code again."
            )
        if not secrets.compare_digest(code.value, value.strip()):
            code.failures += 1
            if code.failures >= MAX_CODE_ATTEMPTS:
                del self._codes[key]
                raise CognitoError(
                    "LimitExceededException", "Attempt limit exceeded, please try after some time."
                )
            raise CognitoError(
                "CodeMismatchException", "Invalid verification code provided, please try again."
            )

    def used(self, purpose: str, username: str) -> None:
        self._codes.pop((purpose, username.lower()), None)


def password_problems(policy: dict[str, Any], password: str) -> list[str]:
    """What Cognito's policy check would say is wrong with `password` (empty: it passes)."""
    checks = [
        (len(password) >= policy["MinimumLength"], "Password not long enough"),
        (not policy["RequireLowercase"] or re.search("[a-z]", password), "lowercase"),
        (not policy["RequireUppercase"] or re.search("[A-Z]", password), "uppercase"),
        (not policy["RequireNumbers"] or re.search("[0-9]", password), "numeric"),
        (not policy["RequireSymbols"] or SYMBOLS & set(password), "symbol"),
    ]
    rules = [(ok, p if " " in p else f"Password must have {p} characters") for ok, p in checks]
    return [problem for ok, problem in rules if not ok]


class CognitoExtras:
    """WSGI middleware over moto's app; `attach` gives it the pool and an admin client."""

    def __init__(
        self, *, admin_secret: str, signer: LocalSigner, mail: CodeMail | None = None
    ) -> None:
        self.mail = mail or CodeMail()
        self.inner: WsgiApp | None = None
        self.pool: UserPool | None = None
        self.admin: Any = None
        self.moto_pool: Any = None
        self._admin_secret = admin_secret
        self._signer = signer
        self.authenticators = AuthenticatorSecrets()
        # Sessions a correct authenticator code was given for: only these finish MFA_SETUP.
        self._verified_sessions: set[str] = set()
        self._handlers: dict[str, Callable[[dict[str, Any], dict[str, Any]], Any]] = {
            "SignUp": self._sign_up,
            "ResendConfirmationCode": self._resend_confirmation_code,
            "ConfirmSignUp": self._confirm_sign_up,
            "ForgotPassword": self._forgot_password,
            "ConfirmForgotPassword": self._confirm_forgot_password,
            "InitiateAuth": self._initiate_auth,
            "GlobalSignOut": self._global_sign_out,
            "RevokeToken": self._revoke_token,
            "RespondToAuthChallenge": self._respond_to_auth_challenge,
            "AssociateSoftwareToken": self._associate_software_token,
            "VerifySoftwareToken": self._verify_software_token,
        }

    def attach(self, pool: UserPool, admin: Any, moto_pool: Any) -> None:
        self.pool, self.admin, self.moto_pool = pool, admin, moto_pool

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        assert self.inner is not None
        if environ["REQUEST_METHOD"] == "GET" and environ.get("PATH_INFO", "").endswith(
            "/.well-known/jwks.json"
        ):
            return _answer(start_response, "200 OK", "application/json", self._signer.jwks())
        shown = environ.get(SECRET_ENVIRON_KEY, "")
        if not secrets.compare_digest(shown.encode(), self._admin_secret.encode()):
            return _answer(
                start_response,
                "403 Forbidden",
                JSON_TYPE,
                {
                    "__type": "AccessDeniedException",
                    "message": "The local user pool answers only the simplechat stack; "
                    "sign in through the chat app's own address.",
                },
            )
        action = environ.get("HTTP_X_AMZ_TARGET", "").rpartition(".")[2]
        handler = self._handlers.get(action)
        if environ["REQUEST_METHOD"] != "POST" or handler is None or self.pool is None:
            return self.inner(environ, start_response)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
        try:
            request = json.loads(body or b"{}")
            status, headers, reply = handler(environ, request)
        except CognitoError as error:
            status, headers = "400 Bad Request", [("Content-Type", "application/x-amz-json-1.1")]
            reply = json.dumps({"__type": error.code, "message": error.message}).encode()
        headers = [
            (k, v) for k, v in headers if k.lower() not in ("content-length", MOTO_CODE_HEADER)
        ]
        start_response(status, [*headers, ("Content-Length", str(len(reply)))])
        return [reply]

    def _forward(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        assert self.inner is not None
        answer: dict[str, Any] = {}

        def start(status: str, headers: list[tuple[str, str]], *_: Any) -> None:
            answer.update(status=status, headers=headers)

        reply = b"".join(self.inner(environ, start))
        return answer["status"], list(answer["headers"]), reply

    def _forward_with(
        self, environ: dict[str, Any], request: dict[str, Any]
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        """Passes on `request` (changed here) in place of the body the caller sent."""
        body = json.dumps(request).encode()
        environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
        return self._forward(environ)

    def _session_owner(self, session: str) -> Any:
        """The user moto bound a sign-in session to (None: no such session)."""
        bound = self.moto_pool.backend.sessions.get(session) if session else None
        return None if bound is None else self.moto_pool._get_user(bound[0])

    def _caller(self, request: dict[str, Any]) -> Any:
        """Whose call this is: the session's user, or the access token's."""
        if request.get("Session"):
            return self._session_owner(request["Session"])
        entry = self.moto_pool.access_tokens.get(request.get("AccessToken", ""))
        return None if entry is None else self.moto_pool._get_user(entry[1])

    def _respond_to_auth_challenge(self, environ: dict[str, Any], request: dict[str, Any]) -> Any:
        """moto takes the user from the request's USERNAME, not from the session: a session of
        one's own plus someone else's name signed in as them. Here the session names the user,
        an authenticator code is checked against that user's own secret, and MFA_SETUP ends
        only after a correct code (VerifySoftwareToken)."""
        name = request.get("ChallengeName", "")
        if name == "PASSWORD_VERIFIER":  # the stack's own step (MFA_SETUP); /cognito refuses it
            return self._forward(environ)
        session = str(request.get("Session", ""))
        bound = self.moto_pool.backend.sessions.get(session) if session else None
        started_as = "" if bound is None else str(bound[0])  # the name the session began with
        user = self.moto_pool._get_user(started_as) if started_as else None
        if user is None:
            raise CognitoError("NotAuthorizedException", "Invalid session for the user.")
        responses = dict(request.get("ChallengeResponses") or {})
        responses["USERNAME"] = started_as
        if name == "MFA_SETUP" and session not in self._verified_sessions:
            raise CognitoError(
                "NotAuthorizedException",
                "Verify a code from the authenticator app first (VerifySoftwareToken).",
            )
        if name == "SOFTWARE_TOKEN_MFA":
            code = str(responses.get("SOFTWARE_TOKEN_MFA_CODE", ""))
            if not self.authenticators.accepts(user.id, code):
                raise CognitoError("CodeMismatchException", "Invalid code received for user")
            responses["SOFTWARE_TOKEN_MFA_CODE"] = motos_code()
        answer = self._forward_with(environ, {**request, "ChallengeResponses": responses})
        self._verified_sessions.discard(session)
        return answer

    def _associate_software_token(self, environ: dict[str, Any], request: dict[str, Any]) -> Any:
        status, headers, reply = self._forward(environ)
        user = self._caller(request)
        if not status.startswith("200") or user is None:
            return status, headers, reply
        body = json.loads(reply)
        body["SecretCode"] = self.authenticators.associate(user.id)
        return status, headers, json.dumps(body).encode()

    def _verify_software_token(self, environ: dict[str, Any], request: dict[str, Any]) -> Any:
        user = self._caller(request)
        if user is None:
            return self._forward(environ)  # moto says what is wrong with the token or session
        if not self.authenticators.accepts(user.id, str(request.get("UserCode", ""))):
            raise CognitoError("CodeMismatchException", "Invalid code received for user")
        status, headers, reply = self._forward_with(environ, {**request, "UserCode": motos_code()})
        if status.startswith("200") and request.get("Session"):
            self._verified_sessions.add(json.loads(reply).get("Session", ""))
        return status, headers, reply

    def _sign_up(self, environ: dict[str, Any], request: dict[str, Any]) -> Any:
        status, headers, reply = self._forward(environ)
        if status.startswith("200"):
            self.mail.issue("sign-up", request["Username"])
        return status, headers, reply

    def _user(self, username: str) -> dict[str, Any]:
        assert self.pool is not None
        try:
            user: dict[str, Any] = self.admin.admin_get_user(
                UserPoolId=self.pool.user_pool_id, Username=username
            )
        except self.admin.exceptions.UserNotFoundException:
            raise CognitoError(
                "UserNotFoundException", "Username/client id combination not found."
            ) from None
        return user

    def _resend_confirmation_code(self, environ: dict[str, Any], request: dict[str, Any]) -> Any:
        username = request.get("Username", "")
        if self._user(username)["UserStatus"] != "UNCONFIRMED":
            raise CognitoError("InvalidParameterException", "User is already confirmed.")
        self.mail.issue("sign-up", username)
        return _ok({"CodeDeliveryDetails": _delivery(username)})

    def _confirm_sign_up(self, environ: dict[str, Any], request: dict[str, Any]) -> Any:
        username = request.get("Username", "")
        self._user(username)
        self.mail.check("sign-up", username, request.get("ConfirmationCode", ""))
        answer = self._forward(environ)
        self.mail.used("sign-up", username)
        return answer

    def _forgot_password(self, environ: dict[str, Any], request: dict[str, Any]) -> Any:
        status, headers, reply = self._forward(environ)
        moto_code = dict((k.lower(), v) for k, v in headers).get(MOTO_CODE_HEADER) or ""
        if status.startswith("200") and moto_code:
            # moto's own check passes for a code without its prefix: ours is the digits.
            self.mail.issue("reset", request["Username"], moto_code.rpartition(":")[2])
        return status, headers, reply

    def _confirm_forgot_password(self, environ: dict[str, Any], request: dict[str, Any]) -> Any:
        assert self.pool is not None
        username = request.get("Username", "")
        self.mail.check("reset", username, request.get("ConfirmationCode", ""))
        problems = password_problems(self.pool.password_policy, request.get("Password", ""))
        if problems:
            raise CognitoError(
                "InvalidPasswordException", "Password does not conform to policy: " + problems[0]
            )
        answer = self._forward(environ)
        self.mail.used("reset", username)
        if answer[0].startswith("200"):
            # A new password ends every session, as a reset after a stolen password must.
            self.admin.admin_user_global_sign_out(
                UserPoolId=self.pool.user_pool_id, Username=username
            )
        return answer

    def _initiate_auth(self, environ: dict[str, Any], request: dict[str, Any]) -> Any:
        """Where MFA is required, a signed-in user without an authenticator must enrol first."""
        assert self.pool is not None
        status, headers, reply = self._forward(environ)
        if self.pool.mfa != "required" or request.get("AuthFlow") != "USER_PASSWORD_AUTH":
            return status, headers, reply
        if not status.startswith("200") or "AuthenticationResult" not in json.loads(reply):
            return status, headers, reply
        # moto gives MFA_SETUP only after a password verifier step: take its session from there.
        username = request["AuthParameters"]["USERNAME"]
        client = self.pool.client_id
        verifier = self.admin.initiate_auth(
            ClientId=client, AuthFlow="USER_SRP_AUTH",
            AuthParameters={"USERNAME": username, "SRP_A": "local"},
        )  # fmt: skip
        setup = self.admin.respond_to_auth_challenge(
            ClientId=client, ChallengeName="PASSWORD_VERIFIER", Session=verifier["Session"],
            ChallengeResponses={
                "USERNAME": username, "PASSWORD_CLAIM_SECRET_BLOCK": verifier["Session"],
                "PASSWORD_CLAIM_SIGNATURE": "local", "TIMESTAMP": "local",
            },
        )  # fmt: skip
        self.admin.admin_user_global_sign_out(UserPoolId=self.pool.user_pool_id, Username=username)
        return _ok(
            {
                "ChallengeName": "MFA_SETUP",
                "Session": setup["Session"],
                "ChallengeParameters": {"MFAS_CAN_SETUP": '["SOFTWARE_TOKEN_MFA"]'},
            }
        )

    def _global_sign_out(self, environ: dict[str, Any], request: dict[str, Any]) -> Any:
        assert self.pool is not None
        # moto finds the region of a call in its signature; it checks no signature locally.
        scope = f"local/20260101/{self.pool.region}/cognito-idp/aws4_request"
        environ.setdefault("HTTP_AUTHORIZATION", f"AWS4-HMAC-SHA256 Credential={scope}")
        return self._forward(environ)

    def _revoke_token(self, environ: dict[str, Any], request: dict[str, Any]) -> Any:
        """Ends the sign-in a refresh token belongs to: the token, and the ID and access tokens
        made from it, stop working (the stack checks their `origin_jti`)."""
        assert self.pool is not None
        token, client = request.get("Token", ""), request.get("ClientId", "")
        if client != self.pool.client_id:
            raise CognitoError("UnauthorizedException", "Client is not authorized.")
        session = self.moto_pool.refresh_tokens.get(token)
        if session is not None and session[0] == client:
            self.moto_pool.refresh_tokens[token] = None
            # The access tokens of that sign-in too (GetUser, MFA settings through /cognito).
            for access in list(self.moto_pool.access_tokens):
                if _origin_jti(access) == session[2]:
                    self.moto_pool.access_tokens.pop(access, None)
        # An unknown or already revoked token is not an error (RFC 7009, as Cognito).
        return _ok({})


def _origin_jti(token: str) -> str:
    import jwt

    try:
        return str(jwt.decode(token, options={"verify_signature": False}).get("origin_jti", ""))
    except jwt.PyJWTError:
        return ""


def _answer(
    start_response: StartResponse, status: str, content_type: str, body: dict[str, Any]
) -> Iterable[bytes]:
    reply = json.dumps(body).encode()
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(reply)))])
    return [reply]


def _ok(body: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    return "200 OK", [("Content-Type", "application/x-amz-json-1.1")], json.dumps(body).encode()


def _delivery(email: str) -> dict[str, str]:
    name, _, domain = email.partition("@")
    return {
        "Destination": f"{name[:1]}***@{domain[:1]}***",
        "DeliveryMedium": "EMAIL",
        "AttributeName": "email",
    }


class ExtendedMotoServer(ThreadedMotoServer):
    """moto's threaded server on 127.0.0.1 (a free port) with `extras` in front of its app."""

    def __init__(self, extras: CognitoExtras) -> None:
        super().__init__(ip_address="127.0.0.1", port=0, verbose=False)
        self.extras = extras

    def _server_entry(self) -> None:
        from moto.moto_server import threaded_moto_server as served

        self.extras.inner = served.DomainDispatcherApplication(served.create_backend_app)
        self._server = served.make_server(
            self._ip_address, self._port, self.extras, True,
            request_handler=served.MotoRequestHandler,
        )  # fmt: skip
        self._server_ready_event.set()
        self._server.serve_forever()


def tolerate_clock_drift() -> None:
    """moto checks a TOTP code against the current 30-second step only; Cognito, as RFC 6238
    advises, also takes the step before and after, so a code typed as the step turns (or on a
    phone whose clock is a little off) still works. Done once per process, before the pool."""
    from moto.cognitoidp import models, utils

    if getattr(models.verify_totp, "tolerant", False):
        return

    def verify(totp: Any, code: bytes, valid_window: int = 1) -> None:
        utils.verify_totp(totp, code, valid_window=max(valid_window, 1))

    verify.tolerant = True  # type: ignore[attr-defined]
    models.verify_totp = verify
