// Messages on the page, and the answer that grows there while it streams.
import { t } from "./i18n.js";
import { renderMarkdown, renderMarkdownInto } from "./markdown.js";

// The page follows a growing answer only while the reader is at its bottom: someone who has
// scrolled up to read is not pulled down. Only scrolling (the user's, or ours to the bottom)
// changes this; an answer growing below the view does not.
const scroller = () => document.scrollingElement || document.documentElement;

export function atBottom() {
  const s = scroller();
  return s.scrollHeight - s.scrollTop - s.clientHeight <= 2;
}

let pinned = true;
window.addEventListener("scroll", () => (pinned = atBottom()), { passive: true });

export function scrollToBottom() {
  const s = scroller();
  s.scrollTop = s.scrollHeight;
  pinned = true;
}

// Keeps the bottom in view if the reader was there (call after changing the page).
export function followIfPinned() {
  if (pinned) scrollToBottom();
}

// One message: its text in .message-body (the flag and the tools go after it). The user's own
// text is never parsed as HTML; an answer is sanitized markdown.
export function messageItem(role, text = "") {
  const item = document.createElement("li");
  item.className = `message ${role}`;
  item.dataset.i18nLabel = role === "user" ? "you" : "assistant"; // aria-label, kept translated
  item.setAttribute("aria-label", t(item.dataset.i18nLabel));
  const body = document.createElement("div");
  body.className = "message-body";
  if (role === "assistant") body.innerHTML = renderMarkdown(text);
  else body.textContent = text;
  item.append(body);
  return item;
}

export const messageBody = (item) => item.querySelector(".message-body");

// Marks an answer: "stopped" (Stop, the partial answer kept) or "failed" (broke off).
export function flagMessage(item, kind) {
  item.dataset[kind] = "true";
  const note = document.createElement("p");
  note.className = `message-flag ${kind}`;
  note.dataset.i18n = kind === "stopped" ? "stoppedLabel" : "incompleteLabel";
  note.textContent = t(note.dataset.i18n);
  messageBody(item).after(note);
}

// The answer being generated: created at the first piece of text, re-rendered at most once an
// animation frame, marked data-streaming="true" until finish(). The list is aria-busy meanwhile:
// screen readers announce the answer once, not every piece.
export class StreamingAnswer {
  constructor(list, { onStart = () => {} } = {}) {
    this.list = list;
    this.onStart = onStart;
    this.text = "";
    this.item = null;
    this.frame = 0;
    this.finished = false;
  }

  append(delta) {
    if (!delta || this.finished) return;
    this.text += delta;
    if (!this.item) {
      this.item = messageItem("assistant");
      this.item.classList.add("streaming");
      this.item.dataset.streaming = "true";
      this.list.setAttribute("aria-busy", "true");
      this.list.append(this.item);
      this.onStart(this.item);
    }
    if (!this.frame) {
      this.frame = requestAnimationFrame(() => {
        this.frame = 0;
        this.render(this.text);
      });
    }
  }

  render(text) {
    const follow = pinned;
    renderMarkdownInto(messageBody(this.item), text);
    if (follow) scrollToBottom();
  }

  // The last render (`text`: the server's whole answer, where it sent one), then done. Only the
  // first call counts.
  finish(text = this.text, flag = null) {
    if (this.finished) return;
    this.finished = true;
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.list.removeAttribute("aria-busy");
    if (!this.item) return;
    const follow = pinned;
    renderMarkdownInto(messageBody(this.item), text);
    this.item.classList.remove("streaming");
    delete this.item.dataset.streaming;
    if (flag) flagMessage(this.item, flag);
    if (follow) scrollToBottom();
  }
}
