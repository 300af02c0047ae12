// Reading an import file: our own export (export.js) or ChatGPT's conversations.json, as a list
// of {title, messages} the server takes one by one (POST /conversations), or a FileProblem that
// says what is wrong with the file.
import { FORMAT } from "./export.js";

// Far above any real export of 1000 conversations of ours; a browser reads the whole file at once.
export const MAX_FILE_BYTES = 200 * 1024 * 1024;

export class FileProblem extends Error {
  // `key`: the i18n string that says it; `values` fill it in.
  constructor(key, values = {}) {
    super(key);
    this.key = key;
    this.values = values;
  }
}

const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);

function ours(file) {
  if (file.version !== 1) throw new FileProblem("importBadVersion", { version: String(file.version) });
  if (!Array.isArray(file.conversations)) throw new FileProblem("importBadShape");
  return file.conversations.map((item) => {
    if (!isObject(item)) return { title: "", messages: null };
    const messages = Array.isArray(item.messages)
      ? item.messages.map((m) => {
          if (!isObject(m)) return m; // the server says what is wrong with it
          const message = { role: m.role, content: m.content };
          if (m.stopped === true) message.stopped = true;
          return message;
        })
      : item.messages;
    const conversation = { title: typeof item.title === "string" ? item.title : "", messages };
    if (typeof item.instructions === "string" && item.instructions) conversation.instructions = item.instructions;
    return conversation;
  });
}

// ChatGPT keeps a tree of messages (each edit or regeneration a branch); the one shown last runs
// from `current_node` up to the root. Its user and assistant text is what we keep.
function chatGptMessages(item) {
  const mapping = isObject(item.mapping) ? item.mapping : {};
  const branch = [];
  const seen = new Set();
  for (let id = item.current_node; id && isObject(mapping[id]) && !seen.has(id); id = mapping[id].parent) {
    seen.add(id);
    branch.push(mapping[id].message);
  }
  branch.reverse();
  const messages = [];
  for (const message of branch) {
    if (!isObject(message) || !isObject(message.author) || !isObject(message.content)) continue;
    const role = message.author.role;
    if ((role !== "user" && role !== "assistant") || message.content.content_type !== "text") continue;
    if (isObject(message.metadata) && message.metadata.is_visually_hidden_from_conversation) continue;
    const parts = Array.isArray(message.content.parts) ? message.content.parts : [];
    const text = parts.filter((part) => typeof part === "string").join("\n");
    if (text.trim()) messages.push({ role, content: text });
  }
  return messages;
}

const looksLikeChatGpt = (data) => Array.isArray(data) && data.length > 0 && data.every((item) => isObject(item) && isObject(item.mapping));

// [{title, messages}] from the file's text; FileProblem for a file neither export.
export function conversationsIn(text) {
  let data;
  try {
    data = JSON.parse(text);
  } catch {
    throw new FileProblem("importNotJson");
  }
  if (isObject(data) && data.format === FORMAT) return { source: "simplechat", conversations: ours(data) };
  if (looksLikeChatGpt(data)) {
    return {
      source: "chatgpt",
      conversations: data.map((item) => ({
        title: typeof item.title === "string" ? item.title.slice(0, 200) : "",
        messages: chatGptMessages(item),
      })),
    };
  }
  throw new FileProblem("importUnknown");
}

export async function readImportFile(file) {
  if (file.size > MAX_FILE_BYTES) {
    throw new FileProblem("importTooBig", { size: String(Math.ceil(file.size / 1048576)), limit: "200" });
  }
  return conversationsIn(await file.text());
}
