// Wires the page together: configuration, language, sign-in, the conversation list and the URL
// that names the open conversation (the conversation itself is conversation_view.js).
import { wireAccount } from "./account.js";
import { announce } from "./announce.js";
import { CognitoAuth } from "./auth.js";
import { renderContext } from "./context_meter.js";
import { ConversationList, titleOf } from "./conversation_list.js";
import * as view from "./conversation_view.js";
import { ApiError, ConversationsApi } from "./conversations_api.js";
import { deleteDialog, renameDialog, wireDialogs } from "./dialogs.js";
import { closeDrawer, wireDrawer } from "./drawer.js";
import { offerImport, translateOffer } from "./history_import.js";
import { applyLanguage, pickLanguage, t } from "./i18n.js";
import { format } from "./i18n_auth.js";
import "./i18n_conversations.js";
import "./i18n_instructions.js";
import "./i18n_tools.js";
import { icon } from "./icons.js";
import { showInstructionsLine, wireInstructions } from "./instructions.js";
import { translateLimit } from "./limit_notice.js";
import { wireShortcuts } from "./shortcuts.js";
import { startSignIn, wireSignIn } from "./sign_in.js";
import { wireTheme } from "./theme.js";
import { showExportOne, wireTransfer } from "./transfer.js";
import { conversationInUrl, showInUrl } from "./url_state.js";
import { refreshAfterTurn, startUsage } from "./usage.js";
import { renderUsage, showUsageEntry, wireUsagePanel } from "./usage_panel.js";
import { renderWarning, wireWarning } from "./usage_warning.js";

const config = window.SIMPLECHAT_CONFIG || {};
const $ = (id) => document.getElementById(id);
const auth = config.auth && config.auth.type === "cognito" ? new CognitoAuth(config.auth) : null;

let owner = null; // whose conversations are shown: the ID token's sub, or "local" without sign-in
let api = null;
let storeless = false; // the server keeps no conversations (501)
let opening = 0; // the latest navigation: an older one's answer arriving late is ignored
let loading = false; // a conversation is being fetched: nothing is sent until it is shown

function show(which) {
  $("login-view").hidden = which !== "login";
  $("chat-view").hidden = which !== "chat";
  $("sidebar").hidden = which !== "chat";
  $("drawer-button").hidden = which !== "chat";
  $("logout-button").hidden = !auth || which !== "chat";
  $("account-button").hidden = $("logout-button").hidden;
  // Without sign-in there is no Account menu to hold the usage: the conversation list offers it.
  showUsageEntry(!auth && which === "chat");
  if (which !== "chat") closeDrawer({ returnFocus: false });
}

// The session is over: sign in again (what was typed stays in the box).
function sessionExpired({ signOut = true } = {}) {
  view.discardRunning();
  if (signOut && auth) auth.signOut();
  startLogin(t("sessionExpired"));
}

// The token for the conversation routes; a session that cannot be refreshed is a 401.
async function apiToken() {
  if (!auth) return null;
  const token = await auth.idToken();
  if (!token) throw new ApiError(t("sessionExpired"), 401);
  return token;
}

// A failure of a list or dialog action: the end of the session is handled here, the rest shown
// by the caller.
function unlessSignedOut(error) {
  if (error && error.status === 401 && auth) {
    for (const dialog of document.querySelectorAll("dialog[open]")) dialog.close();
    sessionExpired();
    return null;
  }
  throw error;
}

const list = new ConversationList({
  onOpen: (id) => {
    closeDrawer({ returnFocus: false });
    if (id === view.currentId() && !loading) {
      $("input").focus();
      return;
    }
    openConversation(id, { push: true });
  },
  onRename: (summary) =>
    renameDialog(
      summary.title,
      async (title) => {
        const renamed = await api.rename(summary.id, title).catch(unlessSignedOut);
        if (!renamed) return;
        list.upsert(renamed);
        view.retitle(renamed);
        announce(t("renamed"));
      },
      () => document.querySelector(`#conversation-list li[data-id="${summary.id}"] .conv-rename`),
    ),
  onDelete: (summary) => {
    // Afterwards the focus goes to the next entry (or the one before), else to "New chat".
    const entry = document.querySelector(`#conversation-list li[data-id="${summary.id}"]`);
    const neighbour = entry && (entry.nextElementSibling || entry.previousElementSibling);
    const neighbourId = neighbour && neighbour.dataset.id;
    deleteDialog(
      titleOf(summary),
      async () => {
        try {
          await api.remove(summary.id);
        } catch (error) {
          if (error.status !== 404) return unlessSignedOut(error); // 404: already gone
        }
        list.remove(summary.id);
        announce(t("deleted"));
        if (view.currentId() === summary.id) newChat({ replace: true });
      },
      () =>
        (neighbourId && document.querySelector(`#conversation-list li[data-id="${neighbourId}"] .conv-link`)) ||
        $("new-chat-button"),
    );
  },
  onFailure: (error) => unlessSignedOut(error),
});

// A new chat: nothing is stored until its first message is sent (no empty conversations pile up).
function newChat({ push = false, replace = false } = {}) {
  opening++;
  loading = false;
  view.discardRunning({ keepReading: true });
  if (push || replace) showInUrl(null, { replace });
  list.setCurrent(null);
  view.open(null);
  showExportOne(null);
}

async function openConversation(id, { push = false } = {}) {
  const ticket = ++opening;
  view.discardRunning({ keepReading: true });
  if (push) showInUrl(id);
  list.setCurrent(id);
  loading = true;
  $("chat-view").setAttribute("aria-busy", "true");
  let stored;
  try {
    stored = await api.get(id);
  } catch (error) {
    if (ticket !== opening) return;
    loading = false;
    $("chat-view").removeAttribute("aria-busy");
    if (error.status === 401 && auth) {
      sessionExpired();
      return;
    }
    // Unknown, deleted, not this user's, or unreachable: said so, and a new chat instead.
    newChat({ replace: true });
    const known = error.status === 404 || error.status === 400;
    view.showNotice(known ? t("conversationNotFound") : format(t("conversationFailed"), { error: error.message || t("networkError") }));
    return;
  }
  if (ticket !== opening) return;
  loading = false;
  $("chat-view").removeAttribute("aria-busy");
  view.open(stored);
  showExportOne(stored.id);
  view.showNotice("");
  announce(format(t("opened"), { title: titleOf(stored) }));
  if (!document.querySelector("dialog[open]") && !document.body.classList.contains("drawer-open")) $("input").focus();
}

// What the URL names: on load, reload, and back/forward.
function openFromUrl() {
  const id = conversationInUrl();
  if (id && !storeless) openConversation(id);
  else newChat({ replace: !!id });
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
  // The one command for a model that answers in Japanese, and what it downloads once.
  const suggest = model.suggest || {};
  $("demo-note-command").textContent = suggest.command || "";
  $("demo-note-size").textContent = suggest.download ? `(${suggest.download})` : "";
}

async function startChat() {
  owner = auth && auth.user ? auth.user.sub : "local";
  api = new ConversationsApi(config.apiEndpoint, apiToken);
  storeless = false;
  view.setStoreless(false);
  view.wireConversation({
    config,
    auth,
    api,
    onCreated: (summary) => {
      showInUrl(summary.id, { replace: true }); // the new chat is this conversation now
      list.setCurrent(summary.id);
      list.upsert(summary);
      showExportOne(summary.id);
    },
    onStored: (summary) => list.upsert(summary),
    onSessionExpired: sessionExpired,
    onTurnEnded: refreshAfterTurn,
  });
  startUsage(api); // the near-limit warning shows from the start, not only after an answer
  show("chat");
  showDemoNote();
  $("import-notice").hidden = true;
  document.querySelector(".transfer-actions").hidden = false;
  openFromUrl();
  $("input").focus();
  const stored = await list.start(api);
  if (!stored) {
    // This server keeps no conversations: the page works as before they were stored.
    storeless = true;
    view.setStoreless(true);
    document.querySelector(".transfer-actions").hidden = true; // nothing kept to export or import into
    if (view.currentId() || conversationInUrl()) newChat({ replace: true });
    return;
  }
  offerImport(owner, (body) => api.create(body).catch(unlessSignedOut), (summary) => {
    if (!summary) return;
    list.upsert(summary);
    openConversation(summary.id, { push: true });
  });
}

// The sign-in steps live in sign_in.js, the account menu in account.js.
function startLogin(errorText = "", info = "") {
  show("login");
  startSignIn(errorText, info);
}

function wire() {
  $("drawer-button").append(icon("menu"));
  $("drawer-close").append(icon("close"));
  // The list beside the conversation starts under the top bar, whose height depends on the
  // language and the window.
  const topbar = document.querySelector(".topbar");
  new ResizeObserver(() => {
    document.documentElement.style.setProperty("--topbar-h", `${topbar.offsetHeight}px`);
  }).observe(topbar);
  $("new-chat-button").prepend(icon("plus"));
  $("language-select").value = applyLanguage(pickLanguage(config.language));
  $("language-select").addEventListener("change", (e) => {
    applyLanguage(e.target.value, true);
    if (!api) return;
    view.render();
    view.showTitle();
    list.render();
    translateOffer(owner);
    showDemoNote();
    renderUsage();
    renderWarning();
    renderContext();
    translateLimit();
    showInstructionsLine(view.currentInstructions());
  });
  $("demo-note-close").addEventListener("click", () => {
    localStorage.setItem(DEMO_NOTE_KEY, "1");
    $("demo-note").hidden = true;
    $("input").focus();
  });
  document.querySelector(".skip-link").addEventListener("click", (e) => {
    e.preventDefault(); // the URL keeps naming the conversation, not #input
    $("input").focus();
  });

  $("composer").addEventListener("submit", (e) => {
    e.preventDefault();
    const message = $("input").value;
    // While an answer is coming (or a conversation opening), the next message stays in the box.
    if (!message.trim() || view.isBusy() || loading) return;
    $("input").value = "";
    view.send({ message, editFrom: null });
  });
  $("input").addEventListener("keydown", (e) => {
    // While an IME is composing (Japanese input), Enter confirms the conversion: never send.
    if (e.key !== "Enter" || e.shiftKey || e.isComposing || e.keyCode === 229) return;
    e.preventDefault();
    $("composer").requestSubmit();
  });
  $("stop-button").addEventListener("click", view.stop);
  $("retry-button").addEventListener("click", view.retry);
  $("new-chat-button").addEventListener("click", () => {
    closeDrawer({ returnFocus: false });
    newChat({ push: true });
    $("input").focus();
  });
  window.addEventListener("popstate", () => api && !$("chat-view").hidden && openFromUrl());
  $("logout-button").addEventListener("click", () => {
    view.discardRunning();
    auth.signOutAndRevoke();
    startLogin();
  });
  wireDialogs();
  wireInstructions({
    current: view.currentInstructions,
    save: view.setInstructions,
    api: () => api,
    storeless: () => storeless,
    onFailure: unlessSignedOut,
  });
  wireDrawer(() => list.focusTarget());
  wireTheme($("theme-select"));
  wireTransfer({
    api: () => api,
    currentId: () => (storeless ? null : view.currentId()),
    onImported: (summary) => list.upsert(summary),
    onSessionOver: (error) => {
      if (!(error && error.status === 401 && auth)) return false;
      unlessSignedOut(error);
      return true;
    },
  });
  wireShortcuts({
    newChat: () => $("new-chat-button").click(),
    focusInput: () => $("input").focus(),
    isAnswering: view.isBusy,
    stop: view.stop,
    search: () => {
      // On a phone the list is a drawer: opened first, then its search box has the focus.
      if (getComputedStyle($("drawer-button")).display !== "none" && !document.body.classList.contains("drawer-open")) {
        $("drawer-button").click();
      }
      $("conversation-search").focus();
      $("conversation-search").select();
    },
    copyLastAnswer: () => {
      const buttons = document.querySelectorAll("#messages .message.assistant[data-index] .copy-answer");
      if (!buttons.length) return false;
      buttons[buttons.length - 1].click();
      return true;
    },
  });
  wireUsagePanel();
  wireWarning();
}

wire();
if (auth) {
  wireSignIn(auth, config.auth, startChat);
  wireAccount(auth, config.auth, (info) => startLogin("", info));
}
if (auth && !auth.tokens) startLogin();
else startChat();
