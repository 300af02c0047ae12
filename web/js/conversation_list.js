// The conversation list (the sidebar, a drawer on a phone): newest first, searchable by title,
// paged with "Show more"; each entry opens its conversation and has Rename and Delete buttons.
import { t } from "./i18n.js";
import { format } from "./i18n_auth.js";
import { iconButton } from "./icons.js";
import { linkTo } from "./url_state.js";

const $ = (id) => document.getElementById(id);
const SEARCH_DELAY_MS = 250;

export const titleOf = (summary) => (summary && summary.title) || t("untitled");

const newestFirst = (a, b) => (a.updatedAt < b.updatedAt ? 1 : a.updatedAt > b.updatedAt ? -1 : 0);

export class ConversationList {
  // onOpen(id), onRename(summary), onDelete(summary): what the entries' links and buttons do;
  // onFailure(error): a failure the list cannot show by itself (the session ended).
  constructor({ onOpen, onRename, onDelete, onFailure }) {
    this.handlers = { onOpen, onRename, onDelete, onFailure };
    this.api = null;
    this.items = [];
    this.cursor = null;
    this.currentId = null;
    this.query = "";
    this.request = 0; // answers to an older request (a search typed further since) are ignored
    this.searchTimer = 0;
    $("conversation-search").addEventListener("input", () => {
      clearTimeout(this.searchTimer);
      this.searchTimer = setTimeout(() => this.search($("conversation-search").value.trim()), SEARCH_DELAY_MS);
    });
    $("conversation-search").addEventListener("keydown", (e) => {
      if (e.key !== "Enter") return;
      clearTimeout(this.searchTimer);
      this.search($("conversation-search").value.trim());
    });
    $("more-button").addEventListener("click", () => this.load({ more: true }));
  }

  // A fresh list for this user (after sign-in). Resolves false where the server keeps no
  // conversations (501): the error is shown in the list's place.
  async start(api) {
    this.api = api;
    this.items = [];
    this.query = "";
    $("conversation-search").value = "";
    return this.load();
  }

  search(query) {
    if (query === this.query) return;
    this.query = query;
    this.load();
  }

  async load({ more = false } = {}) {
    const request = ++this.request;
    if (!more) this.cursor = null;
    $("more-button").disabled = true;
    if (!more && !this.items.length) this.status(t("loadingList"));
    let page;
    try {
      page = await this.api.list({ q: this.query, cursor: more ? this.cursor : null });
    } catch (error) {
      if (request !== this.request) return true;
      $("more-button").disabled = false;
      if (error.status === 501) {
        this.items = [];
        this.render();
        this.status(format(t("notStored"), { error: error.message }));
        document.body.classList.add("no-store");
        return false;
      }
      if (error.status === 401) this.handlers.onFailure(error);
      else this.status(format(t("listFailed"), { error: error.message || t("networkError") }));
      return true;
    }
    if (request !== this.request) return true;
    document.body.classList.remove("no-store");
    const got = page.conversations || [];
    // A later page may repeat an entry that moved up meanwhile: it is listed once.
    this.items = more ? [...this.items, ...got.filter((c) => !this.items.some((i) => i.id === c.id))] : got;
    this.cursor = page.nextCursor || null;
    this.render();
    return true;
  }

  status(text) {
    $("list-status").textContent = text;
  }

  matches(summary) {
    return !this.query || titleOf(summary).toLowerCase().includes(this.query.toLowerCase());
  }

  // A conversation created, renamed, or answered: in its place by `updatedAt`, without fetching
  // the list again.
  upsert(summary) {
    if (!summary || !summary.id) return;
    const rest = this.items.filter((c) => c.id !== summary.id);
    const known = rest.length !== this.items.length;
    if (!this.matches(summary)) {
      this.items = rest;
    } else {
      const last = rest[rest.length - 1];
      // Past the last loaded entry and more to load: it belongs on a later page.
      const later = !known && this.cursor && last && newestFirst(summary, last) > 0;
      this.items = later ? rest : [...rest, summary].sort(newestFirst);
    }
    this.render();
  }

  remove(id) {
    this.items = this.items.filter((c) => c.id !== id);
    this.render();
  }

  setCurrent(id) {
    this.currentId = id;
    for (const link of $("conversation-list").querySelectorAll(".conv-link")) {
      if (link.closest("li").dataset.id === id) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
  }

  // The entry's link that holds the focus, or the list's first one (for the drawer).
  focusTarget() {
    return $("conversation-list").querySelector('[aria-current="page"]') || $("conversation-search");
  }

  render() {
    const list = $("conversation-list");
    const active = document.activeElement;
    const focused = active && list.contains(active) ? [active.closest("li").dataset.id, active.dataset.role] : null;
    list.replaceChildren(...this.items.map((summary) => this.entry(summary)));
    $("more-button").hidden = !this.cursor;
    $("more-button").disabled = false;
    if (this.items.length) this.status("");
    else this.status(this.query ? format(t("noMatches"), { q: this.query }) : t("noConversations"));
    if (focused) {
      // Re-rendered under the keyboard (an answer moved an entry): the focus stays on it.
      const again = list.querySelector(`li[data-id="${focused[0]}"] [data-role="${focused[1]}"]`);
      if (again) again.focus();
    }
  }

  entry(summary) {
    const item = document.createElement("li");
    item.dataset.id = summary.id;
    const link = document.createElement("a");
    link.className = "conv-link";
    link.dataset.role = "open";
    link.href = linkTo(summary.id);
    link.textContent = titleOf(summary);
    if (!summary.title) link.classList.add("untitled");
    if (summary.id === this.currentId) link.setAttribute("aria-current", "page");
    link.addEventListener("click", (e) => {
      // A plain click opens it here; a middle click or Ctrl+click keeps opening a new tab.
      if (e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;
      e.preventDefault();
      this.handlers.onOpen(summary.id);
    });
    const rename = iconButton("rename", format(t("renameLabel"), { title: titleOf(summary) }), "conv-rename");
    rename.dataset.role = "rename";
    rename.addEventListener("click", () => this.handlers.onRename(summary));
    const remove = iconButton("delete", format(t("deleteLabel"), { title: titleOf(summary) }), "conv-delete");
    remove.dataset.role = "delete";
    remove.addEventListener("click", () => this.handlers.onDelete(summary));
    item.append(link, rename, remove);
    return item;
  }
}
