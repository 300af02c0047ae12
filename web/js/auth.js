// Cognito sign-in through Cognito's own HTTP API: USER_PASSWORD_AUTH, NEW_PASSWORD_REQUIRED,
// refresh before expiry, sign-out. The ID token goes in the Authorization header.
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

  // Returns "signed-in" or "new-password-required".
  async signIn(username, password) {
    const reply = await this.call("InitiateAuth", {
      AuthFlow: "USER_PASSWORD_AUTH",
      ClientId: this.clientId,
      AuthParameters: { USERNAME: username, PASSWORD: password },
    });
    if (reply.ChallengeName === "NEW_PASSWORD_REQUIRED") {
      this.session = reply.Session;
      this.username = username;
      return "new-password-required";
    }
    this.save(reply.AuthenticationResult);
    return "signed-in";
  }

  async completeNewPassword(newPassword) {
    const reply = await this.call("RespondToAuthChallenge", {
      ChallengeName: "NEW_PASSWORD_REQUIRED",
      ClientId: this.clientId,
      Session: this.session,
      ChallengeResponses: { USERNAME: this.username, NEW_PASSWORD: newPassword },
    });
    this.save(reply.AuthenticationResult);
    this.session = null;
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

  signOut() {
    this.tokens = null;
    localStorage.removeItem(STORAGE_KEY);
  }
}
