//! Reading a configuration: bounded in size and never blocking, so that a FIFO, a device or a
//! huge file put at the config path (or re-pointed to before a SIGHUP) cannot stall the loop.

use std::io::{self, Read};
use std::path::Path;

use super::error::{ConfigError, ConfigErrors, ErrorKind};

/// The largest configuration read: 1 MiB, far above any real one (a few hundred bytes per
/// instance), and a bound on how long a reload holds the loop (see README).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Why a file is not read, as raw OS errors so that they need no error type of their own
/// (see [`describe`]).
const NOT_REGULAR: i32 = libc::ENODEV;
const TOO_BIG: i32 = libc::EFBIG;

/// The text of the regular file at `path`. Opened non-blocking, so that opening a FIFO
/// returns at once (and is then refused as not a regular file).
pub fn read_config(path: &Path) -> io::Result<String> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::from_raw_os_error(NOT_REGULAR));
    }
    read_capped(&mut file)
}

/// At most [`MAX_CONFIG_BYTES`] of `from` as text; more is an error.
pub fn read_capped(from: &mut dyn Read) -> io::Result<String> {
    let mut text = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = match from.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if (text.len() + n) as u64 > MAX_CONFIG_BYTES {
            return Err(io::Error::from_raw_os_error(TOO_BIG));
        }
        text.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8(text).map_err(|_| io::ErrorKind::InvalidData.into())
}

/// What went wrong, in the words of a config reader.
pub fn describe(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(NOT_REGULAR) => "not a regular file (a FIFO, device or directory is refused)".into(),
        Some(TOO_BIG) => "larger than 1 MiB, the limit for a configuration".into(),
        _ => e.to_string(),
    }
}

/// One error for a file that could not be read.
pub fn io_error(file: &str, e: &io::Error) -> ConfigErrors {
    ConfigErrors(vec![ConfigError {
        file: file.to_string(),
        line: 0,
        section: String::new(),
        key: String::new(),
        kind: ErrorKind::Io {
            kind: e.kind(),
            detail: describe(e),
        },
    }])
}
