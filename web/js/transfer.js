// The export and import controls: Markdown and JSON buttons beside the open conversation's title,
// Export all and Import… at the foot of the list, and the import dialog (one conversation stored
// at a time, its progress announced, each refusal listed with the server's words).
import { announce } from "./announce.js";
import { allConversations, asJson, asMarkdown, download, fileName, oneAsJson } from "./export.js";
import { FileProblem, readImportFile } from "./file_import.js";
import { t } from "./i18n.js";
import { format } from "./i18n_auth.js";

const $ = (id) => document.getElementById(id);
const errorText = (error) => (error && error.message) || t("networkError");

let env = null; // {api(), currentId(), onImported(summary), onSessionOver(error) -> true if it was}

async function exportOne(kind) {
  const id = env.currentId();
  if (!id) return;
  try {
    const stored = await env.api().get(id);
    if (kind === "md") {
      const text = asMarkdown(stored, { untitled: t("newChat"), stoppedNote: t("stoppedLabel") });
      download(text, fileName(stored.title, "md"), "text/markdown;charset=utf-8");
    } else {
      download(oneAsJson(stored), fileName(stored.title, "json"), "application/json");
    }
    announce(t("exportSaved"));
  } catch (error) {
    if (!env.onSessionOver(error)) announce(format(t("exportFailed"), { error: errorText(error) }));
  }
}

async function exportAll() {
  const button = $("export-all-button");
  const status = $("export-status");
  button.disabled = true;
  status.textContent = t("exporting");
  try {
    const conversations = await allConversations(env.api(), (n) => {
      status.textContent = format(t("exportingCount"), { n });
    });
    const day = new Date().toISOString().slice(0, 10);
    download(asJson(conversations), `simplechat-conversations-${day}.json`, "application/json");
    status.textContent = format(t("exportedAll"), { n: conversations.length });
  } catch (error) {
    if (!env.onSessionOver(error)) status.textContent = format(t("exportFailed"), { error: errorText(error) });
  } finally {
    button.disabled = false;
  }
}

function problem(title, words) {
  const item = document.createElement("li");
  item.textContent = format(t("importProblem"), { title: title || t("newChat"), error: words });
  $("import-problems").append(item);
}

async function importFile(event) {
  event.preventDefault();
  const file = $("import-file").files[0];
  $("import-file-error").textContent = "";
  $("import-problems").replaceChildren();
  $("import-progress").textContent = "";
  if (!file) {
    $("import-file-error").textContent = t("importNoFile");
    $("import-file").focus();
    return;
  }
  let read;
  try {
    read = await readImportFile(file);
  } catch (error) {
    $("import-file-error").textContent = error instanceof FileProblem ? format(t(error.key), error.values) : errorText(error);
    $("import-file").focus();
    return;
  }
  const start = $("import-start");
  start.disabled = true;
  let done = 0;
  const total = read.conversations.length;
  try {
    for (const [index, conversation] of read.conversations.entries()) {
      $("import-progress").textContent = format(t("importing"), { n: index + 1, total });
      if (read.source === "chatgpt" && !conversation.messages.length) {
        problem(conversation.title, t("importNoText"));
        continue;
      }
      try {
        // One request per conversation, stored whole or not at all (docs/conversations.md).
        const body = { title: conversation.title, messages: conversation.messages };
        if (conversation.instructions) body.instructions = conversation.instructions;
        const summary = await env.api().create(body);
        done++;
        env.onImported(summary);
      } catch (error) {
        if (env.onSessionOver(error)) return;
        if (error.status === 0) throw error; // the network: the rest would fail the same way
        problem(conversation.title, errorText(error));
      }
    }
    const summary = format(t("importDone"), { n: done, total });
    $("import-progress").textContent = summary;
    announce(summary);
  } catch (error) {
    $("import-file-error").textContent = format(t("importStopped"), { n: done, total, error: errorText(error) });
  } finally {
    start.disabled = false;
  }
}

// settings: see `env` above.
export function wireTransfer(settings) {
  env = settings;
  $("export-markdown").addEventListener("click", () => exportOne("md"));
  $("export-json").addEventListener("click", () => exportOne("json"));
  $("export-all-button").addEventListener("click", exportAll);
  const dialog = $("import-dialog");
  $("import-open-button").addEventListener("click", () => {
    $("import-form").reset();
    for (const id of ["import-file-error", "import-progress"]) $(id).textContent = "";
    $("import-problems").replaceChildren();
    dialog.addEventListener("close", () => $("import-open-button").focus(), { once: true });
    dialog.showModal();
    $("import-file").focus();
  });
  $("import-close").addEventListener("click", () => dialog.close());
  $("import-form").addEventListener("submit", importFile);
}

// The Markdown and JSON buttons show while a stored conversation is open.
export function showExportOne(id) {
  $("export-one").hidden = !id;
}
