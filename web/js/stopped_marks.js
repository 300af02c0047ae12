// Which answers in the stored conversation were stopped (their partial text kept), so that the
// "Stopped" label survives a reload or a language switch. Kept beside the history (whose turns
// stay plain {role, content}: they are sent back to the server); a mark only counts while the
// turn at its place still has the same text.
const PREFIX = "simplechat.stopped.";

function fingerprint(text) {
  let hash = 5381;
  for (let i = 0; i < text.length; i++) hash = ((hash * 33) ^ text.charCodeAt(i)) >>> 0;
  return `${text.length}:${hash.toString(36)}`;
}

export class StoppedMarks {
  constructor(owner = "local") {
    this.key = PREFIX + owner;
    try {
      const saved = JSON.parse(localStorage.getItem(this.key) || "{}");
      this.marks = saved && typeof saved === "object" && !Array.isArray(saved) ? saved : {};
    } catch {
      this.marks = {};
    }
  }

  add(index, content) {
    this.marks[index] = fingerprint(content);
    localStorage.setItem(this.key, JSON.stringify(this.marks));
  }

  has(index, content) {
    return this.marks[index] === fingerprint(content);
  }

  clear() {
    this.marks = {};
    localStorage.removeItem(this.key);
  }
}
