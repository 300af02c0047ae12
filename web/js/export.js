// Saving conversations as files: the open one as Markdown or JSON, all of them as JSON (read
// page by page from GET /conversations/export), in the format docs/conversations.md describes.
export const FORMAT = "simplechat.conversations";
export const VERSION = 1;

// A conversation as the file keeps it: {title, createdAt, updatedAt, messages}, and its
// instructions where it has some.
function entry(stored) {
  const messages = (stored.messages || []).map((m) => {
    const message = { role: m.role, content: m.content, createdAt: m.createdAt };
    if (m.stopped) message.stopped = true;
    return message;
  });
  const kept = { title: stored.title || "", createdAt: stored.createdAt, updatedAt: stored.updatedAt, messages };
  if (stored.instructions) kept.instructions = stored.instructions;
  return kept;
}

export function asJson(conversations) {
  const file = { format: FORMAT, version: VERSION, exportedAt: new Date().toISOString(), conversations };
  return JSON.stringify(file, null, 2);
}

// Markdown: the title, then a heading per message; an answer's markdown kept as the model wrote it.
export function asMarkdown(stored, { untitled, stoppedNote }) {
  const lines = [`# ${stored.title || untitled}`, ""];
  for (const message of stored.messages || []) {
    lines.push(message.role === "user" ? "## User" : "## Assistant", "", message.content, "");
    if (message.stopped) lines.push(`*${stoppedNote}*`, "");
  }
  return lines.join("\n");
}

// A file name from the title: letters of any script kept, the rest dashes.
export function fileName(title, extension) {
  const stem = (title || "").normalize("NFKC").replace(/[^\p{L}\p{N}]+/gu, "-").replace(/^-+|-+$/g, "").slice(0, 60);
  return `simplechat-${stem || "conversation"}.${extension}`;
}

export function download(text, name, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function oneAsJson(stored) {
  return asJson([entry(stored)]);
}

// Every conversation of the user, page after page; `progress(count)` after each page.
export async function allConversations(api, progress) {
  const conversations = [];
  let cursor = null;
  let lastId = null;
  do {
    const page = await api.exportPage(cursor);
    for (const part of page.conversations) {
      // A conversation too large for one page goes on in the next, under the same id.
      if (part.firstMessage > 0 && part.id === lastId) {
        conversations[conversations.length - 1].messages.push(...entry(part).messages);
      } else {
        conversations.push(entry(part));
        lastId = part.id;
      }
    }
    cursor = page.nextCursor;
    progress(conversations.length);
  } while (cursor);
  return conversations;
}
