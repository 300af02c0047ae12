// The authenticator app's otpauth:// link for a TOTP secret, drawn as an SVG QR code in the page
// (the secret never leaves the browser), with the vendored qrcode-generator.
import qrcode from "../vendor/qrcode.mjs";

const SVG = "http://www.w3.org/2000/svg";
const QUIET_ZONE = 4; // modules of white around the code, as the QR standard asks

export function otpauthUri(secret, account, issuer = "simplechat") {
  const label = encodeURIComponent(`${issuer}:${account}`);
  return `otpauth://totp/${label}?secret=${secret}&issuer=${encodeURIComponent(issuer)}&algorithm=SHA1&digits=6&period=30`;
}

// An <svg role="img"> of `text` as a QR code, labelled for screen readers.
export function qrSvg(text, label) {
  const qr = qrcode(0, "M");
  qr.addData(text);
  qr.make();
  const count = qr.getModuleCount();
  const size = count + 2 * QUIET_ZONE;
  let path = "";
  for (let row = 0; row < count; row++) {
    for (let col = 0; col < count; col++) {
      if (qr.isDark(row, col)) path += `M${col + QUIET_ZONE},${row + QUIET_ZONE}h1v1h-1z`;
    }
  }
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${size} ${size}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  svg.setAttribute("class", "totp-qr");
  svg.setAttribute("shape-rendering", "crispEdges");
  const background = document.createElementNS(SVG, "rect");
  background.setAttribute("width", size);
  background.setAttribute("height", size);
  background.setAttribute("fill", "#fff");
  const modules = document.createElementNS(SVG, "path");
  modules.setAttribute("d", path);
  modules.setAttribute("fill", "#000");
  svg.append(background, modules);
  return svg;
}

// The secret in groups of four, easier to type into an app by hand.
export function groupedSecret(secret) {
  return secret.replace(/(.{4})/g, "$1 ").trim();
}

// Fills `box` with what enrolment shows: the QR code and the secret as text.
export function renderEnrolment(box, secret, account, { qrLabel, secretLabel }) {
  const caption = document.createElement("p");
  caption.className = "totp-secret-line";
  const label = document.createElement("span");
  label.textContent = secretLabel + " ";
  const code = document.createElement("code");
  code.className = "totp-secret";
  code.textContent = groupedSecret(secret);
  caption.append(label, code);
  box.replaceChildren(qrSvg(otpauthUri(secret, account), qrLabel), caption);
}
