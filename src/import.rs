//! `tinyvrrp import`: keepalived's own configuration syntax to tinyvrrp's INI.
//!
//! The work is pure (text in, INI text and warnings out) so that it can be fuzzed; files are
//! read through a [`Loader`], and [`FsLoader`] is the thin shell over the file system.
//! Each warning names what keepalived does and what tinyvrrp does instead; the outcome says
//! whether the result still behaves like the original for VRRP (exit status 0) or not (1).

mod families;
mod glob;
mod lexer;
mod notes;
mod translate;
mod tree;

use std::fmt;

/// Where included files come from.
pub trait Loader {
    /// The text of the file at `path`.
    fn read(&self, path: &str) -> Result<String, String>;
    /// The names of the entries of directory `dir`.
    fn list(&self, dir: &str) -> Result<Vec<String>, String>;
}

/// Reads from the file system.
pub struct FsLoader;

impl Loader for FsLoader {
    fn read(&self, path: &str) -> Result<String, String> {
        crate::config::read_source(std::path::Path::new(path))
            .map_err(|e| crate::config::describe(&e))
    }

    fn list(&self, dir: &str) -> Result<Vec<String>, String> {
        let entries = std::fs::read_dir(dir).map_err(|e| e.to_string())?;
        Ok(entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect())
    }
}

/// Only the text given: every `include` is reported as unreadable.
pub struct NoFiles;

impl Loader for NoFiles {
    fn read(&self, _: &str) -> Result<String, String> {
        Err("includes are not read here".into())
    }

    fn list(&self, _: &str) -> Result<Vec<String>, String> {
        Err("includes are not read here".into())
    }
}

/// Something that could not be carried over as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warn {
    pub file: String,
    pub line: usize,
    pub keyword: String,
    /// What keepalived does with it, and what tinyvrrp does instead.
    pub text: String,
    /// It changes what VRRP does (exit status 1); otherwise it has no VRRP effect.
    pub effect: bool,
}

impl Warn {
    pub(crate) fn new(file: &str, line: usize, keyword: &str, text: String, effect: bool) -> Self {
        Warn {
            file: file.to_string(),
            line,
            keyword: keyword.to_string(),
            text,
            effect,
        }
    }
}

impl fmt::Display for Warn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file, self.line, self.keyword, self.text
        )
    }
}

pub(crate) type Warnings = Vec<Warn>;

/// The file cannot be imported at all (exit status 2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImportError {
    Read {
        file: String,
        detail: String,
    },
    Syntax {
        file: String,
        line: usize,
        what: String,
    },
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImportError::Read { file, detail } => write!(f, "{file}: cannot read: {detail}"),
            ImportError::Syntax { file, line, what } => write!(f, "{file}:{line}: {what}"),
        }
    }
}

impl std::error::Error for ImportError {}

/// The INI text and what could not be carried over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub ini: String,
    pub warnings: Vec<Warn>,
}

impl Outcome {
    /// 0: behaves like the original for VRRP; 1: something with a VRRP effect was lost.
    pub fn exit_status(&self) -> u8 {
        u8::from(self.warnings.iter().any(|w| w.effect))
    }
}

/// Imports the file at `path` (`config_id` is keepalived's `--config-id`, for `@ID` lines).
pub fn import(path: &str, config_id: &str, loader: &dyn Loader) -> Result<Outcome, ImportError> {
    let text = loader.read(path).map_err(|detail| ImportError::Read {
        file: path.to_string(),
        detail,
    })?;
    import_text(path, &text, config_id, loader)
}

/// Imports `text`, named `name` in messages; includes are read through `loader`.
pub fn import_text(
    name: &str,
    text: &str,
    config_id: &str,
    loader: &dyn Loader,
) -> Result<Outcome, ImportError> {
    let mut warnings = Vec::new();
    let mut lex = lexer::Lexer::new(config_id, loader);
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    lex.lex(name, text, 0, &mut warnings)?;
    let nodes = tree::parse(&lex.tokens, &lex.files)?;
    let ini = translate::translate(&nodes, &lex.files, &mut warnings);
    Ok(Outcome { ini, warnings })
}

#[cfg(test)]
mod tests;
