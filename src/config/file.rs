//! Reading a configuration: bounded in size and never blocking, so that a FIFO, a device or a
//! huge file put at the config path (or re-pointed to before a SIGHUP) cannot stall the loop.

use std::io::{self, Read};
use std::path::Path;

use super::error::{ConfigError, ConfigErrors, ErrorKind};

/// The largest configuration read: 4 MiB, far above any real one (a few KB per instance),
/// small enough that a reload parses it well within one advert interval.
pub const MAX_CONFIG_BYTES: u64 = 4 << 20;

/// The text of the regular file at `path`. Opened non-blocking, so that opening a FIFO
/// returns at once (and is then refused as not a regular file).
pub fn read_config(path: &Path) -> io::Result<String> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file (a FIFO, device or directory is refused)",
        ));
    }
    read_capped(&file)
}

/// At most [`MAX_CONFIG_BYTES`] of `from` as text; more is an error. Generic, not `dyn Read`:
/// the daemon reads only files, and a `dyn` would bring every `Read` method of `File`.
pub fn read_capped<R: Read>(from: R) -> io::Result<String> {
    let mut text = String::new();
    from.take(MAX_CONFIG_BYTES + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "larger than 4 MiB, the limit for a configuration",
        ));
    }
    Ok(text)
}

/// Standard input through [`read_capped`], read as a plain file: `Stdin` (a buffered reader)
/// would add a second copy of the `Read` machinery to the binary for this one read. Like
/// `Stdin`, a closed fd 0 reads as empty.
pub fn read_stdin_capped() -> io::Result<String> {
    use std::os::fd::FromRawFd;
    // SAFETY: fd 0 is not owned by anything in this process; ManuallyDrop never closes it.
    let stdin = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(0) });
    match read_capped(&*stdin) {
        Err(e) if e.raw_os_error() == Some(libc::EBADF) => Ok(String::new()),
        other => other,
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
            detail: e.to_string(),
        },
    }])
}
