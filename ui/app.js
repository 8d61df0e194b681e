// Entry point: sign-in, navigation and the hash router (#/batches, #/batch/<id>, …).
import { ApiError, clearCredentials, describeError, get, loadCredentials, onUnauthorized, saveCredentials } from './api.js';
import { $, flash, say, takeFlash } from './dom.js';
import * as batches from './view_batches.js';
import * as batch from './view_batch.js';
import * as upload from './view_upload.js';
import * as factors from './view_factors.js';
import * as node from './view_node.js';

const VIEWS = { batches, batch, upload, factors, node };
const TENANT_RE = /^[A-Za-z0-9_-]{1,64}$/;
let current = null; // the view module on screen, so its timers stop when we leave
let authMode = null; // 'keys' | 'headers', as /ui/config.json says

function parseRoute() {
  const parts = location.hash.replace(/^#\/?/, '').split('/');
  const name = parts[0] || 'batches';
  if (name === 'batch' && parts[1]) {
    try { return { name, params: { id: decodeURIComponent(parts.slice(1).join('/')) } }; } catch { /* bad escape */ }
  }
  return VIEWS[name] && name !== 'batch' ? { name, params: {} } : { name: 'batches', params: {} };
}

function showSection(id) {
  for (const s of document.querySelectorAll('main > section')) s.hidden = s.id !== id;
}

/** Shows the view the hash names; `moved` (a navigation, not the first load) moves focus to its heading. */
function route(moved = false) {
  if (current) { current.hide(); current = null; }
  say($('flash'), takeFlash());
  const creds = loadCredentials();
  $('nav').hidden = !creds;
  if (!creds) { showSignin(); return; }
  $('whoami').textContent = creds.mode === 'keys' ? `key ${creds.key.split('_')[1] || ''}` : `${creds.org} / ${creds.workspace}`;
  const { name, params } = parseRoute();
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.id === `nav-${name === 'batch' ? 'batches' : name}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  showSection(`view-${name}`);
  current = VIEWS[name];
  current.show(params);
  const heading = $(`view-${name}`).querySelector('h1');
  document.title = `${heading.textContent} · OffGridFlow`;
  // Screen readers and keyboard users start at the new view, not on the link left behind.
  if (moved) heading.focus();
}

// ---- sign-in ----

let signinMessage = '';

async function probeMode() {
  // The server says how it decides tenants in /ui/config.json, beside this
  // script, so sign-in needs no request that fails (a 401 is a console error).
  let res;
  try {
    res = await fetch('config.json', { cache: 'no-store', credentials: 'omit' });
  } catch {
    throw new ApiError(0, 'network', 'The server could not be reached (network error).');
  }
  if (!res.ok) throw new ApiError(res.status, `http_${res.status}`, `${res.status} ${res.statusText}`.trim());
  const config = await res.json().catch(() => ({}));
  if (config.auth === 'keys' || config.auth === 'headers') return config.auth;
  throw new ApiError(res.status, 'bad_config', 'The server sent a dashboard configuration this page does not understand.');
}

async function showSignin() {
  showSection('view-signin');
  document.title = 'Sign in · OffGridFlow';
  say($('signin-error'), signinMessage);
  signinMessage = '';
  if (!authMode) {
    try {
      authMode = await probeMode();
    } catch (err) {
      say($('signin-error'), describeError(err, { retrying: true }));
      setTimeout(() => { if (!loadCredentials() && !$('view-signin').hidden) showSignin(); }, 3000);
      return;
    }
  }
  const keys = authMode === 'keys';
  $('signin-mode').textContent = keys
    ? 'This server uses API keys. Paste your key.'
    : 'This server trusts tenant headers. Enter your organisation and workspace.';
  $('signin-key-field').hidden = !keys;
  $('signin-key').disabled = !keys;
  for (const f of ['org', 'workspace']) {
    $(`signin-${f}-field`).hidden = keys;
    $(`signin-${f}`).disabled = keys;
  }
  $('signin-submit').disabled = false;
  (keys ? $('signin-key') : $('signin-org')).focus();
}

async function signIn(event) {
  event.preventDefault();
  const error = $('signin-error');
  let creds;
  if (authMode === 'keys') {
    const key = $('signin-key').value.trim();
    if (!/^ogf_[\x21-\x7e]+$/.test(key)) { say(error, 'An API key looks like ogf_<id>_<secret>.'); $('signin-key').focus(); return; }
    creds = { mode: 'keys', key };
  } else {
    const org = $('signin-org').value.trim(), workspace = $('signin-workspace').value.trim();
    for (const [name, value] of [['org', org], ['workspace', workspace]]) {
      if (!TENANT_RE.test(value)) {
        say(error, `${name === 'org' ? 'Organisation' : 'Workspace'}: use 1–64 letters, digits, _ or -.`);
        $(`signin-${name}`).focus();
        return;
      }
    }
    creds = { mode: 'headers', org, workspace };
  }
  $('signin-submit').disabled = true;
  say(error, '');
  try {
    await get('/batches?limit=1', { creds }); // prove the credentials before keeping them
    saveCredentials(creds);
    $('signin-key').value = '';
    if (location.hash.startsWith('#/')) route();
    else location.hash = '#/batches'; // hashchange routes
  } catch (err) {
    say(error, err.status === 401 || err.status === 403
      ? `Not accepted (${err.status}): ${err.message}. Check and try again.`
      : describeError(err));
  } finally {
    $('signin-submit').disabled = false;
  }
}

function signOut() {
  clearCredentials();
  flash('Signed out. Your credentials were removed from this tab.');
  route();
}

onUnauthorized((err) => {
  if (!loadCredentials()) return;
  clearCredentials();
  signinMessage = `Your credentials were refused (${err.message}). Sign in again.`;
  route();
});

$('signin-form').addEventListener('submit', signIn);
$('signout').addEventListener('click', signOut);
window.addEventListener('hashchange', () => route(true));
route();
