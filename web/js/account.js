// The account menu (a dialog): who is signed in, today's usage (drawn by usage_panel.js), TOTP
// two-step verification on or off (enrolling an authenticator app with a QR code made in the
// page), and sign-out on every device.
import { t } from "./i18n.js";
import { format } from "./i18n_auth.js";
import { authMessage } from "./sign_in.js";
import { renderEnrolment } from "./totp_qr.js";
import { refreshUsage } from "./usage.js";

const $ = (id) => document.getElementById(id);

export function wireAccount(auth, authSettings, onSignedOut) {
  const settings = authSettings || {};
  const dialog = $("account-dialog");
  const mfa = settings.mfa || "optional";

  function fail(error) {
    $("account-error").textContent = authMessage(error, "totp");
  }

  function showTotp(enabled, note = "") {
    $("totp-enrol-form").hidden = true;
    $("totp-status").textContent = note || t(enabled ? "totpOn" : "totpOff");
    $("totp-enable-button").hidden = enabled;
    // Where the pool requires MFA, it cannot be turned off.
    $("totp-disable-button").hidden = !enabled || mfa === "required";
  }

  async function open() {
    $("account-error").textContent = "";
    $("account-who").textContent = format(t("signedInAs"), { who: (auth.user && auth.user.email) || "" });
    $("account-totp").hidden = mfa === "off";
    $("totp-status").textContent = "";
    $("totp-enable-button").hidden = true;
    $("totp-disable-button").hidden = true;
    $("totp-enrol-form").hidden = true;
    dialog.showModal();
    refreshUsage(); // the numbers of this moment, not of the last answer
    if (mfa === "off") return;
    try {
      showTotp(await auth.totpEnabled());
    } catch (error) {
      fail(error);
    }
  }

  $("account-button").addEventListener("click", open);
  $("account-close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => $("account-button").focus());

  $("totp-enable-button").addEventListener("click", async () => {
    $("account-error").textContent = "";
    try {
      const secret = await auth.startTotp();
      renderEnrolment($("totp-enrol-box"), secret, (auth.user && auth.user.email) || "", {
        qrLabel: t("qrLabel"),
        secretLabel: t("totpSecret"),
      });
      $("totp-enable-button").hidden = true;
      $("totp-enrol-form").hidden = false;
      $("totp-enrol-code").value = "";
      $("totp-enrol-code").focus();
    } catch (error) {
      fail(error);
    }
  });
  $("totp-enrol-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("account-error").textContent = "";
    try {
      await auth.finishTotp($("totp-enrol-code").value.trim());
      showTotp(true, t("totpEnabled"));
      ($("totp-disable-button").hidden ? $("account-close") : $("totp-disable-button")).focus();
    } catch (error) {
      fail(error);
      $("totp-enrol-code").select();
    }
  });
  $("totp-enrol-cancel").addEventListener("click", () => {
    showTotp(false);
    $("totp-enable-button").focus();
  });
  $("totp-disable-button").addEventListener("click", async () => {
    $("account-error").textContent = "";
    try {
      await auth.setTotp(false);
      showTotp(false, t("totpDisabled"));
      $("totp-enable-button").focus();
    } catch (error) {
      fail(error);
    }
  });
  $("sign-out-everywhere-button").addEventListener("click", async () => {
    $("account-error").textContent = "";
    try {
      await auth.signOutEverywhere();
      dialog.close();
      onSignedOut(t("signOutEverywhereDone"));
    } catch (error) {
      fail(error);
    }
  });
}
