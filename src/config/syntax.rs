//! From text to sections of `key = value` entries with their line numbers.
//!
//! rust-ini parses the text but keeps no line numbers, so we scan the lines ourselves. The scan
//! also rejects every line shape that rust-ini 0.21 would silently misread (it reads a line
//! without `=` as the start of a key that runs on into the next line, an indented `#` as a key,
//! text after `]` as a key, a value ending in `\` as joined with the next line, a quote as
//! running across lines). Only when the scan finds nothing wrong does rust-ini parse the text,
//! and its sections and keys are then zipped with the scanned ones; any disagreement is
//! reported, never guessed around.

use ini::{Ini, ParseOption};

use super::error::{ErrorKind, SyntaxError};

/// One `key = value`; `value` as rust-ini returns it (trimmed, quotes removed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct RawEntry {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// One `[header]` with its entries in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct RawSection {
    /// As rust-ini returns it: trimmed, without brackets.
    pub header: String,
    pub line: usize,
    pub entries: Vec<RawEntry>,
}

/// A located problem found before any section is interpreted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct LineError {
    pub line: usize,
    pub section: String,
    pub key: String,
    pub kind: ErrorKind,
}

/// rust-ini's options: all repeated keys and sections are kept by rust-ini itself (it appends);
/// escapes are off because keepalived reads backslashes literally; quotes are on so that
/// `script = "/usr/bin/pidof dnsmasq"` works as in keepalived.
fn parse_option() -> ParseOption {
    ParseOption {
        enabled_quote: true,
        enabled_escape: false,
        enabled_indented_mutiline_value: false,
        enabled_preserve_key_leading_whitespace: false,
    }
}

struct ScannedKey {
    key: String,
    line: usize,
}

struct ScannedSection {
    header: String,
    line: usize,
    keys: Vec<ScannedKey>,
}

/// Splits `text` into sections, or returns every line that cannot be read safely.
pub(super) fn read_sections(text: &str) -> Result<Vec<RawSection>, Vec<LineError>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let expanded = expand_bare_flags(text);
    let text = expanded.as_ref();
    let scanned = scan(text)?;
    let ini = Ini::load_from_str_opt(text, parse_option()).map_err(|e| {
        vec![LineError {
            line: e.line,
            section: String::new(),
            key: String::new(),
            kind: ErrorKind::IniParser {
                detail: e.msg.into_owned(),
            },
        }]
    })?;
    zip(&ini, scanned)
}

fn scan(text: &str) -> Result<Vec<ScannedSection>, Vec<LineError>> {
    let mut sections: Vec<ScannedSection> = Vec::new();
    let mut errors = Vec::new();
    for (index, raw_line) in text.split('\n').enumerate() {
        let line = index + 1;
        let current = sections
            .last()
            .map(|s| s.header.clone())
            .unwrap_or_default();
        let mut fail = |key: &str, e: SyntaxError| {
            errors.push(LineError {
                line,
                section: current.clone(),
                key: key.to_string(),
                kind: ErrorKind::Syntax(e),
            })
        };
        let content = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        if content.contains('\r') {
            fail("", SyntaxError::StrayCarriageReturn);
            continue;
        }
        let body = content.trim_start();
        if body.is_empty() {
            continue;
        }
        let indented = body.len() != content.len();
        if body.starts_with('#') || body.starts_with(';') {
            if indented {
                fail("", SyntaxError::IndentedComment);
            }
            continue;
        }
        if let Some(after_bracket) = body.strip_prefix('[') {
            match scan_header(after_bracket) {
                Ok(header) => sections.push(ScannedSection {
                    header,
                    line,
                    keys: Vec::new(),
                }),
                Err(e) => fail("", e),
            }
            continue;
        }
        match scan_entry(body) {
            Ok(key) => match sections.last_mut() {
                Some(section) => section.keys.push(ScannedKey { key, line }),
                None => fail(&key, SyntaxError::KeyOutsideSection),
            },
            Err((key, e)) => fail(&key, e),
        }
    }
    if errors.is_empty() {
        Ok(sections)
    } else {
        Err(errors)
    }
}

/// keepalived writes its flags as a bare word (`nopreempt`), and its users will too; INI
/// needs `key = value`. A line holding only one of these words becomes `word =` (flags read
/// an empty value as on), keeping the line count so every line number stays right.
pub(super) const BARE_FLAGS: &[&str] = &[
    "nopreempt",
    "use_vmac",
    "v3_checksum_as_v2",
    "enable_script_security",
    "full_command",
    "dont_track_primary",
    "accept",
    "no_accept",
    "sync_group_tracking_weight",
    "global_tracking",
];

fn expand_bare_flags(text: &str) -> std::borrow::Cow<'_, str> {
    let is_bare = |line: &str| BARE_FLAGS.contains(&line.trim());
    if !text.lines().any(is_bare) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for piece in text.split_inclusive('\n') {
        let (line, end) = match piece.strip_suffix('\n') {
            Some(l) => (l, "\n"),
            None => (piece, ""),
        };
        let (line, cr) = match line.strip_suffix('\r') {
            Some(l) => (l, "\r"),
            None => (line, ""),
        };
        out.push_str(line);
        if is_bare(line) {
            out.push_str(" =");
        }
        out.push_str(cr);
        out.push_str(end);
    }
    std::borrow::Cow::Owned(out)
}

/// The header after `[`: up to `]`, nothing but blanks after it.
fn scan_header(after_bracket: &str) -> Result<String, SyntaxError> {
    let Some(close) = after_bracket.find(']') else {
        return Err(SyntaxError::UnclosedSection);
    };
    let (inside, rest) = after_bracket.split_at(close);
    // With escapes off rust-ini still lets `\` swallow the next character, `]` included.
    if inside.contains('\\') {
        return Err(SyntaxError::UnclosedSection);
    }
    if !rest[1..].trim().is_empty() {
        return Err(SyntaxError::TextAfterSection);
    }
    Ok(inside.trim().to_string())
}

/// A `key = value` line (leading blanks removed); returns the key.
fn scan_entry(body: &str) -> Result<String, (String, SyntaxError)> {
    let Some(sep) = body.find(['=', ':']) else {
        return Err((String::new(), SyntaxError::NoSeparator));
    };
    let key = body[..sep].trim();
    if key.is_empty() {
        return Err((String::new(), SyntaxError::EmptyKey));
    }
    if !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err((key.to_string(), SyntaxError::BadKeyName));
    }
    scan_value(&body[sep + 1..]).map_err(|e| (key.to_string(), e))?;
    Ok(key.to_string())
}

/// Mirrors rust-ini's value reader enough to know the value ends on this line: quoted parts
/// (at the start of the value or right after another quoted part) must close, and a `\`
/// swallows the next character, so a `\` at the end would continue the line.
fn scan_value(value: &str) -> Result<(), SyntaxError> {
    let mut chars = value.trim_start().chars();
    let mut at_part_start = true;
    while let Some(c) = chars.next() {
        let quote = at_part_start && (c == '"' || c == '\'');
        if !quote {
            at_part_start = false;
        }
        match c {
            '\\' if chars.next().is_none() => return Err(SyntaxError::LineContinuation),
            q if quote => loop {
                match chars.next() {
                    None => return Err(SyntaxError::UnterminatedQuote),
                    Some('\\') if chars.next().is_none() => {
                        return Err(SyntaxError::LineContinuation)
                    }
                    Some(c) if c == q => break,
                    Some(_) => {}
                }
            },
            _ => {}
        }
    }
    Ok(())
}

fn zip(ini: &Ini, scanned: Vec<ScannedSection>) -> Result<Vec<RawSection>, Vec<LineError>> {
    let disagree = |line: usize, section: &str, detail: &str| {
        vec![LineError {
            line,
            section: section.to_string(),
            key: String::new(),
            kind: ErrorKind::IniParser {
                detail: format!("rust-ini read this differently ({detail})"),
            },
        }]
    };
    let mut parsed = ini
        .iter()
        .filter(|(name, props)| name.is_some() || !props.is_empty());
    let mut out = Vec::with_capacity(scanned.len());
    for section in scanned {
        let Some((Some(name), props)) = parsed.next() else {
            return Err(disagree(section.line, &section.header, "section missing"));
        };
        // `Properties::len` counts distinct keys; repeated keys are separate entries in `iter`.
        if name != section.header || props.iter().count() != section.keys.len() {
            return Err(disagree(section.line, &section.header, "section differs"));
        }
        let mut entries = Vec::with_capacity(section.keys.len());
        for ((key, value), scanned_key) in props.iter().zip(section.keys) {
            if key != scanned_key.key {
                return Err(disagree(scanned_key.line, &section.header, "key differs"));
            }
            entries.push(RawEntry {
                key: scanned_key.key,
                value: value.to_string(),
                line: scanned_key.line,
            });
        }
        out.push(RawSection {
            header: section.header,
            line: section.line,
            entries,
        });
    }
    if parsed.next().is_some() {
        return Err(disagree(0, "", "extra section"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(s: &RawSection) -> Vec<(&str, &str, usize)> {
        s.entries
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str(), e.line))
            .collect()
    }

    #[test]
    fn lines_follow_comments_blanks_and_indentation() {
        let text = "# top\n; also\n\n[a]\n  k = 1\n\tk = 2\n# mid\nj: x y \n   \n [b x]  \nk=\n";
        let s = read_sections(text).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].header.as_str(), s[0].line), ("a", 4));
        assert_eq!(
            keys(&s[0]),
            vec![("k", "1", 5), ("k", "2", 6), ("j", "x y", 8)]
        );
        assert_eq!((s[1].header.as_str(), s[1].line), ("b x", 10));
        assert_eq!(keys(&s[1]), vec![("k", "", 11)]);
    }

    #[test]
    fn repeated_sections_and_interleaved_keys_keep_file_order() {
        let text = "[a]\nx=1\ny=2\nx=3\n[b]\n[a]\nx=4\n";
        let s = read_sections(text).unwrap();
        let headers: Vec<_> = s.iter().map(|s| (s.header.as_str(), s.line)).collect();
        assert_eq!(headers, vec![("a", 1), ("b", 5), ("a", 6)]);
        assert_eq!(
            keys(&s[0]),
            vec![("x", "1", 2), ("y", "2", 3), ("x", "3", 4)]
        );
        assert_eq!(keys(&s[2]), vec![("x", "4", 7)]);
    }

    #[test]
    fn crlf_bom_quotes_and_backslashes() {
        let text =
            "\u{feff}[a]\r\ns = \"/bin/true x\"\r\nt = 'q' rest\r\nu = a\\b\r\nv = C:\\\\\r\n";
        let s = read_sections(text).unwrap();
        assert_eq!(
            keys(&s[0]),
            vec![
                ("s", "/bin/true x", 2),
                ("t", "q rest", 3),
                ("u", "a\\b", 4),
                ("v", "C:\\\\", 5)
            ]
        );
    }

    fn first_error(text: &str) -> (usize, String, ErrorKind) {
        let errors = read_sections(text).unwrap_err();
        let e = &errors[0];
        (e.line, e.key.clone(), e.kind.clone())
    }

    #[test]
    fn misreadable_lines_are_rejected_with_their_line() {
        use SyntaxError::*;
        let cases: &[(&str, usize, &str, SyntaxError)] = &[
            ("[a]\nnopreemptx\nx = 1\n", 2, "", NoSeparator),
            ("[a]\n = 1\n", 2, "", EmptyKey),
            ("[a]\ntrack script = x\n", 2, "track script", BadKeyName),
            ("[a\nx = 1]\n", 1, "", UnclosedSection),
            ("[a] # c\n", 1, "", TextAfterSection),
            ("[a]\nx = 1\n  # c\n", 3, "", IndentedComment),
            ("[a]\nx = \"abc\ny = 1\"\n", 2, "x", UnterminatedQuote),
            ("[a]\nx = abc \\\ny = 1\n", 2, "x", LineContinuation),
            ("[a]\nx = 1\ry = 2\n", 2, "", StrayCarriageReturn),
            ("x = 1\n[a]\n", 1, "x", KeyOutsideSection),
        ];
        for (text, line, key, kind) in cases {
            assert_eq!(
                first_error(text),
                (*line, key.to_string(), ErrorKind::Syntax(*kind)),
                "{text:?}"
            );
        }
    }

    /// Random files built from line shapes rust-ini handles in different code paths: our scan
    /// and rust-ini must never disagree, and every entry's line must hold that key.
    #[test]
    fn scan_agrees_with_rust_ini_on_generated_files() {
        const PIECES: &[&str] = &[
            "[a]",
            " [b c] ",
            "\t[a]",
            "[d]\t",
            "k = 1",
            "  k = 2",
            "\tk=3",
            "j: x",
            "j :y ",
            "",
            "   ",
            "\t",
            "# c",
            "; c",
            "  # c",
            "k =",
            "k = \"q v\"",
            "k = 'q' t",
            "k = \"open",
            "k = a\\",
            "k = a\\\\",
            "k = \\x",
            "bare",
            "= v",
            "[open",
            "[x] y",
            "k = v # not comment",
            "k\t=\tv\t",
            "k = a\rb",
            "K_2 = fe80::1",
            "k = \"a\\\"b\"",
            "[]",
            "k = [x]",
        ];
        let mut seed: u64 = 0x5eed;
        let mut next = |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            usize::try_from(seed >> 33).unwrap_or(0) % n
        };
        let mut accepted = 0;
        for _ in 0..3000 {
            let lines = 1 + next(8);
            let mut text = String::new();
            for _ in 0..lines {
                text.push_str(PIECES[next(PIECES.len())]);
                text.push_str(if next(4) == 0 { "\r\n" } else { "\n" });
            }
            if next(3) == 0 {
                text.pop();
            }
            match read_sections(&text) {
                Ok(sections) => {
                    accepted += 1;
                    let file_lines: Vec<&str> = text.split('\n').collect();
                    for s in &sections {
                        let header = file_lines[s.line - 1].trim_start();
                        assert!(header.starts_with('['), "{text:?}");
                        for e in &s.entries {
                            let line = file_lines[e.line - 1].trim_start();
                            assert!(line.starts_with(&e.key), "{text:?}");
                        }
                    }
                }
                Err(errors) => {
                    for e in errors {
                        assert!(
                            !matches!(e.kind, ErrorKind::IniParser { .. }),
                            "scan and rust-ini disagree on {text:?}: {e:?}"
                        );
                    }
                }
            }
        }
        assert!(accepted > 100, "too few valid files generated: {accepted}");
    }

    #[test]
    fn every_bad_line_is_reported() {
        let errors = read_sections("k = 1\n[a]\nbad\nworse\n").unwrap_err();
        let lines: Vec<_> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![1, 3, 4]);
    }
}
