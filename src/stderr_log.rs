//! The default logger: `[TIMESTAMP LEVEL target] message` lines on stderr, each written with
//! one write (as env_logger did, in its format), from a buffer kept between records so the
//! steady state does not allocate.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Mutex;

use log::{LevelFilter, Log, Metadata, Record};

use tinyvrrp::timestamp::UtcMillis;

pub struct StderrLog {
    level: LevelFilter,
    line: Mutex<String>,
}

impl StderrLog {
    /// Installs the logger for records up to `level`.
    pub fn install(level: LevelFilter) {
        let logger = StderrLog {
            level,
            line: Mutex::new(String::new()),
        };
        if log::set_logger(Box::leak(Box::new(logger))).is_ok() {
            log::set_max_level(level);
        }
    }
}

impl Log for StderrLog {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let Ok(mut line) = self.line.lock() else {
            return;
        };
        line.clear();
        let _ = writeln!(
            line,
            "[{} {:<5} {}] {}",
            UtcMillis(std::time::SystemTime::now()),
            record.level(),
            record.target(),
            record.args()
        );
        let _ = std::io::stderr().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}
