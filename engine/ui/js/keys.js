// Keyboard shortcuts: one registry, so the help overlay (`?` or Alt+K) always lists exactly
// what the keys do. Alt+letter works inside the form fields too: a call-taker typing the
// summary can still hold the caller or dispatch without reaching for the mouse. Keys are
// matched on the physical key (event.code), so they work with any keyboard layout or IME.
// While a modal (the help, a reason picker) is open, only it gets keys; Escape closes it.

import { h, fill } from './dom.js';

const bindings = [];
let modal = null; // {el, onKey, onClose}

function parse(combo) {
  const parts = combo.split('+');
  const main = parts.pop();
  const spec = { alt: parts.includes('Alt'), ctrl: parts.includes('Ctrl'), shift: parts.includes('Shift') };
  if (/^[A-Z]$/.test(main)) spec.code = `Key${main}`;
  else if (/^[0-9]$/.test(main)) spec.code = `Digit${main}`;
  else spec.key = main; // Enter, Escape, ?
  return spec;
}

/**
 * bind('Alt+R', 'Ready', run, {group: 'Seat', fields: true, enabled: () => bool})
 * `fields`: whether the key works while typing in a field (Alt/Ctrl combos do by default).
 */
export function bind(combo, label, run, { group = 'General', fields, enabled, show = true } = {}) {
  const spec = parse(combo);
  bindings.push({
    combo,
    label,
    run,
    group,
    show,
    enabled: enabled || (() => true),
    fields: fields === undefined ? spec.alt || spec.ctrl : fields,
    ...spec,
  });
}

function matches(b, e) {
  if (b.alt !== e.altKey || b.ctrl !== (e.ctrlKey || e.metaKey)) return false;
  if (b.code) return b.code === e.code && b.shift === e.shiftKey;
  return b.key === e.key; // '?' needs Shift on most layouts: ignore it
}

function typing(target) {
  return (
    target instanceof HTMLElement &&
    (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName))
  );
}

function onKeyDown(e) {
  if (modal) {
    if (e.key === 'Escape') {
      e.preventDefault();
      closeModal();
    } else if (modal.onKey && modal.onKey(e)) {
      e.preventDefault();
    }
    return;
  }
  for (const b of bindings) {
    if (!matches(b, e)) continue;
    if (typing(e.target) && !b.fields) continue;
    e.preventDefault();
    e.stopPropagation();
    if (b.enabled()) b.run(e);
    return;
  }
}

export function install() {
  document.addEventListener('keydown', onKeyDown, true);
}

/** Show `el` as a modal; `onKey(e)` returns true for keys it used. */
export function openModal(el, { onKey, onClose } = {}) {
  closeModal();
  const overlay = h('div', { class: 'overlay', role: 'dialog', 'aria-modal': 'true' }, el);
  overlay.addEventListener('click', (e) => {
    if (e.target === overlay) closeModal();
  });
  document.body.append(overlay);
  modal = { el: overlay, onKey, onClose };
  const first = el.querySelector('button, input, select, textarea');
  if (first) first.focus();
  return overlay;
}

export function closeModal() {
  if (!modal) return;
  const { el, onClose } = modal;
  modal = null;
  el.remove();
  if (onClose) onClose();
}

export const modalOpen = () => modal !== null;

/** The key's label for buttons and the help: 'Alt+R' -> <kbd>Alt R</kbd>. */
export function kbd(combo) {
  return h('kbd', { text: combo.replace('+', ' ') });
}

export function showHelp(title) {
  const groups = new Map();
  for (const b of bindings.filter((x) => x.show)) {
    if (!groups.has(b.group)) groups.set(b.group, []);
    groups.get(b.group).push(b);
  }
  const card = h('div', { class: 'card', id: 'help', tabindex: '-1' }, h('h2', { text: title }));
  for (const [group, list] of groups) {
    card.append(
      h('div', { class: 'label key-group', text: group }),
      fill(
        h('div', { class: 'keys' }),
        list.map((b) => [kbd(b.combo), h('span', { text: b.label })]),
      ),
    );
  }
  card.append(h('div', { class: 'hint' }, 'Esc closes this. Alt keys work while typing in a field.'));
  openModal(card);
  card.focus();
}
