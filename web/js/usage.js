// Today's usage against the limits (GET {apiEndpoint}/usage, docs/limits.md): fetched when the
// chat starts, when a display opens and after each answer (never polled), kept for the views.
let api = null; // the ConversationsApi: same endpoint and sign-in as the conversations
let state = { available: true, usage: null, error: null, loading: false };
let asked = 0; // the latest fetch: an older one's answer arriving late is ignored
const listeners = [];
// After a streamed answer, how long until the counts are asked again when they did not show it yet.
const RECHECK_MS = 1000;

const notify = () => listeners.forEach((listener) => listener(state));

// `listener(state)` runs whenever what is known changes: {available (false: this gateway keeps no
// counts), usage (the last reply, or null), error (the last fetch's ApiError, or null), loading}.
export function onUsage(listener) {
  listeners.push(listener);
}

export const usageState = () => state;

// A new session (signed in, or the page opened): nothing known about this user yet.
export function startUsage(conversationsApi) {
  api = conversationsApi;
  asked++;
  state = { available: true, usage: null, error: null, loading: false };
  notify();
  return refreshUsage();
}

export async function refreshUsage() {
  if (!api || !state.available) return;
  const ticket = ++asked;
  state = { ...state, loading: true };
  notify();
  let usage = null;
  let error = null;
  try {
    usage = await api.call("GET", "/usage");
  } catch (failure) {
    error = failure;
  }
  if (ticket !== asked) return;
  // 501: a gateway without a store counts nothing; 404: one from before usage existed.
  const available = !(error && (error.status === 501 || error.status === 404));
  state = { available, usage: usage || state.usage, error, loading: false };
  notify();
}

// What a final answer says it used (its `usage`, prompt + answer; 0 when the server gave none).
function spentBy(reply) {
  const usage = reply && reply.usage;
  if (!usage) return 0;
  return [usage.prompt_tokens, usage.completion_tokens].reduce((sum, n) => sum + (Number.isInteger(n) && n > 0 ? n : 0), 0);
}

// A turn is over. The gateway counts a streamed answer (and gives its running slot back) once
// the stream is closed, a moment after the last event: counts that do not show the answer yet
// are asked for once more, a moment later.
export async function refreshAfterTurn(reply) {
  const known = state.usage && state.usage.tokens;
  const before = known ? Number(known.used) || 0 : null;
  await refreshUsage();
  const now = state.available && state.usage;
  if (!now) return;
  const uncounted = before !== null && spentBy(reply) > 0 && Number(now.tokens && now.tokens.used) < before + spentBy(reply);
  const held = now.answers && now.answers.running > 0;
  if (uncounted || held) setTimeout(refreshUsage, RECHECK_MS);
}
