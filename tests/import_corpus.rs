//! Every keepalived.conf of tests/data/keepalived/ is imported and the result run through the
//! checker. At least 90 % must pass, and the files that fail must be exactly those listed in
//! tests/data/keepalived/EXPECTED_FAILURES (`NAME reason`), so a fix or a regression shows.
//!
//! A file with `@ID` conditional lines is imported as the first ID it names, so that one
//! node's view of it is checked.
#![cfg(feature = "import")]

use std::collections::BTreeMap;
use std::path::Path;

use tinyvrrp::{config, import};

fn corpus_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/keepalived")
}

/// The first `ID` of an `@ID` / `@^ID` line, else a name no line uses.
fn config_id(text: &str) -> String {
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix('@'))
        .map(|rest| rest.trim_start_matches('^'))
        .find_map(|rest| rest.split_whitespace().next())
        .unwrap_or("tinyvrrp-corpus")
        .to_string()
}

/// Ok with the keywords whose VRRP effect the import could not carry over (its exit status
/// is 1 when there are any) when the result passes the checker, else why not.
fn import_and_check(path: &Path) -> Result<Vec<String>, String> {
    let name = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => return Err(format!("unreadable: {e}")),
    };
    let outcome = match import::import(&name, &config_id(&text), &import::FsLoader) {
        Ok(outcome) => outcome,
        Err(e) => return Err(format!("import: {e}")),
    };
    let lost = outcome
        .warnings
        .iter()
        .filter(|w| w.effect)
        .map(|w| w.keyword.clone())
        .collect();
    match config::parse_str(&outcome.ini, "-") {
        Ok(_) => Ok(lost),
        Err(errors) => {
            let first = errors
                .0
                .first()
                .map(ToString::to_string)
                .unwrap_or_default();
            Err(format!("{} error(s), first: {first}", errors.0.len()))
        }
    }
}

/// `NAME reason` lines; `#` comments and blank lines skipped.
fn expected_failures(dir: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(dir.join("EXPECTED_FAILURES")).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once(char::is_whitespace) {
            Some((name, reason)) => (name.to_string(), reason.trim().to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect()
}

#[test]
fn corpus_imports_pass_the_checker() {
    let dir = corpus_dir();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/data/keepalived")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "conf"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no *.conf in {}", dir.display());
    let expected = expected_failures(&dir);
    let (mut passed, mut exact) = (0, 0);
    let mut wrong = Vec::new();
    println!("{:<55} result", "file");
    for path in &files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let result = import_and_check(path);
        match &result {
            Ok(lost) if lost.is_empty() => {
                (passed, exact) = (passed + 1, exact + 1);
                println!("{name:<55} pass, import exit 0");
            }
            Ok(lost) => {
                passed += 1;
                println!("{name:<55} pass, import exit 1: {}", lost.join(" "));
            }
            Err(why) => println!("{name:<55} FAIL {why}"),
        }
        match (&result, expected.get(&name)) {
            (Ok(_), Some(reason)) => wrong.push(format!(
                "{name}: passes now, but EXPECTED_FAILURES lists it ({reason})"
            )),
            (Err(why), None) => wrong.push(format!(
                "{name}: fails and is not in EXPECTED_FAILURES: {why}"
            )),
            _ => {}
        }
    }
    for name in expected.keys() {
        if !files.iter().any(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy() == name.as_str())
        }) {
            wrong.push(format!("{name}: in EXPECTED_FAILURES but no such file"));
        }
    }
    let percent = passed * 100 / files.len();
    println!(
        "{passed} of {} pass ({percent} %); {exact} of them import with exit 0 (nothing with a \
         VRRP effect left out)",
        files.len()
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(
        passed * 10 >= files.len() * 9,
        "only {passed} of {} pass ({percent} %); at least 90 % must",
        files.len()
    );
}
