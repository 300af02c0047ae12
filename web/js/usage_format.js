// Numbers, clock times and waits as the usage display and the limit messages say them, in the UI's language.
import { t } from "./i18n.js";
import { format } from "./i18n_auth.js";
import "./i18n_usage.js";

const locale = () => (document.documentElement.lang === "ja" ? "ja-JP" : "en-US");

export const count = (n) => new Intl.NumberFormat(locale()).format(Number(n) || 0);

// An ISO time as a clock time in the browser's own time zone ("09:00"): the server counts days
// in UTC, the user reads their own clock.
export function clock(iso) {
  const moment = new Date(iso);
  if (!iso || Number.isNaN(moment.getTime())) return "";
  return new Intl.DateTimeFormat(locale(), { hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(moment);
}

// A wait in whole seconds, as the server's Retry-After: "50 s", "12 min", "3 h 12 min".
export function wait(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  if (s < 60) return format(t("waitSeconds"), { s });
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  return hours ? format(t("waitHours"), { h: hours, m: minutes }) : format(t("waitMinutes"), { m: minutes });
}

// The whole per cent of `limit` that `used` is (100 and more once it is reached).
export const percent = (used, limit) => Math.floor((Number(used) * 100) / Number(limit));
