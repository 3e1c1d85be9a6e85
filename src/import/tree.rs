//! Tokens to statements: a statement is the words of one line, with the block that follows
//! it (`{` on the same or a later line, `}` closing it on any line).

use super::lexer::{Tok, Token};
use super::ImportError;

/// Blocks nested deeper than this are refused (keepalived nests at most 4 deep).
const MAX_DEPTH: usize = 16;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Node {
    pub words: Vec<String>,
    pub file: usize,
    pub line: usize,
    pub block: Option<Vec<Node>>,
}

impl Node {
    pub fn keyword(&self) -> &str {
        self.words.first().map_or("", String::as_str)
    }

    pub fn args(&self) -> &[String] {
        self.words.get(1..).unwrap_or(&[])
    }
}

pub(super) fn parse(tokens: &[Token], files: &[String]) -> Result<Vec<Node>, ImportError> {
    let mut pos = 0;
    block(tokens, files, &mut pos, None, 0)
}

/// Reads statements up to the `}` closing the block opened at `opened` (or to the end).
fn block(
    tokens: &[Token],
    files: &[String],
    pos: &mut usize,
    opened: Option<&Token>,
    depth: usize,
) -> Result<Vec<Node>, ImportError> {
    let error = |t: &Token, what: &str| ImportError::Syntax {
        file: files.get(t.file).cloned().unwrap_or_default(),
        line: t.line,
        what: what.to_string(),
    };
    let mut nodes: Vec<Node> = Vec::new();
    while let Some(t) = tokens.get(*pos) {
        *pos += 1;
        match &t.tok {
            Tok::Eol => {}
            Tok::Close if opened.is_some() => return Ok(nodes),
            Tok::Close => return Err(error(t, "`}` without a block to close")),
            Tok::Open => {
                if depth + 1 >= MAX_DEPTH {
                    return Err(error(t, "blocks nested too deep"));
                }
                let inner = block(tokens, files, pos, Some(t), depth + 1)?;
                match nodes.last_mut() {
                    Some(last) if last.block.is_none() => last.block = Some(inner),
                    _ => return Err(error(t, "`{` without a keyword before it")),
                }
            }
            Tok::Word(first) => {
                let mut words = vec![first.clone()];
                while let Some(Tok::Word(w)) = tokens.get(*pos).map(|t| &t.tok) {
                    words.push(w.clone());
                    *pos += 1;
                }
                nodes.push(Node {
                    words,
                    file: t.file,
                    line: t.line,
                    block: None,
                });
            }
        }
    }
    match opened {
        Some(t) => Err(error(t, "`{` never closed")),
        None => Ok(nodes),
    }
}
