//! `--syslog`: log records sent to the local syslog daemon (`/dev/log`) as datagrams, facility
//! daemon, ident `tinyvrrp`, the way OpenWrt's logd and busybox syslogd expect them:
//! `<PRI>tinyvrrp[PID]: message`. The receiver adds the timestamp and host name.
//!
//! Records are formatted into a fixed stack buffer (longer ones are cut), so logging in the
//! steady state does not allocate. The socket is non-blocking: when the syslog daemon is slow
//! or gone the record is dropped instead of stalling the VRRP timers; a send that fails for
//! any other reason triggers one reconnect (syslogd restarted and made a new socket).

use std::fmt::{self, Write as _};
use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use log::{Level, LevelFilter, Log, Metadata, Record};

/// Where the local syslog daemon listens.
pub const DEFAULT_PATH: &str = "/dev/log";

/// LOG_DAEMON (3) shifted as in `<syslog.h>`.
const FACILITY_DAEMON: u8 = 3 << 3;

/// Longest datagram sent; longer records are cut. Well under every syslogd's limit.
const MAX_DATAGRAM: usize = 1024;

#[derive(Debug)]
pub enum SyslogError {
    /// `/dev/log` (or the given path) could not be connected to.
    Connect { path: PathBuf, err: io::Error },
    /// Another logger was installed first.
    AlreadyInstalled,
}

impl fmt::Display for SyslogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyslogError::Connect { path, err } => {
                write!(f, "connecting to syslog at {}: {err}", path.display())
            }
            SyslogError::AlreadyInstalled => write!(f, "a logger is already installed"),
        }
    }
}

impl std::error::Error for SyslogError {}

/// Severity of a log level (RFC 5424 numbers).
fn severity(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

/// A `fmt::Write` over a byte buffer that silently cuts what does not fit.
struct Cut<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl fmt::Write for Cut<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len().saturating_sub(self.len);
        let take = s.len().min(room);
        if let Some(dst) = self.buf.get_mut(self.len..self.len + take) {
            dst.copy_from_slice(s.as_bytes().get(..take).unwrap_or_default());
            self.len += take;
        }
        Ok(())
    }
}

/// Formats one record as a syslog datagram into `buf`; returns the used prefix.
/// Newlines inside the message become spaces, since syslogd would show them as `^J`.
pub fn encode<'a>(
    buf: &'a mut [u8],
    level: Level,
    ident: &str,
    pid: u32,
    msg: fmt::Arguments<'_>,
) -> &'a [u8] {
    let mut out = Cut { buf, len: 0 };
    let pri = FACILITY_DAEMON | severity(level);
    let _ = write!(out, "<{pri}>{ident}[{pid}]: {msg}");
    let len = out.len;
    let used = out.buf.get_mut(..len).unwrap_or_default();
    for b in used.iter_mut() {
        if *b == b'\n' {
            *b = b' ';
        }
    }
    used
}

/// The logger: a datagram socket connected to the syslog daemon.
pub struct Syslog {
    path: PathBuf,
    ident: &'static str,
    pid: u32,
    level: LevelFilter,
    sock: Mutex<Option<UnixDatagram>>,
}

fn connect(path: &Path) -> io::Result<UnixDatagram> {
    let sock = UnixDatagram::unbound()?;
    sock.connect(path)?;
    sock.set_nonblocking(true)?;
    Ok(sock)
}

impl Syslog {
    /// Connects to `path`; fails when nothing listens there (the caller falls back to stderr).
    pub fn connect(
        path: &Path,
        ident: &'static str,
        level: LevelFilter,
    ) -> Result<Self, SyslogError> {
        let sock = connect(path).map_err(|err| SyslogError::Connect {
            path: path.to_path_buf(),
            err,
        })?;
        Ok(Syslog {
            path: path.to_path_buf(),
            ident,
            pid: std::process::id(),
            level,
            sock: Mutex::new(Some(sock)),
        })
    }

    /// Installs this logger as the `log` crate's logger.
    pub fn install(self) -> Result<(), SyslogError> {
        let level = self.level;
        log::set_boxed_logger(Box::new(self)).map_err(|_| SyslogError::AlreadyInstalled)?;
        log::set_max_level(level);
        Ok(())
    }

    fn send(&self, datagram: &[u8]) {
        let Ok(mut guard) = self.sock.lock() else {
            return;
        };
        if let Some(sock) = guard.as_ref() {
            match sock.send(datagram) {
                Ok(_) => return,
                // The daemon is behind: drop the record rather than block the poll loop.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => {}
            }
        }
        *guard = connect(&self.path).ok();
        if let Some(sock) = guard.as_ref() {
            let _ = sock.send(datagram);
        }
    }
}

impl Log for Syslog {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let mut buf = [0u8; MAX_DATAGRAM];
        let datagram = encode(
            &mut buf,
            record.level(),
            self.ident,
            self.pid,
            *record.args(),
        );
        self.send(datagram);
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(level: Level, msg: fmt::Arguments<'_>) -> String {
        let mut buf = [0u8; MAX_DATAGRAM];
        String::from_utf8_lossy(encode(&mut buf, level, "tinyvrrp", 42, msg)).into_owned()
    }

    #[test]
    fn priority_is_facility_daemon_plus_severity() {
        assert_eq!(
            encoded(Level::Error, format_args!("x")),
            "<27>tinyvrrp[42]: x"
        );
        assert_eq!(
            encoded(Level::Warn, format_args!("x")),
            "<28>tinyvrrp[42]: x"
        );
        assert_eq!(
            encoded(Level::Info, format_args!("x")),
            "<30>tinyvrrp[42]: x"
        );
        assert_eq!(
            encoded(Level::Debug, format_args!("x")),
            "<31>tinyvrrp[42]: x"
        );
        assert_eq!(
            encoded(Level::Trace, format_args!("x")),
            "<31>tinyvrrp[42]: x"
        );
    }

    #[test]
    fn newlines_become_spaces_and_long_records_are_cut() {
        assert_eq!(
            encoded(Level::Info, format_args!("a\nb")),
            "<30>tinyvrrp[42]: a b"
        );
        let long = "y".repeat(3 * MAX_DATAGRAM);
        let out = encoded(Level::Info, format_args!("{long}"));
        assert_eq!(out.len(), MAX_DATAGRAM);
        assert!(out.starts_with("<30>tinyvrrp[42]: yyy"));
    }

    #[test]
    fn records_arrive_at_the_socket_and_are_filtered_by_level() {
        let dir = std::env::temp_dir().join(format!("tvr-syslog-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log");
        let server = UnixDatagram::bind(&path).unwrap();
        server
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let logger = Syslog::connect(&path, "tinyvrrp", LevelFilter::Info).unwrap();
        let pid = std::process::id();

        logger.log(
            &Record::builder()
                .level(Level::Debug)
                .args(format_args!("hidden"))
                .build(),
        );
        logger.log(
            &Record::builder()
                .level(Level::Warn)
                .args(format_args!("VI_1: {} -> {}", "BACKUP", "MASTER"))
                .build(),
        );
        let mut buf = [0u8; 2048];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(
            std::str::from_utf8(&buf[..n]).unwrap(),
            format!("<28>tinyvrrp[{pid}]: VI_1: BACKUP -> MASTER")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_socket_is_a_connect_error() {
        let path = Path::new("/nonexistent/tvr/dev-log");
        match Syslog::connect(path, "tinyvrrp", LevelFilter::Info) {
            Err(SyslogError::Connect { path: p, .. }) => assert_eq!(p, path),
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("connected to a missing socket"),
        }
    }
}
