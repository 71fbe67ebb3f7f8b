// The stream survives a relay restart: kill the process, start it again on
// the same port and data dir, and the same iteration keeps delivering.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Consumer, Unavailable } from '../src/index.js';
import { Relay } from './helpers/relay.js';

let relay;
before(async () => {
  relay = await Relay.start();
});
after(async () => {
  await relay?.stop();
});

test('stream reconnects after the relay restarts and keeps delivering', { timeout: 90_000 }, async () => {
  const t = await relay.provision();
  const errors = [];
  const connects = [];
  const c = new Consumer({
    url: relay.url,
    token: t.token,
    backoff: { initial: 20, max: 250 },
    onError: (e, info) => errors.push([e, info]),
  });
  const first = await t.deliver('{"n":1}');
  const it = c.stream(t.queueId, { onConnect: (info) => connects.push(info.reconnect) })[Symbol.asyncIterator]();

  const a = await it.next();
  assert.equal(a.value.id, first);
  await a.value.ack();

  // the iterator is now waiting on the open connection when the relay dies
  const pending = it.next();
  await relay.restart();
  const second = await t.deliver('{"n":2}');
  const b = await pending;
  assert.equal(b.done, false);
  assert.equal(b.value.id, second);
  assert.equal(b.value.attempt, 1);
  assert.deepEqual(b.value.json(), { n: 2 });
  await b.value.ack();

  // one more, on the new connection, without any reconnect in between
  const third = await t.deliver('{"n":3}');
  const d = await it.next();
  assert.equal(d.value.id, third);
  await d.value.ack();
  await it.return();

  assert.equal(connects[0], false);
  assert.ok(connects.length >= 2 && connects.slice(1).every((r) => r === true), JSON.stringify(connects));
  assert.ok(errors.length >= 1, 'each reconnect is reported');
  for (const [e, info] of errors) {
    assert.ok(e instanceof Unavailable, `${e}`);
    assert.equal(info.op, 'stream');
    assert.ok(info.retryInMs <= 250);
  }
  const { counts } = await t.queue();
  assert.deepEqual([counts.ready, counts.leased], [0, 0]);
});

test('poll rides out a relay restart too', { timeout: 90_000 }, async () => {
  const t = await relay.provision();
  const errors = [];
  const c = new Consumer({ url: relay.url, token: t.token, backoff: { initial: 20, max: 250 }, onError: (e) => errors.push(e) });
  await relay.kill();
  const it = c.poll(t.queueId, { wait: 5 })[Symbol.asyncIterator]();
  const pending = it.next(); // fails against the dead relay, retries with backoff
  await relay.spawn();
  const id = await t.deliver('{"p":1}');
  const r = await pending;
  assert.equal(r.value.id, id);
  await r.value.ack();
  await it.return();
  assert.ok(errors.length >= 1 && errors.every((e) => e instanceof Unavailable));
});
