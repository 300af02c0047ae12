// The stored conversations under {apiEndpoint}/conversations (docs/conversations.md): list and
// search, create (empty, or importing messages), open, rename, delete. Same sign-in as /chat.
import { headers, url } from "./chat_api.js";

export class ApiError extends Error {
  // status 0: the network (message null: the caller shows a translated sentence).
  constructor(message, status) {
    super(message || "");
    this.status = status;
  }
}

export class ConversationsApi {
  // `idToken()` resolves with the token to send (null without sign-in); it throws ApiError 401
  // when the session is over.
  constructor(apiEndpoint, idToken) {
    this.apiEndpoint = apiEndpoint;
    this.idToken = idToken;
  }

  async call(method, path, body) {
    const token = await this.idToken();
    let response;
    try {
      response = await fetch(url(this.apiEndpoint, path), {
        method,
        headers: headers(token),
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(null, 0);
    }
    if (response.status === 204) return null;
    let reply = {};
    try {
      reply = await response.json();
    } catch {
      reply = {};
    }
    if (!response.ok || reply.success === false) {
      throw new ApiError(reply.error || reply.message || `HTTP ${response.status}`, response.status);
    }
    return reply;
  }

  // {conversations: [Summary], nextCursor}, newest first; `q` filters by title.
  list({ q = "", cursor = null, limit = 30 } = {}) {
    const query = new URLSearchParams({ limit: String(limit) });
    if (q) query.set("q", q);
    if (cursor) query.set("cursor", cursor);
    return this.call("GET", `/conversations?${query}`);
  }

  create(body = {}) {
    return this.call("POST", "/conversations", body);
  }

  // One page of the export: {conversations: [{...Summary, messages, firstMessage}], nextCursor}.
  exportPage(cursor = null) {
    const query = cursor ? `?${new URLSearchParams({ cursor })}` : "";
    return this.call("GET", `/conversations/export${query}`);
  }

  // {...Summary, messages: [{role, content, createdAt, stopped?}]}
  get(id) {
    return this.call("GET", `/conversations/${encodeURIComponent(id)}`);
  }

  rename(id, title) {
    return this.call("PATCH", `/conversations/${encodeURIComponent(id)}`, { title });
  }

  // From the next answer on, the model reads these after the operator's own prompt.
  setInstructions(id, instructions) {
    return this.call("PATCH", `/conversations/${encodeURIComponent(id)}`, { instructions });
  }

  // The model's title for a conversation with an answer (once; the user's title stays).
  nameByModel(id) {
    return this.call("POST", `/conversations/${encodeURIComponent(id)}/title`);
  }

  // {presets: [{id, name, instructions, createdAt, updatedAt}]}, oldest first.
  presets() {
    return this.call("GET", "/presets");
  }

  savePreset(name, instructions, id = null) {
    const body = { name, instructions };
    return id ? this.call("PATCH", `/presets/${encodeURIComponent(id)}`, body) : this.call("POST", "/presets", body);
  }

  removePreset(id) {
    return this.call("DELETE", `/presets/${encodeURIComponent(id)}`);
  }

  remove(id) {
    return this.call("DELETE", `/conversations/${encodeURIComponent(id)}`);
  }
}
