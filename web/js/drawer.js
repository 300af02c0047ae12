// On a narrow screen the conversation list is a drawer: opened by a labelled button, closed by
// Escape, a tap beside it, or a choice in it. While it is open the rest of the page is inert.
const $ = (id) => document.getElementById(id);
const PHONE = window.matchMedia("(max-width: 700px)");
// What the open drawer makes inert: all but the drawer and its own button.
const BEHIND = () => [
  document.querySelector("main"),
  document.querySelector(".topbar .actions"),
  document.querySelector(".skip-link"),
];

export function isOpen() {
  return document.body.classList.contains("drawer-open");
}

export function closeDrawer({ returnFocus = true } = {}) {
  if (!isOpen()) return;
  document.body.classList.remove("drawer-open");
  $("drawer-button").setAttribute("aria-expanded", "false");
  $("drawer-overlay").hidden = true;
  for (const element of BEHIND()) element.inert = false;
  if (returnFocus) $("drawer-button").focus();
}

// `focusTarget()` says where the focus goes when it opens.
export function wireDrawer(focusTarget) {
  const button = $("drawer-button");
  button.addEventListener("click", () => {
    if (isOpen()) {
      closeDrawer();
      return;
    }
    document.body.classList.add("drawer-open");
    button.setAttribute("aria-expanded", "true");
    $("drawer-overlay").hidden = false;
    for (const element of BEHIND()) element.inert = true;
    focusTarget().focus();
  });
  $("drawer-overlay").addEventListener("click", () => closeDrawer());
  $("drawer-close").addEventListener("click", () => closeDrawer());
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && isOpen() && !document.querySelector("dialog[open]")) {
      e.preventDefault();
      closeDrawer();
    }
  });
  // Wider again (a phone turned sideways): the list is a sidebar, nothing to close.
  PHONE.addEventListener("change", () => closeDrawer({ returnFocus: false }));
}
