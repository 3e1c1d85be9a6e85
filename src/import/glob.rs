//! `include` patterns: `*`, `?` and `[...]` in the file-name part, matched by hand against
//! one directory's entries (sorted, hidden files only when the pattern starts with `.`, as
//! glob(3)).

use super::Loader;

/// `pattern` as keepalived opens it: relative to the directory of `including`.
pub(super) fn relative_to(including: &str, pattern: &str) -> String {
    if pattern.starts_with('/') {
        return pattern.to_string();
    }
    match including.rfind('/') {
        Some(slash) => format!("{}/{pattern}", &including[..slash]),
        None => pattern.to_string(),
    }
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// The files `pattern` names: itself when it has no wildcard, else the sorted matches.
pub(super) fn expand(pattern: &str, loader: &dyn Loader) -> Result<Vec<String>, String> {
    let (dir, name) = match pattern.rfind('/') {
        Some(slash) => (&pattern[..slash], &pattern[slash + 1..]),
        None => ("", pattern),
    };
    if !has_wildcard(name) {
        return Ok(vec![pattern.to_string()]);
    }
    if has_wildcard(dir) {
        return Err(format!(
            "{pattern}: wildcards are supported in the file name only"
        ));
    }
    let listed = if dir.is_empty() && pattern.starts_with('/') {
        "/"
    } else if dir.is_empty() {
        "."
    } else {
        dir
    };
    let mut names: Vec<String> = loader
        .list(listed)
        .map_err(|e| format!("{listed}: {e}"))?
        .into_iter()
        .filter(|n| (!n.starts_with('.') || name.starts_with('.')) && matches(name, n))
        .collect();
    names.sort_unstable();
    Ok(names
        .into_iter()
        .map(|n| {
            if dir.is_empty() && !pattern.starts_with('/') {
                n
            } else {
                format!("{dir}/{n}")
            }
        })
        .collect())
}

/// glob(3) matching of one name: `*`, `?`, `[abc]`, `[a-z]`, `[!x]` / `[^x]`, `\x`.
pub(super) fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    // Where to resume after the last `*`: (pattern index after it, name index it covers up to).
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi + 1, ni));
                pi += 1;
                continue;
            }
            Some('?') => Some(1),
            Some('[') if closes(&p[pi..]) => class(&p[pi..], n[ni]),
            Some('\\') if pi + 1 < p.len() => (p[pi + 1] == n[ni]).then_some(2),
            Some(&c) => (c == n[ni]).then_some(1),
            None => None,
        };
        match (step, star) {
            (Some(len), _) => {
                pi += len;
                ni += 1;
            }
            (None, Some((after, covered))) => {
                pi = after;
                ni = covered + 1;
                star = Some((after, covered + 1));
            }
            (None, None) => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Whether the `[` at the start of `p` has its `]` (a `]` right after `[` or `[!` is a member);
/// an unclosed `[` is a plain character, as in glob(3).
fn closes(p: &[char]) -> bool {
    let skip = if matches!(p.get(1), Some('!' | '^')) {
        3
    } else {
        2
    };
    p.iter().skip(skip).any(|&c| c == ']')
}

/// Matches `c` against the closed class at the start of `p`: Some(its length) on a match.
fn class(p: &[char], c: char) -> Option<usize> {
    let mut i = 1;
    let negated = matches!(p.get(1), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut found = false;
    let mut first = true;
    loop {
        let lo = *p.get(i)?;
        if lo == ']' && !first {
            break;
        }
        first = false;
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&hi| hi != ']') {
            let hi = p[i + 2];
            found |= lo <= c && c <= hi;
            i += 3;
        } else {
            found |= lo == c;
            i += 1;
        }
    }
    (found != negated).then_some(i + 1)
}
