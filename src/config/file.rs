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
const INSECURE: i32 = libc::EBADE;

/// The text of the regular file at `path`, the daemon's configuration: refused if anyone but
/// root or the daemon's user could change it (see [`insecure`]).
pub fn read_config(path: &Path) -> io::Result<String> {
    read_file(path, true)
}

/// [`read_config`] of a file that only is read, not run from (`import`'s keepalived.conf).
pub fn read_source(path: &Path) -> io::Result<String> {
    read_file(path, false)
}

/// Opened non-blocking, so that opening a FIFO returns at once (and is then refused as not a
/// regular file).
fn read_file(path: &Path, trusted: bool) -> io::Result<String> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::from_raw_os_error(NOT_REGULAR));
    }
    if trusted && insecure(&meta) {
        return Err(io::Error::from_raw_os_error(INSECURE));
    }
    read_capped(&file)
}

/// keepalived's rule for what root runs (enable_script_security), for the file that says
/// what the daemon runs: owned by root or the daemon's user, writable by no one else (group
/// write only for root's group).
fn insecure(m: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    let owner_ok = m.uid() == 0 || m.uid() == nix::unistd::geteuid().as_raw();
    !owner_ok || m.mode() & 0o002 != 0 || (m.gid() != 0 && m.mode() & 0o020 != 0)
}

/// At most [`MAX_CONFIG_BYTES`] of `from` as text; more is an error. Generic, not `dyn Read`:
/// the daemon reads only files, and a `dyn` would bring every `Read` method of `File`.
pub fn read_capped<R: Read>(mut from: R) -> io::Result<String> {
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
        Some(INSECURE) => "owned by another user, or writable by others or a group other than \
                           root's: refused (chown root, chmod go-w)"
            .into(),
        _ => e.to_string(),
    }
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
            detail: describe(e),
        },
    }])
}
