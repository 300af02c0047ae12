// Light or dark before the page is first drawn (a classic script, run in <head>): the choice this
// browser kept, else the system's setting. theme.js keeps it up to date and offers the choice.
(function () {
  var kept = null;
  try {
    kept = localStorage.getItem("simplechat.theme");
  } catch (e) {
    kept = null; // storage refused (a private window's settings): follow the system
  }
  var dark = kept === "dark" || (kept !== "light" && window.matchMedia("(prefers-color-scheme: dark)").matches);
  document.documentElement.dataset.theme = dark ? "dark" : "light";
})();
