//! The config parser takes arbitrary text: it must answer with a config or with errors that
//! each name a line inside the text, and never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = text.lines().count().max(1);
    if let Err(errors) = tinyvrrp::config::parse_str(text, "fuzz.conf") {
        assert!(!errors.0.is_empty());
        for e in &errors.0 {
            assert!(e.line <= lines + 1, "line {} of {lines}: {e}", e.line);
        }
    }
});
