// Small helpers: bytes, signals, backoff.

const utf8 = new TextEncoder();

export function encodeUtf8(s) {
  return utf8.encode(s);
}

export function decodeBase64(s) {
  if (typeof Buffer === 'function') {
    const b = Buffer.from(s, 'base64');
    return new Uint8Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
  }
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Cut a string to at most `max` UTF-8 bytes without splitting a character. */
export function truncateUtf8(s, max = 1024) {
  if (s.length * 3 <= max) return s;
  const bytes = utf8.encode(s);
  if (bytes.length <= max) return s;
  let end = max;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return new TextDecoder().decode(bytes.subarray(0, end));
}

/**
 * An AbortController that aborts when any of `signals` does.
 * Returns the controller and a function that unhooks the listeners.
 */
export function linkedController(...signals) {
  const ctrl = new AbortController();
  const hooks = [];
  for (const s of signals) {
    if (!s) continue;
    if (s.aborted) {
      ctrl.abort(s.reason);
      break;
    }
    const on = () => ctrl.abort(s.reason);
    s.addEventListener('abort', on, { once: true });
    hooks.push(() => s.removeEventListener('abort', on));
  }
  return {
    ctrl,
    signal: ctrl.signal,
    unlink() {
      for (const h of hooks) h();
      hooks.length = 0;
    },
  };
}

/** Wait `ms`; resolves true when the time passed, false when `signal` aborted first. */
export function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', on);
      resolve(true);
    }, ms);
    const on = () => {
      clearTimeout(t);
      resolve(false);
    };
    signal?.addEventListener('abort', on, { once: true });
  });
}

export const DEFAULT_BACKOFF = Object.freeze({ initial: 500, max: 30_000, factor: 2, jitter: 0.5 });

/**
 * Capped exponential backoff with jitter, in milliseconds, for the
 * `attempt`-th consecutive failure (0-based). A Retry-After (seconds) from
 * the relay is honoured up to the cap.
 */
export function backoffDelay(cfg, attempt, retryAfter, random = Math.random) {
  const { initial, max, factor, jitter } = cfg;
  const base = Math.min(max, initial * Math.pow(factor, Math.min(attempt, 60)));
  const j = Math.min(1, Math.max(0, jitter));
  let delay = base * (1 - j * random());
  if (retryAfter != null && Number.isFinite(retryAfter)) delay = Math.max(delay, Math.min(max, retryAfter * 1000));
  return Math.max(0, Math.round(delay));
}

export function queryString(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

export function isAbort(err, signal) {
  return Boolean(signal?.aborted) || err?.name === 'AbortError';
}
