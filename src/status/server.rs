//! The status socket, served from the poll loop without ever blocking it. Each wake-up accepts
//! at most `ACCEPTS_PER_WAKE` clients, and a wake-up that finds that many pauses the listener
//! for `PAUSE` (a connect flood then costs the loop a few accepts per pause, not its time); at
//! most `CLIENT_KEYS.len()` are served at once (more are closed at once); replies are written non-blocking as each socket becomes writable, from one
//! shared copy of the text; a client not done within `DEADLINE` is dropped. The reply ends with
//! the line `end`, so the client tells a complete status from a cut one.

use std::fs;
use std::io::{self, Read, Write};
use std::ops::Range;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use polling::{Event, PollMode, Poller};

/// Poller keys of the clients being served and of the pause timer (`PAUSE_KEY`), between the
/// daemon's own keys and notify's.
pub const CLIENT_KEYS: Range<usize> = 8..15;
const PAUSE_KEY: usize = 15;
const ACCEPTS_PER_WAKE: usize = 8;
const PAUSE: Duration = Duration::from_millis(10);
const BACKLOG: libc::c_int = 16;
const DEADLINE: Duration = Duration::from_secs(2);
const END: &str = "end\n";

struct Client {
    stream: UnixStream,
    text: Option<Rc<Vec<u8>>>,
    sent: usize,
    deadline: Instant,
    polled: bool,
}

/// The listening side, owned by the daemon.
pub struct StatusServer {
    listener: UnixListener,
    path: PathBuf,
    ino: (u64, u64),
    /// The listener's poller key while paused, and the timer that resumes it.
    paused: Option<usize>,
    snapshot: Rc<Vec<u8>>,
    pause: TimerFd,
    pause_polled: bool,
    clients: [Option<Client>; CLIENT_KEYS.end - CLIENT_KEYS.start],
}

fn refuse(path: &Path, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!(
            "{}: {what}; remove it or choose another --status-socket",
            path.display()
        ),
    )
}

/// Clears the way for binding `path`: only a socket nobody listens on is removed.
fn prepare(path: &Path) -> io::Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
        Ok(m) => m,
    };
    let t = meta.file_type();
    if !t.is_socket() {
        let kind = if t.is_symlink() {
            "a symbolic link"
        } else if t.is_dir() {
            "a directory"
        } else {
            "not a socket"
        };
        return Err(refuse(path, kind));
    }
    use std::os::unix::ffi::OsStrExt;
    match crate::pidfile::listener(path.as_os_str().as_bytes()) {
        None => fs::remove_file(path),
        Some(Some(h)) => Err(refuse(path, &format!("in use by pid {}", h.pid))),
        Some(None) => Err(refuse(path, "in use by another process")),
    }
}

impl StatusServer {
    /// Binds `path` with mode 0600 whatever the umask.
    pub fn bind(path: &Path) -> io::Result<Self> {
        prepare(path)?;
        let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
        let bound = UnixListener::bind(path);
        nix::sys::stat::umask(old);
        let listener = bound.map_err(|e| {
            let hint = crate::privilege::path_hint(&e);
            io::Error::new(e.kind(), format!("{}: {e}{hint}", path.display()))
        })?;
        listener.set_nonblocking(true)?;
        // A short queue: what a flood leaves behind is drained in a few pauses, not seconds.
        // SAFETY: listen(2) on our own socket; called again it only changes the backlog.
        unsafe { libc::listen(listener.as_raw_fd(), BACKLOG) };
        let meta = fs::symlink_metadata(path)?;
        let pause = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )?;
        Ok(StatusServer {
            listener,
            path: path.to_path_buf(),
            ino: (meta.dev(), meta.ino()),
            paused: None,
            snapshot: Rc::default(),
            pause,
            pause_polled: false,
            clients: Default::default(),
        })
    }

    pub fn listener(&self) -> &UnixListener {
        &self.listener
    }

    /// The listener (registered under `key`) is readable: accepts a bounded number of clients.
    /// True when some wait for a reply (then render the status and call `reply`).
    pub fn accept(&mut self, poller: &Poller, key: usize) -> bool {
        let now = Instant::now();
        for i in 0..self.clients.len() {
            if self.clients[i].as_ref().is_some_and(|c| c.deadline <= now) {
                self.close(i, poller);
            }
        }
        let mut waiting = false;
        for n in 0..=ACCEPTS_PER_WAKE {
            if n == ACCEPTS_PER_WAKE {
                self.pause(poller, key);
                break;
            }
            let Ok((stream, _)) = self.listener.accept() else {
                break;
            };
            // Over the cap the client is closed at once: it sees no `end` line.
            if let Some(slot) = self.clients.iter_mut().find(|c| c.is_none()) {
                if stream.set_nonblocking(true).is_ok() {
                    *slot = Some(Client {
                        stream,
                        text: None,
                        sent: 0,
                        deadline: now + DEADLINE,
                        polled: false,
                    });
                    waiting = true;
                }
            }
        }
        waiting
    }

    /// Gives the clients just accepted `text` (one shared copy) and starts writing it.
    pub fn reply(&mut self, text: &str, poller: &Poller) {
        // The copy's buffer is reused once no client holds it: serving allocates nothing then.
        if Rc::get_mut(&mut self.snapshot).is_none() {
            self.snapshot = Rc::default();
        }
        if let Some(buf) = Rc::get_mut(&mut self.snapshot) {
            buf.clear();
            // Twice the room, so the text growing as counters gain digits does not regrow it.
            let need = text.len() + END.len();
            if buf.capacity() < need {
                buf.reserve(2 * need);
            }
            buf.extend_from_slice(text.as_bytes());
            buf.extend_from_slice(END.as_bytes());
        }
        for i in 0..self.clients.len() {
            if let Some(c) = self.clients[i].as_mut().filter(|c| c.text.is_none()) {
                c.text = Some(Rc::clone(&self.snapshot));
                self.write(i, poller);
            }
        }
    }

    /// A poller event: true when `key` is one of ours (a client or the pause timer).
    pub fn on_event(&mut self, key: usize, poller: &Poller) -> bool {
        if key == PAUSE_KEY {
            let _ = self.pause.wait();
            if let Some(k) = self.paused.take() {
                let _ =
                    poller.modify_with_mode(&self.listener, Event::readable(k), PollMode::Level);
            }
            return true;
        }
        if !CLIENT_KEYS.contains(&key) {
            return false;
        }
        self.write(key - CLIENT_KEYS.start, poller);
        true
    }

    fn pause(&mut self, poller: &Poller, key: usize) {
        if !self.pause_polled {
            // SAFETY: the timer lives as long as `self`, whose drop closes it.
            let (fd, ev) = (self.pause.as_fd().as_raw_fd(), Event::readable(PAUSE_KEY));
            let add = unsafe { poller.add_with_mode(fd, ev, PollMode::Level) };
            self.pause_polled = add.is_ok();
        }
        let when = Expiration::OneShot(TimeSpec::from_duration(PAUSE));
        if self.pause_polled
            && self.pause.set(when, TimerSetTimeFlags::empty()).is_ok()
            && poller
                .modify_with_mode(&self.listener, Event::none(key), PollMode::Level)
                .is_ok()
        {
            self.paused = Some(key);
        }
    }

    fn write(&mut self, i: usize, poller: &Poller) {
        let Some(c) = self.clients[i].as_mut() else {
            return;
        };
        let Some(text) = c.text.as_deref() else {
            return;
        };
        let done = write_rest(&c.stream, text, &mut c.sent);
        if done || c.deadline <= Instant::now() {
            self.close(i, poller);
        } else if !c.polled {
            let ev = Event::writable(CLIENT_KEYS.start + i);
            // SAFETY: the stream is deleted from the poller in `close` before it is dropped.
            c.polled = unsafe { poller.add_with_mode(&c.stream, ev, PollMode::Level) }.is_ok();
            if !c.polled {
                self.close(i, poller);
            }
        }
    }

    fn close(&mut self, i: usize, poller: &Poller) {
        if let Some(c) = self.clients[i].take() {
            if c.polled {
                let _ = poller.delete(&c.stream);
            }
        }
    }
}

impl Drop for StatusServer {
    fn drop(&mut self) {
        let ours = |m: fs::Metadata| (m.dev(), m.ino()) == self.ino;
        if fs::symlink_metadata(&self.path).is_ok_and(ours) {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// The client side: `tinyvrrp status`. A reply without its `end` line was cut short.
/// Writes `text[*sent..]` to a non-blocking `out` until the kernel takes no more; true when
/// nothing is left to do (all written, or the client is gone), false when it would block.
pub(crate) fn write_rest(mut out: impl Write, text: &[u8], sent: &mut usize) -> bool {
    loop {
        match out.write(&text[*sent..]) {
            Ok(n) if n > 0 && *sent + n < text.len() => *sent += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            _ => return true,
        }
    }
}

pub fn query(path: &Path) -> io::Result<String> {
    let mut stream = UnixStream::connect(path)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    let complete = text == END || text.ends_with(&["\n", END].concat());
    if !complete {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("reply cut short after {} bytes (no end line)", text.len()),
        ));
    }
    text.truncate(text.len() - END.len());
    Ok(text)
}

/// SIGUSR2 (keepalived's stats signal): totals of the rendered status to the log.
pub fn log_totals(text: &str) {
    let keys = [
        "rx_adverts",
        "tx_adverts",
        "become_master",
        "release_master",
    ];
    let mut sums = [0u64; 4];
    let (mut instances, mut masters) = (0, 0);
    for line in text.lines() {
        if !line.starts_with("instance=") {
            log::info!("stats: {line}");
            continue;
        }
        instances += 1;
        for (k, v) in line.split(' ').filter_map(|w| w.split_once('=')) {
            if k == "state" && v == "MASTER" {
                masters += 1;
            }
            if let Some(i) = keys.iter().position(|&n| n == k) {
                sums[i] += v.parse::<u64>().unwrap_or(0);
            }
        }
    }
    log::info!(
        "stats: instances={instances} master={masters} rx_adverts={} tx_adverts={} \
         become_master={} release_master={}",
        sums[0],
        sums[1],
        sums[2],
        sums[3]
    );
}
