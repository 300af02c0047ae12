// The README (English or Japanese, as the chat page's language), rendered in the page, opened
// at the section the link names: the demo-model note links here.
import { pickLanguage } from "./i18n.js";
import { renderMarkdown } from "./markdown.js";

// GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens.
export const slug = (text) =>
  text.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");

async function show() {
  const language = pickLanguage("auto");
  document.documentElement.lang = language;
  const file = language === "ja" ? "README.ja.md" : "README.md";
  const guide = document.getElementById("guide");
  const reply = await fetch(`guide/${file}`);
  if (!reply.ok) {
    guide.textContent = `${file}: HTTP ${reply.status}`;
    return;
  }
  guide.innerHTML = renderMarkdown(await reply.text());
  for (const heading of guide.querySelectorAll("h1, h2, h3")) heading.id = slug(heading.textContent);
  const target = decodeURIComponent(location.hash.slice(1));
  if (target && document.getElementById(target)) document.getElementById(target).scrollIntoView();
}

show();
