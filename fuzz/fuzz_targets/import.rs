//! The keepalived importer takes arbitrary text: it must answer with INI or with an error that
//! names a line inside the text, never panic; its INI must be readable by the checker's syntax
//! layer (errors about values are fine, the text was arbitrary).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinyvrrp::import::{import_text, ImportError, NoFiles};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = text.split('\n').count();
    match import_text("fuzz.conf", text, "fuzz", &NoFiles) {
        Ok(outcome) => {
            for w in &outcome.warnings {
                assert!(
                    w.line >= 1 && w.line <= lines,
                    "line {} of {lines}: {w}",
                    w.line
                );
            }
            if let Err(errors) = tinyvrrp::config::parse_str(&outcome.ini, "-") {
                for e in &errors.0 {
                    assert!(
                        !matches!(e.kind, tinyvrrp::config::ErrorKind::Syntax(_)),
                        "import wrote INI the checker cannot read: {e}\n{}",
                        outcome.ini
                    );
                }
            }
        }
        Err(ImportError::Syntax { line, .. }) => assert!(line >= 1 && line <= lines),
        Err(e) => panic!("{e}"),
    }
});
