//! The one Server-Sent Events parser, over bytes. Network chunks split
//! events, lines and even multi-byte UTF-8 characters anywhere, so the
//! parser buffers bytes, splits on line ends (CRLF, LF or CR, as the
//! HTML standard's event-stream grammar allows) and decodes text only once
//! an event is complete. `hookbay listen`, the client module and the tests
//! all read streams through it.

/// One dispatched event. `event` is `"message"` when the stream named no
/// type; `data` is the event's data lines joined with `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub event: String,
    pub id: Option<String>,
    pub data: String,
}

/// Incremental parser: feed chunks with [`Parser::push`], take events as
/// they complete. Work is linear in the bytes fed, however they are split.
#[derive(Debug, Default)]
pub struct Parser {
    buf: Vec<u8>,
    /// bytes of `buf` already consumed as whole lines
    start: usize,
    event: Vec<u8>,
    id: Option<Vec<u8>>,
    data: Vec<u8>,
    /// at least one `data` field was seen for the current event
    has_data: bool,
    /// the previous chunk ended in CR: a LF opening the next one belongs to it
    after_cr: bool,
}

impl Parser {
    pub fn new() -> Parser {
        Parser::default()
    }

    /// Feed one chunk; returns the events it completed, in order.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Event> {
        let mut out = Vec::new();
        let mut chunk = chunk;
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
        }
        let scan_from = self.buf.len();
        self.buf.extend_from_slice(chunk);
        let mut i = scan_from.max(self.start);
        while i < self.buf.len() {
            match self.buf[i] {
                b'\n' => {
                    self.line(self.start, i, &mut out);
                    self.start = i + 1;
                }
                b'\r' => {
                    self.line(self.start, i, &mut out);
                    if i + 1 == self.buf.len() {
                        self.after_cr = true;
                        self.start = i + 1;
                    } else if self.buf[i + 1] == b'\n' {
                        i += 1;
                        self.start = i + 1;
                    } else {
                        self.start = i + 1;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        // drop consumed bytes once they dominate the buffer (amortised O(1))
        if self.start > 0 && self.start * 2 >= self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        out
    }

    fn line(&mut self, from: usize, to: usize, out: &mut Vec<Event>) {
        let line = &self.buf[from..to];
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            // a comment (keep-alive)
            return;
        }
        let (name, value) = match line.iter().position(|b| *b == b':') {
            Some(p) => {
                let v = &line[p + 1..];
                (&line[..p], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match name {
            b"event" => self.event = value.to_vec(),
            b"data" => {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            b"id" if !value.contains(&0) => self.id = Some(value.to_vec()),
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<Event>) {
        let event = std::mem::take(&mut self.event);
        let data = std::mem::take(&mut self.data);
        let had_data = std::mem::take(&mut self.has_data);
        if !had_data {
            return;
        }
        out.push(Event {
            event: if event.is_empty() {
                "message".into()
            } else {
                String::from_utf8_lossy(&event).into_owned()
            },
            id: self
                .id
                .as_ref()
                .map(|i| String::from_utf8_lossy(i).into_owned()),
            data: String::from_utf8(data)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all(chunks: &[&[u8]]) -> Vec<Event> {
        let mut p = Parser::new();
        chunks.iter().flat_map(|c| p.push(c)).collect()
    }

    #[test]
    fn parses_fields_comments_and_line_ends() {
        let evs = all(&[b": keep-alive\n\nevent: message\nid: m1\ndata: {\"a\":\ndata: 1}\n\n"]);
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].event, "message");
        assert_eq!(evs[0].id.as_deref(), Some("m1"));
        assert_eq!(evs[0].data, "{\"a\":\n1}");
        // CRLF and lone CR, split anywhere
        let evs = all(&[
            b"data: x\r",
            b"\ndata:y\r\r",
            b"event: close\rdata: z\r\n\r\n",
        ]);
        assert_eq!(
            evs.iter()
                .map(|e| (e.event.as_str(), e.data.as_str()))
                .collect::<Vec<_>>(),
            vec![("message", "x\ny"), ("close", "z")]
        );
        // an event without data is not dispatched
        assert!(all(&[b"event: x\n\n"]).is_empty());
    }

    #[test]
    fn a_character_split_across_chunks_survives() {
        let text = "é😀字";
        let frame = format!("data: {text}\n\n");
        let b = frame.as_bytes();
        for cut in 0..b.len() {
            let evs = all(&[&b[..cut], &b[cut..]]);
            assert_eq!(evs.len(), 1, "cut at {cut}");
            assert_eq!(evs[0].data, text, "cut at {cut}");
        }
    }

    proptest! {
        #![proptest_config(crate::fuzz_config(256))]

        /// However a stream is chunked, the same events come out, and
        /// arbitrary bytes never panic the parser.
        #[test]
        fn fuzz_chunking_never_changes_events(
            datas in proptest::collection::vec("[^\r\n]{0,40}", 0..6),
            cuts in proptest::collection::vec(0usize..400, 0..8),
            noise in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let mut stream = Vec::new();
            for d in &datas {
                stream.extend_from_slice(format!(": c\nevent: message\ndata: {d}\n\n").as_bytes());
            }
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (stream.len() + 1)).collect();
            cuts.sort_unstable();
            let mut p = Parser::new();
            let mut got = Vec::new();
            let mut last = 0;
            for c in cuts.into_iter().chain([stream.len()]) {
                got.extend(p.push(&stream[last..c]));
                last = c;
            }
            let want: Vec<String> = datas.clone();
            prop_assert_eq!(got.into_iter().map(|e| e.data).collect::<Vec<_>>(), want);
            let _ = Parser::new().push(&noise);
        }
    }
}
