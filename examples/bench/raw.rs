//! A minimal HTTP/1.1 client for the settle phases, as wrk is for ingest:
//! one keep-alive connection, a request written as bytes, a response read
//! by its status line, headers and `Content-Length` (or chunked) body.
//! reqwest cost the bench 60–120 µs of CPU per message on the 2 cores the
//! relay runs on; this costs a fraction, so the settle figures measure the
//! relay rather than the load generator. It speaks only to the relay.

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub struct Conn {
    io: BufReader<TcpStream>,
    host: String,
    line: String,
}

/// A response: its status and the `X-Hookbay-Meta` header (the body is
/// read off the connection and dropped).
pub struct Response {
    pub status: u16,
    pub meta: Option<String>,
}

impl Conn {
    /// Connect to `base` ("http://host:port").
    pub async fn connect(base: &str) -> std::io::Result<Conn> {
        let host = base.trim_start_matches("http://").trim_end_matches('/');
        let tcp = TcpStream::connect(host).await?;
        tcp.set_nodelay(true)?;
        Ok(Conn {
            io: BufReader::with_capacity(64 * 1024, tcp),
            host: host.to_string(),
            line: String::new(),
        })
    }

    /// `method` `target` (path and query), with no body and an optional
    /// bearer token.
    pub async fn send(
        &mut self,
        method: &str,
        target: &str,
        bearer: Option<&str>,
    ) -> std::io::Result<Response> {
        let mut req = Vec::with_capacity(256);
        req.extend_from_slice(method.as_bytes());
        req.push(b' ');
        req.extend_from_slice(target.as_bytes());
        req.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        req.extend_from_slice(self.host.as_bytes());
        if let Some(t) = bearer {
            req.extend_from_slice(b"\r\nAuthorization: Bearer ");
            req.extend_from_slice(t.as_bytes());
        }
        req.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
        self.io.get_mut().write_all(&req).await?;
        self.read_response().await
    }

    async fn read_line(&mut self) -> std::io::Result<&str> {
        self.line.clear();
        if self.io.read_line(&mut self.line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(self.line.trim_end())
    }

    async fn read_response(&mut self) -> std::io::Result<Response> {
        let bad =
            |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
        let status = self
            .read_line()
            .await?
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("status line"))?;
        let (mut len, mut chunked, mut meta) = (0usize, false, None);
        loop {
            let line = self.read_line().await?;
            if line.is_empty() {
                break;
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err(bad("header line"));
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                len = value.parse().map_err(|_| bad("content-length"))?;
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            } else if name.eq_ignore_ascii_case("x-hookbay-meta") {
                meta = Some(value.to_string());
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                let size = usize::from_str_radix(self.read_line().await?, 16)
                    .map_err(|_| bad("chunk size"))?;
                if size == 0 {
                    self.read_line().await?;
                    break;
                }
                let at = body.len();
                body.resize(at + size, 0);
                self.io.read_exact(&mut body[at..]).await?;
                self.read_line().await?;
            }
        } else {
            body.resize(len, 0);
            self.io.read_exact(&mut body).await?;
        }
        drop(body);
        Ok(Response { status, meta })
    }
}

/// The path and query of an absolute URL the relay handed out.
pub fn target(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.find('/').map_or("/", |i| &rest[i..])
}

/// The string value of `key` in a JSON text: found by a plain search for
/// `"key":"` when the value holds no escape (the relay's compact output),
/// else by a full parse.
pub fn json_str<'a>(json: &'a str, key: &str) -> Option<std::borrow::Cow<'a, str>> {
    let pat = format!("\"{key}\":\"");
    if let Some(at) = json.find(&pat).map(|i| i + pat.len()) {
        if let Some(end) = json[at..].find('"').map(|i| i + at) {
            let v = &json[at..end];
            if !v.contains('\\') {
                return Some(std::borrow::Cow::Borrowed(v));
            }
        }
    }
    let full: serde_json::Value = serde_json::from_str(json).ok()?;
    find(&full, key).map(std::borrow::Cow::Owned)
}

fn find(v: &serde_json::Value, key: &str) -> Option<String> {
    match v {
        serde_json::Value::Object(m) => m
            .get(key)
            .and_then(|x| x.as_str().map(str::to_string))
            .or_else(|| m.values().find_map(|x| find(x, key))),
        serde_json::Value::Array(a) => a.iter().find_map(|x| find(x, key)),
        _ => None,
    }
}
