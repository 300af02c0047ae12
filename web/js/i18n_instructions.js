// The instructions dialog's and the presets' strings (ja/en), merged into i18n.js's table.
import { addStrings } from "./i18n.js";

addStrings({
  en: {
    instructions: "Instructions",
    instructionsTitle: "Instructions for this conversation",
    instructionsHelp: "The model reads these before your messages, from the next answer on. The server's own instructions still come first.",
    instructionsLabel: "Instructions",
    instructionsCount: "{n} of {max} characters",
    instructionsTooLong: "The instructions are {n} characters; the limit is {max}. Shorten them.",
    instructionsLine: "Instructions: {text}",
    instructionsSaved: "Instructions saved: they apply from the next answer.",
    instructionsCleared: "Instructions removed.",
    presets: "Presets", presetPick: "Saved presets", presetNone: "(no presets yet)", presetChoose: "Choose a preset",
    presetApply: "Use", presetDelete: "Delete preset",
    presetName: "Save these instructions as a preset named", presetSave: "Save as preset",
    presetNameRequired: "Enter a name for the preset.", presetEmpty: "Write some instructions to save as a preset.",
    presetSaved: "Preset “{name}” saved.", presetDeleted: "Preset “{name}” deleted.", presetApplied: "Preset “{name}” put in the box: Save to use it.",
    presetsFailed: "Could not load your presets: {error}",
  },
  ja: {
    instructions: "指示",
    instructionsTitle: "この会話への指示",
    instructionsHelp: "モデルはあなたのメッセージの前にこの指示を読みます（次の回答から有効）。サーバー側の指示が常に先に適用されます。",
    instructionsLabel: "指示",
    instructionsCount: "{n} / {max} 文字",
    instructionsTooLong: "指示が {n} 文字あります。上限は {max} 文字です。短くしてください。",
    instructionsLine: "指示：{text}",
    instructionsSaved: "指示を保存しました。次の回答から適用されます。",
    instructionsCleared: "指示を削除しました。",
    presets: "プリセット", presetPick: "保存したプリセット", presetNone: "（プリセットはまだありません）", presetChoose: "プリセットを選択",
    presetApply: "使う", presetDelete: "プリセットを削除",
    presetName: "この指示をプリセットとして保存する名前", presetSave: "プリセットとして保存",
    presetNameRequired: "プリセットの名前を入力してください。", presetEmpty: "プリセットとして保存する指示を入力してください。",
    presetSaved: "プリセット「{name}」を保存しました。", presetDeleted: "プリセット「{name}」を削除しました。", presetApplied: "プリセット「{name}」を入力欄に入れました。保存すると使われます。",
    presetsFailed: "プリセットを読み込めませんでした：{error}",
  },
});
