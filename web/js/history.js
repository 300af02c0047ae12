// The conversation, kept in localStorage so it survives reloads (one list per signed-in user).
const PREFIX = "simplechat.history.";

export class History {
  constructor(owner = "local") {
    this.key = PREFIX + owner;
    this.turns = this.load();
  }

  load() {
    try {
      const turns = JSON.parse(localStorage.getItem(this.key) || "[]");
      return Array.isArray(turns) ? turns.filter((t) => t && typeof t.content === "string") : [];
    } catch {
      return [];
    }
  }

  replace(turns) {
    this.turns = turns;
    localStorage.setItem(this.key, JSON.stringify(turns));
  }

  clear() {
    this.turns = [];
    localStorage.removeItem(this.key);
  }
}
