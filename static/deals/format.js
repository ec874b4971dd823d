// Formatting and small DOM helpers shared by the queue page's modules.
// Text is always set with textContent, never parsed as HTML.

export function clock(date) {
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function stamp(iso) {
  return iso ? new Date(iso).toLocaleString() : "—";
}

export function duration(ms) {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${ms} ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} m ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} m`;
}

export function ago(iso) {
  const s = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
  if (s < 90) return `updated ${s} s ago`;
  if (s < 5400) return `updated ${Math.round(s / 60)} min ago`;
  if (s < 129600) return `updated ${Math.round(s / 3600)} h ago`;
  return `updated ${Math.round(s / 86400)} d ago`;
}

export function plural(n, one, many) {
  return `${n.toLocaleString()} ${n === 1 ? one : many}`;
}

// The DOM is touched only where a value changed: polls repeat mostly the same values.
export function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
}

export function setHidden(element, hidden) {
  if (element.hidden !== hidden) element.hidden = hidden;
}

// A button and its reason: disabled ones say why on hover (on their wrapper too, as a
// disabled button gets no pointer events in some browsers).
export function setButton(button, { label, enabled, reason }) {
  if (label !== undefined) setText(button, label);
  if (button.disabled !== !enabled) button.disabled = !enabled;
  for (const element of [button, button.parentElement]) {
    if (element.title !== reason) element.title = reason;
  }
}

export function node(tag, props, ...children) {
  const element = document.createElement(tag);
  Object.assign(element, props || {});
  for (const child of children) {
    if (child !== null && child !== undefined) element.append(child);
  }
  return element;
}
