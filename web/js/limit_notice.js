// Over a limit (429): the error box says which limit and when sending works again, in the UI's
// language, built from the server's `limit` details (not its English sentence), counting down.
import { t } from "./i18n.js";
import "./i18n_usage.js";
import { clock, count, wait } from "./usage_format.js";

const $ = (id) => document.getElementById(id);

let shown = null; // {limit, deadline (ms, or 0: nothing to wait for), onReady, ready}
let timer = 0;

const secondsLeft = () => (shown.deadline ? Math.ceil((shown.deadline - Date.now()) / 1000) : 0);

// The sentence for `limit`, and whether it has a wait to count down.
function sentence(limit) {
  const used = Number(limit.used) || 0;
  switch (limit.name) {
    case "tokensPerDay":
      return { key: "limitTokens", waits: true };
    case "requestsPerMinute":
      return { key: used === 1 ? "limitMinuteOne" : "limitMinute", waits: true };
    case "concurrentAnswers":
      // It ends when one of the user's answers does, not at a time: no countdown.
      return { key: used === 1 ? "limitAnswersOne" : "limitAnswers", waits: false };
    default:
      return { key: "limitOther", waits: false }; // a 429 without our details (a proxy's throttle)
  }
}

// The template's {placeholders} filled in; the wait is its own element, updated each second
// without being announced again (aria-live="off" inside the error box's alert).
function fill(template, values) {
  const nodes = [];
  for (const part of template.split(/(\{\w+\})/)) {
    const name = /^\{(\w+)\}$/.exec(part);
    if (!name) nodes.push(document.createTextNode(part));
    else if (name[1] === "wait") {
      const span = document.createElement("span");
      span.className = "limit-wait";
      span.setAttribute("aria-live", "off");
      span.textContent = wait(secondsLeft());
      nodes.push(span);
    } else nodes.push(document.createTextNode(name[1] in values ? values[name[1]] : part));
  }
  return nodes;
}

function ready() {
  clearInterval(timer);
  if (shown.ready) return;
  shown.ready = true;
  shown.onReady();
}

function draw() {
  const { limit, deadline } = shown;
  const { key, waits } = sentence(limit);
  if (waits && secondsLeft() <= 0) {
    $("error-text").textContent = t("limitReady");
    ready();
    return;
  }
  const resetsAt = limit.resetsAt || (deadline ? new Date(deadline).toISOString() : "");
  $("error-text").replaceChildren(...fill(t(key), { limit: count(limit.limit), used: count(limit.used), time: clock(resetsAt) }));
  if (!waits) ready();
}

function tick() {
  if (!shown) return;
  const span = $("error-text").querySelector(".limit-wait");
  if (secondsLeft() <= 0 || !span) draw();
  else span.textContent = wait(secondsLeft());
}

// Shows the ChatError `error` (a 429) in the error box; `onReady()` runs once sending may work
// again: at once where there is nothing to wait for, else when the countdown reaches 0.
export function showLimit(error, onReady) {
  clearLimit();
  const limit = error.limit || {};
  const after = [limit.retryAfter, error.retryAfter, (Date.parse(limit.resetsAt) - Date.now()) / 1000].find(Number.isFinite);
  // Counted from the server's seconds, not its clock: the browser's may be off.
  shown = { limit, deadline: Number.isFinite(after) && after > 0 ? Date.now() + after * 1000 : 0, onReady, ready: false };
  draw();
  if (!shown.ready) timer = setInterval(tick, 1000);
}

export function clearLimit() {
  clearInterval(timer);
  shown = null;
}

// The language changed: the message is said again in the new one.
export function translateLimit() {
  if (shown && shown.ready && sentence(shown.limit).waits) $("error-text").textContent = t("limitReady");
  else if (shown) draw();
}
