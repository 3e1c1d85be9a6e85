//! keepalived runs in a node, the interop peer.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::setup::{Node, Shared};

/// Where keepalived is, or None.
pub fn keepalived_path() -> Option<PathBuf> {
    [
        "/usr/sbin/keepalived",
        "/usr/local/sbin/keepalived",
        "/sbin/keepalived",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// A keepalived run in a node: `keepalived -n -l -D -P -R -f CONF -p PID -r VRRP_PID` with its
/// own config and pid files in the lab dir (so two runs share nothing in /run). `-n` keeps the
/// parent in the foreground; it forks one VRRP child, whose pid the `-r` file holds. The
/// parent is in the lab's process registry; the child is killed by pid (checked to be the
/// parent's child) when the handle drops, before the parent is stopped.
pub struct KeepalivedHandle {
    pub pid: u32,
    pub node: usize,
    pub log: PathBuf,
    vrrp_pidfile: PathBuf,
    shared: Arc<Shared>,
}

impl Node {
    /// Starts keepalived with `config` (keepalived.conf syntax) in this node's namespace.
    /// Panics when keepalived is not installed: interop tests must fail, not skip, then.
    pub fn spawn_keepalived(&self, config: &str) -> KeepalivedHandle {
        let bin = keepalived_path()
            .expect("keepalived is not installed (tests/run.sh installs Debian's package)");
        let shared = &self.ns.shared;
        let k = shared.spawn_counter.fetch_add(1, Ordering::SeqCst);
        let stem = format!("ka{}-{k}", self.index);
        let conf = shared.dir.join(format!("{stem}.conf"));
        let log = shared.dir.join(format!("{stem}.log"));
        let pidfile = shared.dir.join(format!("{stem}.pid"));
        let vrrp_pidfile = shared.dir.join(format!("{stem}.vrrp.pid"));
        let chk_pidfile = shared.dir.join(format!("{stem}.chk.pid"));
        let bfd_pidfile = shared.dir.join(format!("{stem}.bfd.pid"));
        fs::write(&conf, config).unwrap_or_else(|e| panic!("write {}: {e}", conf.display()));
        let s = |p: &Path| p.to_string_lossy().into_owned();
        let (bin, conf_s, pid_s, vrrp_s, chk_s, bfd_s) = (
            s(&bin),
            s(&conf),
            s(&pidfile),
            s(&vrrp_pidfile),
            s(&chk_pidfile),
            s(&bfd_pidfile),
        );
        let pid = self.ns.spawn(
            &[
                &bin, "-n", "-l", "-D", "-G", "-P", "-R", "-f", &conf_s, "-p", &pid_s, "-r",
                &vrrp_s, "-c", &chk_s, "-b", &bfd_s,
            ],
            &log,
        );
        KeepalivedHandle {
            pid,
            node: self.index,
            log,
            vrrp_pidfile,
            shared: Arc::clone(shared),
        }
    }
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    rest.split_whitespace().nth(1)?.parse().ok()
}

impl KeepalivedHandle {
    /// The VRRP child's pid, once it has written its pid file and while it is our parent's
    /// child.
    pub fn vrrp_pid(&self) -> Option<u32> {
        let pid: u32 = fs::read_to_string(&self.vrrp_pidfile)
            .ok()?
            .trim()
            .parse()
            .ok()?;
        (parent_of(pid) == Some(self.pid)).then_some(pid)
    }

    pub fn is_running(&self) -> bool {
        self.shared.procs.try_wait(self.pid).is_none()
            && self.shared.procs.lock().contains_key(&self.pid)
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A crash: SIGKILL to the VRRP child (it leaves its VIPs behind and sends nothing), then
    /// to the parent (`-R`: it would not respawn the child anyway).
    pub fn crash(&self) {
        if let Some(child) = self.vrrp_pid() {
            // SAFETY: `child` is, as just checked, the child of a process we started and have
            // not reaped.
            unsafe { libc::kill(child as libc::pid_t, libc::SIGKILL) };
        }
        self.shared.procs.signal(self.pid, libc::SIGKILL);
        self.shared.procs.wait(self.pid, Duration::from_secs(3));
    }

    /// Graceful stop: SIGTERM to the parent, which stops the VRRP child (priority-0 advert,
    /// VIPs removed) and exits. Returns the exit status if it exits within `timeout`.
    pub fn terminate(&self, timeout: Duration) -> Option<ExitStatus> {
        self.shared.procs.signal(self.pid, libc::SIGTERM);
        self.shared.procs.wait(self.pid, timeout)
    }

    /// Panics with keepalived's log when it is not running.
    pub fn assert_running(&self, what: &str) {
        if !self.is_running() {
            panic!(
                "{what}: keepalived on node {} (pid {}) is not running; log:\n{}",
                self.node,
                self.pid,
                self.log_text()
            );
        }
    }
}

impl Drop for KeepalivedHandle {
    fn drop(&mut self) {
        if let Some(child) = self.vrrp_pid() {
            // SAFETY: as in `crash`.
            unsafe { libc::kill(child as libc::pid_t, libc::SIGKILL) };
        }
        self.shared.procs.stop(self.pid, Duration::from_secs(2));
    }
}
