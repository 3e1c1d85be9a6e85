//! Collects errors and warnings with their location while sections are read, and answers
//! "which entries does this section have for key K".

use super::error::{ConfigError, ConfigWarning, ErrorKind, WarningKind, MAX_LIST, MAX_REPORTS};
use super::keywords::{listed, suggest, Foreign};
use super::syntax::{RawEntry, RawSection};
use super::values::int_in;

/// An integer range and how it is shown to the user.
pub(super) type Range = (i64, i64, &'static str);

pub(super) struct Ctx<'f> {
    pub file: &'f str,
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<ConfigWarning>,
    /// `virtual_rules` without a priority numbered so far, IPv4 and IPv6 (keepalived counts
    /// down from 16384 per family over the whole file).
    pub next_rule_priority: [u32; 2],
    /// This host's addresses and running instances, when checked against (see `live`).
    pub host: Option<&'f super::HostCheck<'f>>,
    /// Errors and warnings beyond `MAX_REPORTS`, not kept.
    pub dropped: [usize; 2],
    /// Every section's name and type (see `sort_sections`).
    pub names: super::dups::Index<'f>,
}

impl<'f> Ctx<'f> {
    pub fn new(file: &'f str) -> Self {
        Ctx {
            file,
            errors: Vec::new(),
            warnings: Vec::new(),
            next_rule_priority: [0; 2],
            host: None,
            dropped: [0; 2],
            names: super::dups::Index::new(Vec::new()),
        }
    }

    /// No more errors are kept.
    pub fn full(&self) -> bool {
        self.errors.len() >= MAX_REPORTS
    }

    pub fn error(&mut self, section: &RawSection, line: usize, key: &str, kind: ErrorKind) {
        if self.full() {
            self.dropped[0] += 1;
            return;
        }
        self.errors.push(ConfigError {
            file: self.file.to_string(),
            line,
            section: section.header.clone(),
            key: key.to_string(),
            kind,
        });
    }

    /// An error about one entry.
    pub fn at(&mut self, section: &RawSection, entry: &RawEntry, kind: ErrorKind) {
        self.error(section, entry.line, &entry.key, kind);
    }

    /// A required key is absent: reported at the section header (unless its line was
    /// reported as unreadable).
    pub fn missing(&mut self, section: &RawSection, key: &str) {
        if !section.unread.iter().any(|k| k == key) {
            self.error(section, section.line, key, ErrorKind::Missing);
        }
    }

    pub fn warn(&mut self, section: &RawSection, line: usize, key: &str, message: WarningKind) {
        if self.warnings.len() >= MAX_REPORTS {
            self.dropped[1] += 1;
            return;
        }
        self.warnings.push(ConfigWarning {
            file: self.file.to_string(),
            line,
            section: section.header.clone(),
            key: key.to_string(),
            message,
        });
    }

    /// Reports keys not in `allowed`, repeats of keys not in `lists` and more than
    /// `MAX_LIST` lines of one list key; keepalived's keys without effect are accepted with a
    /// warning. Linear in the entries: first lines are kept per allowed key.
    pub fn check_keys(
        &mut self,
        section: &RawSection,
        allowed: &'static [&'static str],
        lists: &[&str],
        foreign: Foreign,
    ) {
        let mut seen = vec![(0usize, 0usize); allowed.len()];
        for entry in &section.entries {
            let key = entry.key.as_str();
            if listed(foreign.no_effect, key) {
                let kind = WarningKind::NoEffect {
                    key: key.to_string(),
                };
                self.warn(section, entry.line, key, kind);
                continue;
            }
            let Some(k) = allowed.iter().position(|a| *a == key) else {
                self.unknown_key(section, entry, allowed, foreign);
                continue;
            };
            let (first_line, count) = &mut seen[k];
            *count += 1;
            if *count == 1 {
                *first_line = entry.line;
            } else if !lists.contains(&key) {
                let first_line = *first_line;
                self.at(section, entry, ErrorKind::DuplicateKey { first_line });
            } else if *count == MAX_LIST + 1 {
                self.at(section, entry, ErrorKind::TooManyLines { max: MAX_LIST });
            }
        }
    }

    fn unknown_key(
        &mut self,
        section: &RawSection,
        entry: &RawEntry,
        allowed: &'static [&'static str],
        foreign: Foreign,
    ) {
        let key = entry.key.as_str();
        if self.full() {
            // Not kept anyway: spare the search for a suggestion.
            self.dropped[0] += 1;
            return;
        }
        let keepalived = listed(foreign.keepalived, key);
        let kind = ErrorKind::UnknownKey {
            key: key.to_string(),
            keepalived,
            suggestion: if keepalived {
                None
            } else {
                suggest(key, allowed)
            },
        };
        self.at(section, entry, kind);
    }

    /// Parses the first entry for `key` (repeats were reported by `check_keys`); errors are
    /// reported and give `None`.
    pub fn one<T>(
        &mut self,
        section: &RawSection,
        key: &str,
        parse: impl FnOnce(&str) -> Result<T, ErrorKind>,
    ) -> Option<(T, usize)> {
        let entry = first(section, key)?;
        match parse(&entry.value) {
            Ok(v) => Some((v, entry.line)),
            Err(kind) => {
                self.at(section, entry, kind);
                None
            }
        }
    }

    /// An integer in `range` (`values::int_in`): one body for every numeric key.
    #[inline(never)]
    pub fn int(&mut self, section: &RawSection, key: &str, range: Range) -> Option<(i64, usize)> {
        let (min, max, allowed) = range;
        self.one(section, key, |v| int_in(v, min, max, allowed))
    }

    /// A free-text value that must not be empty.
    pub fn text(&mut self, section: &RawSection, key: &str) -> Option<(String, usize)> {
        self.one(section, key, |v| {
            if v.is_empty() {
                Err(ErrorKind::bad("", "a non-empty value"))
            } else {
                Ok(v.to_string())
            }
        })
    }
}

pub(super) fn first<'s>(section: &'s RawSection, key: &str) -> Option<&'s RawEntry> {
    section.entries.iter().find(|e| e.key == key)
}

/// The entries for `key`, at most `MAX_LIST` (more were reported by `check_keys`).
pub(super) fn all<'s>(section: &'s RawSection, key: &'s str) -> impl Iterator<Item = &'s RawEntry> {
    section
        .entries
        .iter()
        .filter(move |e| e.key == key)
        .take(MAX_LIST)
}
