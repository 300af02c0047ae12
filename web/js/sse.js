// Server-sent events, re-framed by hand (EventSource cannot send an Authorization header):
// feed it decoded text as it arrives; it hands back the `data` of each complete event.
// A chunk may hold part of an event or several; lines starting with ":" are keep-alive comments.
export class SSEParser {
  constructor() {
    this.buffer = ""; // the last, unfinished line
    this.data = []; // the data lines of the event being read
  }

  // Returns the data (data lines joined with "\n") of every event the text completes.
  // `end`: the stream is over, so a last event without its blank line still counts.
  push(text, end = false) {
    let pending = this.buffer + text;
    let hold = "";
    // A "\r" at the very end may be the first half of "\r\n": wait for the next chunk.
    if (!end && pending.endsWith("\r")) {
      hold = "\r";
      pending = pending.slice(0, -1);
    }
    const lines = pending.split(/\r\n|\r|\n/);
    this.buffer = end ? "" : lines.pop() + hold;
    const events = [];
    for (const line of lines) this.line(line, events);
    if (end) this.line("", events);
    return events;
  }

  line(line, events) {
    if (line === "") {
      if (this.data.length) events.push(this.data.join("\n"));
      this.data = [];
      return;
    }
    if (line.startsWith(":")) return; // a comment: keep-alive
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.data.push(value); // "event", "id", "retry": not used by this API
  }
}
