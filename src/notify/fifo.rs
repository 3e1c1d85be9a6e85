//! keepalived's notify FIFOs (`notify_fifo`, `vrrp_notify_fifo`): one line per state change,
//! `INSTANCE "VI_1" MASTER 150` or `GROUP "G1" BACKUP 0`, written by the poll loop in
//! transition order. As keepalived: the FIFO is created (mode 0644) if missing and opened
//! read-write and non-blocking, so opening never waits for a reader and writing never fails
//! for want of one; a line that does not fit (a reader that is gone or slow, 64 KiB queued)
//! is dropped. The optional script is started with the FIFO's path as its last argument
//! before the FIFO is opened, and stopped with SIGTERM at exit, when a FIFO we created is
//! removed.

use crate::spawn::secure::Policy;
use crate::spawn::Child;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use log::{info, warn};

use crate::config::{GlobalDefs, NotifyFifo};
use crate::instance::State;

/// keepalived's state word; `Init` is what an instance returns to when it stops.
pub fn state_word(state: State) -> &'static str {
    match state {
        State::Master => "MASTER",
        State::Backup => "BACKUP",
        State::Fault => "FAULT",
        State::Init => "STOP",
    }
}

/// keepalived's event word for [`crate::instance::Action::MasterRxLowerPri`].
pub const MASTER_RX_LOWER_PRI: &str = "MASTER_RX_LOWER_PRI";

/// Puts keepalived's line for `kind` (INSTANCE or GROUP) in `out`, replacing what was there;
/// `word` is a [`state_word`] or [`MASTER_RX_LOWER_PRI`]. Allocates only while `out` grows
/// to the longest line.
pub fn format_line(out: &mut Vec<u8>, kind: &str, name: &str, word: &str, priority: u8) {
    out.clear();
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b" \"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\" ");
    out.extend_from_slice(word.as_bytes());
    out.push(b' ');
    let digits = [priority / 100, priority / 10 % 10, priority % 10];
    let skip = if priority >= 100 {
        0
    } else if priority >= 10 {
        1
    } else {
        2
    };
    for d in &digits[skip..] {
        out.push(b'0' + d);
    }
    out.push(b'\n');
}

/// What a write did: written, or dropped because the FIFO is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Written {
    Yes,
    Dropped,
}

struct Fifo {
    key: &'static str,
    path: String,
    fd: OwnedFd,
    created: bool,
    script: Option<Child>,
    /// Lines dropped since the last one that went in (one warning per episode).
    dropping: u64,
    dropped_total: u64,
}

impl Fifo {
    fn write(&mut self, line: &[u8]) -> Written {
        loop {
            // SAFETY: write(2) from our buffer to our fd.
            let n = unsafe { libc::write(self.fd.as_raw_fd(), line.as_ptr().cast(), line.len()) };
            if n >= 0 {
                if self.dropping > 0 {
                    info!(
                        "{} {}: taking lines again; {} dropped while it was full",
                        self.key, self.path, self.dropping
                    );
                    self.dropping = 0;
                }
                return Written::Yes;
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            if self.dropping == 0 {
                warn!(
                    "{} {}: line dropped ({e}); nobody reads it? Further drops are counted",
                    self.key, self.path
                );
            }
            self.dropping += 1;
            self.dropped_total += 1;
            return Written::Dropped;
        }
    }

    fn reap(&mut self) {
        if let Some(child) = self.script.as_mut() {
            match child.try_wait() {
                Ok(None) => {}
                Ok(Some(status)) => {
                    warn!("{} script for {} exited ({status})", self.key, self.path);
                    self.script = None;
                }
                Err(e) => {
                    warn!("{} script for {}: {e}", self.key, self.path);
                    self.script = None;
                }
            }
        }
    }
}

impl Drop for Fifo {
    /// keepalived's order: the name goes first, so a script that reopens the FIFO in a loop
    /// cannot get this one again; then the script is asked to stop.
    fn drop(&mut self) {
        if self.created {
            let _ = std::fs::remove_file(&self.path);
        }
        if let Some(mut child) = self.script.take() {
            crate::spawn::kill_group(child.id(), libc::SIGTERM);
            let _ = child.try_wait();
        }
        if self.dropped_total > 0 {
            info!(
                "{} {}: {} line(s) dropped in all",
                self.key, self.path, self.dropped_total
            );
        }
    }
}

fn c_path(path: &str) -> io::Result<CString> {
    CString::new(path).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// The owner a created FIFO gets (`u32::MAX`: unchanged); an unknown name is an error.
fn owner(cfg: &NotifyFifo) -> Result<(u32, u32), String> {
    let user = crate::spawn::RunAs::lookup(cfg.user.as_deref())?;
    let (uid, mut gid) = user.map_or((u32::MAX, u32::MAX), |u| (u.uid, u.gid));
    if let Some(name) = cfg.group.as_deref() {
        gid = crate::spawn::group_id(name)?;
    }
    Ok((uid, gid))
}

fn open(key: &'static str, cfg: &NotifyFifo, policy: &Policy) -> Result<Fifo, String> {
    let path = c_path(&cfg.path).map_err(|e| e.to_string())?;
    let (uid, gid) = owner(cfg)?;
    // SAFETY: mkfifo on a NUL-terminated path.
    let created = unsafe { libc::mkfifo(path.as_ptr(), 0o644) } == 0;
    if !created {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EEXIST) {
            return Err(format!("creating it: {e}"));
        }
    } else if (uid, gid) != (u32::MAX, u32::MAX) {
        // SAFETY: chown on a NUL-terminated path; -1 (u32::MAX) keeps that id.
        if unsafe { libc::chown(path.as_ptr(), uid, gid) } != 0 {
            warn!("{key} {}: chown: {}", cfg.path, io::Error::last_os_error());
        }
    }
    let flags = libc::O_RDWR | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOFOLLOW;
    // SAFETY: open on a NUL-terminated path.
    let raw = unsafe { libc::open(path.as_ptr(), flags) };
    if raw < 0 {
        let e = io::Error::last_os_error();
        if created {
            let _ = std::fs::remove_file(&cfg.path);
        }
        return Err(format!("opening it: {e}"));
    }
    let mut fifo = Fifo {
        key,
        path: cfg.path.clone(),
        // SAFETY: a fresh fd from open, owned from here on.
        fd: unsafe { OwnedFd::from_raw_fd(raw) },
        created,
        script: None,
        dropping: 0,
        dropped_total: 0,
    };
    check_owned(&fifo, uid)?;
    // keepalived starts the script just before it opens the FIFO; the order makes no
    // difference to the script, which finds the FIFO in place either way.
    if let Some(script) = &cfg.script {
        let out = crate::spawn::ChildOut::Inherit;
        let started = policy.spawn(script, &[&cfg.path], out, &[]);
        match started {
            Ok(child) => {
                info!("{key} {}: started {script} (pid {})", cfg.path, child.id());
                fifo.script = Some(child);
            }
            Err(e) => warn!("{key} {}: starting {script}: {e}", cfg.path),
        }
    }
    Ok(fifo)
}

/// Where the name already existed it may be anything someone put there: only a FIFO owned
/// by us (or by the configured user) is written to, as current keepalived checks.
fn check_owned(fifo: &Fifo, uid: u32) -> Result<(), String> {
    // SAFETY: fstat into a zeroed struct on our fd; geteuid cannot fail.
    let (mut st, ours): (libc::stat, _) = unsafe { (std::mem::zeroed(), libc::geteuid()) };
    // SAFETY: as above.
    let ok = unsafe { libc::fstat(fifo.fd.as_raw_fd(), &mut st) } == 0
        && st.st_mode & libc::S_IFMT == libc::S_IFIFO
        && (st.st_uid == ours || st.st_uid == uid);
    if ok {
        Ok(())
    } else {
        Err("it is not a FIFO we own".into())
    }
}

/// The open notify FIFOs and the buffer their lines are made in.
#[derive(Default)]
pub struct Fifos {
    open: Vec<Fifo>,
    line: Vec<u8>,
    configs: [Option<NotifyFifo>; 2],
    /// Scripts of FIFOs a reload closed, stopped and reaped when they exit (no zombies).
    retired: Vec<Child>,
}

impl Fifos {
    /// Creates and opens the FIFOs `global` names (starting their scripts); one that cannot
    /// be used is logged and left out, as keepalived does.
    pub fn open(global: &GlobalDefs) -> Fifos {
        let mut fifos = Fifos {
            open: Vec::with_capacity(2),
            line: Vec::with_capacity(128),
            configs: [global.notify_fifo.clone(), global.vrrp_notify_fifo.clone()],
            retired: Vec::new(),
        };
        let keys = ["notify_fifo", "vrrp_notify_fifo"];
        let policy = Policy::of(global);
        for (key, cfg) in keys.into_iter().zip(&fifos.configs) {
            if let Some(cfg) = cfg {
                match open(key, cfg, &policy) {
                    Ok(f) => {
                        info!("{key} {}: writing state lines to it", cfg.path);
                        fifos.open.push(f);
                    }
                    Err(e) => warn!("{key} {}: not used: {e}", cfg.path),
                }
            }
        }
        fifos
    }

    /// SIGHUP: FIFOs whose settings did not change stay open, with their scripts running.
    pub fn reconfigure(&mut self, global: &GlobalDefs) {
        let new = [&global.notify_fifo, &global.vrrp_notify_fifo];
        if self.configs.iter().zip(new).all(|(old, new)| old == new) {
            return;
        }
        let mut retired = std::mem::take(&mut self.retired);
        for fifo in &mut self.open {
            if let Some(child) = fifo.script.take() {
                crate::spawn::kill_group(child.id(), libc::SIGTERM);
                retired.push(child);
            }
        }
        self.open.clear();
        *self = Fifos::open(global);
        self.retired = retired;
    }

    /// Writes one line to every FIFO (INSTANCE or GROUP, as keepalived).
    pub fn write(&mut self, kind: &str, name: &str, word: &str, priority: u8) {
        if self.open.is_empty() {
            return;
        }
        format_line(&mut self.line, kind, name, word, priority);
        for fifo in &mut self.open {
            fifo.write(&self.line);
        }
    }

    /// SIGCHLD: notes FIFO scripts that ended (they are not restarted, as keepalived).
    pub fn reap(&mut self) {
        for fifo in &mut self.open {
            fifo.reap();
        }
        self.retired
            .retain_mut(|c| matches!(c.try_wait(), Ok(None)));
    }

    /// Lines dropped so far, over all FIFOs.
    pub fn dropped(&self) -> u64 {
        self.open.iter().map(|f| f.dropped_total).sum()
    }
}

#[cfg(test)]
mod tests;
