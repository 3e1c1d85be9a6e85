//! `tinyvrrp status --json`: the daemon's `key=value` status text as one JSON object, for
//! rpcd (`ubus call tinyvrrp status`) and monitoring. Client-side and pure: the daemon keeps
//! serving text, this only converts what it sent.
//!
//! Shape: `{"instances":[{…,"peers":[{…}]}],"process":{…},"drops":{…}}`. An `instance=` line
//! becomes one object of `instances`; each `peer=` token opens an entry of that instance's
//! `peers` and the `csum_*` tokens after it belong to that peer. A line starting with a bare
//! word (`process`, `drops`, or one a later daemon adds) becomes an object under that word,
//! except the per-check lines (`track_script …`, `track_process …`), which repeat and become
//! the arrays `track_scripts` and `track_processes`.
//! Values that are JSON numbers (`51`, `-3`, `0.5`) are emitted as numbers, everything else
//! (`MASTER`, `192.0.2.1`, `1.5s`) as strings.

use std::fmt;

/// Why a status text could not be converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    /// A token that is not `key=value` (1-based line number, the token).
    MalformedToken { line: usize, token: String },
    /// The same key twice in one object.
    DuplicateKey { line: usize, key: String },
    /// A section word (`process`, `drops`, …) on two lines.
    DuplicateSection { line: usize, name: String },
    /// A line that starts with a `key=value` other than `instance=`.
    UnknownLine { line: usize, first: String },
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::MalformedToken { line, token } => {
                write!(f, "status line {line}: {token:?} is not key=value")
            }
            JsonError::DuplicateKey { line, key } => {
                write!(f, "status line {line}: key {key:?} appears twice")
            }
            JsonError::DuplicateSection { line, name } => {
                write!(f, "status line {line}: section {name:?} appears twice")
            }
            JsonError::UnknownLine { line, first } => {
                write!(
                    f,
                    "status line {line}: unknown line starting with {first:?}"
                )
            }
        }
    }
}

impl std::error::Error for JsonError {}

type Fields<'a> = Vec<(&'a str, &'a str)>;

/// Line words that repeat, one line per item, and the array each goes to.
const LIST_LINES: &[(&str, &str)] = &[
    ("track_script", "track_scripts"),
    ("track_process", "track_processes"),
];

struct InstanceLine<'a> {
    fields: Fields<'a>,
    peers: Vec<Fields<'a>>,
}

/// Converts the daemon's status text to one line of JSON (no trailing newline).
pub fn to_json(text: &str) -> Result<String, JsonError> {
    let mut instances: Vec<InstanceLine> = Vec::new();
    let mut sections: Vec<(&str, Fields)> = Vec::new();
    let mut lists: Vec<(&str, Vec<Fields>)> = Vec::new();

    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let mut tokens = raw.split_ascii_whitespace();
        let Some(first) = tokens.next() else {
            continue;
        };
        if let Some((key, value)) = first.split_once('=') {
            if key != "instance" {
                return Err(JsonError::UnknownLine {
                    line,
                    first: first.to_string(),
                });
            }
            let mut inst = InstanceLine {
                fields: vec![(key, value)],
                peers: Vec::new(),
            };
            for token in tokens {
                let (k, v) = split_token(line, token)?;
                match (k, inst.peers.last_mut()) {
                    ("peer", _) => inst.peers.push(vec![(k, v)]),
                    // The array of peers has that name (found by fuzzing).
                    ("peers", _) => {
                        return Err(JsonError::DuplicateKey {
                            line,
                            key: k.to_string(),
                        })
                    }
                    (k, Some(peer)) if k.starts_with("csum_") => push_field(line, peer, k, v)?,
                    _ => push_field(line, &mut inst.fields, k, v)?,
                }
            }
            instances.push(inst);
        } else if let Some(&(_, array)) = LIST_LINES.iter().find(|l| l.0 == first) {
            let fields = fields_of(line, tokens)?;
            match lists.iter_mut().find(|l| l.0 == array) {
                Some(list) => list.1.push(fields),
                None => lists.push((array, vec![fields])),
            }
        } else {
            // "instances" and the arrays' names are taken (found by fuzzing).
            let taken = first == "instances" || LIST_LINES.iter().any(|l| l.1 == first);
            if taken || sections.iter().any(|s| s.0 == first) {
                return Err(JsonError::DuplicateSection {
                    line,
                    name: first.to_string(),
                });
            }
            let fields = fields_of(line, tokens)?;
            sections.push((first, fields));
        }
    }

    let mut out = String::with_capacity(text.len() * 2 + 32);
    out.push_str("{\"instances\":[");
    for (i, inst) in instances.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('{');
        write_fields(&mut out, &inst.fields);
        out.push_str(",\"peers\":");
        write_objects(&mut out, &inst.peers);
        out.push('}');
    }
    out.push(']');
    for (name, fields) in &sections {
        out.push(',');
        write_string(&mut out, name);
        out.push_str(":{");
        write_fields(&mut out, fields);
        out.push('}');
    }
    for (name, items) in &lists {
        out.push(',');
        write_string(&mut out, name);
        out.push(':');
        write_objects(&mut out, items);
    }
    out.push('}');
    Ok(out)
}

/// `{"error":"…"}`: what `status --json` prints when there is no status to convert.
pub fn error_json(message: &str) -> String {
    let mut out = String::from("{\"error\":");
    write_string(&mut out, message);
    out.push('}');
    out
}

/// The `key=value` tokens of one line as one object's fields.
fn fields_of<'a>(
    line: usize,
    tokens: impl Iterator<Item = &'a str>,
) -> Result<Fields<'a>, JsonError> {
    let mut fields = Vec::new();
    for token in tokens {
        let (k, v) = split_token(line, token)?;
        push_field(line, &mut fields, k, v)?;
    }
    Ok(fields)
}

fn split_token(line: usize, token: &str) -> Result<(&str, &str), JsonError> {
    match token.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k, v)),
        _ => Err(JsonError::MalformedToken {
            line,
            token: token.to_string(),
        }),
    }
}

fn push_field<'a>(
    line: usize,
    fields: &mut Fields<'a>,
    key: &'a str,
    value: &'a str,
) -> Result<(), JsonError> {
    if fields.iter().any(|f| f.0 == key) {
        return Err(JsonError::DuplicateKey {
            line,
            key: key.to_string(),
        });
    }
    fields.push((key, value));
    Ok(())
}

/// `[{…},{…}]`.
fn write_objects(out: &mut String, items: &[Fields]) {
    out.push('[');
    for (i, fields) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('{');
        write_fields(out, fields);
        out.push('}');
    }
    out.push(']');
}

fn write_fields(out: &mut String, fields: &[(&str, &str)]) {
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, k);
        out.push(':');
        if is_json_number(v) {
            out.push_str(v);
        } else {
            write_string(out, v);
        }
    }
}

/// RFC 8259 section 6: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: usize| {
        b.get(i..)
            .map_or(0, |r| r.iter().take_while(|c| c.is_ascii_digit()).count())
    };
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i += digits(i),
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        let n = digits(i + 1);
        if n == 0 {
            return false;
        }
        i += 1 + n;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let n = digits(i);
        if n == 0 {
            return false;
        }
        i += n;
    }
    i == b.len()
}

/// A JSON string literal: `"` and `\` escaped, control characters as `\n`, `\t`, … or
/// `\u00XX`; everything else (including non-ASCII) passes through as UTF-8.
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                use std::fmt::Write as _;
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
instance=LAN interface=br-lan vrid=51 version=3 state=BACKUP priority=100 effective_priority=100 vips=none master=192.0.2.1 master_priority=200 since=12.5s rx_adverts=7 tx_adverts=0 rx_priority_zero=0 tx_priority_zero=0 become_master=0 release_master=0 discard_bad_ttl=2 peer=192.0.2.1 csum_rfc5798=7 csum_rfc9568=0 peer=192.0.2.3 csum_rfc5798=0 csum_rfc9568=1
instance=WAN interface=eth1 vrid=7 version=2 state=MASTER priority=150 effective_priority=150 vips=held rx_adverts=0 tx_adverts=9 rx_priority_zero=0 tx_priority_zero=0 become_master=1 release_master=0
process heap_allocs=1234
drops bad_checksum=3 unknown_vrid=1
";

    #[test]
    fn full_status_converts_to_the_documented_shape() {
        let json = to_json(SAMPLE).unwrap();
        let expected = concat!(
            r#"{"instances":["#,
            r#"{"instance":"LAN","interface":"br-lan","vrid":51,"version":3,"state":"BACKUP","#,
            r#""priority":100,"effective_priority":100,"vips":"none","master":"192.0.2.1","#,
            r#""master_priority":200,"since":"12.5s","rx_adverts":7,"tx_adverts":0,"#,
            r#""rx_priority_zero":0,"tx_priority_zero":0,"become_master":0,"release_master":0,"#,
            r#""discard_bad_ttl":2,"peers":[{"peer":"192.0.2.1","csum_rfc5798":7,"csum_rfc9568":0},"#,
            r#"{"peer":"192.0.2.3","csum_rfc5798":0,"csum_rfc9568":1}]},"#,
            r#"{"instance":"WAN","interface":"eth1","vrid":7,"version":2,"state":"MASTER","#,
            r#""priority":150,"effective_priority":150,"vips":"held","rx_adverts":0,"#,
            r#""tx_adverts":9,"rx_priority_zero":0,"tx_priority_zero":0,"become_master":1,"#,
            r#""release_master":0,"peers":[]}],"#,
            r#""process":{"heap_allocs":1234},"drops":{"bad_checksum":3,"unknown_vrid":1}}"#
        );
        assert_eq!(json, expected);
    }

    #[test]
    fn check_lines_become_arrays() {
        let text = "process heap_allocs=5\ntrack_script name=a runs=3 health=up\n\
                    track_script name=b runs=0 health=unknown\n\
                    track_process name=dns processes=2 health=up\n";
        assert_eq!(
            to_json(text).unwrap(),
            concat!(
                r#"{"instances":[],"process":{"heap_allocs":5},"#,
                r#""track_scripts":[{"name":"a","runs":3,"health":"up"},"#,
                r#"{"name":"b","runs":0,"health":"unknown"}],"#,
                r#""track_processes":[{"name":"dns","processes":2,"health":"up"}]}"#
            )
        );
    }

    #[test]
    fn no_instances_and_empty_drops_still_give_the_keys() {
        let json = to_json("process heap_allocs=0\ndrops\n").unwrap();
        assert_eq!(
            json,
            r#"{"instances":[],"process":{"heap_allocs":0},"drops":{}}"#
        );
        assert_eq!(to_json("").unwrap(), r#"{"instances":[]}"#);
    }

    #[test]
    fn strings_are_escaped() {
        let json = to_json("instance=a\"b\\c\u{1}d\u{7f}é\u{b}\n").unwrap();
        assert_eq!(
            json,
            "{\"instances\":[{\"instance\":\"a\\\"b\\\\c\\u0001d\u{7f}é\\u000b\",\"peers\":[]}]}"
        );
        let mut out = String::new();
        write_string(&mut out, "\t\r\n\u{8}\u{c}");
        assert_eq!(out, r#""\t\r\n\b\f""#);
    }

    #[test]
    fn only_json_numbers_become_numbers() {
        for n in [
            "0",
            "7",
            "-3",
            "12.5",
            "1e3",
            "-0.25E-2",
            "18446744073709551615",
        ] {
            assert!(is_json_number(n), "{n}");
        }
        for s in [
            "",
            "-",
            "007",
            "1.",
            ".5",
            "1.5s",
            "192.0.2.1",
            "1e",
            "+1",
            "0x10",
            "NaN",
        ] {
            assert!(!is_json_number(s), "{s}");
        }
    }

    #[test]
    fn malformed_input_is_a_typed_error() {
        assert_eq!(
            to_json("instance=a state\n"),
            Err(JsonError::MalformedToken {
                line: 1,
                token: "state".into()
            })
        );
        assert_eq!(
            to_json("drops =3\n"),
            Err(JsonError::MalformedToken {
                line: 1,
                token: "=3".into()
            })
        );
        assert_eq!(
            to_json("instance=a vrid=1 vrid=2\n"),
            Err(JsonError::DuplicateKey {
                line: 1,
                key: "vrid".into()
            })
        );
        assert_eq!(
            to_json("process a=1\n\nprocess a=2\n"),
            Err(JsonError::DuplicateSection {
                line: 3,
                name: "process".into()
            })
        );
        assert_eq!(
            to_json("state=MASTER\n"),
            Err(JsonError::UnknownLine {
                line: 1,
                first: "state=MASTER".into()
            })
        );
    }

    /// Found by fuzz/fuzz_targets/status_json.rs: these made one JSON object hold a key twice.
    #[test]
    fn names_the_json_uses_itself_are_refused() {
        assert_eq!(
            to_json("track_script name=a\ntrack_scripts name=b\n"),
            Err(JsonError::DuplicateSection {
                line: 2,
                name: "track_scripts".into()
            })
        );
        assert_eq!(
            to_json("instance=a peers=2\n"),
            Err(JsonError::DuplicateKey {
                line: 1,
                key: "peers".into()
            })
        );
    }

    #[test]
    fn error_json_escapes_the_message() {
        assert_eq!(
            error_json("status from \"/run/x.sock\": No such file\n"),
            r#"{"error":"status from \"/run/x.sock\": No such file\n"}"#
        );
    }
    /// The converter reads what the daemon's `render` really writes.
    #[test]
    fn converts_the_daemons_rendered_status() {
        use crate::instance::{GarpSchedule, Instance, Params};
        use crate::packet::{ChecksumForm, Version};
        use crate::status::{render, Counters, InstanceView, PeerForms};
        use std::time::Duration;

        let instance = Instance::new(Params {
            vrid: 42,
            version: Version::V3,
            priority: 150,
            advert_int_cs: 100,
            preempt: true,
            preempt_delay: Duration::ZERO,
            primary_ip: "192.0.2.11".parse().unwrap(),
            auth: None,
            garp: GarpSchedule::default(),
        });
        let mut discards = Counters::default();
        discards.bump("bad_ttl");
        let mut forms = PeerForms::default();
        forms.record("192.0.2.12".parse().unwrap(), ChecksumForm::MessageOnly);
        let mut drops = Counters::default();
        drops.bump("unknown_vrid");
        drops.bump("unknown_vrid");
        let view = InstanceView {
            name: "VI_1",
            interface: "eth0",
            instance: &instance,
            discards: &discards,
            forms: &forms,
            vips_held: false,
            addresses: &[],
            since_transition: Some(Duration::from_millis(1500)),
            reason: "",
            transitions: &[],
        };
        let mut text = String::new();
        render(&mut text, std::iter::once(view), &drops);
        crate::status::render_tracking(
            &mut text,
            std::iter::once(("chk", 3, crate::track::Health::Up, -20)),
            std::iter::once(("dns", 1, crate::track::Health::Down, 0)),
        );

        let json = to_json(&text).unwrap();
        for part in [
            r#"{"instances":[{"instance":"VI_1","interface":"eth0","vrid":42,"version":3,"#,
            r#""priority":150,"#,
            r#""since":"1.5s","#,
            r#""discard_bad_ttl":1,"peers":[{"peer":"192.0.2.12","csum_rfc5798":0,"csum_rfc9568":1}]}],"#,
            r#""process":{"heap_allocs":"#,
            r#""drops":{"unknown_vrid":2},"#,
            r#""track_scripts":[{"name":"chk","runs":3,"health":"up","weight":-20}],"#,
            r#""track_processes":[{"name":"dns","processes":1,"health":"down","weight":0}]}"#,
        ] {
            assert!(json.contains(part), "{part} not in {json}");
        }
    }
}
