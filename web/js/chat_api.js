// POST {apiEndpoint}/chat, asking for the answer as a stream of events (docs/streaming.md), and
// POST {apiEndpoint}/chat/cancel for Stop. A JSON answer (a failure found before the answer
// started, or a server that does not stream) is handled exactly as before streaming existed.
import { SSEParser } from "./sse.js";

export class ChatError extends Error {
  // status 0: the network (the caller shows a translated message); `interrupted`: the stream
  // broke off after it had started (cut off, or the connection failed while reading). A 429
  // carries the server's `limit` ({name, limit, used, retryAfter, resetsAt?}, docs/limits.md)
  // and its Retry-After seconds, for the UI to word it in its own language.
  constructor(message, status, { interrupted = false, limit = null, retryAfter = null } = {}) {
    super(message);
    this.status = status;
    this.interrupted = interrupted;
    this.limit = limit;
    this.retryAfter = retryAfter;
  }
}

export const url = (apiEndpoint, path) => apiEndpoint.replace(/\/+$/, "") + path;

// The JSON headers of every API call, with the ID token as the Authorization header.
export function headers(idToken, extra = {}) {
  const result = { "Content-Type": "application/json", ...extra };
  if (idToken) result.Authorization = idToken;
  return result;
}

// With `conversationId` the server keeps the conversation (docs/conversations.md): the body names
// it (and `editFrom`, the index of the user message this turn replaces) instead of carrying the
// history. Without it, the history travels in the body and nothing is stored.
function chatBody({ message, history, conversationId, editFrom }) {
  if (!conversationId) return { message, conversationHistory: history || [] };
  const body = { message, conversationId };
  if (Number.isInteger(editFrom)) body.editFrom = editFrom;
  return body;
}

// Resolves with the final reply ({success, response, conversationHistory, stopped?, usage?,
// conversationId?, conversation?}); onId(id) and onDelta(text) are called as the stream's events
// arrive. Throws ChatError on a failure, or the fetch's AbortError when `signal` aborts.
export async function sendChat({ apiEndpoint, idToken, signal, onId, onDelta, ...turn }) {
  let response;
  try {
    response = await fetch(url(apiEndpoint, "/chat"), {
      method: "POST",
      headers: headers(idToken, { Accept: "text/event-stream" }),
      body: JSON.stringify(chatBody(turn)),
      signal,
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ChatError(null, 0); // network failure: the caller shows a translated message
  }
  const type = response.headers.get("Content-Type") || "";
  if (response.body && /^\s*text\/event-stream/i.test(type)) {
    return readStream(response, { onId, onDelta });
  }
  return readJson(response);
}

async function readJson(response) {
  let body = {};
  try {
    body = await response.json();
  } catch (error) {
    if (error.name === "AbortError") throw error;
    body = {};
  }
  if (!response.ok || body.success === false) {
    const limit = body.limit && typeof body.limit === "object" ? body.limit : null;
    // Retry-After may be hidden from a page on another origin (CORS): the body says it as well.
    const header = Number.parseInt(response.headers.get("Retry-After") || "", 10);
    throw new ChatError(body.error || body.message || `HTTP ${response.status}`, response.status, {
      limit,
      retryAfter: Number.isFinite(header) ? header : null,
    });
  }
  return body;
}

async function readStream(response, { onId = () => {}, onDelta = () => {} }) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder("utf-8"); // streaming: a character may be split across chunks
  const parser = new SSEParser();
  let last = null;
  const handle = (data) => {
    if (last) return; // nothing counts after the last event
    let event;
    try {
      event = JSON.parse(data);
    } catch {
      return; // not one of ours
    }
    if (!event || typeof event !== "object") return;
    if (event.done === true) last = event;
    else if (typeof event.delta === "string") onDelta(event.delta);
    else if (typeof event.id === "string") onId(event.id);
  };
  try {
    while (!last) {
      const { value, done } = await reader.read();
      if (done) {
        parser.push(decoder.decode(), true).forEach(handle);
        break;
      }
      parser.push(decoder.decode(value, { stream: true })).forEach(handle);
    }
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ChatError(null, 0, { interrupted: true }); // the connection failed mid-answer
  }
  if (!last) throw new ChatError(null, 0, { interrupted: true }); // ended without `done`: cut off
  reader.cancel().catch(() => {}); // the stream ends here anyway
  if (last.success === false) {
    const status = Number.isInteger(last.status) ? last.status : 500;
    throw new ChatError(last.error || `HTTP ${status}`, status, { interrupted: true });
  }
  return last;
}

// Asks the server to stop generation `id`. Never throws: resolves with
// {ok, status, cancelled} (status 0: the request itself failed).
export async function cancelChat({ apiEndpoint, idToken, id }) {
  try {
    const response = await fetch(url(apiEndpoint, "/chat/cancel"), {
      method: "POST",
      headers: headers(idToken),
      body: JSON.stringify({ id }),
    });
    let body = {};
    try {
      body = await response.json();
    } catch {
      body = {};
    }
    return { ok: response.ok, status: response.status, cancelled: response.ok ? body.cancelled === true : false };
  } catch {
    return { ok: false, status: 0, cancelled: false };
  }
}
