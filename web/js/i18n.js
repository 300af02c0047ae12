// UI strings in Japanese and English; the browser's language by default, switchable.
const STRINGS = {
  en: {
    language: "Language", logout: "Sign out", signIn: "Sign in",
    username: "Email", password: "Password", newPasswordNeeded: "Choose a new password to finish signing in.",
    newPassword: "New password", setPassword: "Set password", emptyHint: "Ask anything to start.",
    thinking: "The assistant is answering…", retry: "Retry", inputLabel: "Message",
    placeholder: "Type a message (Enter to send, Shift+Enter for a new line)", send: "Send", stop: "Stop",
    you: "You", assistant: "Assistant", stopped: "Stopped.", networkError: "Could not reach the chat service. Check your connection and try again.",
    sessionExpired: "Your session has expired. Please sign in again.",
    wrongPassword: "Incorrect email or password.", loginFailed: "Sign-in failed: ",
    passwordRules: "The new password does not meet the rules: ",
    demoNote: "You are talking to the bundled demo model (SmolLM2-135M): tiny and English-only, for trying the app. Expect short, often wrong answers, and English even to Japanese questions. For answers in Japanese, stop the app and start a small Japanese-capable model (downloaded once, then it runs offline):",
    demoNoteLink: "Run another model", dismiss: "Dismiss",
    stoppedLabel: "Stopped", incompleteLabel: "Incomplete answer", stopping: "Stopping…",
    interrupted: "The connection was lost before the answer was complete. Retry to ask again.",
  },
  ja: {
    language: "言語", logout: "サインアウト", signIn: "サインイン",
    username: "メールアドレス", password: "パスワード", newPasswordNeeded: "サインインを完了するには新しいパスワードを設定してください。",
    newPassword: "新しいパスワード", setPassword: "パスワードを設定", emptyHint: "何でも聞いてみてください。",
    thinking: "アシスタントが回答中…", retry: "再試行", inputLabel: "メッセージ",
    placeholder: "メッセージを入力（Enter で送信、Shift+Enter で改行）", send: "送信", stop: "停止",
    you: "あなた", assistant: "アシスタント", stopped: "停止しました。", networkError: "チャットサービスに接続できませんでした。接続を確認してもう一度お試しください。",
    sessionExpired: "セッションの有効期限が切れました。もう一度サインインしてください。",
    wrongPassword: "メールアドレスまたはパスワードが正しくありません。", loginFailed: "サインインに失敗しました：",
    passwordRules: "新しいパスワードが条件を満たしていません：",
    demoNote: "いま応答しているのは同梱のデモ用モデル（SmolLM2-135M）です。アプリを試すための小さな英語専用モデルなので、回答は短く誤りも多く、日本語の質問にも英語で答えます。日本語で答えるモデルを使うには、アプリを止めて次のコマンドで起動してください（ダウンロードは初回だけで、その後はオフラインで動きます）：",
    demoNoteLink: "別のモデルを使う", dismiss: "閉じる",
    stoppedLabel: "停止しました", incompleteLabel: "回答は途中で途切れました", stopping: "停止中…",
    interrupted: "回答の途中で接続が切れました。再試行するともう一度質問できます。",
  },
};

const STORAGE_KEY = "simplechat.language";
let current = "en";

export function pickLanguage(configured) {
  const saved = localStorage.getItem(STORAGE_KEY);
  const wanted = saved || (configured && configured !== "auto" ? configured : navigator.language || "en");
  return wanted.toLowerCase().startsWith("ja") ? "ja" : "en";
}

export function t(key) {
  return (STRINGS[current] && STRINGS[current][key]) || STRINGS.en[key] || key;
}

export function applyLanguage(language, remember = false) {
  current = language in STRINGS ? language : "en";
  if (remember) localStorage.setItem(STORAGE_KEY, current);
  document.documentElement.lang = current;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
  for (const el of document.querySelectorAll("[data-i18n-label]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  }
  return current;
}

// Strings that other modules own (e.g. i18n_auth.js), merged in per language.
export function addStrings(extra) {
  for (const [language, strings] of Object.entries(extra)) Object.assign((STRINGS[language] ||= {}), strings);
}
