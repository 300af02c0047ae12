// The conversation this browser kept in localStorage before conversations were stored on the
// server (one per user, with marks for its stopped answers): offered for import once, then
// removed from the browser whichever the user chooses.
import { announce } from "./announce.js";
import { t } from "./i18n.js";
import { format } from "./i18n_auth.js";

const $ = (id) => document.getElementById(id);
const HISTORY_PREFIX = "simplechat.history.";
const STOPPED_PREFIX = "simplechat.stopped.";
const MAX_MESSAGES = 1000; // what the server takes in one conversation

// The old marks named an answer by its index and a fingerprint of its text (stopped_marks.js).
function fingerprint(text) {
  let hash = 5381;
  for (let i = 0; i < text.length; i++) hash = ((hash * 33) ^ text.charCodeAt(i)) >>> 0;
  return `${text.length}:${hash.toString(36)}`;
}

function readJson(key, fallback) {
  try {
    return JSON.parse(localStorage.getItem(key) || "null") ?? fallback;
  } catch {
    return fallback;
  }
}

// The old conversation as import messages ({role, content, stopped?}), or null when there is none.
export function oldHistory(owner) {
  const turns = readJson(HISTORY_PREFIX + owner, []);
  const marks = readJson(STOPPED_PREFIX + owner, {});
  if (!Array.isArray(turns)) return null;
  const messages = [];
  turns.forEach((turn, index) => {
    if (!turn || (turn.role !== "user" && turn.role !== "assistant")) return;
    if (typeof turn.content !== "string" || !turn.content.trim()) return;
    const message = { role: turn.role, content: turn.content };
    if (turn.role === "assistant" && marks && marks[index] === fingerprint(turn.content)) message.stopped = true;
    messages.push(message);
  });
  return messages.length ? messages.slice(-MAX_MESSAGES) : null;
}

export function forgetOldHistory(owner) {
  localStorage.removeItem(HISTORY_PREFIX + owner);
  localStorage.removeItem(STOPPED_PREFIX + owner);
}

// Shows the offer when there is something to import. `create(body)` stores a conversation and
// resolves with its Summary; onImported(summary) opens it. A failed import keeps the old
// conversation (and the offer, with the error) so that nothing is lost; Dismiss drops it.
export function offerImport(owner, create, onImported) {
  const notice = $("import-notice");
  const messages = oldHistory(owner);
  notice.hidden = !messages;
  if (!messages) return;
  $("import-text").textContent = format(t("importOffer"), { n: messages.length });
  $("import-error").textContent = "";
  $("import-button").onclick = async () => {
    $("import-button").disabled = true;
    try {
      const summary = await create({ messages });
      forgetOldHistory(owner);
      notice.hidden = true;
      announce(t("imported"));
      onImported(summary);
    } catch (error) {
      $("import-error").textContent = format(t("importFailed"), { error: error.message || t("networkError") });
    } finally {
      $("import-button").disabled = false;
    }
  };
  $("import-dismiss").onclick = () => {
    forgetOldHistory(owner);
    notice.hidden = true;
    $("input").focus();
  };
}

// The offer's text in the language just chosen.
export function translateOffer(owner) {
  const messages = oldHistory(owner);
  if (messages && !$("import-notice").hidden) {
    $("import-text").textContent = format(t("importOffer"), { n: messages.length });
  }
}
