// A byte-safe Server-Sent Events parser (the text/event-stream grammar of
// the HTML standard). Network chunks may split events, lines and even
// multi-byte UTF-8 characters anywhere, so it buffers bytes, splits lines on
// LF, CRLF or CR (a CRLF split across two chunks counts once), and decodes
// UTF-8 only once an event is complete. Work is linear in the bytes fed.

const LF = 0x0a;
const CR = 0x0d;
const COLON = 0x3a;
const SPACE = 0x20;
const EMPTY = new Uint8Array(0);
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

function concat(parts, total) {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function fieldIs(line, end, name) {
  if (end !== name.length) return false;
  for (let i = 0; i < end; i++) if (line[i] !== name.charCodeAt(i)) return false;
  return true;
}

/**
 * @typedef {{event: string, data: string, id: string, retry: number|null}} SseEvent
 * `event` is "message" when the stream named no type; `data` is the event's
 * data lines joined with "\n"; `id` the last event id seen on the stream.
 */

export class SseParser {
  constructor() {
    /** bytes of the current, not yet terminated line */
    this._partial = [];
    this._partialLen = 0;
    /** the last chunk ended in CR: an LF opening the next one belongs to it */
    this._afterCr = false;
    this._firstLine = true;
    this._event = EMPTY;
    /** data lines of the current event, as bytes */
    this._data = [];
    this._dataLen = 0;
    this._hasData = false;
    this._id = EMPTY;
    /** The last event id, as the standard keeps it across events. */
    this.lastEventId = '';
    /** The last `retry:` value (milliseconds) the stream sent, or null. */
    this.retry = null;
  }

  /**
   * Feed one chunk of bytes; returns the events it completed, in order.
   * The chunk is not kept: the caller may reuse its buffer.
   * @param {Uint8Array} chunk
   * @returns {SseEvent[]}
   */
  push(chunk) {
    const out = [];
    if (!chunk || chunk.length === 0) return out;
    let start = 0;
    if (this._afterCr) {
      this._afterCr = false;
      if (chunk[0] === LF) start = 1;
    }
    let nextLf = chunk.indexOf(LF, start);
    let nextCr = chunk.indexOf(CR, start);
    while (nextLf !== -1 || nextCr !== -1) {
      let end;
      let skip = 1;
      if (nextCr === -1 || (nextLf !== -1 && nextLf < nextCr)) {
        end = nextLf;
      } else {
        end = nextCr;
        if (end + 1 === chunk.length) this._afterCr = true;
        else if (chunk[end + 1] === LF) skip = 2;
      }
      this._line(this._takeLine(chunk, start, end), out);
      start = end + skip;
      if (nextLf !== -1 && nextLf < start) nextLf = chunk.indexOf(LF, start);
      if (nextCr !== -1 && nextCr < start) nextCr = chunk.indexOf(CR, start);
    }
    if (start < chunk.length) {
      const rest = chunk.slice(start); // a copy: the caller may reuse its buffer
      this._partial.push(rest);
      this._partialLen += rest.length;
    }
    return out;
  }

  /**
   * The stream ended. An event without its terminating blank line is
   * discarded, as the standard says; the parser is reset.
   * @returns {SseEvent[]}
   */
  end() {
    this._partial = [];
    this._partialLen = 0;
    this._afterCr = false;
    this._resetEvent();
    return [];
  }

  _takeLine(chunk, start, end) {
    if (this._partialLen === 0) return chunk.subarray(start, end);
    this._partial.push(chunk.subarray(start, end));
    const line = concat(this._partial, this._partialLen + (end - start));
    this._partial = [];
    this._partialLen = 0;
    return line;
  }

  _line(line, out) {
    if (this._firstLine) {
      this._firstLine = false;
      // a UTF-8 byte order mark may open the stream
      if (line.length >= 3 && line[0] === 0xef && line[1] === 0xbb && line[2] === 0xbf) line = line.subarray(3);
    }
    if (line.length === 0) {
      this._dispatch(out);
      return;
    }
    if (line[0] === COLON) return; // a comment: keep-alive
    let nameEnd = line.indexOf(COLON);
    let value;
    if (nameEnd === -1) {
      nameEnd = line.length;
      value = EMPTY;
    } else {
      const from = line[nameEnd + 1] === SPACE ? nameEnd + 2 : nameEnd + 1;
      value = line.subarray(from);
    }
    if (fieldIs(line, nameEnd, 'data')) {
      if (this._hasData) {
        this._data.push(new Uint8Array([LF]));
        this._dataLen += 1;
      }
      const v = value.slice();
      this._data.push(v);
      this._dataLen += v.length;
      this._hasData = true;
    } else if (fieldIs(line, nameEnd, 'event')) {
      this._event = value.slice();
    } else if (fieldIs(line, nameEnd, 'id')) {
      if (value.indexOf(0) === -1) this._id = value.slice();
    } else if (fieldIs(line, nameEnd, 'retry')) {
      let ok = value.length > 0;
      for (const b of value) if (b < 0x30 || b > 0x39) ok = false;
      if (ok) this.retry = Number(decoder.decode(value));
    }
  }

  _dispatch(out) {
    this.lastEventId = decoder.decode(this._id);
    if (!this._hasData) {
      this._resetEvent();
      return;
    }
    const data = decoder.decode(concat(this._data, this._dataLen));
    const event = this._event.length ? decoder.decode(this._event) : 'message';
    this._resetEvent();
    out.push({ event, data, id: this.lastEventId, retry: this.retry });
  }

  _resetEvent() {
    this._event = EMPTY;
    this._data = [];
    this._dataLen = 0;
    this._hasData = false;
  }
}

/**
 * Parse a whole byte stream (any async iterable of Uint8Array chunks,
 * e.g. a fetch `Response.body`) into events.
 * @param {AsyncIterable<Uint8Array>} chunks
 * @returns {AsyncGenerator<SseEvent>}
 */
export async function* parseEventStream(chunks) {
  const parser = new SseParser();
  for await (const chunk of chunks) yield* parser.push(chunk);
  parser.end();
}
