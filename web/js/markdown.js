// Assistant answers as markdown. Raw HTML in an answer is shown as text, and the result is
// sanitized as well: model output can never inject HTML or script.
import { marked } from "../vendor/marked.esm.js";
import DOMPurify from "../vendor/purify.es.js";

const escapeHtml = (text) =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

marked.use({
  gfm: true,
  breaks: true,
  renderer: {
    html(token) {
      return escapeHtml(token.text);
    },
  },
});

// Links the model writes lead only to the web or to mail, open in a new tab, and give the page
// they open no hold on this one (noopener), no referrer, and no endorsement (nofollow). Our own
// README (the guide) keeps its links to its sections and to the other language.
const SAFE_LINK = /^(https?:|mailto:)/i;
let modelText = false; // set while an answer is sanitized (DOMPurify's hooks are global)
DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  // nodeName, lower-cased: an <a> inside <svg> reports "a", not "A".
  if (!modelText || node.nodeName.toLowerCase() !== "a") return;
  const href = node.getAttribute("href") || node.getAttribute("xlink:href") || "";
  if (!SAFE_LINK.test(href.trim())) {
    node.removeAttribute("href");
    node.removeAttribute("xlink:href");
    return;
  }
  node.setAttribute("target", "_blank");
  node.setAttribute("rel", "noopener noreferrer nofollow");
});

// `breaks: false` for hard-wrapped documents (the README); answers keep their line breaks.
// `ours: true` for our own text (the README), whose relative links stay as they are.
export function renderMarkdown(text, { breaks = true, ours = false } = {}) {
  const html = marked.parse(text, { async: false, breaks });
  modelText = !ours;
  try {
    // Our own text may show its images (the guide page points them at our origin).
    const forbidden = ["style", "form", "input", "button", "textarea", "select", "iframe", "svg", "math"];
    return DOMPurify.sanitize(html, {
      FORBID_TAGS: ours ? forbidden : [...forbidden, "img"],
      FORBID_ATTR: ["style"],
    });
  } finally {
    modelText = false;
  }
}

// Renders `text` into `element` (sanitized as above), touching only what changed: an answer
// that grows while it streams keeps its finished blocks (and a selection in them) in place.
export function renderMarkdownInto(element, text) {
  const template = document.createElement("template"); // inert: nothing in it loads or runs
  template.innerHTML = renderMarkdown(text);
  const fresh = [...template.content.childNodes];
  const old = [...element.childNodes];
  let same = 0;
  while (same < fresh.length && same < old.length && old[same].isEqualNode(fresh[same])) same++;
  for (const node of old.slice(same)) node.remove();
  element.append(...fresh.slice(same));
}
