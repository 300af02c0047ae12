// Short confirmations for screen readers ("Copied", "Conversation deleted") in one polite live region.
let timer = 0;

export function announce(text) {
  const region = document.getElementById("announcer");
  if (!region) return;
  // Emptied first: the same words twice in a row are announced twice.
  region.textContent = "";
  clearTimeout(timer);
  timer = setTimeout(() => (region.textContent = text), 50);
}
