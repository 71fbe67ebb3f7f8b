//! Queue filters: a JSON match document, validated once when a queue is
//! created or changed (every error names the offending path) and compiled
//! into a small tree that ingest evaluates against each message.
//!
//! A position in the document is matched against a value of the message:
//! - a plain value (string, number, bool, null, array) means equality;
//! - an object whose keys are field names descends into the JSON object
//!   there (`{"data": {"object": {"currency": "eur"}}}`);
//! - an object whose keys are operators (`$eq`, `$gt`, …) applies each;
//! - `$and` / `$or` (arrays of documents) and `$not` (one document) combine
//!   documents at the same position, and mix with either of the above.
//!
//! A value that is absent matches only `$exists: false`, `$neq`, `$nin` and
//! what `$not` turns around.

use serde_json::{Map, Value};

/// Largest filter document accepted, serialised.
pub const MAX_FILTER_BYTES: usize = 8 * 1024;
/// Deepest nesting of objects and arrays accepted.
pub const MAX_DEPTH: usize = 16;

/// The top-level fields a filter may look at.
pub const FIELDS: &[&str] = &["method", "path", "query", "headers", "eventType", "body"];

/// A compiled, valid filter.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    root: Node,
    /// Which top-level fields it looks at, one bit per `FIELDS` entry
    /// (ingest builds only those, and parses the body only when asked).
    uses: u8,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    /// Every part must match (a document's keys, an operator object).
    All(Vec<Node>),
    Any(String, Vec<Node>),
    Not(String, Box<Node>),
    /// Descend into an object's key.
    Field(String, Box<Node>),
    Op(String, Op),
}

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Eq(Value),
    Neq(Value),
    In(Vec<Value>),
    Nin(Vec<Value>),
    Cmp(Ordering, Value),
    StartsWith(String),
    EndsWith(String),
    Contains(Value),
    Exists(bool),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Ordering {
    Gt,
    Gte,
    Lt,
    Lte,
}

/// Why a message did not match: the first failing path and the reason.
pub type Miss = String;

impl Filter {
    /// Validate and compile a filter document. The error names the path of
    /// the offending part (`filter.body.amount: unknown operator $gtx`).
    pub fn compile(doc: &Value) -> Result<Filter, String> {
        let size = serde_json::to_vec(doc).map(|v| v.len()).unwrap_or(0);
        if size > MAX_FILTER_BYTES {
            return Err(format!(
                "filter: {size} bytes, more than the {MAX_FILTER_BYTES} allowed"
            ));
        }
        if depth(doc) > MAX_DEPTH {
            return Err(format!("filter: nested deeper than {MAX_DEPTH} levels"));
        }
        let Value::Object(map) = doc else {
            return Err("filter: must be a JSON object".into());
        };
        let mut c = Compiler { uses: 0 };
        let root = c.top(map, "filter")?;
        Ok(Filter { root, uses: c.uses })
    }

    pub fn uses_body(&self) -> bool {
        self.uses & field_bit("body") != 0
    }

    /// The top-level fields it looks at (bits of `field_bit`).
    pub fn uses(&self) -> u8 {
        self.uses
    }

    /// Match a message document (`{"method", "path", "query", "headers",
    /// "eventType", "body"}`; `body` absent when it is not JSON).
    pub fn check(&self, subject: &Value) -> Result<(), Miss> {
        eval(&self.root, Some(subject))
    }

    pub fn matches(&self, subject: &Value) -> bool {
        self.check(subject).is_ok()
    }
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// The bit of a top-level field in `Filter::uses`.
pub fn field_bit(name: &str) -> u8 {
    FIELDS.iter().position(|f| *f == name).map_or(0, |i| 1 << i)
}

struct Compiler {
    uses: u8,
}

impl Compiler {
    /// The top level: only the known fields and the combinators.
    fn top(&mut self, map: &Map<String, Value>, path: &str) -> Result<Node, String> {
        let mut parts = vec![];
        for (k, v) in map {
            let p = format!("{path}.{k}");
            if k.starts_with('$') {
                parts.push(self.combinator(k, v, &p, true)?.ok_or_else(|| {
                    format!("{p}: only $and, $or and $not may stand beside the fields")
                })?);
                continue;
            }
            if !FIELDS.contains(&k.as_str()) {
                return Err(format!(
                    "{p}: unknown field; a filter looks at {}",
                    FIELDS.join(", ")
                ));
            }
            self.uses |= field_bit(k);
            let inner = if k == "headers" {
                self.headers(v, &p)?
            } else {
                self.matcher(v, &p)?
            };
            parts.push(Node::Field(k.clone(), Box::new(inner)));
        }
        Ok(Node::All(parts))
    }

    /// Header names match case-insensitively: the stored names are lower
    /// case, so the filter's are lowered too.
    fn headers(&mut self, v: &Value, path: &str) -> Result<Node, String> {
        match v {
            Value::Object(m) if !m.keys().any(|k| is_operator(k)) => {
                let lowered: Map<String, Value> = m
                    .iter()
                    .map(|(k, v)| {
                        let k = if k.starts_with('$') {
                            k.clone()
                        } else {
                            k.to_ascii_lowercase()
                        };
                        (k, v.clone())
                    })
                    .collect();
                self.matcher(&Value::Object(lowered), path)
            }
            _ => self.matcher(v, path),
        }
    }

    /// `$and`, `$or`, `$not` at `path`; `None` for any other key.
    fn combinator(
        &mut self,
        k: &str,
        v: &Value,
        path: &str,
        top: bool,
    ) -> Result<Option<Node>, String> {
        let doc = |c: &mut Compiler, d: &Value, p: &str| -> Result<Node, String> {
            match (top, d) {
                (true, Value::Object(m)) => c.top(m, p),
                (true, _) => Err(format!("{p}: must be a filter document (an object)")),
                (false, _) => c.matcher(d, p),
            }
        };
        Ok(Some(match k {
            "$and" | "$or" => {
                let Value::Array(items) = v else {
                    return Err(format!("{path}: {k} takes an array of filter documents"));
                };
                if items.is_empty() {
                    return Err(format!("{path}: {k} needs at least one document"));
                }
                let nodes = items
                    .iter()
                    .enumerate()
                    .map(|(i, d)| doc(self, d, &format!("{path}[{i}]")))
                    .collect::<Result<Vec<_>, _>>()?;
                if k == "$and" {
                    Node::All(nodes)
                } else {
                    Node::Any(path.to_string(), nodes)
                }
            }
            "$not" => {
                if !v.is_object() {
                    return Err(format!("{path}: $not takes one filter document"));
                }
                Node::Not(path.to_string(), Box::new(doc(self, v, path)?))
            }
            _ => return Ok(None),
        }))
    }

    /// Anything below a top-level field.
    fn matcher(&mut self, v: &Value, path: &str) -> Result<Node, String> {
        let Value::Object(map) = v else {
            return Ok(Node::Op(path.to_string(), Op::Eq(v.clone())));
        };
        if map.is_empty() {
            return Ok(Node::Op(path.to_string(), Op::Eq(v.clone())));
        }
        let has_op = map.keys().any(|k| is_operator(k));
        let has_field = map.keys().any(|k| !k.starts_with('$'));
        if has_op && has_field {
            return Err(format!(
                "{path}: mixes operators and field names (put the fields in a nested document or in $and)"
            ));
        }
        let mut parts = vec![];
        for (k, v) in map {
            let p = format!("{path}.{k}");
            if let Some(n) = self.combinator(k, v, &p, false)? {
                parts.push(n);
            } else if let Some(stripped) = k.strip_prefix('$') {
                if !is_operator(k) {
                    return Err(format!("{path}: unknown operator ${stripped}"));
                }
                parts.push(Node::Op(path.to_string(), operator(k, v, &p)?));
            } else {
                parts.push(Node::Field(k.clone(), Box::new(self.matcher(v, &p)?)));
            }
        }
        Ok(Node::All(parts))
    }
}

const OPERATORS: &[&str] = &[
    "$eq",
    "$neq",
    "$in",
    "$nin",
    "$gt",
    "$gte",
    "$lt",
    "$lte",
    "$startsWith",
    "$endsWith",
    "$contains",
    "$exists",
];

fn is_operator(k: &str) -> bool {
    OPERATORS.contains(&k)
}

fn operator(k: &str, v: &Value, path: &str) -> Result<Op, String> {
    let string = || match v {
        Value::String(s) => Ok(s.clone()),
        _ => Err(format!("{path}: {k} takes a string")),
    };
    let list = || match v {
        Value::Array(a) => Ok(a.clone()),
        _ => Err(format!("{path}: {k} takes an array")),
    };
    let ordered = |o| match v {
        Value::Number(_) | Value::String(_) => Ok(Op::Cmp(o, v.clone())),
        _ => Err(format!("{path}: {k} takes a number or a string")),
    };
    Ok(match k {
        "$eq" => Op::Eq(v.clone()),
        "$neq" => Op::Neq(v.clone()),
        "$in" => Op::In(list()?),
        "$nin" => Op::Nin(list()?),
        "$gt" => ordered(Ordering::Gt)?,
        "$gte" => ordered(Ordering::Gte)?,
        "$lt" => ordered(Ordering::Lt)?,
        "$lte" => ordered(Ordering::Lte)?,
        "$startsWith" => Op::StartsWith(string()?),
        "$endsWith" => Op::EndsWith(string()?),
        "$contains" => Op::Contains(v.clone()),
        "$exists" => match v {
            Value::Bool(b) => Op::Exists(*b),
            _ => return Err(format!("{path}: $exists takes true or false")),
        },
        _ => return Err(format!("{path}: unknown operator {k}")),
    })
}

/// JSON equality with numbers compared by value (1 == 1.0).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn show(v: Option<&Value>) -> String {
    match v {
        None => "absent".into(),
        Some(v) => {
            let s = v.to_string();
            if s.chars().count() > 64 {
                format!("{}…", s.chars().take(64).collect::<String>())
            } else {
                s
            }
        }
    }
}

/// Display path of a filter path: without the leading `filter.`.
fn at(path: &str) -> &str {
    path.strip_prefix("filter.").unwrap_or(path)
}

fn compare(o: Ordering, have: &Value, want: &Value) -> bool {
    let ord = match (have, want) {
        (Value::Number(a), Value::Number(b)) => match (a.as_f64(), b.as_f64()) {
            (Some(a), Some(b)) => a.partial_cmp(&b),
            _ => None,
        },
        (Value::String(a), Value::String(b)) => Some(a.as_str().cmp(b.as_str())),
        _ => None,
    };
    let Some(ord) = ord else { return false };
    match o {
        Ordering::Gt => ord.is_gt(),
        Ordering::Gte => ord.is_ge(),
        Ordering::Lt => ord.is_lt(),
        Ordering::Lte => ord.is_le(),
    }
}

fn apply(op: &Op, have: Option<&Value>) -> bool {
    match (op, have) {
        (Op::Exists(b), h) => *b == h.is_some(),
        (Op::Neq(w), h) => !h.is_some_and(|h| same(h, w)),
        (Op::Nin(ws), h) => !h.is_some_and(|h| ws.iter().any(|w| same(h, w))),
        (_, None) => false,
        (Op::Eq(w), Some(h)) => same(h, w),
        (Op::In(ws), Some(h)) => ws.iter().any(|w| same(h, w)),
        (Op::Cmp(o, w), Some(h)) => compare(*o, h, w),
        (Op::StartsWith(w), Some(Value::String(h))) => h.starts_with(w.as_str()),
        (Op::EndsWith(w), Some(Value::String(h))) => h.ends_with(w.as_str()),
        (Op::Contains(Value::String(w)), Some(Value::String(h))) => h.contains(w.as_str()),
        (Op::Contains(w), Some(Value::Array(items))) => items.iter().any(|i| same(i, w)),
        _ => false,
    }
}

fn describe(op: &Op) -> String {
    match op {
        Op::Eq(w) => format!("is not {w}"),
        Op::Neq(w) => format!("is {w}"),
        Op::In(ws) => format!("is not in {}", Value::Array(ws.clone())),
        Op::Nin(ws) => format!("is in {}", Value::Array(ws.clone())),
        Op::Cmp(o, w) => {
            let sym = match o {
                Ordering::Gt => ">",
                Ordering::Gte => ">=",
                Ordering::Lt => "<",
                Ordering::Lte => "<=",
            };
            format!("is not {sym} {w}")
        }
        Op::StartsWith(w) => format!("does not start with {w:?}"),
        Op::EndsWith(w) => format!("does not end with {w:?}"),
        Op::Contains(w) => format!("does not contain {w}"),
        Op::Exists(true) => "does not exist".into(),
        Op::Exists(false) => "exists".into(),
    }
}

fn eval(n: &Node, have: Option<&Value>) -> Result<(), Miss> {
    match n {
        Node::All(parts) => parts.iter().try_for_each(|p| eval(p, have)),
        Node::Any(path, parts) => {
            if parts.iter().any(|p| eval(p, have).is_ok()) {
                Ok(())
            } else {
                Err(format!("{}: no alternative matches", at(path)))
            }
        }
        Node::Not(path, inner) => match eval(inner, have) {
            Ok(()) => Err(format!("{}: the negated document matches", at(path))),
            Err(_) => Ok(()),
        },
        Node::Field(k, inner) => {
            let child = match have {
                Some(Value::Object(m)) => m.get(k),
                _ => None,
            };
            eval(inner, child)
        }
        Node::Op(path, op) => {
            if apply(op, have) {
                Ok(())
            } else if have.is_none() && !matches!(op, Op::Exists(_)) {
                Err(format!("{}: absent", at(path)))
            } else {
                Err(format!("{}: {} {}", at(path), show(have), describe(op)))
            }
        }
    }
}

#[cfg(test)]
mod tests;
