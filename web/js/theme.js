// Light or dark: the system's setting (prefers-color-scheme), unless this browser chose one
// (kept in localStorage). The page's colours are CSS variables switched by <html data-theme>.
const KEY = "simplechat.theme";
const SYSTEM_DARK = window.matchMedia("(prefers-color-scheme: dark)");

function kept() {
  try {
    const value = localStorage.getItem(KEY);
    return value === "light" || value === "dark" ? value : "system";
  } catch {
    return "system";
  }
}

// Draws the page in `choice` ("system", "light" or "dark").
export function applyTheme(choice) {
  const dark = choice === "dark" || (choice === "system" && SYSTEM_DARK.matches);
  document.documentElement.dataset.theme = dark ? "dark" : "light";
}

export function wireTheme(select) {
  select.value = kept();
  applyTheme(select.value);
  select.addEventListener("change", () => {
    try {
      if (select.value === "system") localStorage.removeItem(KEY);
      else localStorage.setItem(KEY, select.value);
    } catch {
      // not kept (storage refused), but still applied to this page
    }
    applyTheme(select.value);
  });
  // The system switched (e.g. at sunset) while the page is open: follow it unless one was chosen.
  SYSTEM_DARK.addEventListener("change", () => applyTheme(select.value));
}
