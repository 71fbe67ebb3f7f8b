// Typed errors. Every error the client raises for an HTTP answer or a
// network failure is a HookbayError: `status` is the HTTP status (0 when no
// response arrived), `detail` the problem+json `detail` (or a description).

export class HookbayError extends Error {
  /**
   * @param {string} message
   * @param {{status?: number, detail?: string|null, code?: string|null, type?: string|null,
   *          title?: string|null, body?: unknown, url?: string|null, retryAfter?: number|null,
   *          cause?: unknown}} [info]
   */
  constructor(message, info = {}) {
    super(message, info.cause !== undefined ? { cause: info.cause } : undefined);
    this.name = new.target.name;
    this.status = info.status ?? 0;
    this.detail = info.detail ?? null;
    this.code = info.code ?? null;
    this.type = info.type ?? null;
    this.title = info.title ?? null;
    this.body = info.body ?? null;
    this.url = info.url ?? null;
    /** seconds, from a Retry-After header */
    this.retryAfter = info.retryAfter ?? null;
  }

  /** Whether trying the same call again later may succeed. */
  get retryable() {
    return this.status === 408 || this.status === 429 || this.status >= 500;
  }
}

/** 401 or 403: the token is missing, invalid, expired, revoked or lacks a scope. */
export class AuthError extends HookbayError {}

/** 404: no such queue or message (or another tenant's). */
export class NotFound extends HookbayError {}

/** 409 on an ack/nack/reject/extend URL or a settle item: the lease is no longer yours. */
export class LeaseExpired extends HookbayError {}

/** 503 or a network failure (status 0): the relay or its store is unreachable for now. */
export class Unavailable extends HookbayError {
  get retryable() {
    return true;
  }
}

/** 429: the tenant's rate limit; `retryAfter` says when to come back. */
export class RateLimited extends HookbayError {
  get retryable() {
    return true;
  }
}

/** 400: the request was refused as malformed; `detail` names what. */
export class InvalidRequest extends HookbayError {}

/**
 * Throw from a `run()` handler to dead-letter the message (reject) instead
 * of having it redelivered.
 */
export class Reject extends Error {
  /** @param {string} [reason] @param {{cause?: unknown}} [options] */
  constructor(reason = '', options = undefined) {
    super(reason, options);
    this.name = 'Reject';
  }
}

/**
 * Throw from a `run()` handler to nack with an explicit redelivery delay
 * (seconds). Any other error nacks with the queue's backoff.
 */
export class Retry extends Error {
  /** @param {string} [reason] @param {{delay?: number, cause?: unknown}} [options] */
  constructor(reason = '', options = {}) {
    super(reason, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'Retry';
    this.delay = options.delay;
  }
}

function retryAfterSeconds(headers) {
  const v = headers?.get?.('retry-after');
  if (!v) return null;
  const n = Number(v);
  if (Number.isFinite(n) && n >= 0) return n;
  const t = Date.parse(v);
  return Number.isFinite(t) ? Math.max(0, (t - Date.now()) / 1000) : null;
}

/**
 * Build the typed error for a non-success response (reads its body).
 * @param {Response} res
 * @param {{settle?: boolean, what?: string}} [opts] settle: the URL was a lease capability URL
 */
export async function errorFromResponse(res, opts = {}) {
  let text = '';
  try {
    text = await res.text();
  } catch {
    // body lost with the connection: the status still says enough
  }
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  const problem = body && typeof body === 'object' && !Array.isArray(body) ? body : {};
  const detail =
    typeof problem.detail === 'string' ? problem.detail : text ? text.slice(0, 500) : res.statusText || null;
  return errorFromStatus(res.status, {
    detail,
    code: typeof problem.code === 'string' ? problem.code : null,
    type: typeof problem.type === 'string' ? problem.type : null,
    title: typeof problem.title === 'string' ? problem.title : null,
    body: body ?? (text || null),
    url: stripToken(res.url),
    retryAfter: retryAfterSeconds(res.headers),
    settle: opts.settle,
    what: opts.what,
  });
}

export function errorFromStatus(status, info) {
  const what = info.what ? `${info.what}: ` : '';
  const msg = `${what}relay answered ${status}${info.detail ? `: ${info.detail}` : ''}`;
  const full = { ...info, status };
  if (status === 400) return new InvalidRequest(msg, full);
  if (status === 401 || status === 403) return new AuthError(msg, full);
  if (status === 404) return new NotFound(msg, full);
  if (status === 409 && info.settle) return new LeaseExpired(msg, full);
  if (status === 429) return new RateLimited(msg, full);
  if (status === 503) return new Unavailable(msg, full);
  return new HookbayError(msg, full);
}

/** A network-level failure (connection refused, reset, DNS, timeout). */
export function networkError(err, url, what) {
  const cause = err?.cause ?? err;
  const reason = cause?.code || cause?.message || String(err);
  const prefix = what ? `${what}: ` : '';
  return new Unavailable(`${prefix}relay unreachable (${reason})`, {
    status: 0,
    detail: String(reason),
    url: stripToken(url),
    cause: err,
  });
}

/** Never put a lease token or access token into an error message or log. */
export function stripToken(url) {
  if (!url) return null;
  try {
    const u = new URL(url);
    for (const k of ['token', 'access_token']) if (u.searchParams.has(k)) u.searchParams.set(k, '…');
    return u.toString();
  } catch {
    return null;
  }
}
