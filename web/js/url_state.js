// The open conversation is named in the URL (?c=<id>), so a reload, a bookmark and back/forward
// reopen it; a new chat has no ?c=.
const PARAM = "c";

export function conversationInUrl() {
  return new URLSearchParams(location.search).get(PARAM) || null;
}

export function linkTo(id) {
  const target = new URL(location.href);
  target.hash = "";
  if (id) target.searchParams.set(PARAM, id);
  else target.searchParams.delete(PARAM);
  return target.pathname + target.search;
}

// `replace`: the same entry now names another conversation (a new chat that was just created, a
// deleted or unknown one left behind); otherwise a new entry, for back/forward.
export function showInUrl(id, { replace = false } = {}) {
  if (conversationInUrl() === (id || null)) return;
  const target = linkTo(id);
  if (replace) history.replaceState(null, "", target);
  else history.pushState(null, "", target);
}
