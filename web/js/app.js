// Wires the page together: configuration, language, sign-in, and the chat itself.
import { wireAccount } from "./account.js";
import { CognitoAuth } from "./auth.js";
import { ChatError, sendChat } from "./chat_api.js";
import { History } from "./history.js";
import { applyLanguage, pickLanguage, t } from "./i18n.js";
import { renderMarkdown } from "./markdown.js";
import { startSignIn, wireSignIn } from "./sign_in.js";

const config = window.SIMPLECHAT_CONFIG || {};
const $ = (id) => document.getElementById(id);
const auth = config.auth && config.auth.type === "cognito" ? new CognitoAuth(config.auth) : null;

let history = null;
let inFlight = null; // AbortController of the running request
let lastFailed = null; // message to resend on Retry

function show(view) {
  $("login-view").hidden = view !== "login";
  $("chat-view").hidden = view !== "chat";
  $("clear-button").hidden = view !== "chat";
  $("logout-button").hidden = !auth || view !== "chat";
  $("account-button").hidden = $("logout-button").hidden;
}

function addMessage(role, text, { pending = false } = {}) {
  const item = document.createElement("li");
  item.className = `message ${role}` + (pending ? " pending" : "");
  item.setAttribute("aria-label", role === "user" ? t("you") : t("assistant"));
  if (role === "assistant") item.innerHTML = renderMarkdown(text);
  else item.textContent = text; // the user's own text is never parsed as HTML either
  $("messages").append(item);
  $("empty-hint").hidden = true;
  item.scrollIntoView({ block: "end" });
  return item;
}

function renderHistory() {
  $("messages").replaceChildren();
  for (const turn of history.turns) {
    if (turn.role === "user" || turn.role === "assistant") addMessage(turn.role, turn.content);
  }
  $("empty-hint").hidden = history.turns.length > 0;
}

function setBusy(busy) {
  $("typing").hidden = !busy;
  $("send-button").hidden = busy;
  $("stop-button").hidden = !busy;
}

function showError(text, message) {
  lastFailed = message;
  $("error-text").textContent = text;
  $("error-box").hidden = false;
  $("retry-button").hidden = message === null;
}

function hideError() {
  $("error-box").hidden = true;
  lastFailed = null;
}

async function send(message) {
  if (!message.trim() || inFlight) return;
  hideError();
  const pending = addMessage("user", message, { pending: true });
  const controller = new AbortController();
  inFlight = controller;
  setBusy(true);
  try {
    const idToken = auth ? await auth.idToken() : null;
    if (auth && !idToken) {
      pending.remove();
      $("input").value = message; // kept for after signing in again
      startLogin(t("sessionExpired"));
      return;
    }
    const reply = await sendChat({
      apiEndpoint: config.apiEndpoint,
      idToken,
      message,
      history: history.turns,
      signal: controller.signal,
    });
    history.replace(reply.conversationHistory);
    pending.classList.remove("pending");
    addMessage("assistant", reply.response);
  } catch (error) {
    pending.remove();
    if (error.name === "AbortError") {
      $("input").value = message; // nothing was lost: the text is back in the box
      showError(t("stopped"), null);
    } else if (error instanceof ChatError && error.status === 401 && auth) {
      $("input").value = message; // kept for after signing in again
      auth.signOut();
      startLogin(t("sessionExpired"));
    } else {
      showError(error.message && error.message !== "null" ? error.message : t("networkError"), message);
    }
  } finally {
    inFlight = null;
    setBusy(false);
    $("input").focus();
  }
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
  $("stop-button").addEventListener("click", () => inFlight && inFlight.abort());
  $("retry-button").addEventListener("click", () => lastFailed && send(lastFailed));
  $("clear-button").addEventListener("click", () => {
    history.clear();
    hideError();
    renderHistory();
  });
  $("logout-button").addEventListener("click", () => {
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
