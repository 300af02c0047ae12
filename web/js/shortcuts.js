// Keyboard shortcuts (the table below, shown by the `?` dialog in the page's language). Chosen
// not to take the browser's common keys: Ctrl (⌘ on a Mac) with Shift, as ChatGPT's; none acts
// while an input method is composing (Japanese input), so a conversion is never cut short.
import { announce } from "./announce.js";
import { t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const MAC = /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent);
const MOD = MAC ? "⌘" : "Ctrl";

const mod = (e) => (MAC ? e.metaKey && !e.ctrlKey : e.ctrlKey && !e.metaKey) && !e.altKey;
const typing = (target) =>
  target instanceof HTMLElement && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
const dialogOpen = () => document.querySelector("dialog[open]") !== null;

// [name (an i18n key), keys as shown, test of a keydown]; `e.code` names the key's place, so a
// Japanese keyboard layout gives the same shortcut.
const SHORTCUTS = [
  ["shortcutNewChat", [MOD, "Shift", "O"], (e) => mod(e) && e.shiftKey && e.code === "KeyO"],
  ["shortcutFocusInput", ["Shift", "Esc"], (e) => e.shiftKey && !mod(e) && e.key === "Escape"],
  ["shortcutStop", ["Esc"], (e) => !e.shiftKey && !mod(e) && e.key === "Escape"],
  ["shortcutSearch", [MOD, "Shift", "K"], (e) => mod(e) && e.shiftKey && e.code === "KeyK"],
  ["shortcutCopyLast", [MOD, "Shift", ";"], (e) => mod(e) && e.shiftKey && e.code === "Semicolon"],
  ["shortcutHelp", ["?"], (e) => e.key === "?" && !mod(e) && !typing(e.target)],
  ["shortcutHelp", [MOD, "/"], (e) => mod(e) && e.code === "Slash"],
];

function showHelp() {
  const list = $("shortcuts-list");
  list.replaceChildren();
  const shown = new Set();
  for (const [name, keys] of SHORTCUTS) {
    const row = document.createElement("div");
    const what = document.createElement("dt");
    what.textContent = t(name);
    const how = document.createElement("dd");
    keys.forEach((key, i) => {
      if (i) how.append(" + ");
      const kbd = document.createElement("kbd");
      kbd.textContent = key;
      how.append(kbd);
    });
    if (shown.has(name)) {
      list.lastElementChild.append(how); // a second way to the same action, on its row
      continue;
    }
    shown.add(name);
    row.append(what, how);
    list.append(row);
  }
  const dialog = $("shortcuts-dialog");
  if (dialog.open) return;
  const back = document.activeElement;
  dialog.addEventListener("close", () => (back && back.isConnected ? back : $("input")).focus(), { once: true });
  dialog.showModal();
  $("shortcuts-close").focus();
}

// actions: {newChat(), focusInput(), isAnswering(), stop(), search(), copyLastAnswer() -> bool}.
export function wireShortcuts(actions) {
  const run = {
    shortcutNewChat: actions.newChat,
    shortcutFocusInput: actions.focusInput,
    shortcutStop: () => actions.stop(),
    shortcutSearch: actions.search,
    shortcutCopyLast: () => {
      if (!actions.copyLastAnswer()) announce(t("shortcutNothingToCopy"));
    },
    shortcutHelp: showHelp,
  };
  document.addEventListener("keydown", (e) => {
    if (e.isComposing || e.keyCode === 229 || e.repeat) return; // the IME has this key
    const found = SHORTCUTS.find(([, , test]) => test(e));
    if (!found) return;
    const [name] = found;
    // Escape belongs to an open dialog (it closes it) or the drawer; Stop only while answering.
    // (and, in the search box, to clearing it).
    if (name === "shortcutStop" && (dialogOpen() || !actions.isAnswering() || document.body.classList.contains("drawer-open") || e.target.type === "search")) return;
    if (name !== "shortcutHelp" && name !== "shortcutStop" && dialogOpen()) return;
    if (!$("chat-view") || $("chat-view").hidden) return; // signing in: nothing to act on
    e.preventDefault();
    run[name]();
  });
  $("shortcuts-button").addEventListener("click", showHelp);
  $("shortcuts-close").addEventListener("click", () => $("shortcuts-dialog").close());
}
