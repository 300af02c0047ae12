// The rename and delete dialogs: modal (<dialog>: focus kept inside, Escape cancels), the
// server's error shown in the dialog, focus back where it was when they close.
import { t } from "./i18n.js";
import { format } from "./i18n_auth.js";

const $ = (id) => document.getElementById(id);

const errorText = (error) => (error && error.message) || t("networkError");

// Opens `dialog`; when it closes the focus goes to `returnTo()` (asked then: the list may have
// been drawn again meanwhile), or to the message box.
function open(dialog, returnTo) {
  dialog.addEventListener(
    "close",
    () => {
      const target = returnTo && returnTo();
      (target && target.isConnected ? target : $("input")).focus();
    },
    { once: true },
  );
  dialog.showModal();
}

export function wireDialogs() {
  const rename = $("rename-dialog");
  $("rename-cancel").addEventListener("click", () => rename.close());
  $("rename-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const title = $("rename-input").value.trim();
    if (!title) {
      $("rename-error").textContent = t("titleRequired");
      $("rename-input").focus();
      return;
    }
    const submit = $("rename-form").querySelector("button[type=submit]");
    submit.disabled = true;
    try {
      await rename.save(title);
      rename.close();
    } catch (error) {
      $("rename-error").textContent = errorText(error);
      $("rename-input").focus();
    } finally {
      submit.disabled = false;
    }
  });

  const remove = $("delete-dialog");
  $("delete-cancel").addEventListener("click", () => remove.close());
  $("delete-confirm").addEventListener("click", async () => {
    $("delete-confirm").disabled = true;
    try {
      await remove.confirm();
      remove.close();
    } catch (error) {
      $("delete-error").textContent = errorText(error);
    } finally {
      $("delete-confirm").disabled = false;
    }
  });
}

// Asks for a new title; `save(title)` renames (when it throws, its message is shown and the
// dialog stays open).
export function renameDialog(current, save, returnTo) {
  const dialog = $("rename-dialog");
  dialog.save = save;
  $("rename-error").textContent = "";
  $("rename-input").value = current;
  open(dialog, returnTo);
  $("rename-input").select();
}

// Asks before deleting; Cancel has the focus first (deleting cannot be undone).
export function deleteDialog(title, confirm, returnTo) {
  const dialog = $("delete-dialog");
  dialog.confirm = confirm;
  $("delete-error").textContent = "";
  $("delete-text").textContent = format(t("deleteText"), { title });
  open(dialog, returnTo);
  $("delete-cancel").focus();
}
