// Small DOM helpers. Everything from users or the server goes in as text, never as markup.

export const $ = (id) => document.getElementById(id);

/** el('td', {className: 'num'}, 'text', childNode, …): properties set directly, children as text nodes. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k.startsWith('aria-') || k === 'role') node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** Sets a message element's text and shows it; an empty text hides it. */
export function say(node, text) {
  node.textContent = text || '';
  node.hidden = !text;
}

// A one-off message shown above the next view (e.g. "Batch deleted"), then cleared.
let flashText = '';
export function flash(text) { flashText = text; }
export function takeFlash() { const t = flashText; flashText = ''; return t; }

export function clearChildren(node) { while (node.firstChild) node.firstChild.remove(); }

export const STATUSES = ['pending', 'queued', 'processing', 'completed', 'failed', 'cancelled'];
export const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

/** Gives a badge element the text and colour class of a status. */
export function setBadge(node, status) {
  node.className = `badge status-${STATUSES.includes(status) || status === 'ok' || status === 'unavailable' ? status : 'unknown'}`;
  node.textContent = status || '–';
  return node;
}

export const badge = (status) => setBadge(el('span'), status);

/** Link to a batch; the id is encoded so it can only ever be a hash route. */
export function batchLink(id, text = id) {
  return el('a', { href: `#/batch/${encodeURIComponent(id)}` }, text);
}

/** Asks in the confirmation <dialog>; resolves true only for "yes". */
export function confirmDialog(message, yesLabel = 'Yes') {
  const dialog = $('confirm-dialog');
  $('confirm-message').textContent = message;
  $('confirm-yes').textContent = yesLabel;
  return new Promise((resolve) => {
    const done = (answer) => {
      $('confirm-yes').removeEventListener('click', yes);
      $('confirm-no').removeEventListener('click', no);
      dialog.removeEventListener('close', closed);
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    const yes = () => done(true), no = () => done(false), closed = () => done(false);
    $('confirm-yes').addEventListener('click', yes);
    $('confirm-no').addEventListener('click', no);
    dialog.addEventListener('close', closed); // Escape closes it: same as "no"
    dialog.showModal();
    $('confirm-no').focus(); // the safe answer is the default
  });
}
