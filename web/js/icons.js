// Small line icons drawn here (no image files), for buttons whose name is in aria-label: an icon
// adds no text to a message, so a message's text stays exactly what was said.
const PATHS = {
  copy: "M9 9h10v11H9zM15 9V5H5v11h4",
  check: "M5 12.5l4.5 4.5L19 7",
  edit: "M4 20h4L19 9l-4-4L4 16zM13 7l4 4",
  regenerate: "M19.5 12a7.5 7.5 0 1 1-2.2-5.3M19.5 4v5h-5",
  rename: "M4 20h4L19 9l-4-4L4 16z",
  delete: "M4 7h16M9 7V4h6v3M6.5 7l1 13h9l1-13",
  menu: "M4 6h16M4 12h16M4 18h16",
  plus: "M12 5v14M5 12h14",
  close: "M6 6l12 12M18 6L6 18",
};

export function icon(name) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.classList.add("icon");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", PATHS[name]);
  svg.append(path);
  return svg;
}

// A button that shows only an icon; `label` is its accessible name and its tooltip.
export function iconButton(name, label, className) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = `icon-button ${className}`;
  button.setAttribute("aria-label", label);
  button.title = label;
  button.append(icon(name));
  return button;
}
