//! The network-namespace lab shared by the netns tests (`mod lab;` in tests/netns/main.rs).
//!
//! One lab is: a bridge namespace (`br0`, multicast snooping off so 224.0.0.18 floods to every
//! port), N node namespaces each with `eth0` = a veth into the bridge, addressed
//! 192.0.2.(10+i)/24 and 2001:db8::(10+i)/64, and a client namespace (192.0.2.100/24,
//! 2001:db8::100/64). Only documentation addresses are used and only namespaces the lab created
//! are touched; every `ip` command names its namespace with `-n`, never the host's.
//!
//! Namespace names are `tvr<pid>x<n>-<role>`: the pid keeps concurrent test binaries apart and
//! the per-process counter keeps the test threads of one binary apart. Dropping the lab (also
//! while unwinding from a panic) kills every process it started, by pid, and deletes every
//! namespace it created.
//!
//! By topic: `setup` (namespaces, bridge, teardown), `ns` (commands in a namespace, its addresses and links),
//! `reach` (ping and neighbour table, seen from a namespace), `procs` (processes the lab
//! started), `daemon` (tinyvrrp runs), `keepalived` (keepalived runs), `status` (the status
//! parser), `raw` (raw packet senders and listeners), `advert` (adverts built by hand). What the tests
//! name is re-exported below; the methods are on `Lab`, `Node` / `Ns`, `DaemonHandle`, ....

mod advert;
mod daemon;
mod keepalived;
mod ns;
mod procs;
mod raw;
mod reach;
mod setup;
mod status;

pub use advert::{internet_checksum, Advert, IPPROTO_VRRP, VRRP_CHECKSUM_OFFSET, VRRP_GROUP_V4};
pub use daemon::{v3_instance, DaemonHandle};
pub use keepalived::{keepalived_path, KeepalivedHandle};
pub use ns::{fmt_mac, parse_mac};
pub use raw::in_netns;
pub use setup::{netns_list, Lab, Node};
pub use status::Status;

use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The daemon under test.
pub const DAEMON: &str = env!("CARGO_BIN_EXE_tinyvrrp");

/// Polls `cond` every `poll_every` until it holds or `timeout` passes; returns how long it took.
pub fn wait_until(
    timeout: Duration,
    poll_every: Duration,
    mut cond: impl FnMut() -> bool,
) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if cond() {
            return Some(start.elapsed());
        }
        if start.elapsed() >= timeout {
            return None;
        }
        thread::sleep(poll_every);
    }
}

/// Runs a command to completion and panics with its output if it fails: lab setup commands
/// must work, a failure there is a broken lab rather than a skipped test.
fn run_ok(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    if !out.status.success() {
        panic!(
            "lab command {:?} failed ({}): {}",
            args,
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
}

fn run(args: &[&str]) -> Output {
    Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"))
}

fn have_ip() -> bool {
    Command::new("ip")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Runs `cmd` to completion; None when it takes longer than `timeout` (it is then killed).
pub fn output_timeout(cmd: &mut Command, timeout: Duration) -> Option<Output> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return child.wait_with_output().ok(),
            Ok(None) if start.elapsed() < timeout => thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}
