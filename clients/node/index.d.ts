// Type declarations of the hookbay Node.js client.

export const VERSION: string;

/** Capped exponential backoff with jitter (milliseconds). */
export interface BackoffOptions {
  /** First delay, ms. Default 500. */
  initial?: number;
  /** Cap, ms. Default 30000. */
  max?: number;
  /** Growth per consecutive failure. Default 2. */
  factor?: number;
  /** Fraction of the delay that is randomised (0..1). Default 0.5. */
  jitter?: number;
}

export interface ErrorInfo {
  /** What failed: 'stream', 'poll', 'ack', 'nack', 'reject', 'extend'. */
  op: string;
  queueId?: string | null;
  messageId?: string | null;
  /** Consecutive failures so far (stream/poll reconnects). */
  attempt?: number;
  /** When the call will be tried again (stream/poll reconnects). */
  retryInMs?: number;
  /** The relay ended the stream for good (`event: close`: queue deleted, token revoked); no retry follows. */
  closed?: boolean;
}

export interface ConsumerOptions {
  /** Base URL of the relay, e.g. https://hooks.example.com */
  url: string | URL;
  /** Tenant token with the `consume` scope. */
  token?: string;
  /** Reconnect/retry backoff for stream(), poll() and settlement calls. */
  backoff?: BackoffOptions;
  /** Timeout of one API call, ms (added to `wait` for long polls). Default 30000. */
  requestTimeout?: number;
  /** A stream with no bytes (not even a keep-alive) for this long, ms, is reconnected. Default 45000; 0 disables. */
  idleTimeout?: number;
  /** Retries of an ack/nack/reject/extend on 503, 429 or a refused connection. Default 3. */
  settleRetries?: number;
  /** Called for each retried failure and each failed settlement in run(). Default: console.warn; null: silent. */
  onError?: ((err: unknown, info: ErrorInfo) => void) | null;
  /** A fetch implementation (default: the global fetch). */
  fetch?: typeof fetch;
  userAgent?: string;
}

export interface NextOptions {
  /** Long-poll wait, seconds (0..30). Default 0 for next(), 20 for poll(). */
  wait?: number;
  /** Lease length, seconds. Default: the queue's leaseSeconds. */
  lease?: number;
  signal?: AbortSignal;
}

export interface PollOptions extends NextOptions {
  /** Pause between empty answers when wait is 0, ms. Default 1000. */
  idleDelay?: number;
}

export interface StreamOptions {
  /** Most unsettled messages leased to this stream (1..1000). Default 10 (relay default). */
  prefetch?: number;
  /** Lease length, seconds. Default: the queue's leaseSeconds. */
  lease?: number;
  /** Aborting ends the iteration and closes the connection. */
  signal?: AbortSignal;
  /** Called each time the stream (re)connects. */
  onConnect?: (info: { queueId: string; reconnect: boolean }) => void;
}

export interface LeaseOptions {
  /** 1..100. Default 10. */
  max?: number;
  /** Seconds to wait for the first message (0..30). Default 0. */
  wait?: number;
  /** Lease length, seconds. Default: the queue's. */
  lease?: number;
  signal?: AbortSignal;
}

export type Outcome = 'ack' | 'nack' | 'reject';

export interface RunOptions {
  /** Default 'stream'. */
  mode?: 'stream' | 'poll';
  /** Handlers running at once. Default 1. */
  concurrency?: number;
  /** stream mode. Default 10, or `concurrency` when larger. */
  prefetch?: number;
  /** poll mode: long-poll wait, seconds. Default 20. */
  wait?: number;
  /** Lease length, seconds. */
  lease?: number;
  /** Aborting stops taking messages; in-flight handlers finish and settle, then run() resolves. */
  signal?: AbortSignal;
  /** While a handler runs, extend its lease to this many seconds every half of it. */
  extendLease?: number;
  /** Redelivery delay (seconds) for a handler's plain error. Default: the queue's backoff. */
  nackDelay?: number;
  onConnect?: StreamOptions['onConnect'];
  /** Called after each settlement run() made. */
  onSettled?: (msg: Message, outcome: Outcome) => void;
}

export interface RunStats {
  acked: number;
  nacked: number;
  rejected: number;
  /** Settlements that failed (e.g. LeaseExpired); each was reported to onError. */
  errors: number;
}

export type SettleItem =
  | Message
  | { message: Message; outcome: Outcome; reason?: string; delay?: number; delaySeconds?: number }
  | { token: string; queueId?: string; outcome: Outcome; reason?: string; delay?: number; delaySeconds?: number };

export interface SettleResult {
  /** 204 settled; 409 lease expired or superseded; 404 unknown lease on this queue; 401 not a lease token. */
  status: number;
  detail: string | null;
  ok: boolean;
  /** The typed error of a failed item (LeaseExpired for 409), else null. */
  error: HookbayError | null;
  message: Message | null;
}

/** The delivery meta as the relay sends it (camelCase). Every field may be absent on an unexpected relay. */
export interface Meta {
  messageId?: string;
  queueId?: string;
  sourceId?: string;
  receivedAt?: string;
  attempt?: number;
  maxAttempts?: number;
  leaseExpiresAt?: string;
  ackUrl?: string;
  nackUrl?: string;
  rejectUrl?: string;
  extendUrl?: string;
  method?: string;
  path?: string;
  query?: string;
  headers?: Record<string, string>;
  contentType?: string | null;
  eventType?: string | null;
  verified?: boolean;
  verification?: string;
  redelivered?: boolean;
  replayed?: boolean;
  [key: string]: unknown;
}

export interface QueueView {
  id: string;
  name: string;
  sourceId: string;
  leaseSeconds: number;
  maxAttempts: number;
  counts?: { ready: number; delayed: number; leased: number; dead: number; oldestReadyAgeSeconds: number };
  [key: string]: unknown;
}

export class Message {
  /** The message id (msg_…), or null when the meta lacks it. */
  readonly id: string | null;
  /** The exact body bytes. */
  readonly payload: Uint8Array;
  readonly meta: Meta;
  /** Original Content-Type, or null when the provider sent none. */
  readonly contentType: string | null;
  /** How the payload travelled: 'utf8'/'base64' (stream, lease) or 'raw' (/next). */
  readonly encoding: 'utf8' | 'base64' | 'raw';
  readonly queueId: string | null;
  readonly sourceId: string | null;
  /** 1-based attempt of this delivery. */
  readonly attempt: number | null;
  readonly maxAttempts: number | null;
  readonly eventType: string | null;
  /** Original request headers, lower-case names. */
  readonly headers: Record<string, string>;
  readonly method: string | null;
  readonly path: string | null;
  readonly query: string | null;
  readonly receivedAt: string | null;
  /** RFC 3339; updated by extend(). */
  leaseExpiresAt: string | null;
  readonly redelivered: boolean;
  readonly replayed: boolean;
  /** Set once this client settled the lease. */
  settled: Outcome | null;
  /** The lease token carried by the meta's URLs. */
  readonly leaseToken: string | null;

  /** The payload as UTF-8 text. */
  text(): string;
  /** The payload parsed as JSON. */
  json<T = unknown>(): T;
  /** POST ackUrl. LeaseExpired (409) when the lease is no longer yours. */
  ack(): Promise<void>;
  /** POST nackUrl: redeliver after `delay` seconds, or the queue's backoff. */
  nack(opts?: { reason?: string; delay?: number }): Promise<void>;
  /** POST rejectUrl: straight to the dead letters. */
  reject(opts?: { reason?: string }): Promise<void>;
  /** POST extendUrl: the lease now ends `seconds` from now; resolves with the new leaseExpiresAt. */
  extend(seconds: number): Promise<string | null>;
  toJSON(): object;
}

export class Consumer {
  constructor(options: ConsumerOptions);
  readonly url: string;
  readonly closed: boolean;
  /** Ends every stream(), poll() and run() of this consumer. */
  close(): void;
  /** One message (GET /next), or null when none arrived within `wait`. */
  next(queueId: string, opts?: NextOptions): Promise<Message | null>;
  /** GET /next long polls, forever; retries transient failures with backoff. */
  poll(queueId: string, opts?: PollOptions): AsyncGenerator<Message, void, undefined>;
  /** SSE, forever; reconnects with backoff; ends on `event: close`, break or the signal. */
  stream(queueId: string, opts?: StreamOptions): AsyncGenerator<Message, void, undefined>;
  /** Handler resolves → ack; throws Reject → reject; throws Retry → nack with its delay; throws else → nack. */
  run(queueId: string, handler: (msg: Message) => unknown, opts?: RunOptions): Promise<RunStats>;
  /** POST /v1/queues/{id}/lease. */
  lease(queueId: string, opts?: LeaseOptions): Promise<Message[]>;
  /** POST /v1/queues/{id}/settle (grouped per queue, 100 a call); results in the items' order. */
  settle(items: SettleItem[], opts?: { signal?: AbortSignal }): Promise<SettleResult[]>;
  settle(queueId: string, items: SettleItem[], opts?: { signal?: AbortSignal }): Promise<SettleResult[]>;
  /** GET /v1/queues/{id}: policy and counts (scope read or manage). */
  getQueue(queueId: string, opts?: { signal?: AbortSignal }): Promise<QueueView>;
}

export class HookbayError extends Error {
  /** HTTP status; 0 when no response arrived (or the client refused the call itself). */
  readonly status: number;
  /** The problem+json `detail`. */
  readonly detail: string | null;
  /** The problem+json `code` (e.g. not_found). */
  readonly code: string | null;
  readonly type: string | null;
  readonly title: string | null;
  readonly body: unknown;
  /** The URL called, tokens masked. */
  readonly url: string | null;
  /** Seconds, from Retry-After. */
  readonly retryAfter: number | null;
  /** Whether the same call may succeed later (network, 408, 429, 5xx). */
  readonly retryable: boolean;
}
/** 401 or 403. */
export class AuthError extends HookbayError {}
/** 404. */
export class NotFound extends HookbayError {}
/** 409 on an ack/nack/reject/extend URL or a settle item. */
export class LeaseExpired extends HookbayError {}
/** 503 or a network failure (status 0). */
export class Unavailable extends HookbayError {}
/** 429. */
export class RateLimited extends HookbayError {}
/** 400. */
export class InvalidRequest extends HookbayError {}

/** Throw from a run() handler to dead-letter the message. */
export class Reject extends Error {
  constructor(reason?: string, options?: { cause?: unknown });
}
/** Throw from a run() handler to nack with an explicit delay (seconds). */
export class Retry extends Error {
  constructor(reason?: string, options?: { delay?: number; cause?: unknown });
  readonly delay: number | undefined;
}

export interface SseEvent {
  /** "message" when the stream named no type. */
  event: string;
  /** Data lines joined with "\n". */
  data: string;
  /** The last event id seen on the stream. */
  id: string;
  /** The last `retry:` value, ms. */
  retry: number | null;
}

/** Byte-safe incremental text/event-stream parser. */
export class SseParser {
  lastEventId: string;
  retry: number | null;
  /** Feed a chunk of bytes; returns the events it completed. */
  push(chunk: Uint8Array): SseEvent[];
  /** The stream ended; an unterminated event is discarded. */
  end(): SseEvent[];
}

export function parseEventStream(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<SseEvent, void, undefined>;

/** The delay (ms) before retry number `attempt` (0-based). */
export function backoffDelay(
  cfg: Required<BackoffOptions>,
  attempt: number,
  retryAfterSeconds?: number | null,
  random?: () => number,
): number;
