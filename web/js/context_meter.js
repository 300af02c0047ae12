// The open conversation's context: a meter (the tokens the model read and wrote in the last
// answer, of its context), a warning when the next turn will leave older turns out, a quiet note
// in the conversation above the first turn the model was sent, and each answer's speed. All from
// the answer's `context` and `speed` objects (docs/context.md): the server's own counts and clock.
import { t } from "./i18n.js";
import { format } from "./i18n_auth.js";
import "./i18n_context.js";
import { count } from "./usage_format.js";

const $ = (id) => document.getElementById(id);
// Kept in this browser, so that a conversation opened again shows its meter before its next
// answer: numbers and ids only, the newest KEPT conversations.
const STORAGE_KEY = "simplechat.context";
const KEPT = 100;
const reports = new Map(); // conversation id ("" for a chat the server does not keep) -> report
let shown = "";

const whole = (n) => Number.isInteger(n) && n >= 0;
const valid = (r) =>
  r && whole(r.used) && (r.limit === null || whole(r.limit)) && whole(r.room) && whole(r.leftOut) && whole(r.from);

function load() {
  try {
    const saved = JSON.parse(localStorage.getItem(STORAGE_KEY) || "[]");
    if (Array.isArray(saved)) for (const [id, report] of saved) if (typeof id === "string" && valid(report)) reports.set(id, report);
  } catch {
    // unreadable: start afresh
  }
}

function save() {
  const kept = [...reports].filter(([id]) => id).slice(-KEPT);
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(kept));
  } catch {
    // storage full or refused: the meter still works for this page
  }
}

load();

// What the meter reads from an answer, or null where the answer says nothing of its context.
function reportOf(reply) {
  const context = reply && reply.context;
  if (!context || !Number.isInteger(context.promptTokens)) return null;
  const completion = reply.usage && Number.isInteger(reply.usage.completion_tokens) ? reply.usage.completion_tokens : 0;
  return {
    used: context.promptTokens + completion,
    limit: Number.isInteger(context.contextLength) && context.contextLength > 0 ? context.contextLength : null,
    room: Number.isInteger(context.maxTokens) ? context.maxTokens : 0,
    leftOut: Number.isInteger(context.leftOutTurns) ? context.leftOutTurns : 0,
    from: Number.isInteger(context.historyFrom) ? context.historyFrom : 0,
    estimated: context.tokensEstimated === true,
  };
}

// An answer came for conversation `id`: its report is kept, and shown if it is open.
export function noteAnswer(id, reply) {
  const report = reportOf(reply);
  if (!report) return;
  reports.delete(id || ""); // newest last
  reports.set(id || "", report);
  save();
  showContext(id);
}

// Shows the meter of conversation `id` (hidden where no answer has said anything yet).
export function showContext(id) {
  shown = id || "";
  renderContext();
}

export function renderContext() {
  const report = reports.get(shown);
  const box = $("context-meter");
  const warning = $("context-warning");
  if (!report || !report.limit) {
    box.hidden = true;
    if (warning.textContent) warning.textContent = "";
    markLeftOut();
    return;
  }
  const values = { used: count(report.used), limit: count(report.limit), n: report.leftOut };
  const text = format(t(report.estimated ? "contextAbout" : "contextUsed"), values);
  const gauge = $("context-gauge");
  gauge.max = report.limit;
  gauge.value = Math.min(report.used, report.limit);
  gauge.high = Math.max(0, report.limit - report.room);
  gauge.optimum = 0;
  gauge.setAttribute("aria-valuetext", text);
  $("context-text").textContent = text;
  box.hidden = false;
  // The next turn adds a question and an answer of up to `room` tokens to what was used now.
  const next = report.used + report.room > report.limit;
  let words = "";
  if (report.leftOut > 0) words = format(t(report.leftOut === 1 ? "contextLeftOutOne" : "contextLeftOut"), values);
  else if (next) words = t("contextNextLeavesOut");
  if (warning.textContent !== words) warning.textContent = words; // a live region: said when it changes
  markLeftOut();
}

// The note above the first message the model was sent, where earlier turns were left out.
export function markLeftOut() {
  for (const old of document.querySelectorAll("#messages .context-note")) old.remove();
  const report = reports.get(shown);
  if (!report || report.leftOut < 1) return;
  const first = document.querySelector(`#messages .message[data-index="${report.from}"]`);
  if (!first) return;
  const note = document.createElement("li");
  note.className = "context-note";
  note.setAttribute("role", "note");
  note.textContent = format(t(report.leftOut === 1 ? "contextNoteOne" : "contextNote"), { n: report.leftOut });
  first.before(note);
}

// An answer's speed in small type under its text: tokens per second and the time to its first
// token. Drawn by the style sheet from data-speed (a generated line), so the answer's own text
// stays the answer's: what is read as the message, and compared when the conversation is drawn
// again (a stored answer carries no speed).
export function addSpeed(item, reply) {
  const speed = reply && reply.speed;
  const body = item && item.querySelector(".message-body");
  if (!body || !speed) return;
  const parts = [];
  if (typeof speed.tokensPerSecond === "number") parts.push(format(t("speedRate"), { rate: speed.tokensPerSecond.toFixed(1) }));
  if (Number.isInteger(speed.timeToFirstTokenMs)) parts.push(format(t("speedFirst"), { ms: count(speed.timeToFirstTokenMs) }));
  if (!parts.length) return;
  body.dataset.speed = parts.join(" · ");
  body.dataset.speedBy = speed.measuredBy === "server" ? "server" : "gateway";
}
