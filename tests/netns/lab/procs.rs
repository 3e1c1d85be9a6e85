//! Processes the lab starts: the registry that stops them by pid at teardown, and spawning
//! inside a namespace.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::setup::{Lab, Ns};
use super::wait_until;

/// How long a process gets between SIGTERM and SIGKILL at teardown.
const TERM_GRACE: Duration = Duration::from_millis(700);

/// Processes the lab started, still unreaped (so their pids cannot be reused while listed).
#[derive(Default)]
pub(super) struct Procs {
    children: Mutex<HashMap<u32, Child>>,
}

impl Procs {
    pub(super) fn add(&self, child: Child) -> u32 {
        let pid = child.id();
        self.lock().insert(pid, child);
        pid
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Child>> {
        // A panic elsewhere while holding the lock must not stop teardown.
        self.children.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Signals `pid` if it is one of ours and not yet reaped. Returns false otherwise.
    pub(super) fn signal(&self, pid: u32, sig: i32) -> bool {
        let mut children = self.lock();
        let Some(child) = children.get_mut(&pid) else {
            return false;
        };
        if let Ok(Some(_)) = child.try_wait() {
            return false; // exited; keep the status for wait()
        }
        // SAFETY: the child is not reaped (try_wait said running), so the pid is still ours.
        unsafe { libc::kill(pid as libc::pid_t, sig) == 0 }
    }

    pub(super) fn try_wait(&self, pid: u32) -> Option<ExitStatus> {
        let mut children = self.lock();
        let child = children.get_mut(&pid)?;
        child.try_wait().ok().flatten()
    }

    pub(super) fn wait(&self, pid: u32, timeout: Duration) -> Option<ExitStatus> {
        let mut status = None;
        wait_until(timeout, Duration::from_millis(5), || {
            status = self.try_wait(pid);
            status.is_some()
        });
        status
    }

    /// SIGTERM, `grace`, SIGKILL, reap. Idempotent.
    pub(super) fn stop(&self, pid: u32, grace: Duration) {
        if self.signal(pid, libc::SIGTERM) && self.wait(pid, grace).is_none() {
            self.signal(pid, libc::SIGKILL);
        }
        if let Some(mut child) = self.lock().remove(&pid) {
            if child.try_wait().ok().flatten().is_none() {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }

    pub(super) fn stop_all(&self) {
        let pids: Vec<u32> = self.lock().keys().copied().collect();
        for pid in &pids {
            self.signal(*pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + TERM_GRACE;
        for pid in pids {
            let left = deadline.saturating_duration_since(Instant::now());
            if self.wait(pid, left).is_none() {
                self.signal(pid, libc::SIGKILL);
            }
            if let Some(mut child) = self.lock().remove(&pid) {
                let _ = child.wait();
            }
        }
    }
}

impl Ns {
    /// Starts a long-running command inside the namespace; the lab stops it at teardown.
    /// Returns its pid (that of the command itself: `ip netns exec` execs it).
    pub fn spawn(&self, args: &[&str], log: &Path) -> u32 {
        let file = File::create(log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
        let err = file.try_clone().expect("dup log fd");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name])
            .args(args)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err);
        // If the test binary dies without unwinding, the kernel kills what it started.
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {args:?} in {}: {e}", self.name));
        self.shared
            .logs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(log.to_owned());
        self.shared.procs.add(child)
    }
}

/// A process a test started; killed (by its PID) and reaped however the test ends.
pub struct Started(pub std::process::Child);

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Lab {
    /// Starts `sleep 600` under the process name `name` (for track_process). It runs through
    /// a symlink in the lab's directory, not a copy: the kernel names a process after the
    /// path it ran, and a copy written while another test thread forks can fail to exec with
    /// ETXTBSY.
    pub fn start_named_sleep(&self, name: &str) -> Started {
        let exe = self.dir().join(name);
        if !exe.exists() {
            std::os::unix::fs::symlink("/bin/sleep", &exe).expect("link sleep");
        }
        let child = std::process::Command::new(&exe)
            .arg("600")
            .spawn()
            .expect("start the tracked process");
        Started(child)
    }
}
