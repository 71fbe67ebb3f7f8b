// Client behaviour against a scripted local HTTP server: connection
// handling, reconnects, backoff, malformed input. No relay needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import {
  Consumer,
  Message,
  HookbayError,
  AuthError,
  LeaseExpired,
  Unavailable,
  InvalidRequest,
  backoffDelay,
} from '../src/index.js';
import { freePort } from './helpers/relay.js';

const T = { timeout: 30_000 };

/** A server whose n-th request is answered by the n-th handler (the last one repeats). */
async function script(...handlers) {
  const requests = [];
  const server = createServer((req, res) => {
    requests.push(req);
    const h = handlers[Math.min(requests.length - 1, handlers.length - 1)];
    h(req, res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    requests,
    async close() {
      server.closeAllConnections?.();
      server.close();
    },
  };
}

const sseHead = (res) => res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });

function event(meta, payload = '{}', extra = {}) {
  const data = JSON.stringify({ payload, encoding: 'utf8', contentType: 'application/json', meta, ...extra });
  return `event: message\nid: ${meta.messageId}\ndata: ${data}\n\n`;
}

function quiet(url, extra = {}) {
  const errors = [];
  const c = new Consumer({ url, token: 'tok', backoff: { initial: 5, max: 50 }, onError: (e, i) => errors.push([e, i]), ...extra });
  c.errors = errors;
  return c;
}

const closed = (req) => new Promise((r) => req.socket.once('close', r));

test('break closes the stream connection', T, async () => {
  const srv = await script((req, res) => {
    sseHead(res);
    res.write(': keep-alive\n\n');
    res.write(event({ messageId: 'm1' }));
  });
  const c = quiet(srv.url);
  let gone;
  for await (const msg of c.stream('q_1')) {
    assert.equal(msg.id, 'm1');
    gone = closed(srv.requests[0]);
    break;
  }
  await gone; // the server saw the connection close
  assert.equal(srv.requests.length, 1);
  assert.equal(srv.requests[0].headers.authorization, 'Bearer tok');
  await srv.close();
});

test('aborting the signal ends the iteration quietly and closes the connection', T, async () => {
  let connected;
  const up = new Promise((r) => (connected = r));
  const srv = await script((req, res) => {
    sseHead(res);
    res.write(': keep-alive\n\n');
    connected(req);
  });
  const c = quiet(srv.url);
  const ac = new AbortController();
  const got = [];
  const done = (async () => {
    for await (const msg of c.stream('q_1', { signal: ac.signal })) got.push(msg);
  })();
  const req = await up;
  const gone = closed(req);
  ac.abort();
  await done;
  await gone;
  assert.deepEqual(got, []);
  assert.deepEqual(c.errors, []);
  await srv.close();
});

test('close() ends every loop of the consumer', T, async () => {
  let n = 0;
  let both;
  const up = new Promise((r) => (both = r));
  const srv = await script((req, res) => {
    if (req.url.includes('/stream')) {
      sseHead(res);
      res.write(': hi\n\n');
    }
    // /next: never answers (a long poll)
    if (++n === 2) both();
  });
  const c = quiet(srv.url);
  const a = (async () => {
    for await (const _ of c.stream('q_1')) assert.fail();
  })();
  const b = (async () => {
    for await (const _ of c.poll('q_1', { wait: 30 })) assert.fail();
  })();
  await up;
  c.close();
  await Promise.all([a, b]);
  assert.equal(c.closed, true);
  await srv.close();
});

test('reconnects after 503 (with Retry-After) and 500, then delivers', T, async () => {
  const srv = await script(
    (req, res) => {
      res.writeHead(503, { 'content-type': 'application/problem+json', 'retry-after': '0' });
      res.end(JSON.stringify({ type: 'urn:hookbay:problem:unavailable', title: 'Unavailable', status: 503, detail: 'store down', code: 'unavailable' }));
    },
    (req, res) => {
      res.writeHead(500);
      res.end('oops');
    },
    (req, res) => {
      sseHead(res);
      res.write(event({ messageId: 'm1', attempt: 1 }));
    },
  );
  const c = quiet(srv.url);
  for await (const msg of c.stream('q_1')) {
    assert.equal(msg.id, 'm1');
    break;
  }
  assert.equal(srv.requests.length, 3);
  const [[e1, i1], [e2, i2]] = c.errors;
  assert.ok(e1 instanceof Unavailable && e1.status === 503 && e1.detail === 'store down');
  assert.ok(e2 instanceof HookbayError && e2.status === 500 && e2.retryable);
  assert.deepEqual([i1.attempt, i2.attempt], [1, 2]);
  assert.ok(i1.retryInMs <= 50 && i2.retryInMs <= 50);
  await srv.close();
});

test('a stream the relay ends is reopened; a network error too', T, async () => {
  const srv = await script(
    (req, res) => {
      sseHead(res);
      res.end(event({ messageId: 'm1' }));
    },
    (req, res) => {
      sseHead(res);
      res.write(': hi\n\n');
      setImmediate(() => req.socket.destroy()); // connection reset mid-stream
    },
    (req, res) => {
      sseHead(res);
      res.write(event({ messageId: 'm2' }));
    },
  );
  const c = quiet(srv.url);
  const ids = [];
  for await (const msg of c.stream('q_1')) {
    ids.push(msg.id);
    if (ids.length === 2) break;
  }
  assert.deepEqual(ids, ['m1', 'm2']);
  assert.equal(srv.requests.length, 3);
  assert.ok(c.errors.every(([e]) => e instanceof Unavailable));
  await srv.close();
});

test('a connection that goes silent (no keep-alive) is replaced after idleTimeout', T, async () => {
  const srv = await script(
    (req, res) => {
      sseHead(res);
      res.flushHeaders();
    },
    (req, res) => {
      sseHead(res);
      res.write(event({ messageId: 'm1' }));
    },
  );
  const c = quiet(srv.url, { idleTimeout: 100 });
  for await (const msg of c.stream('q_1')) {
    assert.equal(msg.id, 'm1');
    break;
  }
  assert.equal(srv.requests.length, 2);
  assert.match(c.errors[0][0].message, /nothing received/);
  await srv.close();
});

test('401, 403 and 400 end the stream with a typed error and no retry', T, async () => {
  const problem = (status, code) => (req, res) => {
    res.writeHead(status, { 'content-type': 'application/problem+json' });
    res.end(JSON.stringify({ type: `urn:hookbay:problem:${code}`, title: code, status, detail: `d-${status}`, code }));
  };
  for (const [status, code, Cls] of [
    [401, 'unauthorized', AuthError],
    [403, 'forbidden', AuthError],
    [400, 'invalid_request', InvalidRequest],
  ]) {
    const srv = await script(problem(status, code));
    const c = quiet(srv.url);
    await assert.rejects(async () => {
      for await (const _ of c.stream('q_1')) assert.fail();
    }, (e) => e instanceof Cls && e.status === status && e.detail === `d-${status}` && e.code === code);
    assert.equal(srv.requests.length, 1);
    assert.deepEqual(c.errors, []);
    await srv.close();
  }
});

test('event: close stops the stream for good', T, async () => {
  const srv = await script((req, res) => {
    sseHead(res);
    res.write(event({ messageId: 'm1' }));
    res.write('event: close\ndata: {"reason":"token revoked or expired"}\n\n');
  });
  const c = quiet(srv.url);
  const ids = [];
  for await (const msg of c.stream('q_1')) ids.push(msg.id);
  assert.deepEqual(ids, ['m1']);
  assert.equal(srv.requests.length, 1);
  assert.equal(c.errors.length, 1);
  const [err, info] = c.errors[0];
  assert.equal(info.closed, true);
  assert.equal(err.detail, 'token revoked or expired');
  await srv.close();
});

test('aborting a pending next() rejects with the AbortError', T, async () => {
  let asked;
  const up = new Promise((r) => (asked = r));
  const srv = await script((req) => asked(req)); // a long poll that never answers
  const c = quiet(srv.url);
  const ac = new AbortController();
  const p = c.next('q_1', { wait: 30, signal: ac.signal });
  const req = await up;
  const gone = closed(req);
  ac.abort();
  await assert.rejects(p, (e) => e.name === 'AbortError');
  await gone;
  await srv.close();
});

test('CRLF events split byte by byte over the wire, a 4-byte character included', T, async () => {
  const payload = 'x😀y';
  const wire = new TextEncoder().encode(event({ messageId: 'm1' }, payload).replace(/\n/g, '\r\n'));
  const srv = await script(async (req, res) => {
    sseHead(res);
    for (const b of wire) {
      res.write(Uint8Array.of(b));
      await new Promise((r) => setImmediate(r));
    }
  });
  const c = quiet(srv.url);
  for await (const msg of c.stream('q_1')) {
    assert.equal(msg.text(), payload);
    assert.deepEqual(msg.payload, new TextEncoder().encode(payload));
    break;
  }
  await srv.close();
});

test('a malformed event is reported and skipped; a message without meta is no TypeError', T, async () => {
  const srv = await script((req, res) => {
    sseHead(res);
    res.write('event: message\ndata: {not json\n\n');
    res.write('event: message\ndata: {"payload":"aGk=","encoding":"base64"}\n\n');
  });
  const c = quiet(srv.url);
  for await (const msg of c.stream('q_1')) {
    assert.equal(msg.text(), 'hi');
    assert.equal(msg.id, null);
    assert.equal(msg.attempt, null);
    assert.equal(msg.eventType, null);
    assert.equal(msg.contentType, null);
    assert.deepEqual(msg.headers, {});
    assert.equal(msg.leaseToken, null);
    await assert.rejects(msg.ack(), (e) => e instanceof HookbayError && !(e instanceof TypeError));
    await assert.rejects(msg.nack(), InvalidRequest);
    await assert.rejects(msg.extend(5), InvalidRequest);
    break;
  }
  assert.equal(c.errors.length, 1);
  assert.match(c.errors[0][0].message, /malformed event/);
  for (const data of [{}, { meta: null }, { meta: 'x', payload: 5 }, null]) {
    const m = Message.fromData(c, data);
    assert.deepEqual([m.id, m.attempt, m.payload.length, m.headers], [null, null, 0, {}]);
  }
  await srv.close();
});

test('/next: 204 is null, the meta header is parsed, a missing one is no TypeError', T, async () => {
  const meta = { messageId: 'm1', attempt: 3, eventType: 'é', contentType: 'text/plain', headers: { a: 'b' } };
  const srv = await script(
    (req, res) => {
      res.writeHead(204);
      res.end();
    },
    (req, res) => {
      // the relay escapes non-ASCII in the header; JSON.stringify of ASCII-only stays as is
      res.writeHead(200, { 'content-type': 'text/plain', 'x-hookbay-meta': JSON.stringify(meta).replace('é', '\\u00e9') });
      res.end(Buffer.from([0xff, 0x00]));
    },
    (req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end('raw');
    },
  );
  const c = quiet(srv.url);
  assert.equal(await c.next('q_1', { wait: 1, lease: 5 }), null);
  assert.match(srv.requests[0].url, /^\/v1\/queues\/q_1\/next\?wait=1&lease=5$/);
  const m = await c.next('q_1');
  assert.deepEqual([m.id, m.attempt, m.eventType, m.contentType, m.headers], ['m1', 3, 'é', 'text/plain', { a: 'b' }]);
  assert.deepEqual(m.payload, new Uint8Array([0xff, 0x00]));
  const bare = await c.next('q_1');
  assert.deepEqual([bare.id, bare.attempt, bare.contentType, bare.text()], [null, null, 'application/octet-stream', 'raw']);
  await srv.close();
});

test('capability URLs: 409 is LeaseExpired, 503 is retried, bodies are as documented, no bearer sent', T, async () => {
  const bodies = [];
  const srv = await script(
    (req, res) => {
      res.writeHead(503, { 'retry-after': '0' });
      res.end();
    },
    async (req, res) => {
      let b = '';
      for await (const c of req) b += c;
      bodies.push([req.url, req.headers.authorization ?? null, b]);
      if (req.url.includes('/extend')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"leaseExpiresAt":"2030-01-01T00:00:00.000Z"}');
      } else if (req.url.includes('/ack')) {
        res.writeHead(409, { 'content-type': 'application/problem+json' });
        res.end('{"status":409,"detail":"this lease has expired","code":"conflict"}');
      } else {
        res.writeHead(204);
        res.end();
      }
    },
  );
  const c = quiet(srv.url);
  const base = `${srv.url}/v1/queues/q_1/messages/m1`;
  const meta = { messageId: 'm1', ackUrl: `${base}/ack?token=L`, nackUrl: `${base}/nack?token=L`, rejectUrl: `${base}/reject?token=L`, extendUrl: `${base}/extend?token=L` };
  const m = new Message(c, { payload: new Uint8Array(), meta });
  assert.equal(m.leaseToken, 'L');
  await m.nack({ reason: 'r'.repeat(2000), delay: 1.5 }); // first attempt got a 503
  await m.reject({ reason: 'bad' });
  assert.equal(await m.extend(60), '2030-01-01T00:00:00.000Z');
  const err = await m.ack().then(() => null, (e) => e);
  assert.ok(err instanceof LeaseExpired && err.status === 409 && err.detail === 'this lease has expired');
  assert.ok(!err.message.includes('token=L'), 'no lease token in error messages');
  const parsed = bodies.map(([u, auth, b]) => [u.split('?')[0].split('/').pop(), auth, b ? JSON.parse(b) : null]);
  assert.deepEqual(parsed, [
    ['nack', null, { reason: 'r'.repeat(1024), delaySeconds: 1.5 }],
    ['reject', null, { reason: 'bad' }],
    ['extend', null, { seconds: 60 }],
    ['ack', null, null],
  ]);
  await srv.close();
});

test('a refused connection is Unavailable with status 0', T, async () => {
  const c = quiet(`http://127.0.0.1:${await freePort()}`);
  await assert.rejects(c.next('q_1'), (e) => e instanceof Unavailable && e.status === 0 && e.retryable);
});

test('backoff is exponential, capped and jittered', () => {
  const cfg = { initial: 100, max: 1000, factor: 2, jitter: 0.5 };
  assert.deepEqual(
    [0, 1, 2, 3, 4, 10, 1000].map((n) => backoffDelay(cfg, n, null, () => 0)),
    [100, 200, 400, 800, 1000, 1000, 1000],
  );
  assert.deepEqual(
    [0, 1, 4].map((n) => backoffDelay(cfg, n, null, () => 1)),
    [50, 100, 500],
  );
  assert.equal(backoffDelay(cfg, 0, 0.7, () => 0), 700); // Retry-After wins when longer
  assert.equal(backoffDelay(cfg, 0, 3600, () => 0), 1000); // but never past the cap
});

test('no TypeError from a Consumer or Message on odd input', () => {
  assert.throws(() => new Consumer({}), TypeError); // programmer error: no url
  const c = new Consumer({ url: 'http://127.0.0.1:1/', onError: null });
  assert.equal(c.url, 'http://127.0.0.1:1');
  const m = new Message(c, { payload: new TextEncoder().encode('\uFEFF{"a":1}'), meta: { attempt: '2' } });
  assert.deepEqual(m.json(), { a: 1 });
  assert.equal(m.attempt, null);
  assert.deepEqual(JSON.parse(JSON.stringify(m)).size, 10);
});
