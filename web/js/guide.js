// The README (English or Japanese, as the chat page's language), or a docs page it links to,
// rendered in the page, opened at the section the link names: the demo-model note links here.
import { pickLanguage } from "./i18n.js";
import { renderMarkdown } from "./markdown.js";

// GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens.
export const slug = (text) =>
  text.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");

// The repository, as the pages' relative links see it (only a base to resolve them against).
const REPO = "https://repo.invalid/";
// The docs pages the stack serves (src/simplechat/stack/app.py: GUIDE_DOCS).
const DOC_PAGE = /^docs\/[A-Za-z0-9_-]+(\.ja)?\.md$/;

const params = new URLSearchParams(location.search);

// The page's language: the link's (the chat page knows its own), else as the chat page picks.
function language() {
  const asked = params.get("lang");
  return asked === "ja" || asked === "en" ? asked : pickLanguage("auto");
}

function target() {
  try {
    return decodeURIComponent(location.hash.slice(1));
  } catch {
    return ""; // a malformed anchor: the top of the page
  }
}

// A relative link of the page at `file`, as this page reaches it: another page through
// guide.html, an image or other file through the stack's /guide/ (null: leave it as it is).
function reach(href, file, lang) {
  if (!href || href.startsWith("#") || /^[a-z][a-z0-9+.-]*:/i.test(href)) return null;
  const url = new URL(href, REPO + file);
  if (url.origin + "/" !== REPO) return null;
  const path = url.pathname.slice(1);
  if (path === "README.md" || path === "README.ja.md") {
    return `guide.html?lang=${path === "README.ja.md" ? "ja" : "en"}${url.hash}`;
  }
  if (DOC_PAGE.test(path)) return `guide.html?lang=${lang}&page=${encodeURIComponent(path)}${url.hash}`;
  return `guide/${path}`;
}

async function show() {
  const lang = language();
  document.documentElement.lang = lang;
  const page = params.get("page");
  const file = page && DOC_PAGE.test(page) ? page : lang === "ja" ? "README.ja.md" : "README.md";
  const guide = document.getElementById("guide");
  const reply = await fetch(`guide/${file}`);
  if (!reply.ok) {
    guide.textContent = `${file}: HTTP ${reply.status}`;
    return;
  }
  // Rendered into an inert template first: its images load only once their paths are ours.
  const template = document.createElement("template");
  template.innerHTML = renderMarkdown(await reply.text(), { breaks: false, ours: true }); // hard-wrapped
  for (const heading of template.content.querySelectorAll("h1, h2, h3")) {
    heading.id = slug(heading.textContent);
  }
  for (const link of template.content.querySelectorAll("a[href]")) {
    const reached = reach(link.getAttribute("href"), file, lang);
    if (reached) link.setAttribute("href", reached);
  }
  for (const image of template.content.querySelectorAll("img[src]")) {
    const reached = reach(image.getAttribute("src"), file, lang);
    if (reached) image.setAttribute("src", reached);
    else image.remove(); // only our own images
  }
  guide.replaceChildren(template.content);
  const anchor = target();
  if (anchor && document.getElementById(anchor)) document.getElementById(anchor).scrollIntoView();
}

show();
