// The consumer: /next, /stream (SSE), batch /lease + /settle, and run().

import {
  HookbayError,
  InvalidRequest,
  RateLimited,
  Reject,
  Retry,
  Unavailable,
  errorFromResponse,
  errorFromStatus,
  networkError,
  stripToken,
} from './errors.js';
import { Message } from './message.js';
import { SseParser } from './sse.js';
import { DEFAULT_BACKOFF, backoffDelay, linkedController, queryString, sleep, truncateUtf8 } from './util.js';

export const VERSION = '0.1.0';

const enc = encodeURIComponent;

function abortError(signal, fallback = 'the operation was aborted') {
  if (signal?.reason !== undefined) return signal.reason;
  return new DOMException(fallback, 'AbortError');
}

function defaultOnError(err, info) {
  const where = [info.op, info.queueId, info.messageId].filter(Boolean).join(' ');
  const retry = info.retryInMs != null ? `; retrying in ${info.retryInMs} ms` : '';
  console.warn(`hookbay: ${where}: ${err?.message ?? err}${retry}`);
}

export class Consumer {
  #base;
  #token;
  #fetch;
  #backoff;
  #requestTimeout;
  #idleTimeout;
  #settleRetries;
  #onError;
  #userAgent;
  #closed = new AbortController();

  /**
   * @param {import('../index.js').ConsumerOptions} options
   */
  constructor(options = /** @type {any} */ ({})) {
    const { url, token } = options;
    if (!url) throw new TypeError('hookbay Consumer: `url` (the relay base URL) is required');
    const parsed = new URL(String(url)); // throws on a malformed URL
    this.#base = parsed.toString().replace(/\/+$/, '');
    this.#token = token ?? null;
    this.#fetch = options.fetch ?? globalThis.fetch;
    if (typeof this.#fetch !== 'function') throw new TypeError('hookbay Consumer: no global fetch (Node >= 18 needed)');
    this.#backoff = { ...DEFAULT_BACKOFF, ...(options.backoff ?? {}) };
    this.#requestTimeout = options.requestTimeout ?? 30_000;
    this.#idleTimeout = options.idleTimeout ?? 45_000;
    this.#settleRetries = options.settleRetries ?? 3;
    this.#onError = options.onError === undefined ? defaultOnError : options.onError;
    this.#userAgent = options.userAgent ?? `hookbay-node/${VERSION}`;
  }

  /** The relay base URL. */
  get url() {
    return this.#base;
  }

  /** Whether close() was called. */
  get closed() {
    return this.#closed.signal.aborted;
  }

  /** End every stream(), poll() and run() of this consumer; pending calls abort. */
  close() {
    this.#closed.abort(new DOMException('the consumer was closed', 'AbortError'));
  }

  // ---- single calls --------------------------------------------------------

  /**
   * Lease the next message, waiting up to `wait` seconds; null when none came.
   * @param {string} queueId
   * @param {{wait?: number, lease?: number, signal?: AbortSignal}} [opts]
   */
  async next(queueId, opts = {}) {
    const wait = opts.wait ?? 0;
    return this.#call(
      'GET',
      `/v1/queues/${enc(queueId)}/next`,
      { query: { wait, lease: opts.lease }, signal: opts.signal, timeoutMs: wait * 1000 + this.#requestTimeout, what: 'next' },
      async (res) => {
        if (res.status === 204) {
          await res.body?.cancel().catch(() => {});
          return null;
        }
        const payload = new Uint8Array(await res.arrayBuffer());
        let meta = {};
        const header = res.headers.get('x-hookbay-meta');
        if (header) {
          try {
            meta = JSON.parse(header);
          } catch {
            meta = {};
          }
        }
        return new Message(this, {
          payload,
          meta,
          id: res.headers.get('x-hookbay-message-id'),
          contentType: 'contentType' in Object(meta) ? meta.contentType : res.headers.get('content-type'),
          encoding: 'raw',
        });
      },
    );
  }

  /**
   * Lease up to `max` (1..=100) messages in one call.
   * @param {string} queueId
   * @param {{max?: number, wait?: number, lease?: number, signal?: AbortSignal}} [opts]
   * @returns {Promise<Message[]>}
   */
  async lease(queueId, opts = {}) {
    const body = {};
    for (const k of ['max', 'wait', 'lease']) if (opts[k] != null) body[k] = opts[k];
    const out = await this.#call(
      'POST',
      `/v1/queues/${enc(queueId)}/lease`,
      { json: body, signal: opts.signal, timeoutMs: (opts.wait ?? 0) * 1000 + this.#requestTimeout, what: 'lease' },
      (res) => res.json(),
    );
    const list = Array.isArray(out?.messages) ? out.messages : [];
    return list.map((d) => Message.fromData(this, d));
  }

  /**
   * Settle many leases in one call per queue (`POST /v1/queues/{id}/settle`,
   * 100 items a call). Items: `{message, outcome, reason?, delay?}` or
   * `{token, queueId, outcome, …}`; `outcome` is ack | nack | reject. The
   * results come back in the items' order; one item's 409 does not throw:
   * its result carries `error` (a LeaseExpired).
   * @param {string | Array<object>} queueOrItems a queue id (then `items`), or the items
   * @param {Array<object>} [maybeItems]
   */
  async settle(queueOrItems, maybeItems, opts = {}) {
    let defaultQueue = null;
    let items = queueOrItems;
    if (typeof queueOrItems === 'string') {
      defaultQueue = queueOrItems;
      items = maybeItems;
    } else if (maybeItems && !Array.isArray(maybeItems)) {
      opts = maybeItems;
    }
    if (!Array.isArray(items)) throw new TypeError('settle: items must be an array');
    const groups = new Map();
    const results = new Array(items.length);
    items.forEach((item, index) => {
      const message = item instanceof Message ? item : item?.message;
      const outcome = item?.outcome ?? (item instanceof Message ? 'ack' : undefined);
      if (!['ack', 'nack', 'reject'].includes(outcome)) {
        throw new InvalidRequest(`settle: items[${index}].outcome must be ack, nack or reject`, { status: 0 });
      }
      const token = item?.token ?? message?.leaseToken;
      const queueId = item?.queueId ?? message?.queueId ?? defaultQueue;
      if (!token || !queueId) {
        throw new InvalidRequest(`settle: items[${index}] has no lease token or queue id`, { status: 0 });
      }
      const wire = { token, outcome };
      if (item.reason != null) wire.reason = truncateUtf8(String(item.reason));
      const delay = item.delay ?? item.delaySeconds;
      if (delay != null) wire.delaySeconds = delay;
      if (!groups.has(queueId)) groups.set(queueId, []);
      groups.get(queueId).push({ index, wire, message, outcome });
    });
    for (const [queueId, group] of groups) {
      for (let i = 0; i < group.length; i += 100) {
        const part = group.slice(i, i + 100);
        const out = await this.#call(
          'POST',
          `/v1/queues/${enc(queueId)}/settle`,
          { json: { items: part.map((p) => p.wire) }, signal: opts.signal, what: 'settle' },
          (res) => res.json(),
        );
        const got = Array.isArray(out?.results) ? out.results : [];
        part.forEach((p, k) => {
          const r = got[k] ?? { status: 0, detail: 'no result for this item' };
          const status = Number(r.status) || 0;
          const detail = typeof r.detail === 'string' ? r.detail : null;
          const ok = status === 204;
          if (ok && p.message) p.message.settled = p.outcome;
          results[p.index] = {
            status,
            detail,
            ok,
            error: ok ? null : errorFromStatus(status, { detail, settle: true, what: `settle ${p.outcome}` }),
            message: p.message ?? null,
          };
        });
      }
    }
    return results;
  }

  /**
   * A queue's policy and counts (`GET /v1/queues/{id}`; scope read or manage).
   * @param {string} queueId
   */
  async getQueue(queueId, opts = {}) {
    return this.#call('GET', `/v1/queues/${enc(queueId)}`, { signal: opts.signal, what: 'queue' }, (res) => res.json());
  }

  // ---- loops ---------------------------------------------------------------

  /**
   * Messages from `GET /next` long polls, forever (until break, the signal,
   * or close()). Network errors, 429 and 5xx are retried with backoff; auth
   * and not-found errors end the iteration by throwing.
   * @param {string} queueId
   * @param {{wait?: number, lease?: number, signal?: AbortSignal, idleDelay?: number}} [opts]
   */
  async *poll(queueId, opts = {}) {
    const wait = opts.wait ?? 20;
    const link = linkedController(opts.signal, this.#closed.signal);
    let failures = 0;
    try {
      while (!link.signal.aborted) {
        let msg;
        try {
          msg = await this.next(queueId, { wait, lease: opts.lease, signal: link.signal });
          failures = 0;
        } catch (e) {
          if (link.signal.aborted) return;
          if (!(e instanceof HookbayError) || !e.retryable) throw e;
          const delay = backoffDelay(this.#backoff, failures++, e.retryAfter);
          this.#report(e, { op: 'poll', queueId, attempt: failures, retryInMs: delay });
          if (!(await sleep(delay, link.signal))) return;
          continue;
        }
        if (msg) {
          yield msg;
        } else if (wait <= 0) {
          if (!(await sleep(opts.idleDelay ?? 1000, link.signal))) return;
        }
      }
    } finally {
      link.unlink();
      link.ctrl.abort();
    }
  }

  /**
   * Messages from the SSE stream, forever: reconnects after network errors,
   * 429 and 5xx with capped, jittered exponential backoff; ends on
   * `event: close` (queue deleted, token revoked), break, the signal or
   * close(); throws on auth, not-found and invalid-request errors.
   * @param {string} queueId
   * @param {{prefetch?: number, lease?: number, signal?: AbortSignal, onConnect?: (info: object) => void}} [opts]
   */
  async *stream(queueId, opts = {}) {
    const url = `${this.#base}/v1/queues/${enc(queueId)}/stream${queryString({ prefetch: opts.prefetch, lease: opts.lease })}`;
    const link = linkedController(opts.signal, this.#closed.signal);
    const stop = link.signal;
    let failures = 0;
    let connections = 0;
    try {
      while (!stop.aborted) {
        let err = null;
        const conn = linkedController(stop);
        let reader = null;
        try {
          const res = await this.#fetch(url, {
            method: 'GET',
            headers: this.#headers({ accept: 'text/event-stream', 'accept-encoding': 'identity', 'cache-control': 'no-cache' }),
            signal: conn.signal,
          });
          if (!res.ok) {
            err = await errorFromResponse(res, { what: 'stream' });
            if (!err.retryable) throw err;
          } else if (!/^text\/event-stream\b/i.test(res.headers.get('content-type') ?? '')) {
            await res.body?.cancel().catch(() => {});
            err = new Unavailable(`stream: expected text/event-stream, got ${res.headers.get('content-type') ?? 'no content type'}`, {
              status: res.status,
              url: stripToken(url),
            });
          } else {
            connections += 1;
            try {
              opts.onConnect?.({ queueId, reconnect: connections > 1 });
            } catch {
              // a hook's failure is not the stream's
            }
            reader = res.body.getReader();
            const parser = new SseParser();
            for (;;) {
              const { value, done } = await this.#readIdle(reader);
              if (done) break;
              if (value?.length) failures = 0; // the connection works: reset the backoff
              for (const ev of parser.push(value)) {
                if (ev.event === 'close') {
                  // queue deleted or token revoked: stop for good, and say why
                  let why = ev.data;
                  try {
                    why = JSON.parse(ev.data)?.reason ?? ev.data;
                  } catch {
                    // not JSON: the raw data is the reason
                  }
                  this.#report(new HookbayError(`stream: closed by the relay (${why})`, { detail: String(why) }), {
                    op: 'stream',
                    queueId,
                    closed: true,
                  });
                  return;
                }
                if (ev.event !== 'message') continue;
                let msg;
                try {
                  msg = Message.fromData(this, JSON.parse(ev.data));
                } catch (e) {
                  this.#report(new HookbayError(`stream: malformed event skipped (${e.message})`, { cause: e }), {
                    op: 'stream',
                    queueId,
                  });
                  continue;
                }
                yield msg;
                if (stop.aborted) return;
              }
            }
            err = new Unavailable('stream: the relay ended the stream', { url: stripToken(url) });
          }
        } catch (e) {
          if (stop.aborted) return;
          if (e instanceof HookbayError) {
            if (!e.retryable) throw e;
            err = e;
          } else {
            err = networkError(e, url, 'stream');
          }
        } finally {
          if (reader) reader.cancel().catch(() => {});
          conn.ctrl.abort();
          conn.unlink();
        }
        const delay = backoffDelay(this.#backoff, failures++, err?.retryAfter);
        this.#report(err, { op: 'stream', queueId, attempt: failures, retryInMs: delay });
        if (!(await sleep(delay, stop))) return;
      }
    } finally {
      link.unlink();
      link.ctrl.abort();
    }
  }

  /**
   * Consume with a handler: it resolves → ack; throws Reject → reject
   * (dead letter); throws Retry → nack with its delay; throws anything
   * else → nack with the error's message. Resolves with counts once the
   * signal aborts, close() is called or the stream is closed by the relay
   * (in-flight handlers finish and settle first); rejects on a fatal error.
   * @param {string} queueId
   * @param {(msg: Message) => unknown} handler
   * @param {import('../index.js').RunOptions} [opts]
   */
  async run(queueId, handler, opts = {}) {
    if (typeof handler !== 'function') throw new TypeError('run: handler must be a function');
    const mode = opts.mode ?? 'stream';
    const concurrency = Math.max(1, Math.floor(opts.concurrency ?? 1));
    let source;
    if (mode === 'stream') {
      const prefetch = opts.prefetch ?? (concurrency > 10 ? concurrency : undefined);
      source = this.stream(queueId, { prefetch, lease: opts.lease, signal: opts.signal, onConnect: opts.onConnect });
    } else if (mode === 'poll') {
      source = this.poll(queueId, { wait: opts.wait, lease: opts.lease, signal: opts.signal });
    } else {
      throw new TypeError(`run: mode must be 'stream' or 'poll', not ${JSON.stringify(mode)}`);
    }
    const stats = { acked: 0, nacked: 0, rejected: 0, errors: 0 };
    const inflight = new Set();
    const it = source[Symbol.asyncIterator]();
    try {
      for (;;) {
        while (inflight.size >= concurrency) await Promise.race(inflight);
        const r = await it.next();
        if (r.done) break;
        const p = this.#handle(r.value, handler, opts, stats).finally(() => inflight.delete(p));
        inflight.add(p);
      }
    } finally {
      await Promise.allSettled([...inflight]);
      await it.return?.();
    }
    return stats;
  }

  async #handle(msg, handler, opts, stats) {
    let outcome = 'ack';
    let reason;
    let delay;
    let keeper = null;
    if (opts.extendLease > 0) {
      keeper = setInterval(() => {
        msg.extend(opts.extendLease).catch((e) => this.#report(e, { op: 'extend', queueId: msg.queueId, messageId: msg.id }));
      }, opts.extendLease * 500);
    }
    try {
      await handler(msg);
    } catch (e) {
      reason = e?.message || e?.name || String(e);
      if (e instanceof Reject || e?.name === 'Reject') {
        outcome = 'reject';
      } else if (e instanceof Retry || e?.name === 'Retry') {
        outcome = 'nack';
        delay = e.delay;
      } else {
        outcome = 'nack';
        delay = opts.nackDelay;
      }
    } finally {
      if (keeper) clearInterval(keeper);
    }
    if (msg.settled) return; // the handler settled it itself
    try {
      if (outcome === 'ack') {
        await msg.ack();
        stats.acked += 1;
      } else if (outcome === 'reject') {
        await msg.reject({ reason });
        stats.rejected += 1;
      } else {
        await msg.nack({ reason, delay });
        stats.nacked += 1;
      }
      try {
        opts.onSettled?.(msg, outcome);
      } catch {
        // a hook's failure is not the message's
      }
    } catch (e) {
      stats.errors += 1;
      this.#report(e, { op: outcome, queueId: msg.queueId, messageId: msg.id });
    }
  }

  // ---- plumbing ------------------------------------------------------------

  #headers(extra = {}) {
    /** @type {Record<string, string>} */
    const h = { 'user-agent': this.#userAgent, ...extra };
    if (this.#token) h.authorization = `Bearer ${this.#token}`;
    return h;
  }

  #report(err, info) {
    if (!this.#onError) return;
    try {
      this.#onError(err, info);
    } catch {
      // never let a logging hook break consumption
    }
  }

  async #readIdle(reader) {
    if (!(this.#idleTimeout > 0)) return reader.read();
    let timer;
    const idle = new Promise((_, reject) => {
      timer = setTimeout(
        () => reject(new Unavailable(`stream: nothing received for ${this.#idleTimeout} ms (not even a keep-alive)`)),
        this.#idleTimeout,
      );
    });
    try {
      return await Promise.race([reader.read(), idle]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** One API call with a bearer token, a timeout and typed errors; `read` consumes the body. */
  async #call(method, path, o, read) {
    const url = `${this.#base}${path}${queryString(o.query ?? {})}`;
    const link = linkedController(o.signal, this.#closed.signal);
    const timeoutMs = o.timeoutMs ?? this.#requestTimeout;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      link.ctrl.abort();
    }, timeoutMs);
    try {
      const init = { method, headers: this.#headers({ accept: 'application/json, */*' }), signal: link.signal };
      if (o.json !== undefined) {
        init.headers['content-type'] = 'application/json';
        init.body = JSON.stringify(o.json);
      }
      let res;
      try {
        res = await this.#fetch(url, init);
        if (!res.ok) throw await errorFromResponse(res, { what: o.what });
        return await read(res);
      } catch (e) {
        if (e instanceof HookbayError) throw e;
        if (timedOut) {
          throw new Unavailable(`${o.what}: no answer within ${timeoutMs} ms`, { status: 0, url: stripToken(url), cause: e });
        }
        if (o.signal?.aborted) throw abortError(o.signal);
        if (this.#closed.signal.aborted) throw abortError(this.#closed.signal);
        if (e instanceof SyntaxError) {
          throw new HookbayError(`${o.what}: malformed response (${e.message})`, { status: res?.status ?? 0, url: stripToken(url), cause: e });
        }
        throw networkError(e, url, o.what);
      }
    } finally {
      clearTimeout(timer);
      link.unlink();
    }
  }

  /** POST a lease capability URL (no bearer token); used by Message. Returns the JSON answer of extend. */
  async _settleCall(url, body, op) {
    for (let attempt = 0; ; attempt++) {
      const ctrl = new AbortController();
      const timer = setTimeout(() => ctrl.abort(), this.#requestTimeout);
      let err;
      try {
        const init = { method: 'POST', headers: { 'user-agent': this.#userAgent }, signal: ctrl.signal };
        if (body !== undefined) {
          init.headers['content-type'] = 'application/json';
          init.body = JSON.stringify(body);
        }
        let res;
        try {
          res = await this.#fetch(url, init);
        } catch (e) {
          // refused: the request never reached the relay, so trying again is safe
          const refused = (e?.cause?.code ?? e?.code) === 'ECONNREFUSED';
          err = ctrl.signal.aborted
            ? new Unavailable(`${op}: no answer within ${this.#requestTimeout} ms`, { status: 0, url: stripToken(url), cause: e })
            : networkError(e, url, op);
          if (!refused) throw err;
        }
        if (res) {
          if (res.ok) {
            if (op !== 'extend') {
              await res.body?.cancel().catch(() => {});
              return null;
            }
            try {
              return await res.json();
            } catch {
              return null; // settled all the same; the new expiry is just unknown
            }
          }
          err = await errorFromResponse(res, { settle: true, what: op });
          if (!(err instanceof Unavailable || err instanceof RateLimited)) throw err;
        }
      } finally {
        clearTimeout(timer);
      }
      if (attempt >= this.#settleRetries) throw err;
      await sleep(backoffDelay(this.#backoff, attempt, err.retryAfter));
    }
  }
}
