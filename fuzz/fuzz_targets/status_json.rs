//! `tinyvrrp status --json` converts whatever text came back over the status socket. For
//! arbitrary text it must give either JSON or an error naming a line of the text, never a
//! panic. The JSON must parse (with no key twice in one object), hold one `instances` entry
//! per `instance=` line, and carry every instance's name through unchanged. `error_json`
//! must round-trip any message.
#![no_main]

use std::fmt;

use libfuzzer_sys::fuzz_target;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use tinyvrrp::status::{error_json, to_json, JsonError};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = text.lines().count();
    match to_json(text) {
        Ok(json) => check_json(text, &json),
        Err(
            JsonError::MalformedToken { line, .. }
            | JsonError::DuplicateKey { line, .. }
            | JsonError::DuplicateSection { line, .. }
            | JsonError::UnknownLine { line, .. },
        ) => assert!(line >= 1 && line <= lines, "line {line} of {lines}"),
    }
    let err = strict(&error_json(text));
    assert_eq!(err.get("error").and_then(Value::as_str), Some(text));
});

fn strict(json: &str) -> Value {
    match serde_json::from_str::<Strict>(json) {
        Ok(Strict(v)) => v,
        // Valid JSON (RFC 8259 lets a reader limit the range), but nothing to compare.
        Err(e) if e.to_string().starts_with("number out of range") => Value::Null,
        Err(e) => panic!("{e}: {json}"),
    }
}

fn check_json(text: &str, json: &str) {
    let v = strict(json);
    if v.is_null() {
        return;
    }
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_ascii_whitespace().next())
        .filter_map(|t| t.strip_prefix("instance="))
        .collect();
    let instances = v["instances"].as_array().expect("instances array");
    assert_eq!(instances.len(), names.len());
    for (inst, name) in instances.iter().zip(names) {
        assert!(inst["peers"].is_array());
        match &inst["instance"] {
            Value::String(s) => assert_eq!(s, name),
            Value::Number(n) => assert_eq!(n.to_string().parse::<f64>().ok(), name.parse().ok()),
            other => panic!("instance name {other:?}"),
        }
    }
}

/// A JSON value that refuses a key appearing twice in one object.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Strict, E> {
        Ok(Strict(Value::Bool(b)))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Strict, E> {
        Ok(Strict(n.into()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Strict, E> {
        Ok(Strict(n.into()))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Strict, E> {
        Ok(Strict(n.into()))
    }
    fn visit_str<E>(self, s: &str) -> Result<Strict, E> {
        Ok(Strict(Value::String(s.to_string())))
    }
    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict(Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Strict(Value::Array(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        let mut out = Map::new();
        while let Some((k, Strict(v))) = map.next_entry::<String, Strict>()? {
            if out.insert(k.clone(), v).is_some() {
                return Err(de::Error::custom(format!("key {k:?} twice")));
            }
        }
        Ok(Strict(Value::Object(out)))
    }
}
