// The buttons under each stored message: copy an answer, copy a code block, edit and resend a
// question, regenerate the last answer. Copying shows "Copied" on the button and announces it.
import { announce } from "./announce.js";
import { t } from "./i18n.js";
import { icon, iconButton } from "./icons.js";

const FEEDBACK_MS = 1800;

// The Clipboard API needs a secure context (https, or localhost); elsewhere (a stack opened over
// plain http on a LAN address) the older copy command still works from a click.
async function writeClipboard(text) {
  if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.append(area);
  area.select();
  const ok = document.execCommand("copy");
  area.remove();
  if (!ok) throw new Error("copy refused");
}

async function copyWithFeedback(button, text) {
  try {
    await writeClipboard(text);
  } catch {
    announce(t("copyFailed"));
    return;
  }
  button.dataset.copied = t("copied"); // shown by the stylesheet beside the button
  button.replaceChildren(icon("check"));
  announce(t("copied"));
  clearTimeout(button.copyTimer);
  button.copyTimer = setTimeout(() => {
    delete button.dataset.copied;
    button.replaceChildren(icon("copy"));
  }, FEEDBACK_MS);
}

// A copy button on every code block of a finished answer (the code as written, not as shown).
export function addCodeCopyButtons(body) {
  for (const pre of body.querySelectorAll("pre")) {
    if (pre.parentElement.classList.contains("code-block")) continue;
    const wrap = document.createElement("div");
    wrap.className = "code-block";
    pre.replaceWith(wrap);
    const button = iconButton("copy", t("copyCode"), "copy-code");
    button.addEventListener("click", () => copyWithFeedback(button, pre.textContent.replace(/\n$/, "")));
    wrap.append(pre, button);
  }
}

function toolbar(item) {
  const bar = document.createElement("div");
  bar.className = "message-tools";
  item.append(bar);
  return bar;
}

// An answer: Copy (its markdown as the model wrote it) and Regenerate (shown on the last only).
export function addAnswerTools(item, content, onRegenerate) {
  addCodeCopyButtons(item.querySelector(".message-body"));
  const bar = toolbar(item);
  const copy = iconButton("copy", t("copyAnswer"), "copy-answer");
  copy.addEventListener("click", () => copyWithFeedback(copy, content));
  const again = iconButton("regenerate", t("regenerate"), "regenerate");
  again.hidden = true;
  again.addEventListener("click", onRegenerate);
  bar.append(copy, again);
}

// A question: Edit, which lets the user change it and send it again from there.
export function addQuestionTools(item, onEdit) {
  const bar = toolbar(item);
  const edit = iconButton("edit", t("editMessage"), "edit-message");
  edit.addEventListener("click", onEdit);
  bar.append(edit);
}
