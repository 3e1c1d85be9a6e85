//! From text to sections of `key = value` entries with their line numbers.
//!
//! rust-ini parses the text but keeps no line numbers, so we scan the lines ourselves. The scan
//! removes comments (`#`, `;` and keepalived's `!` at the start of a line or after a blank,
//! outside quotes), turns a lone word into `word =` (keepalived writes flags that way), and
//! reports every line shape that rust-ini 0.21 would silently misread (a line without `=` read
//! as the start of a key that runs on into the next line, text after `]` read as a key, a value
//! ending in `\` joined with the next line, a quote running across lines). A bad line is
//! reported and blanked; rust-ini then parses the cleaned text (only headers, `key = value`
//! and blank lines, at the same line numbers) and its sections and keys are zipped with the
//! scanned ones; any disagreement is reported, never guessed around.

use ini::{Ini, ParseOption};

use super::error::{ConfigError, ConfigWarning, ErrorKind, SyntaxError, WarningKind, MAX_REPORTS};

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
    /// Keys of this section's lines that could not be read (already reported): a "missing"
    /// error for them would only repeat that.
    pub unread: Vec<String>,
}

/// What the scan found: the sections it could read and every problem, all at once.
#[derive(Debug, Default)]
pub(super) struct Scanned {
    pub sections: Vec<RawSection>,
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<ConfigWarning>,
    /// Errors and warnings beyond `MAX_REPORTS`, not kept.
    pub dropped: [usize; 2],
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
    unread: Vec<String>,
}

/// One line after the scan: what rust-ini gets, and what it must find there.
enum Shape {
    Blank,
    Header(String),
    Entry(String),
}

/// Splits `text` into sections and reports every line that cannot be read safely; the lines
/// that can be read are returned even when others cannot.
pub(super) fn read_sections(text: &str, file: &str) -> Scanned {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut scanner = Scanner {
        file,
        out: Scanned::default(),
        sections: Vec::new(),
        cleaned: String::with_capacity(text.len() + 16),
        skipping: false,
    };
    for (index, raw_line) in text.split('\n').enumerate() {
        scanner.line(index + 1, raw_line);
        scanner.cleaned.push('\n');
    }
    let Scanner {
        mut out,
        sections,
        cleaned,
        ..
    } = scanner;
    match Ini::load_from_str_opt(&cleaned, parse_option()) {
        Ok(ini) => match zip(&ini, sections) {
            Ok(s) => out.sections = s,
            Err((line, section, detail)) => {
                let kind = ErrorKind::IniParser {
                    detail: format!("rust-ini read this differently ({detail})"),
                };
                scanner_error(&mut out, file, line, section, String::new(), kind);
            }
        },
        Err(e) => {
            let kind = ErrorKind::IniParser {
                detail: e.msg.into_owned(),
            };
            scanner_error(&mut out, file, e.line, String::new(), String::new(), kind);
        }
    }
    out
}

fn scanner_error(
    out: &mut Scanned,
    file: &str,
    line: usize,
    section: String,
    key: String,
    kind: ErrorKind,
) {
    if out.errors.len() >= MAX_REPORTS {
        out.dropped[0] += 1;
        return;
    }
    out.errors.push(ConfigError {
        file: file.to_string(),
        line,
        section,
        key,
        kind,
    });
}

struct Scanner<'f> {
    file: &'f str,
    out: Scanned,
    sections: Vec<ScannedSection>,
    /// What rust-ini reads: the same lines, cleaned or blanked.
    cleaned: String,
    /// After a bad header, its lines belong to no section: skipped, not reported.
    skipping: bool,
}

impl Scanner<'_> {
    fn current(&self) -> String {
        match self.sections.last() {
            Some(s) if !self.skipping => s.header.clone(),
            _ => String::new(),
        }
    }

    fn line(&mut self, line: usize, raw_line: &str) {
        let (shape, mark) = match scan_line(raw_line) {
            Ok(scanned) => scanned,
            Err((key, e)) => return self.bad_line(line, raw_line, key, e),
        };
        if self.skipping && !matches!(shape, Shape::Header(_)) {
            return;
        }
        if let Some(mark) = mark.filter(|_| self.out.warnings.len() < MAX_REPORTS) {
            let (section, key) = (self.current(), shape_key(&shape).to_string());
            self.out.warnings.push(ConfigWarning {
                file: self.file.to_string(),
                line,
                section,
                key,
                message: WarningKind::CommentMarkInValue { mark },
            });
        }
        match shape {
            Shape::Blank => {}
            Shape::Header(header) => {
                self.skipping = false;
                self.cleaned.push('[');
                self.cleaned.push_str(&header);
                self.cleaned.push(']');
                self.sections.push(ScannedSection {
                    header,
                    line,
                    keys: Vec::new(),
                    unread: Vec::new(),
                });
            }
            Shape::Entry(entry) => {
                let key = entry_key(&entry).to_string();
                match self.sections.last_mut() {
                    Some(s) => {
                        self.cleaned.push_str(&entry);
                        s.keys.push(ScannedKey { key, line });
                    }
                    None => {
                        let kind = ErrorKind::Syntax(SyntaxError::KeyOutsideSection);
                        scanner_error(&mut self.out, self.file, line, String::new(), key, kind);
                    }
                }
            }
        }
    }

    fn bad_line(&mut self, line: usize, raw_line: &str, key: String, e: SyntaxError) {
        let kind = ErrorKind::Syntax(e);
        let section = if raw_line.trim_start().starts_with('[') {
            self.skipping = true;
            String::new()
        } else if self.skipping {
            return;
        } else {
            self.current()
        };
        if let (Some(s), false) = (
            self.sections.last_mut(),
            key.is_empty() || section.is_empty(),
        ) {
            s.unread.push(key.clone());
        }
        scanner_error(&mut self.out, self.file, line, section, key, kind);
    }
}

fn shape_key(shape: &Shape) -> &str {
    match shape {
        Shape::Entry(e) => entry_key(e),
        _ => "",
    }
}

/// The key of a cleaned `key = value` line.
fn entry_key(entry: &str) -> &str {
    entry[..entry.find(['=', ':']).unwrap_or(entry.len())].trim()
}

/// keepalived's flags are a bare word (`nopreempt`, `smtp_alert`), and its users will write
/// them so; INI needs `key = value`. A line holding one key-like word becomes `word =` (flags
/// read an empty value as on; other keys report the empty value, naming the key).
fn is_key_name(word: &str) -> bool {
    !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// One raw line to its shape, with the first `#` or `!` kept inside a value (keepalived would
/// start a comment there), or the error and the key it is about.
fn scan_line(raw_line: &str) -> Result<(Shape, Option<char>), (String, SyntaxError)> {
    let content = raw_line.strip_suffix('\r').unwrap_or(raw_line);
    let first_word = || {
        let w = content.split_whitespace().next().unwrap_or("");
        if is_key_name(w) {
            w.to_string()
        } else {
            String::new()
        }
    };
    if content.contains('\r') {
        return Err((String::new(), SyntaxError::StrayCarriageReturn));
    }
    let (kept, mark) = strip_comment(content).map_err(|e| (first_word(), e))?;
    let body = kept.trim();
    if body.is_empty() {
        return Ok((Shape::Blank, None));
    }
    if body == "}" || body.ends_with('{') {
        return Err((first_word(), SyntaxError::KeepalivedBlock));
    }
    if let Some(after_bracket) = body.strip_prefix('[') {
        let header = scan_header(after_bracket).map_err(|e| (String::new(), e))?;
        return Ok((Shape::Header(header), None));
    }
    if is_key_name(body) {
        return Ok((Shape::Entry(format!("{body} =")), mark));
    }
    scan_entry(body)?;
    Ok((Shape::Entry(body.to_string()), mark))
}

/// Whether `value`, written after `key = `, reaches the reader whole: no comment starts in it,
/// no `#`/`!` sits inside a word, no quote is left open (the importer quotes it otherwise).
#[cfg(feature = "import")]
pub(crate) fn value_reads_whole(value: &str) -> bool {
    matches!(strip_comment(value), Ok((kept, None)) if kept.len() == value.len())
}

/// The line up to its comment, if any: `#`, `;` or `!` at the start or after a blank, outside
/// quotes (`"` or `'`, anywhere in the line, as keepalived's word splitter reads them). A `\`
/// keeps the next character from starting a comment or a quote.
fn strip_comment(line: &str) -> Result<(&str, Option<char>), SyntaxError> {
    let mut quote = None;
    let mut after_blank = true;
    let mut mark = None;
    let mut chars = line.char_indices();
    while let Some((i, c)) = chars.next() {
        match (quote, c) {
            (_, '\\') => {
                chars.next();
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '#' | ';' | '!') if after_blank => return Ok((&line[..i], mark)),
            (None, '#' | '!') => {
                mark.get_or_insert(c);
            }
            _ => {}
        }
        after_blank = c == ' ' || c == '\t';
    }
    if quote.is_some() {
        return Err(SyntaxError::UnterminatedQuote);
    }
    Ok((line, mark))
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

/// A `key = value` line without its comment, trimmed.
fn scan_entry(body: &str) -> Result<(), (String, SyntaxError)> {
    let first = body.split_whitespace().next().unwrap_or("");
    let Some(sep) = body.find(['=', ':']) else {
        if is_key_name(first) {
            return Err((first.to_string(), SyntaxError::MissingEquals));
        }
        return Err((String::new(), SyntaxError::NoSeparator));
    };
    let key = body[..sep].trim();
    if key.is_empty() {
        return Err((String::new(), SyntaxError::EmptyKey));
    }
    if !is_key_name(key) {
        // keepalived's `unicast_peer 2001:db8::1`: a key, a blank, a value with a `:`.
        if body[sep..].starts_with(':')
            && is_key_name(first)
            && key.bytes().any(|b| b == b' ' || b == b'\t')
        {
            return Err((first.to_string(), SyntaxError::MissingEquals));
        }
        return Err((key.to_string(), SyntaxError::BadKeyName));
    }
    scan_value(&body[sep + 1..]).map_err(|e| (key.to_string(), e))
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

/// The sections rust-ini read, with the scanned lines; or where and how they differ.
fn zip(
    ini: &Ini,
    scanned: Vec<ScannedSection>,
) -> Result<Vec<RawSection>, (usize, String, &'static str)> {
    let disagree = |line: usize, section: &str, detail| (line, section.to_string(), detail);
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
            unread: section.unread,
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

    fn ok(text: &str) -> Vec<RawSection> {
        let scanned = read_sections(text, "t");
        assert_eq!(scanned.errors, vec![], "{text:?}");
        scanned.sections
    }

    fn keys(s: &RawSection) -> Vec<(&str, &str, usize)> {
        s.entries
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str(), e.line))
            .collect()
    }

    #[test]
    fn lines_follow_comments_blanks_and_indentation() {
        let text = "# top\n; also\n\n[a]\n  k = 1\n\tk = 2\n  # mid\nj: x y \n   \n [b x]  \nk=\n";
        let s = ok(text);
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
        let s = ok(text);
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
        let s = ok(text);
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
        let errors = read_sections(text, "t").errors;
        let e = &errors[0];
        (e.line, e.key.clone(), e.kind.clone())
    }

    #[test]
    fn misreadable_lines_are_rejected_with_their_line() {
        use SyntaxError::*;
        let cases: &[(&str, usize, &str, SyntaxError)] = &[
            ("[a]\nno-preempt\nx = 1\n", 2, "", NoSeparator),
            ("[a]\npriority 100\n", 2, "priority", MissingEquals),
            (
                "[a]\nunicast_peer 2001:db8::1\n",
                2,
                "unicast_peer",
                MissingEquals,
            ),
            (
                "[a]\nvirtual_ipaddress {\n",
                2,
                "virtual_ipaddress",
                KeepalivedBlock,
            ),
            ("[a]\n}\n", 2, "", KeepalivedBlock),
            ("[a]\nx = it's\n", 2, "x", UnterminatedQuote),
            ("[a]\n = 1\n", 2, "", EmptyKey),
            ("[a]\ntrack script = x\n", 2, "track script", BadKeyName),
            ("[a\nx = 1]\n", 1, "", UnclosedSection),
            ("[a] x\n", 1, "", TextAfterSection),
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
            "k = v ; c",
            "k = 'a # b' # c",
            "k = \"x ! y\"",
            "! c",
            "  ; c",
            "[e] # c",
            "k = it's",
            "smtp_alert",
            "two words",
            "x {",
            "}",
            "k = a#b",
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
            let scanned = read_sections(&text, "t");
            for e in &scanned.errors {
                assert!(
                    !matches!(e.kind, ErrorKind::IniParser { .. }),
                    "scan and rust-ini disagree on {text:?}: {e:?}"
                );
            }
            if scanned.errors.is_empty() {
                accepted += 1;
            }
            let file_lines: Vec<&str> = text.split('\n').collect();
            for s in &scanned.sections {
                let header = file_lines[s.line - 1].trim_start();
                assert!(header.starts_with('['), "{text:?}");
                for e in &s.entries {
                    let line = file_lines[e.line - 1].trim_start();
                    assert!(line.starts_with(&e.key), "{text:?}");
                    let comment = ["# c", "; c", "! c"].iter().any(|c| e.value.contains(c));
                    assert!(!comment, "comment kept in {text:?}");
                }
            }
        }
        assert!(accepted > 100, "too few valid files generated: {accepted}");
    }

    #[test]
    fn every_bad_line_is_reported_and_the_good_ones_read() {
        let scanned = read_sections("k = 1\n[a]\nbad line\nworse line\nx = 2\n", "t");
        let lines: Vec<_> = scanned.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![1, 3, 4]);
        assert_eq!(keys(&scanned.sections[0]), vec![("x", "2", 5)]);
        assert_eq!(scanned.sections[0].unread, vec!["bad", "worse"]);
    }

    /// After a header that cannot be read, its lines are skipped (they would otherwise land
    /// in the section before it), and the next good header starts over.
    #[test]
    fn lines_under_a_bad_header_are_skipped() {
        let scanned = read_sections("[a]\nx = 1\n[b\ny = 2\nbad line\n[c]\nz = 3\n", "t");
        let lines: Vec<_> = scanned.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3]);
        let headers: Vec<_> = scanned.sections.iter().map(|s| s.header.as_str()).collect();
        assert_eq!(headers, vec!["a", "c"]);
        assert_eq!(keys(&scanned.sections[0]), vec![("x", "1", 2)]);
    }

    #[test]
    fn comments_start_at_a_blank_outside_quotes() {
        let text =
            "! keepalived\n[a] # c\n\t; c\nk = 1111 # note\nl = \"a # b\" ! c\nm = 'x ; y'\n\
                    n = a#b!c;d\no = \"it's\"\np = a\\ #b\nsmtp_alert ! flag\n";
        let scanned = read_sections(text, "t");
        assert_eq!(scanned.errors, vec![]);
        assert_eq!(
            keys(&scanned.sections[0]),
            vec![
                ("k", "1111", 4),
                ("l", "a # b", 5),
                ("m", "x ; y", 6),
                ("n", "a#b!c;d", 7),
                ("o", "it's", 8),
                ("p", "a\\ #b", 9),
                ("smtp_alert", "", 10),
            ]
        );
        // keepalived would cut `a#b!c;d` at `#`: said once for the line.
        let marks: Vec<_> = scanned
            .warnings
            .iter()
            .map(|w| (w.line, w.key.as_str(), w.message.clone()))
            .collect();
        let mark = |mark| WarningKind::CommentMarkInValue { mark };
        assert_eq!(marks, vec![(7, "n", mark('#')), (9, "p", mark('#'))]);
    }
}
