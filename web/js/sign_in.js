// The sign-in view's steps: sign in (with a TOTP code, or enrolling one where the pool requires
// it), a first new password, sign up and its emailed code, and forgot password. Cognito's errors
// become sentences a person can act on.
import { AuthError } from "./auth.js";
import { t } from "./i18n.js";
import { format } from "./i18n_auth.js";
import { renderEnrolment } from "./totp_qr.js";

const $ = (id) => document.getElementById(id);
// Each step's form and its heading.
const STEPS = {
  "login-form": "signIn",
  "new-password-form": "newPassword",
  "totp-form": "totpTitle",
  "mfa-setup-form": "mfaSetupTitle",
  "sign-up-form": "signUpTitle",
  "confirm-form": "confirmTitle",
  "forgot-form": "forgotTitle",
  "reset-form": "resetTitle",
};

let auth = null;
let settings = {};
let onSignedIn = () => {};
let email = ""; // the address the sign-up or reset steps are about

// A Cognito failure as a sentence; `context` says what the user was doing.
export function authMessage(error, context = "") {
  if (!(error instanceof AuthError)) return t("errNetwork");
  const text = (error.message || "").toLowerCase();
  switch (error.code) {
    case "NotAuthorizedException":
      if (text.includes("attempts exceeded")) return t("errTooMany");
      if (text.includes("confirmed")) return t("errAlreadyConfirmed");
      if (text.includes("session")) return t("errSessionExpired");
      return context === "sign-in" ? t("wrongPassword") : t("sessionExpired");
    case "UserNotFoundException":
      return context === "sign-in" ? t("wrongPassword") : t("errNoUser");
    case "CodeMismatchException":
    case "EnableSoftwareTokenMFAException":
      return context === "totp" ? t("errWrongTotp") : t("errWrongCode");
    case "ExpiredCodeException":
      return context === "totp" ? t("errSessionExpired") : t("errExpiredCode");
    case "InvalidPasswordException":
      return t("errWeakPassword");
    case "LimitExceededException":
    case "TooManyRequestsException":
    case "TooManyFailedAttemptsException":
      return t("errTooMany");
    case "UsernameExistsException":
    case "AliasExistsException":
      return t("errAccountExists");
    case "InvalidParameterException":
      if (text.includes("already confirmed")) return t("errAlreadyConfirmed");
      if (text.includes("password")) return t("errWeakPassword");
      return t("errBadEmail");
    case "CodeDeliveryFailureException":
      return t("errCodeNotSent");
    default:
      return t("errAuthOther");
  }
}

// The pool's password rules as a list, shown next to every new-password field.
function renderRules() {
  const policy = settings.passwordPolicy;
  for (const list of document.querySelectorAll(".password-rules")) {
    list.hidden = !policy;
    if (!policy) continue;
    const rules = [format(t("ruleLength"), { n: policy.minLength })];
    if (policy.requireLowercase) rules.push(t("ruleLower"));
    if (policy.requireUppercase) rules.push(t("ruleUpper"));
    if (policy.requireDigits) rules.push(t("ruleDigit"));
    if (policy.requireSymbols) rules.push(t("ruleSymbol"));
    const title = document.createElement("li");
    title.className = "rules-title";
    title.textContent = t("passwordRulesTitle");
    const items = rules.map((rule) => Object.assign(document.createElement("li"), { textContent: rule }));
    list.replaceChildren(title, ...items);
  }
  for (const input of document.querySelectorAll("input[data-new-password]")) {
    if (policy) input.minLength = policy.minLength;
  }
}

function step(formId, { info = "", error = "" } = {}) {
  for (const id of Object.keys(STEPS)) $(id).hidden = id !== formId;
  $("login-title").dataset.i18n = STEPS[formId];
  $("login-title").textContent = t(STEPS[formId]);
  $("login-info").textContent = info;
  $("login-error").textContent = error;
  for (const input of $(formId).querySelectorAll("input:not([type=email])")) input.value = "";
  const first = [...$(formId).querySelectorAll("input")].find((input) => !input.value);
  (first || $(formId).querySelector("button[type=submit]")).focus();
}

export function startSignIn(errorText = "", info = "") {
  $("sign-up-link").hidden = !settings.signUp;
  step("login-form", { error: errorText, info });
}

function destination(reply) {
  return (reply && reply.CodeDeliveryDetails && reply.CodeDeliveryDetails.Destination) || email;
}

async function after(state) {
  if (state === "signed-in") return onSignedIn();
  if (state === "new-password-required") return step("new-password-form");
  if (state === "totp-required") return step("totp-form");
  // mfa-setup: the pool requires TOTP and this user has none yet.
  const secret = await auth.startTotp();
  renderEnrolment($("mfa-setup-box"), secret, auth.username, { qrLabel: t("qrLabel"), secretLabel: t("totpSecret") });
  step("mfa-setup-form");
}

// A step's submit: one request at a time, its failure shown as a sentence.
function on(formId, context, handler) {
  const form = $(formId);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    $("login-error").textContent = "";
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    form.setAttribute("aria-busy", "true");
    try {
      await handler();
    } catch (error) {
      if (error instanceof AuthError && error.code === "UserNotConfirmedException") {
        email = $("login-username").value.trim();
        step("confirm-form", { info: t("notConfirmed") });
        return;
      }
      $("login-error").textContent = authMessage(error, context);
      const code = form.querySelector("input[autocomplete=one-time-code]");
      if (code) code.select();
    } finally {
      button.disabled = false;
      form.removeAttribute("aria-busy");
    }
  });
}

export function wireSignIn(cognito, authSettings, signedIn) {
  auth = cognito;
  settings = authSettings || {};
  onSignedIn = signedIn;
  renderRules();
  $("language-select").addEventListener("change", renderRules);

  on("login-form", "sign-in", async () => {
    await after(await auth.signIn($("login-username").value.trim(), $("login-password").value));
  });
  on("new-password-form", "new-password", async () => after(await auth.completeNewPassword($("new-password").value)));
  on("totp-form", "totp", async () => after(await auth.answerTotp($("totp-code").value.trim())));
  on("mfa-setup-form", "totp", async () => {
    await auth.finishTotp($("mfa-setup-code").value.trim());
    onSignedIn();
  });
  on("sign-up-form", "sign-up", async () => {
    email = $("sign-up-email").value.trim();
    const reply = await auth.signUp(email, $("sign-up-password").value);
    step("confirm-form", { info: format(t("codeSent"), { to: destination(reply) }) });
  });
  on("confirm-form", "confirm", async () => {
    await auth.confirmSignUp(email, $("confirm-code").value.trim());
    $("login-username").value = email;
    step("login-form", { info: t("confirmed") });
  });
  on("forgot-form", "forgot", async () => {
    email = $("forgot-email").value.trim();
    const reply = await auth.forgotPassword(email);
    step("reset-form", { info: format(t("codeSent"), { to: destination(reply) }) });
  });
  on("reset-form", "reset", async () => {
    await auth.confirmForgotPassword(email, $("reset-code").value.trim(), $("reset-password").value);
    $("login-username").value = email;
    step("login-form", { info: t("resetDone") });
  });

  $("resend-code").addEventListener("click", async () => {
    $("login-error").textContent = "";
    try {
      const reply = await auth.resendCode(email);
      $("login-info").textContent = format(t("codeResent"), { to: destination(reply) });
      $("confirm-code").focus();
    } catch (error) {
      $("login-error").textContent = authMessage(error, "confirm");
    }
  });
  $("sign-up-link").addEventListener("click", () => {
    $("sign-up-email").value = $("login-username").value.trim();
    step("sign-up-form");
  });
  $("forgot-link").addEventListener("click", () => {
    $("forgot-email").value = $("login-username").value.trim();
    step("forgot-form");
  });
  for (const button of document.querySelectorAll(".back-to-sign-in")) {
    button.addEventListener("click", () => startSignIn());
  }
}
