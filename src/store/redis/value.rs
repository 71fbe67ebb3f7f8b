//! Decoding helpers for the nested replies of Lua scripts.

use redis::Value;

use crate::store::{Result, StoreError};

pub fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

pub fn string(v: &Value) -> Result<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).map_err(|_| corrupt("utf8")),
        Value::SimpleString(s) => Ok(s.clone()),
        Value::Int(i) => Ok(i.to_string()),
        _ => Err(corrupt("expected string")),
    }
}

pub fn int(v: &Value) -> Result<i64> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::BulkString(_) | Value::SimpleString(_) => {
            string(v)?.parse().map_err(|_| corrupt("expected integer"))
        }
        _ => Err(corrupt("expected integer")),
    }
}

pub fn array(v: &Value) -> Result<&[Value]> {
    match v {
        Value::Array(a) => Ok(a),
        Value::Nil => Ok(&[]),
        _ => Err(corrupt("expected array")),
    }
}

pub fn bytes(v: &Value) -> Result<bytes::Bytes> {
    match v {
        Value::BulkString(b) => Ok(bytes::Bytes::copy_from_slice(b)),
        Value::SimpleString(s) => Ok(bytes::Bytes::copy_from_slice(s.as_bytes())),
        _ => Err(corrupt("expected bytes")),
    }
}

/// First element of a script reply: the status word.
pub fn status(reply: &[Value]) -> Result<String> {
    reply
        .first()
        .map(string)
        .unwrap_or(Err(corrupt("empty reply")))
}
