"""Each local user's own TOTP secret: moto gives every user the same one, which ships inside it.

moto answers AssociateSoftwareToken with one fixed secret for all users, so anyone could compute
anyone's codes. Here each association makes a random secret for that user (as Cognito does), the
codes the user types are checked against it, and moto is then handed a code it accepts, so its
own state (enrolled, verified) still moves as Cognito's would.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time


class AuthenticatorSecrets:
    """The secret of each user (by `sub`) who associated an authenticator app in this stack."""

    def __init__(self) -> None:
        self._secrets: dict[str, str] = {}
        self._lock = threading.Lock()

    def associate(self, sub: str) -> str:
        """A new random secret for `sub` (base32, 160 bits, as Cognito's), replacing any other."""
        secret = base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")
        with self._lock:
            self._secrets[sub] = secret
        return secret

    def accepts(self, sub: str, code: str) -> bool:
        """A code of this step, or of the step before or after (RFC 6238's advice, as Cognito)."""
        from moto.cognitoidp.utils import cognito_totp

        with self._lock:
            secret = self._secrets.get(sub)
        if secret is None or not code.strip().isdigit():
            return False
        totp = cognito_totp(secret)
        now = int(time.time())
        given = code.strip().encode()
        return any(
            secrets.compare_digest(totp.generate(now + step * 30), given) for step in (-1, 0, 1)
        )


def motos_code() -> str:
    """A code moto's fixed secret accepts now: what moto is given once ours was checked."""
    from moto.cognitoidp import models
    from moto.cognitoidp.utils import cognito_totp

    return cognito_totp(models.COGNITO_TOTP_MFA_SECRET).generate(int(time.time())).decode()
