// The context meter's, the left-out note's and the answer speed's strings (ja/en), merged into i18n.js's table.
import { addStrings } from "./i18n.js";

addStrings({
  en: {
    contextLabel: "Context",
    contextUsed: "{used} / {limit} tokens",
    contextAbout: "about {used} / {limit} tokens (estimated)",
    contextNextLeavesOut: "The conversation is nearly as long as the model can read: your next message will leave the oldest turns out.",
    contextLeftOut: "The model no longer sees the first {n} turns of this conversation: they do not fit in its context.",
    contextLeftOutOne: "The model no longer sees the first turn of this conversation: it does not fit in its context.",
    contextNote: "The {n} turns above were not sent to the model for the last answer (they did not fit in its context).",
    contextNoteOne: "The turn above was not sent to the model for the last answer (it did not fit in its context).",
    speedRate: "{rate} tok/s", speedFirst: "first token {ms} ms",
  },
  ja: {
    contextLabel: "コンテキスト",
    contextUsed: "{used} / {limit} トークン",
    contextAbout: "約 {used} / {limit} トークン（推定）",
    contextNextLeavesOut: "会話がモデルの読める長さに近づいています。次のメッセージでは最も古いやり取りが送られなくなります。",
    contextLeftOut: "この会話の最初の {n} 件のやり取りは、コンテキストに収まらないためモデルに送られていません。",
    contextLeftOutOne: "この会話の最初のやり取りは、コンテキストに収まらないためモデルに送られていません。",
    contextNote: "前回の回答では、ここより上の {n} 件のやり取りはモデルに送られていません（コンテキストに収まりませんでした）。",
    contextNoteOne: "前回の回答では、ここより上のやり取りはモデルに送られていません（コンテキストに収まりませんでした）。",
    speedRate: "{rate} トークン/秒", speedFirst: "最初のトークンまで {ms} ms",
  },
});
