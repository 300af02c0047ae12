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

// `breaks: false` for hard-wrapped documents (the README); answers keep their line breaks.
export function renderMarkdown(text, { breaks = true } = {}) {
  const html = marked.parse(text, { async: false, breaks });
  return DOMPurify.sanitize(html, {
    FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select", "img", "iframe"],
    FORBID_ATTR: ["style"],
  });
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
