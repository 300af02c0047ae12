// The README (English or Japanese, as the chat page's language), rendered in the page, opened
// at the section the link names: the demo-model note links here.
import { pickLanguage } from "./i18n.js";
import { renderMarkdown } from "./markdown.js";

// GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens.
export const slug = (text) =>
  text.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");

// The page's language: the link's (the chat page knows its own), else as the chat page picks.
function language() {
  const asked = new URLSearchParams(location.search).get("lang");
  return asked === "ja" || asked === "en" ? asked : pickLanguage("auto");
}

function target() {
  try {
    return decodeURIComponent(location.hash.slice(1));
  } catch {
    return ""; // a malformed anchor: the top of the page
  }
}

async function show() {
  const lang = language();
  document.documentElement.lang = lang;
  const file = lang === "ja" ? "README.ja.md" : "README.md";
  const guide = document.getElementById("guide");
  const reply = await fetch(`guide/${file}`);
  if (!reply.ok) {
    guide.textContent = `${file}: HTTP ${reply.status}`;
    return;
  }
  guide.innerHTML = renderMarkdown(await reply.text(), { breaks: false, ours: true }); // hard-wrapped
  for (const heading of guide.querySelectorAll("h1, h2, h3")) heading.id = slug(heading.textContent);
  for (const link of guide.querySelectorAll('a[href="README.md"], a[href="README.ja.md"]')) {
    link.href = `guide.html?lang=${link.getAttribute("href") === "README.ja.md" ? "ja" : "en"}`;
  }
  const anchor = target();
  if (anchor && document.getElementById(anchor)) document.getElementById(anchor).scrollIntoView();
}

show();
