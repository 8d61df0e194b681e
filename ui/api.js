// HTTP access to /api/v1: credentials, error decoding, the event stream, polling.
// Credentials live in sessionStorage only (this tab), never in a URL or localStorage.

const STORE_KEY = 'ogf.credentials';
// Relative to /ui/, so the dashboard also works behind a proxy that adds a path prefix.
const API = '../api/v1';

export function loadCredentials() {
  try { return JSON.parse(sessionStorage.getItem(STORE_KEY)); } catch { return null; }
}
export function saveCredentials(creds) { sessionStorage.setItem(STORE_KEY, JSON.stringify(creds)); }
export function clearCredentials() { sessionStorage.removeItem(STORE_KEY); }

function authHeaders(creds) {
  if (!creds) return {};
  if (creds.mode === 'keys') return { Authorization: `Bearer ${creds.key}` };
  return { 'X-Org-ID': creds.org, 'X-Workspace-ID': creds.workspace };
}

/** A failed request: status 0 means the server could not be reached. */
export class ApiError extends Error {
  constructor(status, code, message, details = {}, body = null) {
    super(message);
    Object.assign(this, { status, code, details: details || {}, body });
  }
}

// The app sets this: a 401 on a signed-in request sends the user back to sign-in.
let unauthorizedHandler = () => {};
export function onUnauthorized(fn) { unauthorizedHandler = fn; }

async function decodeError(res) {
  const text = await res.text().catch(() => '');
  let body = null;
  try { body = JSON.parse(text); } catch { /* not JSON: a proxy's page, say */ }
  const e = body && body.error;
  if (e && typeof e === 'object') return new ApiError(res.status, e.code, e.message || res.statusText, e.details, body);
  return new ApiError(res.status, `http_${res.status}`, `${res.status} ${res.statusText}`.trim(), {}, body);
}

/**
 * One request to API + path (path like '/batches'). Returns {status, data, headers}; throws ApiError on failure.
 * opts: body (object → JSON, string → as is), contentType, headers, creds (override), signal.
 */
export async function request(method, path, opts = {}) {
  const creds = opts.creds !== undefined ? opts.creds : loadCredentials();
  const headers = { Accept: 'application/json', ...authHeaders(creds), ...(opts.headers || {}) };
  let body = opts.body;
  if (body !== undefined && typeof body !== 'string') body = JSON.stringify(body);
  if (body !== undefined) headers['Content-Type'] = opts.contentType || 'application/json';
  let res;
  try {
    res = await fetch(API + path, { method, headers, body, signal: opts.signal, cache: 'no-store', credentials: 'omit' });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, 'network', 'The server could not be reached (network error).');
  }
  if (!res.ok) {
    const err = await decodeError(res);
    err.headers = res.headers;
    if (res.status === 401 && opts.creds === undefined && creds) unauthorizedHandler(err);
    throw err;
  }
  const text = res.status === 204 ? '' : await res.text();
  return { status: res.status, data: text ? JSON.parse(text) : null, headers: res.headers };
}

export const get = async (path, opts) => (await request('GET', path, opts)).data;

/** A sentence for people: what happened and what to do. */
export function describeError(err, { retrying = false } = {}) {
  const again = retrying ? ' Retrying automatically.' : ' Try again.';
  if (!(err instanceof ApiError)) return `Unexpected error: ${err && err.message}.${again}`;
  switch (err.status) {
    case 0: return `Cannot reach the server — check that it is running and your network is up.${again}`;
    case 401: return 'Your credentials were not accepted. Sign in again.';
    case 403: return `Not allowed with these credentials: ${err.message}.`;
    case 429: return `Too many requests (${err.message}).${again}`;
    case 503: return retrying ? 'The server is unavailable, retrying.' : 'The server is unavailable right now; nothing was changed. Try again in a moment.';
    default:
      if (err.status >= 500) return `The server failed (${err.status}: ${err.message}).${again}`;
      return `${err.message}${err.details.field ? ` (field ${err.details.field})` : ''}.`;
  }
}

/**
 * Calls fn now and then every `ms` after each call settles (never two at once),
 * skipping calls while the tab is hidden. Returns stop().
 */
export function poll(fn, ms) {
  let timer = null, stopped = false;
  const tick = async () => {
    if (stopped) return;
    if (!document.hidden) { try { await fn(); } catch { /* fn shows its own errors */ } }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  tick();
  return () => { stopped = true; clearTimeout(timer); };
}

/**
 * Follows a text/event-stream with fetch (EventSource cannot send our headers).
 * handlers: onOpen(), onEvent(type, data), onError(err, willRetry). Reconnects after 1, 2, 4,
 * 8, then every 15 s until close() is called or a client error (4xx other than 429) ends it.
 * The wait starts over only once an event arrived: a server that accepts the stream and
 * drops it at once is not hammered every second.
 */
export function openEventStream(path, { onOpen, onEvent, onError }) {
  let ctrl = null, closed = false, delay = 1000, timer = null;

  async function connect() {
    ctrl = new AbortController();
    try {
      const creds = loadCredentials();
      const res = await fetch(API + path, { headers: { Accept: 'text/event-stream', ...authHeaders(creds) },
        signal: ctrl.signal, cache: 'no-store', credentials: 'omit' });
      if (!res.ok) {
        const err = await decodeError(res);
        if (res.status === 401 && creds) unauthorizedHandler(err);
        throw err;
      }
      onOpen && onOpen();
      await readEvents(res.body, (type, data) => { delay = 1000; onEvent && onEvent(type, data); }, () => closed);
      if (!closed) throw new ApiError(0, 'stream_ended', 'The event stream ended.');
    } catch (err) {
      if (closed) return;
      const e = err instanceof ApiError ? err : new ApiError(0, 'network', 'The event stream broke off.');
      const fatal = e.status >= 400 && e.status < 500 && e.status !== 429;
      onError && onError(e, !fatal);
      if (fatal) return;
      timer = setTimeout(connect, delay);
      delay = Math.min(delay * 2, 15000);
    }
  }
  connect();
  return { close() { closed = true; clearTimeout(timer); if (ctrl) ctrl.abort(); } };
}

// Minimal SSE parser (WHATWG rules: CR, LF or CRLF lines; event/data fields; ':' comments).
async function readEvents(body, onEvent, isClosed) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = '', type = '', data = [];
  const line = (l) => {
    if (l === '') {
      if (data.length) {
        let parsed = data.join('\n');
        try { parsed = JSON.parse(parsed); } catch { /* keep the text */ }
        onEvent(type || 'message', parsed);
      }
      type = ''; data = [];
      return;
    }
    if (l.startsWith(':')) return;
    const i = l.indexOf(':');
    const field = i < 0 ? l : l.slice(0, i);
    const value = i < 0 ? '' : l.slice(i + 1).replace(/^ /, '');
    if (field === 'event') type = value;
    else if (field === 'data') data.push(value);
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done || isClosed()) return;
    buf += decoder.decode(value, { stream: true });
    for (;;) {
      const i = buf.search(/[\r\n]/);
      if (i < 0 || (buf[i] === '\r' && i === buf.length - 1)) break; // a lone CR may precede LF
      line(buf.slice(0, i));
      buf = buf.slice(i + (buf[i] === '\r' && buf[i + 1] === '\n' ? 2 : 1));
    }
  }
}
