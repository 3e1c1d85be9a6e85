//! keepalived's line syntax: comments, quotes, `@ID` conditional lines, `$NAME` definitions,
//! line continuation and `include`, down to a stream of words, braces and line ends.
//!
//! Follows keepalived's lib/parser.c: `#` and `!` outside double quotes start a comment
//! anywhere in a line (`\#`, `\!` are literal), a `"..."` string is one word without its
//! quotes, `{` and `}` outside quotes separate words, relative `include` paths are relative
//! to the directory of the including file.

use super::glob;
use super::{ImportError, Loader, Warn, Warnings};

/// Includes nested deeper than this are skipped (an include loop).
const MAX_INCLUDE_DEPTH: usize = 16;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Tok {
    Word(String),
    Open,
    Close,
    Eol,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Token {
    pub tok: Tok,
    pub file: usize,
    pub line: usize,
}

pub(super) struct Lexer<'a> {
    pub config_id: &'a str,
    pub loader: &'a dyn Loader,
    /// Every file read, in order; tokens refer to them by index.
    pub files: Vec<String>,
    pub tokens: Vec<Token>,
    defs: Vec<(String, String)>,
    /// A skipped `@ID` line has been mentioned (once per import).
    skip_said: bool,
}

impl<'a> Lexer<'a> {
    pub fn new(config_id: &'a str, loader: &'a dyn Loader) -> Self {
        Lexer {
            config_id,
            loader,
            files: Vec::new(),
            tokens: Vec::new(),
            defs: Vec::new(),
            skip_said: false,
        }
    }

    /// Lexes `text`, read from `name`, appending to `self.tokens`.
    pub fn lex(
        &mut self,
        name: &str,
        text: &str,
        depth: usize,
        w: &mut Warnings,
    ) -> Result<(), ImportError> {
        let file = self.files.len();
        self.files.push(name.to_string());
        let mut pending = String::new();
        let mut pending_line = 0;
        for (index, raw) in text.split('\n').enumerate() {
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            let here = if pending.is_empty() {
                index + 1
            } else {
                pending_line
            };
            let (mut line, cont) = decomment(raw).map_err(|what| syntax(name, index + 1, what))?;
            if cont {
                if pending.is_empty() {
                    pending_line = index + 1;
                }
                pending.push_str(&line);
                pending.push(' ');
                continue;
            }
            if !pending.is_empty() {
                pending.push_str(&line);
                line = std::mem::take(&mut pending);
            }
            self.line(name, file, here, &line, depth, w)?;
        }
        if !pending.is_empty() {
            let line = std::mem::take(&mut pending);
            self.line(name, file, pending_line, &line, depth, w)?;
        }
        Ok(())
    }

    fn line(
        &mut self,
        name: &str,
        file: usize,
        line_no: usize,
        line: &str,
        depth: usize,
        w: &mut Warnings,
    ) -> Result<(), ImportError> {
        let Some(line) = self.conditional(line.trim()) else {
            if !self.skip_said {
                self.skip_said = true;
                let text = format!("keepalived skips the lines of other config ids; skipped here for config id {:?} (set another with --config-id)", self.config_id);
                w.push(Warn::new(name, line_no, "@", text, false));
            }
            return Ok(());
        };
        if let Some(rest) = line.strip_prefix('$') {
            if let Some((def, value)) = definition(rest) {
                self.defs.retain(|(n, _)| n != def);
                self.defs.push((def.to_string(), value.trim().to_string()));
                return Ok(());
            }
        }
        let substituted;
        let line = if line.contains('$') && !self.defs.is_empty() {
            substituted = self.substitute(line);
            let (text, _) = decomment(&substituted).map_err(|what| syntax(name, line_no, what))?;
            text
        } else {
            line.to_string()
        };
        let line = line.trim();
        if let Some(pattern) = include_pattern(line) {
            return self.include(name, line_no, pattern, depth, w);
        }
        self.words(name, file, line_no, line)
    }

    /// Applies a leading `@ID` / `@^ID`: the rest of the line, or None when it is not for us.
    fn conditional<'l>(&self, line: &'l str) -> Option<&'l str> {
        let Some(rest) = line.strip_prefix('@') else {
            return Some(line);
        };
        let (negated, rest) = match rest.strip_prefix('^') {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let end = rest.find([' ', '\t'])?;
        let matches = &rest[..end] == self.config_id;
        (matches != negated).then(|| rest[end..].trim_start())
    }

    /// Replaces `$NAME` and `${NAME}` of known definitions; anything else is kept.
    fn substitute(&self, line: &str) -> String {
        let mut out = String::with_capacity(line.len());
        let mut rest = line;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            let (name, braced) = match after.strip_prefix('{') {
                Some(inner) => match inner.find('}') {
                    Some(end) => (&inner[..end], true),
                    None => ("", true),
                },
                None => (&after[..name_len(after)], false),
            };
            match self
                .defs
                .iter()
                .find(|(n, _)| !name.is_empty() && n == name)
            {
                Some((_, value)) => {
                    out.push_str(value);
                    rest = &after[name.len() + if braced { 2 } else { 0 }..];
                }
                None => {
                    out.push('$');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }

    fn include(
        &mut self,
        name: &str,
        line_no: usize,
        pattern: &str,
        depth: usize,
        w: &mut Warnings,
    ) -> Result<(), ImportError> {
        let warn = |w: &mut Warnings, text: String| {
            w.push(Warn::new(name, line_no, "include", text, true));
        };
        if depth >= MAX_INCLUDE_DEPTH {
            warn(
                w,
                "includes nested too deep (a loop?); this one is skipped".into(),
            );
            return Ok(());
        }
        let full = glob::relative_to(name, pattern);
        let paths = match glob::expand(&full, self.loader) {
            Ok(paths) => paths,
            Err(e) => {
                warn(
                    w,
                    format!("keepalived skips what it cannot read; so does tinyvrrp: {e}"),
                );
                return Ok(());
            }
        };
        for path in paths {
            match self.loader.read(&path) {
                Ok(text) => self.lex(&path, &text, depth + 1, w)?,
                Err(e) => warn(
                    w,
                    format!("keepalived skips what it cannot read; so does tinyvrrp: {path}: {e}"),
                ),
            }
        }
        Ok(())
    }

    fn words(
        &mut self,
        name: &str,
        file: usize,
        line: usize,
        text: &str,
    ) -> Result<(), ImportError> {
        let mut push = |tok: Tok| self.tokens.push(Token { tok, file, line });
        let mut rest = text;
        loop {
            rest = rest.trim_start_matches([' ', '\t']);
            let Some(c) = rest.chars().next() else { break };
            match c {
                '{' | '}' => {
                    push(if c == '{' { Tok::Open } else { Tok::Close });
                    rest = &rest[1..];
                }
                '"' => {
                    let Some(end) = rest[1..].find('"') else {
                        return Err(syntax(name, line, "unterminated quote"));
                    };
                    push(Tok::Word(rest[1..=end].to_string()));
                    rest = &rest[end + 2..];
                }
                _ => {
                    let end = rest.find([' ', '\t', '"', '{', '}']).unwrap_or(rest.len());
                    push(Tok::Word(rest[..end].to_string()));
                    rest = &rest[end..];
                }
            }
        }
        push(Tok::Eol);
        Ok(())
    }
}

fn syntax(file: &str, line: usize, what: &str) -> ImportError {
    ImportError::Syntax {
        file: file.to_string(),
        line,
        what: what.to_string(),
    }
}

/// Cuts the comment off `raw` and trims it; true when it ends in `\` (continued on the next
/// line, the `\` removed).
fn decomment(raw: &str) -> Result<(String, bool), &'static str> {
    let mut out = String::with_capacity(raw.len());
    let mut quote = false;
    let mut chars = raw.chars().peekable();
    let mut cont = false;
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quote = !quote;
                out.push(c);
            }
            '\\' => match chars.peek() {
                None => cont = true,
                Some(&n) if !quote && (n == '#' || n == '!') => {
                    out.push(n);
                    chars.next();
                }
                Some(&n) => {
                    out.push(c);
                    out.push(n);
                    chars.next();
                }
            },
            '#' | '!' if !quote => break,
            _ => out.push(c),
        }
    }
    if quote {
        return Err("unterminated quote");
    }
    let trimmed = out.trim_matches([' ', '\t']);
    Ok((trimmed.to_string(), cont))
}

fn name_len(s: &str) -> usize {
    s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len())
}

/// `NAME=value` after the `$`.
fn definition(rest: &str) -> Option<(&str, &str)> {
    let len = name_len(rest);
    let value = rest[len..].trim_start().strip_prefix('=')?;
    (len > 0).then(|| (&rest[..len], value))
}

/// keepalived's `include`, `includer`, `includew`, ... followed by the pattern.
fn include_pattern(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("include")?;
    let rest = match rest.strip_prefix(['r', 'a', 'w', 'm', 'b']) {
        Some(r) => r,
        None => rest,
    };
    let trimmed = rest.trim_start_matches([' ', '\t']);
    (trimmed.len() < rest.len() && !trimmed.is_empty()).then_some(trimmed)
}
