//! What the operator CLI prints: aligned tables for people, one JSON
//! document for scripts (`--json`), and text cut to fit a line.

use serde_json::Value;

/// A column: its heading and how to read it from an item.
pub type Column = (&'static str, fn(&Value) -> String);

/// A string field, or "-".
pub fn s(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Print `items` as a table with `cols`, or as `{"items": […]}`.
pub fn list(json: bool, items: &[Value], cols: &[Column]) {
    if json {
        println!("{}", serde_json::json!({ "items": items }));
        return;
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|i| cols.iter().map(|(_, f)| one_line(&f(i), 80)).collect())
        .collect();
    let mut widths: Vec<usize> = cols.iter().map(|(h, _)| h.chars().count()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}", w = *w))
            .collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(cols.iter().map(|(h, _)| h.to_string()).collect());
    for r in rows {
        line(r);
    }
    if items.is_empty() {
        println!("(none)");
    }
}

/// One document: compact JSON for scripts, indented for people.
pub fn doc(json: bool, v: &Value) {
    if json {
        println!("{v}");
    } else {
        println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
    }
}

/// A line of text at most `max` characters, control characters shown as
/// `·` (a body may hold anything).
pub fn one_line(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { '·' } else { c })
        .take(max)
        .collect();
    if s.chars().count() > max {
        out.pop();
        out.push('…');
    }
    out
}

/// A byte count for people.
pub fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_fits_one_line() {
        assert_eq!(one_line("a\nb\tc", 10), "a·b·c");
        assert_eq!(one_line("abcdef", 4), "abc…");
        assert_eq!(one_line("é".repeat(5).as_str(), 3), "éé…");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(s(&Value::Null), "-");
    }
}
