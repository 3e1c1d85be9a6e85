//! tinyvrrp runs in a node: start, signal, stop, status.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, ExitStatus};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::setup::{Node, Shared};
use super::status::Status;
use super::{output_timeout, DAEMON};

impl Node {
    /// Writes `config` to the lab's scratch dir and starts
    /// `tinyvrrp -f CONF -l debug --status-socket SOCK` in this node's namespace, stderr to a log.
    pub fn spawn_daemon(&self, config: &str) -> DaemonHandle {
        self.spawn_daemon_via(&[], DAEMON, config, None)
    }

    /// `spawn_daemon` of the binary `exe` through `wrapper` (e.g. setpriv and its options),
    /// with the status socket in `sock_dir` instead of the lab's directory when given.
    pub fn spawn_daemon_via(
        &self,
        wrapper: &[&str],
        exe: &str,
        config: &str,
        sock_dir: Option<&std::path::Path>,
    ) -> DaemonHandle {
        let shared = &self.ns.shared;
        let k = shared.spawn_counter.fetch_add(1, Ordering::SeqCst);
        let stem = format!("n{}-{k}", self.index);
        let conf = shared.dir.join(format!("{stem}.conf"));
        let log = shared.dir.join(format!("{stem}.log"));
        let sock = sock_dir.unwrap_or(&shared.dir).join(format!("{stem}.sock"));
        fs::write(&conf, config).unwrap_or_else(|e| panic!("write {}: {e}", conf.display()));
        let conf_s = conf.to_string_lossy().into_owned();
        let sock_s = sock.to_string_lossy().into_owned();
        let args = [
            exe,
            "-f",
            &conf_s,
            "-l",
            "debug",
            "--status-socket",
            &sock_s,
        ];
        let pid = self.ns.spawn(&[wrapper, &args[..]].concat(), &log);
        DaemonHandle {
            pid,
            node: self.index,
            conf,
            log,
            sock,
            shared: Arc::clone(shared),
        }
    }
}

/// A daemon started by `Node::spawn_daemon`. The lab stops it at teardown if the test did not.
pub struct DaemonHandle {
    pub pid: u32,
    pub node: usize,
    /// The config file it runs from (rewrite it and send SIGHUP to reload).
    pub conf: PathBuf,
    pub log: PathBuf,
    pub sock: PathBuf,
    shared: Arc<Shared>,
}

impl DaemonHandle {
    /// Sends `sig` (libc::SIGTERM, SIGKILL, SIGHUP, ...). False if the process already exited.
    pub fn kill(&self, sig: i32) -> bool {
        self.shared.procs.signal(self.pid, sig)
    }

    /// Waits up to `timeout` for the daemon to exit; its exit status if it did.
    pub fn wait(&self, timeout: Duration) -> Option<ExitStatus> {
        self.shared.procs.wait(self.pid, timeout)
    }

    pub fn is_running(&self) -> bool {
        self.shared.procs.try_wait(self.pid).is_none()
            && self.shared.procs.lock().contains_key(&self.pid)
    }

    /// Everything the daemon wrote to stderr/stdout so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Output of `tinyvrrp --status-socket SOCK status` run from the host namespace (the socket
    /// is a file), or an empty string if that fails or hangs for more than 3 s.
    pub fn status(&self) -> String {
        let sock = self.sock.to_string_lossy().into_owned();
        output_timeout(
            Command::new(DAEMON).args(["--status-socket", &sock, "status"]),
            Duration::from_secs(3),
        )
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
    }

    /// `status()` parsed.
    pub fn parsed_status(&self) -> Status {
        Status::parse(&self.status())
    }

    /// The state (`MASTER`, `BACKUP`, `FAULT`, ...) status reports for `instance`.
    pub fn state(&self, instance: &str) -> Option<String> {
        self.parsed_status()
            .instance(instance)
            .and_then(|i| i.get("state").cloned())
    }

    /// SIGTERM, then SIGKILL if it has not exited within 3 s (the contract allows one advert
    /// interval for the priority-0 advert and removing the VIPs); reaps it.
    pub fn stop(&self) {
        self.shared.procs.stop(self.pid, Duration::from_secs(3));
    }

    /// Panics with the daemon's log if it is not running: a test waiting on a dead daemon
    /// should say so at once rather than time out.
    pub fn assert_running(&self, what: &str) {
        if !self.is_running() {
            panic!(
                "{what}: tinyvrrp on node {} (pid {}) is not running; exit {:?}; log:\n{}",
                self.node,
                self.pid,
                self.shared.procs.try_wait(self.pid),
                self.log_text()
            );
        }
    }
}

/// One VRRPv3 instance `VI_1` (VRID 51) on eth0 with `vip`/24, at `priority` and `advert_int`
/// seconds: the pair most tests run.
pub fn v3_instance(priority: u8, advert_int: &str, vip: &str) -> String {
    format!(
        "[vrrp_instance VI_1]\n\
         interface = eth0\n\
         virtual_router_id = 51\n\
         priority = {priority}\n\
         advert_int = {advert_int}\n\
         version = 3\n\
         virtual_ipaddress = {vip}/24\n"
    )
}
