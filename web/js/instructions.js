// The open conversation's instructions (its own system prompt, docs/conversations.md) in a
// modal dialog, with the user's saved presets: pick one to use, save the text as one, delete one.
// The conversation itself keeps the text (conversation_view.js); this module only edits it.
import { announce } from "./announce.js";
import { t } from "./i18n.js";
import { format } from "./i18n_auth.js";

const $ = (id) => document.getElementById(id);
export const MAX_INSTRUCTIONS = 4000;

let env = null; // see wireInstructions()
let presets = [];

const errorText = (error) => (error && error.message) || t("networkError");

// The line under the title saying what the instructions are (empty: hidden).
export function showInstructionsLine(text) {
  const line = $("instructions-line");
  line.hidden = !text;
  line.textContent = text ? format(t("instructionsLine"), { text: text.replace(/\s+/g, " ") }) : "";
  $("instructions-button").classList.toggle("has-instructions", !!text);
}

function showCount() {
  const n = $("instructions-input").value.length;
  $("instructions-count").textContent = format(t("instructionsCount"), { n, max: MAX_INSTRUCTIONS });
}

function fail(text, focus) {
  $("instructions-error").textContent = text;
  if (focus) focus.focus();
}

function fillPresets(selected = "") {
  const select = $("preset-select");
  const options = presets.map((p) => new Option(p.name, p.id));
  select.replaceChildren(new Option(t(presets.length ? "presetChoose" : "presetNone"), ""), ...options);
  select.value = presets.some((p) => p.id === selected) ? selected : "";
  select.disabled = !presets.length;
  syncPresetButtons();
}

function syncPresetButtons() {
  const chosen = !!$("preset-select").value;
  $("preset-apply").disabled = !chosen;
  $("preset-delete").disabled = !chosen;
}

async function loadPresets() {
  try {
    presets = (await env.api().presets()).presets || [];
    fillPresets($("preset-select").value); // a choice made while they loaded stays
  } catch (error) {
    if (env.onFailure(error) === null) return;
    fail(format(t("presetsFailed"), { error: errorText(error) }));
  }
}

const chosenPreset = () => presets.find((p) => p.id === $("preset-select").value);

async function savePreset() {
  const name = $("preset-name").value.trim();
  const instructions = $("instructions-input").value.trim();
  if (!instructions) return fail(t("presetEmpty"), $("instructions-input"));
  if (!name) return fail(t("presetNameRequired"), $("preset-name"));
  // The same name again changes that preset rather than adding a second one.
  const same = presets.find((p) => p.name === name);
  $("preset-save").disabled = true;
  try {
    const saved = await env.api().savePreset(name, instructions, same ? same.id : null);
    presets = same ? presets.map((p) => (p.id === saved.id ? saved : p)) : [...presets, saved];
    fillPresets(saved.id);
    $("preset-name").value = "";
    fail("");
    announce(format(t("presetSaved"), { name: saved.name }));
  } catch (error) {
    if (env.onFailure(error) !== null) fail(errorText(error), $("preset-name"));
  } finally {
    $("preset-save").disabled = false;
  }
}

async function deletePreset() {
  const preset = chosenPreset();
  if (!preset) return;
  try {
    await env.api().removePreset(preset.id);
  } catch (error) {
    if (error.status !== 404) {
      if (env.onFailure(error) !== null) fail(errorText(error), $("preset-select"));
      return;
    }
  }
  presets = presets.filter((p) => p.id !== preset.id);
  fillPresets();
  fail("");
  announce(format(t("presetDeleted"), { name: preset.name }));
  $("preset-select").focus();
}

// env: {current() -> the open conversation's instructions, save(text) (resolves once kept; throws
// ApiError to show), api() -> ConversationsApi, storeless() -> no presets to keep,
// onFailure(error) -> null when the session ended (handled elsewhere), else throws it back}.
export function wireInstructions(settings) {
  env = {
    ...settings,
    onFailure: (error) => {
      try {
        return settings.onFailure(error);
      } catch {
        return undefined;
      }
    },
  };
  const dialog = $("instructions-dialog");
  $("instructions-input").addEventListener("input", showCount);
  $("preset-select").addEventListener("change", syncPresetButtons);
  $("preset-apply").addEventListener("click", () => {
    const preset = chosenPreset();
    if (!preset) return;
    $("instructions-input").value = preset.instructions;
    showCount();
    announce(format(t("presetApplied"), { name: preset.name }));
    $("instructions-input").focus();
  });
  $("preset-delete").addEventListener("click", deletePreset);
  $("preset-save").addEventListener("click", savePreset);
  $("instructions-cancel").addEventListener("click", () => dialog.close());
  $("instructions-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = $("instructions-input").value.trim();
    if (text.length > MAX_INSTRUCTIONS) {
      return fail(format(t("instructionsTooLong"), { n: text.length, max: MAX_INSTRUCTIONS }), $("instructions-input"));
    }
    const submit = $("instructions-form").querySelector("button[type=submit]");
    submit.disabled = true;
    try {
      await env.save(text);
      dialog.close();
      announce(t(text ? "instructionsSaved" : "instructionsCleared"));
    } catch (error) {
      if (env.onFailure(error) !== null) fail(errorText(error), $("instructions-input"));
    } finally {
      submit.disabled = false;
    }
  });
  $("instructions-button").addEventListener("click", () => openInstructions());
  dialog.addEventListener("close", () => {
    const button = $("instructions-button");
    (button.isConnected && !button.hidden ? button : $("input")).focus();
  });
}

export function openInstructions() {
  const dialog = $("instructions-dialog");
  if (dialog.open) return;
  $("instructions-input").value = env.current();
  $("preset-name").value = "";
  fail("");
  showCount();
  $("preset-box").hidden = env.storeless();
  fillPresets();
  dialog.showModal();
  $("instructions-input").focus();
  if (!env.storeless()) loadPresets();
}
