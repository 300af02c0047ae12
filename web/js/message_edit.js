// Editing a sent question in place: its text becomes a box with Resend and Cancel; Escape cancels,
// Enter resends (Shift+Enter for a new line, never while an IME is composing).
import { t } from "./i18n.js";

export function startEdit(item, text, { onSubmit, onCancel }) {
  if (item.querySelector(".edit-form")) return;
  const body = item.querySelector(".message-body");
  const tools = item.querySelector(".message-tools");
  const form = document.createElement("form");
  form.className = "edit-form";
  const box = document.createElement("textarea");
  box.value = text;
  box.rows = Math.min(8, Math.max(2, text.split("\n").length));
  box.setAttribute("aria-label", t("editLabel"));
  const send = document.createElement("button");
  send.type = "submit";
  send.textContent = t("editSend");
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.textContent = t("cancel");
  const actions = document.createElement("div");
  actions.className = "edit-actions";
  actions.append(cancel, send);
  form.append(box, actions);

  const close = () => {
    form.remove();
    body.hidden = false;
    if (tools) tools.hidden = false;
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!box.value.trim()) return;
    close();
    onSubmit(box.value);
  });
  cancel.addEventListener("click", () => {
    close();
    onCancel();
  });
  box.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      e.preventDefault();
      cancel.click();
    } else if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      form.requestSubmit();
    }
  });

  body.hidden = true;
  if (tools) tools.hidden = true;
  item.append(form);
  box.focus();
  box.setSelectionRange(box.value.length, box.value.length);
}
