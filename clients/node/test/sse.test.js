// Unit tests of the byte-safe SSE parser: no relay needed.
import test from 'node:test';
import assert from 'node:assert/strict';
import { SseParser, parseEventStream } from '../src/index.js';

const bytes = (s) => new TextEncoder().encode(s);

function feed(chunks) {
  const p = new SseParser();
  const out = [];
  for (const c of chunks) out.push(...p.push(c));
  return out.map(({ event, data, id }) => ({ event, data, id }));
}

function splitAt(buf, cuts) {
  const chunks = [];
  let from = 0;
  for (const c of cuts) {
    chunks.push(buf.slice(from, c));
    from = c;
  }
  chunks.push(buf.slice(from));
  return chunks;
}

test('a 4-byte UTF-8 character split across every chunk boundary decodes intact', () => {
  const payload = 'a😀b';
  const data = JSON.stringify({ payload, encoding: 'utf8', meta: { messageId: 'm1' } });
  const stream = bytes(`: keep-alive\n\nevent: message\nid: m1\ndata: ${data}\n\n`);
  const emoji = bytes('😀');
  assert.equal(emoji.length, 4);
  const expected = [{ event: 'message', data, id: 'm1' }];
  // every single cut point of the whole stream, including the three inside the emoji
  for (let cut = 0; cut <= stream.length; cut++) {
    assert.deepEqual(feed(splitAt(stream, [cut])), expected, `cut at ${cut}`);
  }
  // every pair of cuts around the emoji, so each of its bytes can sit alone in a chunk
  const at = stream.indexOf(0xf0);
  for (let i = at - 1; i <= at + 4; i++) {
    for (let j = i; j <= at + 5; j++) {
      assert.deepEqual(feed(splitAt(stream, [i, j])), expected, `cuts at ${i}, ${j}`);
    }
  }
  // one byte per chunk
  assert.deepEqual(feed([...stream].map((b) => Uint8Array.of(b))), expected);
  const [ev] = feed([...stream].map((b) => Uint8Array.of(b)));
  assert.equal(JSON.parse(ev.data).payload, payload);
});

test('LF, CRLF and CR line endings, also split between chunks', () => {
  const body = (nl) => bytes(`event: message${nl}id: x${nl}data: {"a":${nl}data: 1}${nl}${nl}event: close${nl}data: z${nl}${nl}`);
  const expected = [
    { event: 'message', data: '{"a":\n1}', id: 'x' },
    { event: 'close', data: 'z', id: 'x' },
  ];
  for (const nl of ['\n', '\r\n', '\r']) {
    const stream = body(nl);
    assert.deepEqual(feed([stream]), expected, JSON.stringify(nl));
    for (let cut = 0; cut <= stream.length; cut++) {
      assert.deepEqual(feed(splitAt(stream, [cut])), expected, `${JSON.stringify(nl)} cut at ${cut}`);
    }
  }
  // a CR ending one chunk and the LF opening the next are one line end, not two
  assert.deepEqual(feed([bytes('data: a\r'), bytes('\ndata: b\r\n\r'), bytes('\n')]), [{ event: 'message', data: 'a\nb', id: '' }]);
});

test('comments, events without data, unknown fields, BOM and an unterminated tail', () => {
  const p = new SseParser();
  assert.deepEqual(p.push(bytes('\uFEFF: hi\n\nevent: x\n\nfoo: bar\ndata\n\nretry: 1500\n\n')), [
    { event: 'message', data: '', id: '', retry: null },
  ]);
  assert.equal(p.retry, 1500);
  assert.deepEqual(p.push(bytes('data:no space\n\ndata:  two spaces\n\n')).map((e) => e.data), ['no space', ' two spaces']);
  assert.deepEqual(p.push(bytes('data: never finished\n')), []);
  assert.deepEqual(p.end(), []);
});

test('invalid UTF-8 is replaced per event, never corrupts the next one', () => {
  const stream = new Uint8Array([...bytes('data: '), 0xff, 0xfe, ...bytes('\n\ndata: ok é\n\n')]);
  for (let cut = 0; cut <= stream.length; cut++) {
    assert.deepEqual(
      feed(splitAt(stream, [cut])).map((e) => e.data),
      ['\uFFFD\uFFFD', 'ok é'],
      `cut at ${cut}`,
    );
  }
});

test('the parser copies what it keeps: a reused chunk buffer does not corrupt events', () => {
  const p = new SseParser();
  const buf = new Uint8Array(64);
  const put = (s) => {
    const b = bytes(s);
    buf.fill(0);
    buf.set(b);
    return buf.subarray(0, b.length);
  };
  assert.deepEqual(p.push(put('data: hel')), []);
  assert.deepEqual(p.push(put('lo\ndata: wor')), []);
  const [ev] = p.push(put('ld\n\n'));
  assert.equal(ev.data, 'hello\nworld');
});

test('parseEventStream over an async iterable of chunks', async () => {
  async function* chunks() {
    yield bytes('event: message\nda');
    yield bytes('ta: 1\n\n');
    yield bytes('data: 2\n\n');
  }
  const got = [];
  for await (const ev of parseEventStream(chunks())) got.push(ev.data);
  assert.deepEqual(got, ['1', '2']);
});
