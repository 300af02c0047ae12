// Cognito sign-in through Cognito's own HTTP API: USER_PASSWORD_AUTH and its challenges
// (NEW_PASSWORD_REQUIRED, SOFTWARE_TOKEN_MFA, MFA_SETUP), sign-up and its emailed code, password
// reset, TOTP on/off, refresh before expiry, sign-out (here or everywhere). The ID token goes in
// the Authorization header.
const STORAGE_KEY = "simplechat.tokens";
const REFRESH_MARGIN_SECONDS = 300;

export class AuthError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

function decodePayload(jwt) {
  const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  const json = decodeURIComponent(
    [...atob(part)].map((c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0")).join(""),
  );
  return JSON.parse(json);
}

export class CognitoAuth {
  constructor({ endpoint, region, clientId }) {
    this.endpoint = endpoint || `https://cognito-idp.${region}.amazonaws.com/`;
    this.clientId = clientId;
    this.session = null; // for NEW_PASSWORD_REQUIRED
    this.username = null;
    this.tokens = JSON.parse(localStorage.getItem(STORAGE_KEY) || "null");
  }

  async call(action, payload) {
    const response = await fetch(this.endpoint, {
      method: "POST",
      headers: {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": `AWSCognitoIdentityProviderService.${action}`,
      },
      body: JSON.stringify(payload),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      const code = (body.__type || "Error").split("#").pop();
      throw new AuthError(code, body.message || body.Message || code);
    }
    return body;
  }

  save(result, refreshToken) {
    this.tokens = {
      idToken: result.IdToken,
      accessToken: result.AccessToken,
      refreshToken: result.RefreshToken || refreshToken,
    };
    localStorage.setItem(STORAGE_KEY, JSON.stringify(this.tokens));
  }

  get user() {
    return this.tokens ? decodePayload(this.tokens.idToken) : null;
  }

  // What the next step is: "signed-in", "new-password-required", "totp-required" (a code from
  // the user's authenticator app) or "mfa-setup" (the pool requires TOTP: enrol one first).
  next(reply) {
    const states = {
      NEW_PASSWORD_REQUIRED: "new-password-required",
      SOFTWARE_TOKEN_MFA: "totp-required",
      MFA_SETUP: "mfa-setup",
    };
    if (reply.ChallengeName) {
      if (!(reply.ChallengeName in states)) throw new AuthError("UnsupportedChallenge", reply.ChallengeName);
      this.session = reply.Session;
      return states[reply.ChallengeName];
    }
    this.save(reply.AuthenticationResult);
    this.session = null;
    return "signed-in";
  }

  async signIn(username, password) {
    this.username = username;
    const reply = await this.call("InitiateAuth", {
      AuthFlow: "USER_PASSWORD_AUTH",
      ClientId: this.clientId,
      AuthParameters: { USERNAME: username, PASSWORD: password },
    });
    return this.next(reply);
  }

  async answer(challenge, responses) {
    const reply = await this.call("RespondToAuthChallenge", {
      ChallengeName: challenge,
      ClientId: this.clientId,
      Session: this.session,
      ChallengeResponses: { USERNAME: this.username, ...responses },
    });
    return this.next(reply);
  }

  completeNewPassword(newPassword) {
    return this.answer("NEW_PASSWORD_REQUIRED", { NEW_PASSWORD: newPassword });
  }

  answerTotp(code) {
    return this.answer("SOFTWARE_TOKEN_MFA", { SOFTWARE_TOKEN_MFA_CODE: code });
  }

  // TOTP enrolment, signed in (access token) or during sign-in (the MFA_SETUP session).
  // Returns the secret (base32) for the authenticator app.
  async startTotp() {
    const who = this.session ? { Session: this.session } : { AccessToken: await this.accessToken() };
    const reply = await this.call("AssociateSoftwareToken", who);
    if (reply.Session) this.session = reply.Session;
    return reply.SecretCode;
  }

  async finishTotp(code) {
    const who = this.session ? { Session: this.session } : { AccessToken: await this.accessToken() };
    const reply = await this.call("VerifySoftwareToken", { ...who, UserCode: code, FriendlyDeviceName: "simplechat" });
    if (!this.session) return this.setTotp(true);
    this.session = reply.Session;
    await this.answer("MFA_SETUP", {});
    return this.setTotp(true);
  }

  async setTotp(enabled) {
    await this.call("SetUserMFAPreference", {
      AccessToken: await this.accessToken(),
      SoftwareTokenMfaSettings: { Enabled: enabled, PreferredMfa: enabled },
    });
  }

  async totpEnabled() {
    const reply = await this.call("GetUser", { AccessToken: await this.accessToken() });
    return (reply.UserMFASettingList || []).includes("SOFTWARE_TOKEN_MFA");
  }

  // Self sign-up: Cognito emails a code that confirms the address.
  signUp(email, password) {
    return this.call("SignUp", {
      ClientId: this.clientId,
      Username: email,
      Password: password,
      UserAttributes: [{ Name: "email", Value: email }],
    });
  }

  confirmSignUp(email, code) {
    return this.call("ConfirmSignUp", { ClientId: this.clientId, Username: email, ConfirmationCode: code });
  }

  resendCode(email) {
    return this.call("ResendConfirmationCode", { ClientId: this.clientId, Username: email });
  }

  forgotPassword(email) {
    return this.call("ForgotPassword", { ClientId: this.clientId, Username: email });
  }

  confirmForgotPassword(email, code, password) {
    return this.call("ConfirmForgotPassword", {
      ClientId: this.clientId, Username: email, ConfirmationCode: code, Password: password,
    });
  }

  // Ends every session of this user (their refresh tokens stop working), then this one.
  async signOutEverywhere() {
    await this.call("GlobalSignOut", { AccessToken: await this.accessToken() });
    this.signOut();
  }

  async accessToken() {
    if (!(await this.idToken())) throw new AuthError("NotAuthorizedException", "signed out");
    return this.tokens.accessToken;
  }

  // A valid ID token, refreshed when it is about to expire; null when signed out.
  async idToken() {
    if (!this.tokens) return null;
    const expires = decodePayload(this.tokens.idToken).exp;
    if (expires - Date.now() / 1000 > REFRESH_MARGIN_SECONDS) return this.tokens.idToken;
    try {
      const reply = await this.call("InitiateAuth", {
        AuthFlow: "REFRESH_TOKEN_AUTH",
        ClientId: this.clientId,
        AuthParameters: { REFRESH_TOKEN: this.tokens.refreshToken },
      });
      this.save(reply.AuthenticationResult, this.tokens.refreshToken);
      return this.tokens.idToken;
    } catch {
      this.signOut();
      return null;
    }
  }

  // Signs out here and ends this sign-in at Cognito: its refresh token, and the ID and access
  // tokens made from it, stop working even where a copy was taken. Local sign-out happens
  // first and whatever the network says, so the button always signs out.
  async signOutAndRevoke() {
    const refreshToken = this.tokens && this.tokens.refreshToken;
    this.signOut();
    if (!refreshToken) return;
    try {
      await this.call("RevokeToken", { ClientId: this.clientId, Token: refreshToken });
    } catch {
      // Offline or refused: the tokens are gone from this browser; they expire on their own.
    }
  }

  signOut() {
    this.tokens = null;
    localStorage.removeItem(STORAGE_KEY);
  }
}
