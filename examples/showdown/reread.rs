//! Reading a run back: `--chart-from FILE` draws the chart of a JSON file
//! the showdown wrote, without running anything (so a recorded run gets a
//! chart of today's design).
//!
//! The showdown writes its JSON by hand (no serde), so it reads it by hand
//! too: a small recursive-descent parser for JSON values ([`Value`]), then
//! the fields the chart needs are picked out of the tree. A missing field
//! reads as "not measured" (`null`), so older files still draw.

use std::collections::HashMap;

use crate::report::{Machine, Record, Settings};

/// A JSON value.
enum Value {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    List(Vec<Value>),
    Object(HashMap<String, Value>),
}

impl Value {
    fn get(&self, key: &str) -> &Value {
        match self {
            Value::Object(map) => map.get(key).unwrap_or(&Value::Null),
            _ => &Value::Null,
        }
    }
    fn num(&self) -> Option<f64> {
        match self {
            Value::Num(n) => Some(*n),
            _ => None,
        }
    }
    fn int(&self) -> Option<u64> {
        self.num().map(|n| n as u64)
    }
    fn text(&self) -> Option<String> {
        match self {
            Value::Str(s) => Some(s.clone()),
            _ => None,
        }
    }
    fn list(&self) -> &[Value] {
        match self {
            Value::List(items) => items,
            _ => &[],
        }
    }
    fn pair(&self) -> Option<(f64, f64)> {
        match self.list() {
            [a, b] => Some((a.num()?, b.num()?)),
            _ => None,
        }
    }
}

/// The machine, settings and results of a showdown JSON document.
pub fn run(text: &str) -> Result<(Machine, Settings, Vec<Record>), String> {
    let mut parser = Parser { text, at: 0 };
    let doc = parser.value()?;
    parser.skip_space();
    if parser.at != text.len() {
        return Err(format!("unexpected text at byte {}", parser.at));
    }
    let m = doc.get("machine");
    let machine = Machine {
        nproc: m.get("nproc").int().unwrap_or(0) as usize,
        kernel: m.get("kernel").text().unwrap_or_default(),
        cpu: m.get("cpu").text().unwrap_or_default(),
        loadavg: m.get("loadavg_at_start").text().unwrap_or_default(),
        unix_time: m.get("unix_time").int().unwrap_or(0),
    };
    let s = doc.get("settings");
    let settings = Settings {
        secs: s.get("secs").num().unwrap_or(0.0),
        warmup: s.get("warmup_secs").num().unwrap_or(0.0),
        size: s.get("size").int().unwrap_or(0) as usize,
        client_threads: s.get("client_threads").int().unwrap_or(0) as usize,
        pin: matches!(s.get("pin"), Value::Bool(true)),
        conns: s
            .get("conns")
            .list()
            .iter()
            .filter_map(Value::int)
            .map(|c| c as usize)
            .collect(),
        models: s
            .get("models")
            .list()
            .iter()
            .filter_map(Value::text)
            .collect(),
        rounds: s.get("rounds").int().unwrap_or(1) as usize,
        elapsed_secs: s.get("elapsed_secs").num().unwrap_or(0.0),
    };
    let mut records = Vec::new();
    for r in doc.get("results").list() {
        let model = r.get("model").text().ok_or("a result without a model")?;
        let conns = r.get("conns").int().ok_or("a result without conns")? as usize;
        let mut record = Record::measured(&model, conns);
        record.rps = r.get("rps").num();
        record.p50_us = r.get("p50_us").num();
        record.p99_us = r.get("p99_us").num();
        record.cpu_us_per_req = r.get("cpu_us_per_req").num();
        record.client_cpu_us_per_req = r.get("client_cpu_us_per_req").num();
        record.rss_kb = r.get("rss_kb").int();
        record.threads = r.get("threads").int();
        record.procs = r.get("procs").int();
        record.other_cpu_pct = r.get("other_cpu_pct").num();
        record.steal_pct = r.get("steal_pct").num();
        record.requests = r.get("requests").int().unwrap_or(0);
        record.errors = r.get("errors").int().unwrap_or(0);
        record.secs = r.get("secs").num().unwrap_or(0.0);
        record.rounds = r.get("rounds").int().unwrap_or(1) as usize;
        record.rps_range = r.get("rps_range").pair();
        record.cpu_us_per_req_range = r.get("cpu_us_per_req_range").pair();
        record.note = r.get("note").text();
        records.push(record);
    }
    if records.is_empty() {
        return Err("no results in the file".to_string());
    }
    Ok((machine, settings, records))
}

/// A cursor over the JSON text.
struct Parser<'a> {
    text: &'a str,
    at: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.at..]
    }

    fn skip_space(&mut self) {
        let trimmed = self.rest().trim_start();
        self.at = self.text.len() - trimmed.len();
    }

    fn error<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("expected {what} at byte {}", self.at))
    }

    /// Consumes `token` (after white space) if it comes next.
    fn eat(&mut self, token: &str) -> bool {
        self.skip_space();
        if self.rest().starts_with(token) {
            self.at += token.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Result<Value, String> {
        self.skip_space();
        if self.eat("null") {
            Ok(Value::Null)
        } else if self.eat("true") {
            Ok(Value::Bool(true))
        } else if self.eat("false") {
            Ok(Value::Bool(false))
        } else if self.rest().starts_with('"') {
            self.string().map(Value::Str)
        } else if self.eat("[") {
            let mut items = Vec::new();
            if !self.eat("]") {
                loop {
                    items.push(self.value()?);
                    if self.eat("]") {
                        break;
                    }
                    if !self.eat(",") {
                        return self.error("`,` or `]`");
                    }
                }
            }
            Ok(Value::List(items))
        } else if self.eat("{") {
            let mut map = HashMap::new();
            if !self.eat("}") {
                loop {
                    self.skip_space();
                    let key = self.string()?;
                    if !self.eat(":") {
                        return self.error("`:`");
                    }
                    map.insert(key, self.value()?);
                    if self.eat("}") {
                        break;
                    }
                    if !self.eat(",") {
                        return self.error("`,` or `}`");
                    }
                }
            }
            Ok(Value::Object(map))
        } else {
            self.number()
        }
    }

    fn number(&mut self) -> Result<Value, String> {
        let len = self
            .rest()
            .find(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c)))
            .unwrap_or(self.rest().len());
        match self.rest()[..len].parse::<f64>() {
            Ok(n) if len > 0 => {
                self.at += len;
                Ok(Value::Num(n))
            }
            _ => self.error("a value"),
        }
    }

    /// A string literal, escapes decoded (`\uXXXX` too, surrogate pairs
    /// joined).
    fn string(&mut self) -> Result<String, String> {
        if !self.rest().starts_with('"') {
            return self.error("a string");
        }
        self.at += 1;
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.at += i + 1;
                    return Ok(out);
                }
                '\\' => {
                    let escaped = match chars.next().map(|(_, e)| e) {
                        Some('n') => '\n',
                        Some('t') => '\t',
                        Some('r') => '\r',
                        Some('b') => '\u{8}',
                        Some('f') => '\u{c}',
                        Some('u') => {
                            let first = hex4(&mut chars).ok_or("bad \\u escape")?;
                            let code = if (0xD800..0xDC00).contains(&first) {
                                // A surrogate pair: `\uD83D\uDE00`.
                                let _ = (chars.next(), chars.next());
                                let low = hex4(&mut chars).ok_or("bad \\u escape")?;
                                0x10000
                                    + ((first - 0xD800) << 10)
                                    + (low.wrapping_sub(0xDC00) & 0x3FF)
                            } else {
                                first
                            };
                            char::from_u32(code).unwrap_or('\u{FFFD}')
                        }
                        Some(other) => other, // `\"`, `\\`, `\/`
                        None => break,
                    };
                    out.push(escaped);
                }
                c => out.push(c),
            }
        }
        self.error("the end of a string")
    }
}

/// The four hex digits of a `\uXXXX` escape.
fn hex4(chars: &mut std::str::CharIndices) -> Option<u32> {
    let hex: String = chars.take(4).map(|(_, h)| h).collect();
    u32::from_str_radix(&hex, 16).ok()
}
