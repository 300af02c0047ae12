// The near-limit notice above the message box: from 80% of the day's tokens on, how much is used
// and when the count starts again. It never blocks sending; the server says when it is over.
import { t } from "./i18n.js";
import { format } from "./i18n_auth.js";
import { onUsage, usageState } from "./usage.js";
import { clock, count, percent } from "./usage_format.js";

const NEAR = 80; // per cent

// The notice's words for this usage, or "" (no limit, not near it, or nothing known).
function warning(state) {
  const tokens = state.available && state.usage && state.usage.tokens;
  if (!tokens || !Number.isInteger(tokens.limit) || tokens.limit <= 0) return "";
  const share = percent(tokens.used, tokens.limit);
  if (share < NEAR) return "";
  const values = { percent: share, limit: count(tokens.limit), time: clock(tokens.resetsAt) };
  return format(t(share >= 100 ? "usageWarningFull" : "usageWarning"), values);
}

// The element stays in the page (a live region is announced only when its words change): it is
// emptied, and so hidden by the style sheet, when there is nothing to say.
export function renderWarning() {
  const notice = document.getElementById("usage-warning");
  const text = warning(usageState());
  if (notice.textContent !== text) notice.textContent = text;
}

export function wireWarning() {
  onUsage(renderWarning);
}
