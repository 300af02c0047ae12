// Wires the page together: configuration, language, sign-in, and the chat itself.
import { wireAccount } from "./account.js";
import { StreamingAnswer, flagMessage, followIfPinned, messageItem, scrollToBottom } from "./answer_view.js";
import { CognitoAuth } from "./auth.js";
import { ChatError, cancelChat, sendChat } from "./chat_api.js";
import { History } from "./history.js";
import { applyLanguage, pickLanguage, t } from "./i18n.js";
import { startSignIn, wireSignIn } from "./sign_in.js";
import { StoppedMarks } from "./stopped_marks.js";

const config = window.SIMPLECHAT_CONFIG || {};
const $ = (id) => document.getElementById(id);
const auth = config.auth && config.auth.type === "cognito" ? new CognitoAuth(config.auth) : null;

// After Stop, how long the stream may take to send its last event (the partial answer and the
// history to keep) before the browser stops reading by itself.
const STOP_GRACE_MS = 4000;

let history = null;
let stoppedMarks = null;
// The running request: {controller, id, idToken, stopping, discarded, timer, userItem, answer}.
let inFlight = null;
let lastFailed = null; // message to resend on Retry
let failedAttempt = []; // what a failed answer left on the page (not in the history)

function show(view) {
  $("login-view").hidden = view !== "login";
  $("chat-view").hidden = view !== "chat";
  $("clear-button").hidden = view !== "chat";
  $("logout-button").hidden = !auth || view !== "chat";
  $("account-button").hidden = $("logout-button").hidden;
}

function addMessage(role, text, { pending = false } = {}) {
  const item = messageItem(role, text);
  if (pending) item.classList.add("pending");
  $("messages").append(item);
  $("empty-hint").hidden = true;
  scrollToBottom();
  return item;
}

function renderHistory() {
  $("messages").replaceChildren();
  history.turns.forEach((turn, index) => {
    if (turn.role !== "user" && turn.role !== "assistant") return;
    const item = addMessage(turn.role, turn.content);
    if (turn.role === "assistant" && stoppedMarks.has(index, turn.content)) flagMessage(item, "stopped");
  });
  // What is on the page but not (yet) in the history: a failed attempt, the running one.
  const extra = [...failedAttempt];
  if (inFlight) extra.push(inFlight.userItem, inFlight.answer.item);
  $("messages").append(...extra.filter(Boolean));
  $("empty-hint").hidden = $("messages").children.length > 0;
  scrollToBottom();
}

function setBusy(busy) {
  $("typing").hidden = !busy;
  $("send-button").hidden = busy;
  $("stop-button").hidden = !busy;
  $("stop-button").disabled = false;
  $("stop-button").textContent = t("stop");
}

function showError(text, message) {
  lastFailed = message;
  $("error-text").textContent = text;
  $("error-box").hidden = false;
  $("retry-button").hidden = message === null;
  followIfPinned();
}

function hideError() {
  $("error-box").hidden = true;
  lastFailed = null;
}

function dropFailedAttempt() {
  for (const node of failedAttempt) node.remove();
  failedAttempt = [];
}

// Keeps a stopped answer: the user's turn and the partial answer are the conversation now.
function keepStopped(run, message, text, turns) {
  const kept = Array.isArray(turns)
    ? turns
    : [...history.turns, { role: "user", content: message }, { role: "assistant", content: text }];
  history.replace(kept);
  stoppedMarks.add(kept.length - 1, kept[kept.length - 1].content);
  run.userItem.classList.remove("pending");
  run.answer.finish(text, "stopped");
}

// Stopped before any text came: nothing was lost, the message is back in the box.
function stoppedBeforeAnswer(run, message) {
  run.answer.finish();
  if (run.answer.item) run.answer.item.remove();
  run.userItem.remove();
  $("input").value = message;
  showError(t("stopped"), null);
}

async function send(message) {
  if (!message.trim() || inFlight) return;
  hideError();
  dropFailedAttempt();
  const run = {
    controller: new AbortController(),
    id: null,
    idToken: null,
    stopping: false,
    discarded: false,
    timer: 0,
    userItem: addMessage("user", message, { pending: true }),
    answer: new StreamingAnswer($("messages"), { onStart: () => ($("typing").hidden = true) }),
  };
  inFlight = run;
  setBusy(true);
  followIfPinned();
  try {
    const idToken = auth ? await auth.idToken() : null;
    if (run.discarded) return;
    if (auth && !idToken) {
      run.userItem.remove();
      $("input").value = message; // kept for after signing in again
      startLogin(t("sessionExpired"));
      return;
    }
    run.idToken = idToken;
    const reply = await sendChat({
      apiEndpoint: config.apiEndpoint,
      idToken,
      message,
      history: history.turns,
      signal: run.controller.signal,
      onId: (id) => (run.id = id),
      onDelta: (delta) => run.answer.append(delta),
    });
    if (run.discarded) return;
    const text = typeof reply.response === "string" ? reply.response : run.answer.text;
    if (reply.stopped === true) {
      if (text.trim()) keepStopped(run, message, text, reply.conversationHistory);
      else stoppedBeforeAnswer(run, message);
      return;
    }
    history.replace(
      Array.isArray(reply.conversationHistory)
        ? reply.conversationHistory
        : [...history.turns, { role: "user", content: message }, { role: "assistant", content: text }],
    );
    run.userItem.classList.remove("pending");
    if (run.answer.item) run.answer.finish(text);
    else addMessage("assistant", text); // a server that answered in one piece
  } catch (error) {
    if (run.discarded) return;
    const partial = run.answer.text.trim();
    if (error.name === "AbortError") {
      // Stop, and the stream did not end by itself in time: keep what arrived.
      if (partial) keepStopped(run, message, partial, null);
      else stoppedBeforeAnswer(run, message);
      return;
    }
    if (error instanceof ChatError && error.status === 401 && auth && !partial) {
      run.answer.finish();
      run.userItem.remove();
      $("input").value = message; // kept for after signing in again
      auth.signOut();
      startLogin(t("sessionExpired"));
      return;
    }
    const text =
      error.message && error.message !== "null"
        ? error.message
        : t(error instanceof ChatError && error.interrupted ? "interrupted" : "networkError");
    if (partial) {
      // What arrived stays in view, marked; the conversation goes on without this attempt.
      run.answer.finish(run.answer.text, "failed");
      run.userItem.dataset.failed = "true";
      failedAttempt = [run.userItem, run.answer.item];
    } else {
      run.answer.finish();
      if (run.answer.item) run.answer.item.remove();
      run.userItem.remove();
    }
    showError(text, message);
  } finally {
    clearTimeout(run.timer);
    run.answer.finish(); // no-op when already finished; never leaves the list aria-busy
    if (inFlight === run) {
      inFlight = null;
      setBusy(false);
      if (!run.discarded) $("input").focus();
    }
  }
}

// Stop: the server is asked to stop (its stream then ends with the partial answer); without an
// id yet, with a server that cannot stop, or with no last event in time, the browser stops
// reading and keeps what arrived.
async function stop() {
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
  const result = await cancelChat({ apiEndpoint: config.apiEndpoint, idToken: run.idToken, id: run.id });
  if (result.ok && !result.cancelled) run.controller.abort(); // it cannot stop: stop reading
}

// Clear or sign-out while an answer is coming: that answer is dropped, the server told to stop.
function discardRunning() {
  const run = inFlight;
  if (!run) return;
  run.discarded = true;
  if (run.id) cancelChat({ apiEndpoint: config.apiEndpoint, idToken: run.idToken, id: run.id });
  run.controller.abort();
  run.answer.finish();
  inFlight = null;
  setBusy(false);
}

// The bundled demo model gets a note, once per browser until dismissed (config.js says which
// model the stack runs; a deployment without that says nothing).
const DEMO_NOTE_KEY = "simplechat.demoNoteDismissed";

function showDemoNote() {
  const model = config.model;
  const note = $("demo-note");
  note.hidden = !(model && model.demo) || localStorage.getItem(DEMO_NOTE_KEY) === "1";
  if (note.hidden) return;
  const language = document.documentElement.lang === "ja" ? "ja" : "en";
  $("demo-note-link").href = (model.guide && model.guide[language]) || "guide.html";
}

function startChat() {
  const owner = auth && auth.user ? auth.user.sub : "local";
  history = new History(owner);
  stoppedMarks = new StoppedMarks(owner);
  failedAttempt = [];
  renderHistory();
  show("chat");
  showDemoNote();
  $("input").focus();
}

// The sign-in steps live in sign_in.js, the account menu in account.js.
function startLogin(errorText = "", info = "") {
  show("login");
  startSignIn(errorText, info);
}

function wire() {
  $("language-select").value = applyLanguage(pickLanguage(config.language));
  $("language-select").addEventListener("change", (e) => {
    applyLanguage(e.target.value, true);
    if (history) renderHistory();
    if (history) showDemoNote();
  });
  $("demo-note-close").addEventListener("click", () => {
    localStorage.setItem(DEMO_NOTE_KEY, "1");
    $("demo-note").hidden = true;
    $("input").focus();
  });

  $("composer").addEventListener("submit", (e) => {
    e.preventDefault();
    const message = $("input").value;
    // While an answer is coming, the next message stays in the box until it can be sent.
    if (!message.trim() || inFlight) return;
    $("input").value = "";
    send(message);
  });
  $("input").addEventListener("keydown", (e) => {
    // While an IME is composing (Japanese input), Enter confirms the conversion: never send.
    if (e.key !== "Enter" || e.shiftKey || e.isComposing || e.keyCode === 229) return;
    e.preventDefault();
    $("composer").requestSubmit();
  });
  $("stop-button").addEventListener("click", stop);
  $("retry-button").addEventListener("click", () => lastFailed && send(lastFailed));
  $("clear-button").addEventListener("click", () => {
    discardRunning();
    failedAttempt = [];
    history.clear();
    stoppedMarks.clear();
    hideError();
    renderHistory();
  });
  $("logout-button").addEventListener("click", () => {
    discardRunning();
    auth.signOut();
    startLogin();
  });
}

wire();
if (auth) {
  wireSignIn(auth, config.auth, startChat);
  wireAccount(auth, config.auth, (info) => startLogin("", info));
}
if (auth && !auth.tokens) startLogin();
else startChat();
