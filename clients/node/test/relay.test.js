// Integration tests against a real relay (embedded store), each test on its
// own tenant and queue.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  Consumer,
  Reject,
  Retry,
  HookbayError,
  AuthError,
  NotFound,
  LeaseExpired,
  InvalidRequest,
} from '../src/index.js';
import { Relay } from './helpers/relay.js';

const T = { timeout: 60_000 };
let relay;

function consumer(t, extra = {}) {
  const errors = [];
  const c = new Consumer({ url: relay.url, token: t.token, onError: (e) => errors.push(e), ...extra });
  c.errors = errors;
  return c;
}

before(async () => {
  relay = await Relay.start();
});

after(async () => {
  await relay?.stop();
});

describe('stream', () => {
  test('receives a message with its meta, payload and headers, and acks it', T, async () => {
    const t = await relay.provision({}, { eventType: { header: 'x-event' } });
    const id = await t.deliver(JSON.stringify({ hello: 'wörld' }), 'application/json', { 'x-event': 'order.paid', 'x-custom': 'v' });
    const c = consumer(t);
    let seen = null;
    for await (const msg of c.stream(t.queueId, { prefetch: 10 })) {
      seen = msg;
      await msg.ack();
      break;
    }
    assert.ok(seen);
    assert.equal(seen.id, id);
    assert.equal(seen.queueId, t.queueId);
    assert.equal(seen.attempt, 1);
    assert.equal(seen.redelivered, false);
    assert.equal(seen.eventType, 'order.paid');
    assert.equal(seen.contentType, 'application/json');
    assert.equal(seen.encoding, 'utf8');
    assert.equal(seen.headers['x-custom'], 'v');
    assert.equal(seen.method, 'POST');
    assert.deepEqual(seen.json(), { hello: 'wörld' });
    assert.deepEqual(seen.payload, new TextEncoder().encode('{"hello":"wörld"}'));
    assert.equal(seen.settled, 'ack');
    const { counts } = await t.queue();
    assert.deepEqual([counts.ready, counts.leased, counts.delayed, counts.dead], [0, 0, 0, 0]);
    assert.deepEqual(c.errors, []);
  });

  test('ends when the relay sends event: close (queue deleted)', T, async () => {
    const t = await relay.provision();
    const c = consumer(t);
    let connected;
    const up = new Promise((r) => (connected = r));
    const got = [];
    const done = (async () => {
      for await (const msg of c.stream(t.queueId, { onConnect: connected })) got.push(msg);
    })();
    await up;
    await t.deleteQueue();
    await done; // the iteration ended by itself instead of reconnecting forever
    assert.deepEqual(got, []);
    assert.equal(c.errors.length, 1);
    assert.match(c.errors[0].message, /closed by the relay \(queue deleted\)/);
  });

  test('ends when the token is revoked, and run() returns', T, async () => {
    const t = await relay.provision();
    const minted = await t.mintToken(['consume']);
    const c = consumer({ token: minted.token });
    let connected;
    const up = new Promise((r) => (connected = r));
    const running = c.run(t.queueId, () => assert.fail('no message expected'), { onConnect: connected });
    await up;
    await t.revokeToken(minted.id);
    assert.deepEqual(await running, { acked: 0, nacked: 0, rejected: 0, errors: 0 });
    assert.match(c.errors[0].message, /closed by the relay \(token revoked or expired\)/);
    await assert.rejects(c.next(t.queueId), AuthError); // and the token is dead for good
  });
});

describe('poll and next', () => {
  test('poll yields messages in order', T, async () => {
    const t = await relay.provision();
    const ids = [await t.deliver('one', 'text/plain'), await t.deliver('two', 'text/plain')];
    const c = consumer(t);
    const got = [];
    for await (const msg of c.poll(t.queueId, { wait: 5 })) {
      got.push([msg.id, msg.text(), msg.contentType]);
      await msg.ack();
      if (got.length === 2) break;
    }
    assert.deepEqual(got, [
      [ids[0], 'one', 'text/plain'],
      [ids[1], 'two', 'text/plain'],
    ]);
    assert.equal((await t.queue()).counts.ready, 0);
  });

  test('next returns null when the queue is empty', T, async () => {
    const t = await relay.provision();
    const c = consumer(t);
    assert.equal(await c.next(t.queueId), null);
    assert.equal(await c.next(t.queueId, { wait: 0.2 }), null);
  });

  test('next returns one message; a provider without Content-Type gives contentType null', T, async () => {
    const t = await relay.provision();
    const res = await fetch(t.ingestUrl, { method: 'POST', body: new Uint8Array([1, 2, 3]) });
    assert.equal(res.status, 202);
    const { id } = await res.json();
    const c = consumer(t);
    const msg = await c.next(t.queueId, { wait: 5 });
    assert.equal(msg.id, id);
    assert.deepEqual(msg.payload, new Uint8Array([1, 2, 3]));
    assert.equal(msg.encoding, 'raw');
    await msg.ack();
    assert.equal(await c.next(t.queueId), null);
  });
});

describe('settling', () => {
  test('nack redelivers with attempt 2 and keeps the reason in the history', T, async () => {
    const t = await relay.provision();
    const id = await t.deliver('{"n":1}');
    const c = consumer(t);
    const attempts = [];
    for await (const msg of c.stream(t.queueId)) {
      assert.equal(msg.id, id);
      attempts.push(msg.attempt);
      if (msg.attempt === 1) {
        assert.equal(msg.redelivered, false);
        await msg.nack({ reason: 'db down', delay: 0 });
      } else {
        assert.equal(msg.redelivered, true);
        await msg.ack();
        break;
      }
    }
    assert.deepEqual(attempts, [1, 2]);
    const stored = await t.message(id);
    const history = stored.deliveries.find((d) => d.queueId === t.queueId).history;
    assert.deepEqual(
      history.map((h) => [h.attempt, h.outcome, h.reason ?? '']),
      [
        [1, 'nack', 'db down'],
        [2, 'ack', ''],
      ],
    );
  });

  test('reject dead-letters the message', T, async () => {
    const t = await relay.provision();
    const id = await t.deliver('{"bad":true}');
    const c = consumer(t);
    const msg = await c.next(t.queueId, { wait: 5 });
    await msg.reject({ reason: 'unparseable' });
    assert.equal(msg.settled, 'reject');
    const { counts } = await t.queue();
    assert.equal(counts.dead, 1);
    assert.equal(counts.ready, 0);
    const dead = await relay.api('GET', `/v1/queues/${t.queueId}/dead-letters`, { token: t.token });
    assert.deepEqual(
      dead.items.map((d) => [d.messageId, d.reason]),
      [[id, 'unparseable']],
    );
  });

  test('extend moves leaseExpiresAt forward, and the lease is still ours', T, async () => {
    const t = await relay.provision();
    await t.deliver('{}');
    const c = consumer(t);
    const msg = await c.next(t.queueId, { wait: 5, lease: 30 });
    const before = msg.leaseExpiresAt;
    const at = await msg.extend(3600);
    assert.equal(typeof at, 'string');
    assert.ok(Date.parse(at) > Date.parse(before), `${at} after ${before}`);
    assert.equal(msg.leaseExpiresAt, at);
    await msg.ack();
    assert.equal((await t.queue()).counts.leased, 0);
  });

  test('a stale lease answers 409 → LeaseExpired (ack twice)', T, async () => {
    const t = await relay.provision();
    await t.deliver('{}');
    const c = consumer(t);
    const msg = await c.next(t.queueId, { wait: 5 });
    await msg.ack();
    const err = await msg.ack().then(
      () => null,
      (e) => e,
    );
    assert.ok(err instanceof LeaseExpired, `got ${err}`);
    assert.ok(err instanceof HookbayError);
    assert.equal(err.status, 409);
    assert.equal(typeof err.detail, 'string');
    assert.ok(err.detail.length > 0);
    // the same for nack and extend on that lease
    await assert.rejects(msg.nack({ reason: 'x' }), LeaseExpired);
    await assert.rejects(msg.extend(10), LeaseExpired);
  });
});

describe('bytes', () => {
  test('a non-UTF-8 payload keeps its exact bytes: base64 over SSE, raw over /next', T, async () => {
    const t = await relay.provision();
    const viaNext = await t.addQueue(); // fan-out: the same message on a second queue
    const raw = new Uint8Array([0xff, 0x00, 0xfe]);
    const id = await t.deliver(raw, 'application/octet-stream');
    const c = consumer(t);
    for await (const msg of c.stream(t.queueId)) {
      assert.equal(msg.id, id);
      assert.equal(msg.encoding, 'base64');
      assert.deepEqual(msg.payload, raw);
      assert.equal(msg.contentType, 'application/octet-stream');
      await msg.ack();
      break;
    }
    const msg = await c.next(viaNext, { wait: 5 });
    assert.equal(msg.id, id);
    assert.equal(msg.encoding, 'raw');
    assert.deepEqual(msg.payload, raw);
    assert.equal(msg.contentType, 'application/octet-stream');
    await msg.ack();
  });

  test('multi-byte UTF-8 text arrives intact over SSE and /next', T, async () => {
    const t = await relay.provision();
    const viaNext = await t.addQueue();
    const text = '😀 ünïcödé ✓ '.repeat(200);
    await t.deliver(text, 'text/plain; charset=utf-8');
    const c = consumer(t);
    for await (const msg of c.stream(t.queueId)) {
      assert.equal(msg.text(), text);
      await msg.ack();
      break;
    }
    const msg = await c.next(viaNext, { wait: 5 });
    assert.equal(msg.text(), text);
    await msg.ack();
  });
});

describe('run', () => {
  test('handler outcomes: resolve → ack, Reject → reject, Retry → nack with delay, error → nack with its message', T, async () => {
    const t = await relay.provision({ backoff: { initialSeconds: 0.05, multiplier: 2, maxSeconds: 1 } });
    const ids = {};
    for (const what of ['ok', 'reject', 'retry', 'fail']) ids[what] = await t.deliver(JSON.stringify({ what }));
    const c = consumer(t);
    const ac = new AbortController();
    const seen = [];
    const settled = [];
    const pending = new Set(['retry', 'fail']);
    const stats = await c.run(
      t.queueId,
      async (msg) => {
        const { what } = msg.json();
        seen.push(`${what}#${msg.attempt}`);
        if (what === 'reject') throw new Reject('bad payload');
        if (msg.attempt === 1 && what === 'retry') throw new Retry('not yet', { delay: 0 });
        if (msg.attempt === 1 && what === 'fail') throw new Error('boom');
        if (msg.attempt === 2) pending.delete(what);
        if (pending.size === 0) ac.abort(); // everything seen: stop after this one settles
      },
      { signal: ac.signal, onSettled: (msg, outcome) => settled.push([msg.json().what, outcome]) },
    );
    assert.deepEqual(stats, { acked: 3, nacked: 2, rejected: 1, errors: 0 });
    assert.deepEqual(seen.slice(0, 4), ['ok#1', 'reject#1', 'retry#1', 'fail#1']);
    assert.deepEqual(new Set(seen.slice(4)), new Set(['retry#2', 'fail#2']));
    assert.equal(settled.length, 6);
    const { counts } = await t.queue();
    assert.deepEqual([counts.ready, counts.delayed, counts.leased, counts.dead], [0, 0, 0, 1]);
    const reasons = async (id) =>
      (await t.message(id)).deliveries[0].history.map((h) => `${h.outcome}:${h.reason ?? ''}`);
    assert.deepEqual(await reasons(ids.fail), ['nack:boom', 'ack:']);
    assert.deepEqual(await reasons(ids.retry), ['nack:not yet', 'ack:']);
    assert.deepEqual(await reasons(ids.reject), ['reject:bad payload']);
    assert.deepEqual(await reasons(ids.ok), ['ack:']);
  });

  test('poll mode, with concurrency', T, async () => {
    const t = await relay.provision();
    for (let i = 0; i < 5; i++) await t.deliver(JSON.stringify({ i }));
    const c = consumer(t);
    const ac = new AbortController();
    const got = new Set();
    const stats = await c.run(
      t.queueId,
      async (msg) => {
        got.add(msg.json().i);
        if (got.size === 5) ac.abort();
      },
      { mode: 'poll', wait: 2, concurrency: 2, signal: ac.signal },
    );
    assert.equal(stats.acked, 5);
    assert.equal(got.size, 5);
    const { counts } = await t.queue();
    assert.deepEqual([counts.ready, counts.leased], [0, 0]);
  });

  test('a handler that settles the message itself is left alone', T, async () => {
    const t = await relay.provision();
    await t.deliver('{}');
    const c = consumer(t);
    const ac = new AbortController();
    const stats = await c.run(
      t.queueId,
      async (msg) => {
        await msg.reject({ reason: 'handled by hand' });
        ac.abort();
      },
      { signal: ac.signal },
    );
    assert.deepEqual(stats, { acked: 0, nacked: 0, rejected: 0, errors: 0 });
    assert.deepEqual(c.errors, []);
    assert.equal((await t.queue()).counts.dead, 1);
  });
});

describe('batch', () => {
  test('lease + settle: ack, nack and reject in one call, results in order, a stale item is a 409', T, async () => {
    const t = await relay.provision();
    const ids = [];
    for (const n of [0, 1, 2]) ids.push(await t.deliver(JSON.stringify({ n })));
    const c = consumer(t);
    const msgs = await c.lease(t.queueId, { max: 10, wait: 5, lease: 60 });
    assert.deepEqual(
      msgs.map((m) => m.id),
      ids,
    );
    assert.deepEqual(
      msgs.map((m) => m.json().n),
      [0, 1, 2],
    );
    const results = await c.settle([
      { message: msgs[0], outcome: 'ack' },
      { message: msgs[1], outcome: 'nack', reason: 'later', delay: 0 },
      { message: msgs[2], outcome: 'reject', reason: 'never' },
    ]);
    assert.deepEqual(
      results.map((r) => [r.status, r.ok, r.error]),
      [
        [204, true, null],
        [204, true, null],
        [204, true, null],
      ],
    );
    assert.deepEqual(
      msgs.map((m) => m.settled),
      ['ack', 'nack', 'reject'],
    );
    const again = await c.settle(t.queueId, [{ token: msgs[0].leaseToken, outcome: 'ack' }]);
    assert.equal(again[0].status, 409);
    assert.ok(again[0].error instanceof LeaseExpired);
    const redelivered = await c.lease(t.queueId, { max: 10, wait: 5 });
    assert.deepEqual(
      redelivered.map((m) => [m.id, m.attempt]),
      [[ids[1], 2]],
    );
    await c.settle([redelivered[0]]); // a bare Message means ack
    const { counts } = await t.queue();
    assert.deepEqual([counts.ready, counts.leased, counts.dead], [0, 0, 1]);
  });

  test('lease on an empty queue answers an empty list', T, async () => {
    const t = await relay.provision();
    assert.deepEqual(await consumer(t).lease(t.queueId, { max: 5 }), []);
  });
});

describe('typed errors', () => {
  test('a bad token is an AuthError, everywhere, without retrying', T, async () => {
    const t = await relay.provision();
    const c = consumer({ token: 'not-a-token' });
    for (const call of [
      () => c.next(t.queueId),
      () => c.lease(t.queueId),
      () => c.settle(t.queueId, [{ token: 'x', outcome: 'ack' }]),
      async () => {
        for await (const _ of c.stream(t.queueId)) assert.fail('no message expected');
      },
      async () => {
        for await (const _ of c.poll(t.queueId)) assert.fail('no message expected');
      },
      () => c.run(t.queueId, () => {}),
    ]) {
      const err = await call().then(
        () => null,
        (e) => e,
      );
      assert.ok(err instanceof AuthError, `got ${err}`);
      assert.equal(err.status, 401);
      assert.equal(typeof err.detail, 'string');
    }
    assert.deepEqual(c.errors, []); // nothing was retried
  });

  test('an unknown queue is NotFound; a malformed request is InvalidRequest', T, async () => {
    const t = await relay.provision();
    const c = consumer(t);
    await assert.rejects(c.next('q_doesnotexist'), (e) => e instanceof NotFound && e.status === 404 && e.code === 'not_found');
    await assert.rejects(async () => {
      for await (const _ of c.stream('q_doesnotexist')) assert.fail('no message expected');
    }, NotFound);
    await assert.rejects(
      c.lease(t.queueId, { max: 1000 }),
      (e) => e instanceof InvalidRequest && e.status === 400 && /max/.test(e.detail),
    );
    await assert.rejects(async () => {
      for await (const _ of c.stream(t.queueId, { prefetch: 100000 })) assert.fail('no message expected');
    }, InvalidRequest);
  });

  test("another tenant's queue is NotFound too", T, async () => {
    const a = await relay.provision();
    const b = await relay.provision();
    await a.deliver('{}');
    await assert.rejects(consumer(b).next(a.queueId), NotFound);
  });
});
