// The open conversation: its messages on the page, a turn sent (a new one, an edited question, or
// the last answer regenerated) with its answer streaming in, and Stop. The server keeps the
// conversation; the page keeps a copy of its messages (with their "stopped" marks) to draw it and
// to know each message's index. Where the server keeps no conversations (501), the copy is all
// there is and travels with each turn, as before conversations were stored.
import { StreamingAnswer, flagMessage, followIfPinned, messageItem, scrollToBottom } from "./answer_view.js";
import { ChatError, cancelChat, sendChat } from "./chat_api.js";
import { addSpeed, markLeftOut, noteAnswer, showContext } from "./context_meter.js";
import { t } from "./i18n.js";
import { showInstructionsLine } from "./instructions.js";
import { clearLimit, showLimit } from "./limit_notice.js";
import { startEdit } from "./message_edit.js";
import { addAnswerTools, addQuestionTools } from "./message_tools.js";

const $ = (id) => document.getElementById(id);

// After Stop, how long the stream may take to send its last event (the partial answer, stored)
// before the browser stops reading by itself.
const STOP_GRACE_MS = 4000;
// After the browser stopped reading by itself, when to ask the server what it kept.
const RECHECK_MS = 1500;

let env = null; // see wireConversation()
// `instructions`: what the model reads before the messages (a new chat's go with its creation).
let conversation = { id: null, title: "", messages: [], instructions: "" };
let storeless = false;
// The running turn: {request, base, controller, id, idToken, stopping, discarded, timer,
// userItem, answer, reply}; `base` is the index its question gets (where an edit replaces from),
// `reply` the server's final answer once it came.
let inFlight = null;
let lastFailed = null; // the turn to send again on Retry (FROM_BOX: what is in the message box)
const FROM_BOX = "box";
let failedAttempt = []; // what a failed answer left on the page (not in the conversation)

const plain = (messages) =>
  (messages || [])
    .filter((m) => m && (m.role === "user" || m.role === "assistant") && typeof m.content === "string")
    .map((m) => (m.stopped === true ? { role: m.role, content: m.content, stopped: true } : { role: m.role, content: m.content }));

const sameMessages = (a, b) =>
  a.length === b.length &&
  a.every((m, i) => m.role === b[i].role && m.content === b[i].content && !!m.stopped === !!b[i].stopped);

// env: {config, auth (or null), api (ConversationsApi), onCreated(summary) (a new chat was
// stored), onStored(summary) (a turn was stored: title and updatedAt), onSessionExpired({signOut}),
// onTurnEnded(reply) (a turn sent from this page is over: the usage changed; reply: the server's
// final answer, or null when there was none)}.
export function wireConversation(settings) {
  env = settings;
}

export const currentId = () => conversation.id;
export const currentTitle = () => conversation.title;
export const currentInstructions = () => conversation.instructions;
export const isBusy = () => inFlight !== null;

export function setStoreless(value) {
  storeless = value;
}

export function showNotice(text) {
  $("chat-notice").textContent = text;
}

export function showTitle() {
  const title = conversation.title || t("newChat");
  $("conversation-title").textContent = title;
  document.title = conversation.title ? `${conversation.title} – simplechat` : "simplechat";
}

// Shows a stored conversation ({id, title, messages}), or a new chat (null).
export function open(stored) {
  conversation = stored
    ? { id: stored.id, title: stored.title || "", messages: plain(stored.messages), instructions: stored.instructions || "" }
    : { id: null, title: "", messages: [], instructions: "" };
  failedAttempt = [];
  hideError();
  showTitle();
  showContext(conversation.id);
  showInstructionsLine(conversation.instructions);
  render();
}

// New instructions for the open conversation, from its next answer on: stored at once, or, for a
// chat not stored yet (or a server that keeps none), kept here and sent with the first message.
export async function setInstructions(text) {
  const id = conversation.id;
  if (id && !storeless) {
    const changed = await env.api.setInstructions(id, text);
    if (conversation.id !== id) return;
    conversation.instructions = changed.instructions || "";
  } else {
    conversation.instructions = text;
  }
  showInstructionsLine(conversation.instructions);
}

// After the first answer: the model's title, asked in the background (the answer is already
// shown). The server keeps a title the user gave, and answers it; a failure leaves the first line.
async function askTitle(id) {
  let named;
  try {
    named = await env.api.nameByModel(id);
  } catch {
    return;
  }
  if (named.id === conversation.id) {
    conversation.title = named.title || "";
    showTitle();
  }
  env.onStored(named);
}

// A title changed elsewhere (renamed in the list).
export function retitle(summary) {
  if (summary.id !== conversation.id) return;
  conversation.title = summary.title || "";
  showTitle();
}

function addMessage(role, text, { pending = false } = {}) {
  const item = messageItem(role, text);
  if (pending) item.classList.add("pending");
  $("messages").append(item);
  $("empty-hint").hidden = true;
  scrollToBottom();
  return item;
}

// The tools of the stored message at `index`, on its item.
function decorate(item, index) {
  const message = conversation.messages[index];
  item.dataset.index = String(index);
  if (message.role === "user") addQuestionTools(item, () => edit(item, index));
  else addAnswerTools(item, message.content, regenerate);
}

// Regenerate only on the last answer (it follows a question); nothing to edit while answering.
function updateTools() {
  const messages = conversation.messages;
  const last = messages.length - 1;
  const canRegenerate = last > 0 && messages[last].role === "assistant" && messages[last - 1].role === "user";
  for (const item of $("messages").querySelectorAll(".message[data-index]")) {
    const again = item.querySelector(".regenerate");
    if (again) again.hidden = !(canRegenerate && Number(item.dataset.index) === last);
    for (const button of item.querySelectorAll(".regenerate, .edit-message")) button.disabled = !!inFlight;
  }
}

// Draws the stored messages (those before a running edit), then what is on the page but not
// stored: a failed attempt, the running turn.
export function render() {
  const list = $("messages");
  const upto = inFlight ? inFlight.base : conversation.messages.length;
  // Drawn at once (opening a conversation): screen readers are not read every message as new.
  list.setAttribute("aria-busy", "true");
  list.replaceChildren();
  conversation.messages.slice(0, upto).forEach((message, index) => {
    const item = addMessage(message.role, message.content);
    if (message.stopped) flagMessage(item, "stopped");
    if (message.speed) addSpeed(item, message);
    decorate(item, index);
  });
  const extra = [...failedAttempt];
  if (inFlight) extra.push(inFlight.userItem, inFlight.answer && inFlight.answer.item);
  list.append(...extra.filter(Boolean));
  if (!(inFlight && inFlight.answer && inFlight.answer.item && !inFlight.answer.finished)) {
    requestAnimationFrame(() => list.removeAttribute("aria-busy"));
  }
  $("empty-hint").hidden = list.children.length > 0;
  markLeftOut();
  updateTools();
  scrollToBottom();
}

function edit(item, index) {
  if (inFlight) return;
  startEdit(item, conversation.messages[index].content, {
    onSubmit: (text) => send({ message: text, editFrom: index }),
    onCancel: () => item.querySelector(".edit-message").focus(),
  });
}

function regenerate() {
  const last = conversation.messages.length - 1;
  if (inFlight || last < 1) return;
  send({ message: conversation.messages[last - 1].content, editFrom: last - 1 });
}

function setBusy(busy) {
  $("typing").hidden = !busy;
  $("send-button").hidden = busy;
  $("stop-button").hidden = !busy;
  $("stop-button").disabled = false;
  $("stop-button").textContent = t("stop");
  updateTools();
}

function showError(text, request) {
  lastFailed = request;
  $("error-text").textContent = text;
  $("error-box").hidden = false;
  $("retry-button").hidden = request === null;
  followIfPinned();
}

export function hideError() {
  clearLimit();
  $("error-box").hidden = true;
  lastFailed = null;
}

export function retry() {
  if (lastFailed === FROM_BOX) $("composer").requestSubmit(); // sent as if Send were pressed
  else if (lastFailed) send(lastFailed);
}

function dropFailedAttempt() {
  for (const node of failedAttempt) node.remove();
  failedAttempt = [];
}

// The turn is in the conversation now: its question and answer get their indexes and tools.
function keepTurn(run, text, stopped, speed = null) {
  const answer = { role: "assistant", content: text };
  if (stopped) answer.stopped = true;
  if (speed) answer.speed = speed; // shown under the answer while the page keeps it
  conversation.messages = [...conversation.messages.slice(0, run.base), { role: "user", content: run.request.message }, answer];
  run.userItem.classList.remove("pending");
  if (!run.answer.item) {
    run.answer.finish();
    run.answer.item = addMessage("assistant", text); // a server that answered in one piece
    if (stopped) flagMessage(run.answer.item, "stopped");
  } else {
    run.answer.finish(text, stopped ? "stopped" : null);
  }
  decorate(run.userItem, run.base);
  decorate(run.answer.item, run.base + 1);
  if (speed) addSpeed(run.answer.item, answer);
}

// The server's answer to the turn: the turn is kept as the server stored it. Where the server's
// conversation is not the page's plus this turn (changed in another tab), it is fetched again.
function settle(run, reply, text) {
  const stopped = reply.stopped === true;
  if (reply.conversation && reply.conversation.id === conversation.id) {
    conversation.title = reply.conversation.title || "";
    showTitle();
  }
  if (reply.conversation) env.onStored(reply.conversation);
  const stored = Array.isArray(reply.conversationHistory) ? plain(reply.conversationHistory) : null;
  const expected = run.base + 2;
  if (stopped && !text.trim() && !(stored && stored.length === expected)) {
    stoppedBeforeAnswer(run);
    return;
  }
  keepTurn(run, stored && stored.length === expected ? stored[expected - 1].content : text, stopped, reply.speed);
  noteAnswer(conversation.id, reply);
  if (run.base === 0 && reply.conversation && !storeless) askTitle(reply.conversation.id);
  if (stored && !storeless) {
    const before = conversation.messages.slice(0, run.base).map(({ role, content }) => ({ role, content }));
    if (stored.length !== expected || !sameMessages(stored.slice(0, run.base), before)) refresh();
  }
}

// Stopped before any text came: nothing was kept. A new message is back in the box; an edit or
// a regeneration can be sent again with Retry.
function stoppedBeforeAnswer(run) {
  run.answer.finish();
  if (run.answer.item) run.answer.item.remove();
  run.userItem.remove();
  if (run.request.editFrom === null) {
    $("input").value = run.request.message;
    showError(t("stopped"), null);
  } else {
    inFlight = null;
    render();
    showError(t("stopped"), run.request);
  }
}

// Fetches the open conversation again and redraws it if it is not what the page shows.
async function refresh() {
  const id = conversation.id;
  if (!id || storeless) return;
  let stored;
  try {
    stored = await env.api.get(id);
  } catch {
    return; // the page's copy stays; the next turn's answer says again what is stored
  }
  if (conversation.id !== id || inFlight) return;
  const messages = plain(stored.messages);
  if (sameMessages(messages, conversation.messages)) return;
  conversation.messages = messages;
  failedAttempt = [];
  render();
}

async function idTokenOrLogin(run) {
  const idToken = env.auth ? await env.auth.idToken() : null;
  if (env.auth && !idToken && !run.discarded) {
    backInTheBox(run);
    env.onSessionExpired({ signOut: false });
    return undefined;
  }
  return idToken;
}

// The turn leaves the page unanswered: the conversation is shown as it was before it.
function takeBack(run) {
  run.answer.finish();
  if (run.answer.item) run.answer.item.remove();
  run.userItem.remove();
  if (run.base < conversation.messages.length) {
    inFlight = null;
    render();
  }
}

// The turn is not sent after all (signed out): its text is kept in the box for later.
function backInTheBox(run) {
  takeBack(run);
  $("input").value = run.request.message;
}

// Over a limit (429, before anything was asked or stored): the error box says which, and when it
// resets. A new message goes back in the box (unless something else was typed meanwhile) to be
// sent later; Retry is offered once the wait is over.
function overLimit(run, error) {
  takeBack(run);
  const turn = run.request;
  const inBox = turn.editFrom === null && !$("input").value.trim();
  if (inBox) $("input").value = turn.message;
  showError("", inBox ? FROM_BOX : turn);
  $("retry-button").hidden = true;
  showLimit(error, () => ($("retry-button").hidden = lastFailed === null));
}

// Where the server keeps nothing, the instructions travel as a `system` turn before the history
// (the server still puts its own system prompt first).
function storelessHistory(upto) {
  const turns = conversation.messages.slice(0, upto).map(({ role, content }) => ({ role, content }));
  return conversation.instructions ? [{ role: "system", content: conversation.instructions }, ...turns] : turns;
}

// Sends a turn: {message, editFrom} (editFrom: the index of the question it replaces, or null
// for a new message at the end). A new chat is stored first, when its first message is sent.
export async function send(request) {
  const turn = { message: request.message, editFrom: Number.isInteger(request.editFrom) ? request.editFrom : null };
  if (!turn.message.trim() || inFlight) return;
  hideError();
  dropFailedAttempt();
  showNotice("");
  const run = {
    request: turn,
    base: turn.editFrom === null ? conversation.messages.length : turn.editFrom,
    controller: new AbortController(),
    id: null,
    idToken: null,
    stopping: false,
    discarded: false,
    timer: 0,
    userItem: null,
    answer: null,
    reply: null,
  };
  inFlight = run;
  if (run.base < conversation.messages.length) render(); // the edited question and what follows go
  run.userItem = addMessage("user", turn.message, { pending: true });
  run.answer = new StreamingAnswer($("messages"), { onStart: () => ($("typing").hidden = true) });
  setBusy(true);
  followIfPinned();
  try {
    const idToken = await idTokenOrLogin(run);
    if (idToken === undefined || run.discarded) return;
    run.idToken = idToken;
    if (!storeless && !conversation.id) {
      const summary = await env.api.create(conversation.instructions ? { instructions: conversation.instructions } : {});
      if (run.discarded) return;
      conversation.id = summary.id;
      env.onCreated(summary);
    }
    const reply = await sendChat({
      apiEndpoint: env.config.apiEndpoint,
      idToken,
      message: turn.message,
      conversationId: storeless ? null : conversation.id,
      editFrom: turn.editFrom,
      history: storeless ? storelessHistory(run.base) : null,
      signal: run.controller.signal,
      onId: (id) => (run.id = id),
      onDelta: (delta) => run.answer.append(delta),
    });
    run.reply = reply;
    if (run.discarded) {
      // Left while it was answering: the list still learns what the server stored.
      if (reply && reply.conversation) env.onStored(reply.conversation);
      return;
    }
    settle(run, reply, typeof reply.response === "string" ? reply.response : run.answer.text);
  } catch (error) {
    if (run.discarded) return;
    const partial = run.answer.text.trim();
    if (error.name === "AbortError") {
      // Stop, and the stream did not end by itself in time: what arrived is kept here, and the
      // server is asked a moment later what it stored.
      if (partial) {
        keepTurn(run, partial, true);
        setTimeout(refresh, RECHECK_MS);
      } else {
        stoppedBeforeAnswer(run);
      }
      return;
    }
    if (error.status === 429 && !partial) {
      overLimit(run, error);
      return;
    }
    if (error.status === 401 && env.auth && !partial) {
      backInTheBox(run);
      env.onSessionExpired({ signOut: true });
      return;
    }
    const text =
      error.message && error.message !== "null"
        ? error.message
        : t(error instanceof ChatError && error.interrupted ? "interrupted" : "networkError");
    if (partial && turn.editFrom === null) {
      // What arrived stays in view, marked; the conversation goes on without this attempt.
      run.answer.finish(run.answer.text, "failed");
      run.userItem.dataset.failed = "true";
      failedAttempt = [run.userItem, run.answer.item];
    } else {
      // An edit that failed: the conversation is as it was, and is shown so.
      run.answer.finish();
      if (run.answer.item) run.answer.item.remove();
      run.userItem.remove();
      if (run.base < conversation.messages.length) {
        inFlight = null;
        render();
      }
    }
    showError(text, turn);
  } finally {
    clearTimeout(run.timer);
    if (run.answer) run.answer.finish(); // no-op when already finished; never leaves the list aria-busy
    if (inFlight === run) {
      inFlight = null;
      setBusy(false);
      if (!run.discarded && !document.querySelector("dialog[open]")) $("input").focus();
    } else if (!inFlight) {
      updateTools();
    }
    if (!run.discarded && env.onTurnEnded) env.onTurnEnded(run.reply);
  }
}

// Stop: the server is asked to stop (its stream then ends with the partial answer, stored); without
// an id yet, with a server that cannot stop, or with no last event in time, the browser stops
// reading and keeps what arrived.
export async function stop() {
  const run = inFlight;
  if (!run || run.stopping) return;
  run.stopping = true;
  $("stop-button").disabled = true;
  $("stop-button").textContent = t("stopping");
  if (!run.id) {
    run.controller.abort();
    return;
  }
  run.timer = setTimeout(() => run.controller.abort(), STOP_GRACE_MS);
  const result = await cancelChat({ apiEndpoint: env.config.apiEndpoint, idToken: run.idToken, id: run.id });
  if (result.ok && !result.cancelled) run.controller.abort(); // it cannot stop: stop reading
}

// Another conversation opened, or signed out, while an answer is coming: the server is told to
// stop, the page forgets that answer. `keepReading`: the stream is still read to its end (a
// moment, after the cancel), so that the list learns the title and time the server stored.
export function discardRunning({ keepReading = false } = {}) {
  const run = inFlight;
  if (!run) return;
  run.discarded = true;
  if (run.id) cancelChat({ apiEndpoint: env.config.apiEndpoint, idToken: run.idToken, id: run.id });
  if (keepReading && run.id) run.timer = setTimeout(() => run.controller.abort(), STOP_GRACE_MS);
  else run.controller.abort();
  if (run.answer) run.answer.finish();
  inFlight = null;
  setBusy(false);
}
