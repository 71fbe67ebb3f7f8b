// One delivered message and its lease: payload bytes, meta, and the
// ack/nack/reject/extend capability calls.

import { InvalidRequest } from './errors.js';
import { decodeBase64, encodeUtf8, truncateUtf8 } from './util.js';

const text = new TextDecoder('utf-8', { ignoreBOM: true });

const str = (v) => (typeof v === 'string' ? v : null);
const obj = (v) => (v && typeof v === 'object' && !Array.isArray(v) ? v : {});

export class Message {
  /**
   * @param {object} client the Consumer (for its fetch and retry settings)
   * @param {{payload: Uint8Array, meta?: any, id?: string|null, contentType?: string|null, encoding?: 'utf8'|'base64'|'raw'}} init
   */
  constructor(client, init) {
    Object.defineProperty(this, '_client', { value: client, enumerable: false });
    const meta = obj(init.meta);
    /** @type {Record<string, any>} the delivery meta, as the relay sent it */
    this.meta = meta;
    /** @type {string|null} */
    this.id = str(meta.messageId) ?? str(init.id);
    /** @type {Uint8Array} the exact body bytes */
    this.payload = init.payload instanceof Uint8Array ? init.payload : new Uint8Array(0);
    /** @type {string|null} the original Content-Type, or null when the provider sent none */
    this.contentType =
      init.contentType !== undefined ? str(init.contentType) : 'contentType' in meta ? str(meta.contentType) : null;
    /** @type {'utf8'|'base64'|'raw'} how the payload travelled */
    this.encoding = init.encoding ?? 'raw';
    this.queueId = str(meta.queueId);
    this.sourceId = str(meta.sourceId);
    this.attempt = Number.isFinite(meta.attempt) ? meta.attempt : null;
    this.maxAttempts = Number.isFinite(meta.maxAttempts) ? meta.maxAttempts : null;
    this.eventType = str(meta.eventType);
    /** @type {Record<string, string>} original request headers, lower-case names */
    this.headers = obj(meta.headers);
    this.method = str(meta.method);
    this.path = str(meta.path);
    this.query = str(meta.query);
    this.receivedAt = str(meta.receivedAt);
    /** @type {string|null} RFC 3339; updated by extend() */
    this.leaseExpiresAt = str(meta.leaseExpiresAt);
    this.redelivered = meta.redelivered === true;
    this.replayed = meta.replayed === true;
    /** @type {null|'ack'|'nack'|'reject'} set once this client settled the lease */
    this.settled = null;
  }

  /** Build from the data of an SSE `message` event or a `/lease` item. */
  static fromData(client, data) {
    const d = obj(data);
    const encoding = d.encoding === 'base64' ? 'base64' : 'utf8';
    const raw = typeof d.payload === 'string' ? d.payload : '';
    const payload = encoding === 'base64' ? decodeBase64(raw) : encodeUtf8(raw);
    return new Message(client, {
      payload,
      encoding,
      meta: d.meta,
      contentType: 'contentType' in d ? d.contentType : undefined,
    });
  }

  /** The payload decoded as UTF-8 (invalid bytes become U+FFFD). */
  text() {
    return text.decode(this.payload);
  }

  /** The payload parsed as JSON (a SyntaxError when it is not JSON). */
  json() {
    let s = this.text();
    if (s.charCodeAt(0) === 0xfeff) s = s.slice(1);
    return JSON.parse(s);
  }

  /** The lease token (the `token` parameter of the meta's URLs), or null. */
  get leaseToken() {
    for (const k of ['ackUrl', 'nackUrl', 'rejectUrl', 'extendUrl']) {
      const u = str(this.meta[k]);
      if (!u) continue;
      try {
        const t = new URL(u).searchParams.get('token');
        if (t) return t;
      } catch {
        // not a URL: try the next one
      }
    }
    return null;
  }

  /** Done: never delivered again on this queue. */
  async ack() {
    await this._post('ack', undefined);
    this.settled = 'ack';
  }

  /**
   * Redeliver after `delay` seconds, or the queue's backoff for this attempt.
   * @param {{reason?: string, delay?: number, delaySeconds?: number}} [opts]
   */
  async nack(opts = {}) {
    const body = {};
    if (opts.reason != null) body.reason = truncateUtf8(String(opts.reason));
    const delay = opts.delay ?? opts.delaySeconds;
    if (delay != null) body.delaySeconds = delay;
    await this._post('nack', body);
    this.settled = 'nack';
  }

  /**
   * Straight to the queue's dead letters.
   * @param {{reason?: string}} [opts]
   */
  async reject(opts = {}) {
    const body = {};
    if (opts.reason != null) body.reason = truncateUtf8(String(opts.reason));
    await this._post('reject', body);
    this.settled = 'reject';
  }

  /**
   * Extend the lease to `seconds` from now; returns the new leaseExpiresAt.
   * @param {number} seconds
   * @returns {Promise<string>}
   */
  async extend(seconds) {
    const out = await this._post('extend', { seconds });
    const at = str(out?.leaseExpiresAt);
    if (at) this.leaseExpiresAt = at;
    return at;
  }

  async _post(op, body) {
    const url = str(this.meta[`${op}Url`]);
    if (!url) {
      throw new InvalidRequest(`message ${this.id ?? '(no id)'} has no ${op}Url in its meta`, {
        status: 0,
        detail: `missing meta.${op}Url`,
      });
    }
    return /** @type {any} */ (this)._client._settleCall(url, body, op);
  }

  toJSON() {
    return {
      id: this.id,
      contentType: this.contentType,
      encoding: this.encoding,
      size: this.payload.length,
      attempt: this.attempt,
      eventType: this.eventType,
      receivedAt: this.receivedAt,
      settled: this.settled,
    };
  }
}
