// The usage display: today's tokens, this minute's messages and the answers being written, each
// against its limit. Shown in the Account dialog when signed in, and in a small Usage dialog from
// the foot of the conversation list where there is no sign-in (and so no Account button).
import { t } from "./i18n.js";
import { format } from "./i18n_auth.js";
import { onUsage, refreshUsage, usageState } from "./usage.js";
import { clock, count, percent } from "./usage_format.js";

const $ = (id) => document.getElementById(id);
const BODIES = ["usage-body", "account-usage-body"];
const NEAR = 80; // per cent of a limit from which its bar says so

let entryWanted = false; // the chat is shown without sign-in: the list's foot offers the dialog

function line(className, text) {
  const p = document.createElement("p");
  p.className = className;
  p.textContent = text;
  return p;
}

// A bar for `used` of `limit`; its name is the row's label, its value the row's numbers.
function bar(label, used, limit) {
  const shown = Math.min(Number(used) || 0, limit);
  const track = document.createElement("div");
  track.className = "usage-bar";
  track.setAttribute("role", "progressbar");
  track.setAttribute("aria-label", label);
  track.setAttribute("aria-valuemin", "0");
  track.setAttribute("aria-valuemax", String(limit));
  track.setAttribute("aria-valuenow", String(shown));
  track.setAttribute("aria-valuetext", `${count(used)} / ${count(limit)}`);
  if (limit > 0 && percent(used, limit) >= NEAR) track.dataset.near = "true";
  const fill = document.createElement("span");
  fill.style.width = `${limit > 0 ? (shown * 100) / limit : 100}%`;
  track.append(fill);
  return track;
}

// One counted thing: its numbers, with a bar where it has a limit ("no limit" where it has none).
function row(className, { used, limit }, keys) {
  const item = document.createElement("div");
  item.className = `usage-row ${className}`;
  const limited = Number.isInteger(limit);
  const text = limited
    ? format(t(keys.limited), { used: count(used), limit: count(limit) })
    : format(t(keys.unlimited), { used: count(used) });
  item.append(line("usage-line", text));
  if (limited) item.append(bar(t(keys.label), used, limit));
  return item;
}

function draw(body, state) {
  body.setAttribute("aria-busy", state.loading ? "true" : "false");
  const usage = state.usage;
  if (!usage) {
    const failed = state.error && !state.loading;
    const text = failed ? format(t("usageFailed"), { error: state.error.message || t("networkError") }) : t("usageLoading");
    body.replaceChildren(line(failed ? "usage-error error-text" : "usage-line", text));
    return;
  }
  const tokens = usage.tokens || {};
  const requests = usage.requests || {};
  const answers = usage.answers || {};
  const today = Number(requests.today) || 0;
  body.replaceChildren(
    row("usage-tokens", { used: tokens.used, limit: tokens.limit }, {
      limited: "usageTokens", unlimited: "usageTokensNoLimit", label: "usageTokensLabel",
    }),
    row("usage-minute", { used: requests.thisMinute, limit: requests.perMinuteLimit }, {
      limited: "usageMinute", unlimited: "usageMinuteNoLimit", label: "usageMinuteLabel",
    }),
    row("usage-answers", { used: answers.running, limit: answers.limit }, {
      limited: "usageAnswers", unlimited: "usageAnswersNoLimit", label: "usageAnswersLabel",
    }),
    line("usage-today", today === 1 ? t("usageTodayOne") : format(t("usageToday"), { n: count(today) })),
    line("usage-resets", format(t("usageResets"), { time: clock(tokens.resetsAt) })),
  );
}

// Draws every display again (new numbers, or another language).
export function renderUsage() {
  const state = usageState();
  for (const id of BODIES) draw($(id), state);
  $("account-usage").hidden = !state.available;
  // Offered once the gateway answered (a storeless one says 501 and gets no button at all).
  $("usage-button").hidden = !(entryWanted && state.available && (state.usage || state.error));
  // A gateway that turned out to keep no counts: an open display has nothing to show.
  if (!state.available && $("usage-dialog").open) $("usage-dialog").close();
}

// Whether the list's foot offers the Usage dialog (the chat shown, and no Account menu to hold it).
export function showUsageEntry(wanted) {
  entryWanted = wanted;
  renderUsage();
}

export function wireUsagePanel() {
  const dialog = $("usage-dialog");
  onUsage(renderUsage);
  $("usage-button").addEventListener("click", () => {
    renderUsage();
    dialog.showModal();
    refreshUsage(); // the numbers of this moment, not of the last answer
  });
  $("usage-close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => {
    const button = $("usage-button");
    (button.hidden ? $("input") : button).focus();
  });
}
