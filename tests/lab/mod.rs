//! The network-namespace lab shared by the integration tests (`mod lab;` in each test file).
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
#![allow(dead_code)]

use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::net::Ipv4Addr;
use std::os::unix::io::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::thread;
use std::time::{Duration, Instant};

/// The daemon under test.
pub const DAEMON: &str = env!("CARGO_BIN_EXE_tinyvrrp");

/// VRRP's IP protocol number and IPv4 group.
pub const IPPROTO_VRRP: u8 = 112;
pub const VRRP_GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);

const CLIENT_V4: &str = "192.0.2.100";
const CLIENT_V6: &str = "2001:db8::100";

/// How long a process gets between SIGTERM and SIGKILL at teardown.
const TERM_GRACE: Duration = Duration::from_millis(700);

static LAB_COUNTER: AtomicU32 = AtomicU32::new(0);
/// `ip netns add` mounts /run/netns on first use; concurrent first uses race, so labs are set
/// up and torn down one at a time within a process.
static NETNS_LOCK: Mutex<()> = Mutex::new(());
static STALE_SWEEP: Once = Once::new();

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

pub fn netns_list() -> Vec<String> {
    let out = run(&["ip", "netns", "list"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// Deletes namespaces left by an earlier run of this harness whose process is gone (a test
/// binary killed before its Drop ran). Only names of our own `tvr<pid>x<n>-` shape whose pid
/// no longer exists are touched.
fn sweep_stale_namespaces() {
    for name in netns_list() {
        let Some(rest) = name.strip_prefix("tvr") else {
            continue;
        };
        let Some((pid, tail)) = rest.split_once('x') else {
            continue;
        };
        let shaped = !pid.is_empty()
            && pid.bytes().all(|b| b.is_ascii_digit())
            && tail
                .split_once('-')
                .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        // Left alone while anything still runs inside it (a test binary in another pid
        // namespace would look dead from here but keep its daemons in its labs).
        if shaped
            && !Path::new(&format!("/proc/{pid}")).exists()
            && run(&["ip", "netns", "pids", &name]).stdout.is_empty()
        {
            let _ = run(&["ip", "netns", "del", &name]);
        }
    }
}

/// Processes the lab started, still unreaped (so their pids cannot be reused while listed).
#[derive(Default)]
struct Procs {
    children: Mutex<HashMap<u32, Child>>,
}

impl Procs {
    fn add(&self, child: Child) -> u32 {
        let pid = child.id();
        self.lock().insert(pid, child);
        pid
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Child>> {
        // A panic elsewhere while holding the lock must not stop teardown.
        self.children.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Signals `pid` if it is one of ours and not yet reaped. Returns false otherwise.
    fn signal(&self, pid: u32, sig: i32) -> bool {
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

    fn try_wait(&self, pid: u32) -> Option<ExitStatus> {
        let mut children = self.lock();
        let child = children.get_mut(&pid)?;
        child.try_wait().ok().flatten()
    }

    fn wait(&self, pid: u32, timeout: Duration) -> Option<ExitStatus> {
        let mut status = None;
        wait_until(timeout, Duration::from_millis(5), || {
            status = self.try_wait(pid);
            status.is_some()
        });
        status
    }

    /// SIGTERM, `grace`, SIGKILL, reap. Idempotent.
    fn stop(&self, pid: u32, grace: Duration) {
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

    fn stop_all(&self) {
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

/// What the lab nodes share: its id, scratch directory, and the processes it started.
struct Shared {
    id: String,
    tag: String,
    dir: PathBuf,
    bridge_ns: String,
    procs: Procs,
    spawn_counter: AtomicU32,
    logs: Mutex<Vec<PathBuf>>,
}

/// A network namespace of the lab; `Node` and `Client` deref to it.
pub struct Ns {
    pub name: String,
    /// This namespace's port on br0, in the bridge namespace.
    pub port: String,
    pub ipv4: Ipv4Addr,
    pub ipv6: String,
    shared: Arc<Shared>,
}

impl Ns {
    /// Runs a command inside the namespace and waits for it.
    pub fn exec(&self, args: &[&str]) -> Output {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(args);
        run(&full)
    }

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

    /// True when `ip` (v4 or v6, without prefix length) is configured on this namespace's eth0.
    pub fn has_addr(&self, ip: &str) -> bool {
        let out = run(&["ip", "-n", &self.name, "-o", "addr", "show", "dev", "eth0"]);
        String::from_utf8_lossy(&out.stdout).lines().any(|line| {
            let mut words = line.split_whitespace();
            while let Some(w) = words.next() {
                if w == "inet" || w == "inet6" {
                    if let Some(a) = words.next() {
                        if a.split('/').next() == Some(ip) {
                            return true;
                        }
                    }
                }
            }
            false
        })
    }

    /// eth0's MAC address.
    pub fn mac(&self) -> [u8; 6] {
        let out = run(&["ip", "-n", &self.name, "-o", "link", "show", "dev", "eth0"]);
        let text = String::from_utf8_lossy(&out.stdout);
        let mut words = text.split_whitespace();
        while let Some(w) = words.next() {
            if w == "link/ether" {
                if let Some(mac) = words.next().and_then(parse_mac) {
                    return mac;
                }
            }
        }
        panic!("no MAC on eth0 in {}: {text}", self.name)
    }

    pub fn link_down(&self) {
        run_ok(&["ip", "-n", &self.name, "link", "set", "eth0", "down"]);
    }

    /// Brings eth0 back up and re-adds the lab's IPv6 address, which the kernel flushed at
    /// link down (keep_addr_on_down is 0 by default).
    pub fn link_up(&self) {
        run_ok(&["ip", "-n", &self.name, "link", "set", "eth0", "up"]);
        if !self.has_addr(&self.ipv6) {
            let v6 = format!("{}/64", self.ipv6);
            run_ok(&[
                "ip", "-n", &self.name, "-6", "addr", "add", &v6, "dev", "eth0", "nodad",
            ]);
        }
    }

    /// Detaches this namespace's port from br0 while both veth ends stay up (carrier on): a
    /// partition, as opposed to a link failure. (Setting the port's STP state to disabled does
    /// not stick on a bridge without STP, so the port leaves the bridge instead.)
    pub fn isolate(&self) {
        run_ok(&[
            "ip",
            "-n",
            &self.shared.bridge_ns,
            "link",
            "set",
            "dev",
            &self.port,
            "nomaster",
        ]);
    }

    /// Ends `isolate`.
    pub fn rejoin(&self) {
        run_ok(&[
            "ip",
            "-n",
            &self.shared.bridge_ns,
            "link",
            "set",
            "dev",
            &self.port,
            "master",
            "br0",
        ]);
    }

    /// Pings `ip` (v4 or v6) until one reply or `timeout`; true on a reply.
    pub fn ping(&self, ip: &str, timeout: Duration) -> bool {
        let secs = timeout.as_secs_f64().ceil().max(1.0) as u64;
        let family = if ip.contains(':') { "-6" } else { "-4" };
        let deadline = secs.to_string();
        self.exec(&[
            "ping", family, "-n", "-q", "-c", "1", "-i", "0.2", "-w", &deadline, ip,
        ])
        .status
        .success()
    }

    /// The link-layer address this namespace's neighbour table holds for `ip`, if any.
    pub fn neigh_mac(&self, ip: &str) -> Option<[u8; 6]> {
        let out = run(&[
            "ip", "-n", &self.name, "neigh", "show", "to", ip, "dev", "eth0",
        ]);
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().next()?;
        let mut words = line.split_whitespace();
        while let Some(w) = words.next() {
            if w == "lladdr" {
                return words.next().and_then(parse_mac);
            }
        }
        None
    }

    /// Drops this namespace's neighbour entry for `ip` (so the next ping re-resolves it).
    pub fn neigh_flush(&self, ip: &str) {
        let _ = run(&[
            "ip", "-n", &self.name, "neigh", "flush", "to", ip, "dev", "eth0",
        ]);
    }

    /// Sends one hand-built IPv4 packet (header included) out of eth0; see `send_raw_ipv4`.
    pub fn send_raw_ipv4(&self, packet: &[u8]) -> io::Result<()> {
        send_raw_ipv4(&self.name, "eth0", packet)
    }

    /// Starts a listener for IP protocol `proto` on eth0 (joined to `group` when multicast);
    /// it collects whole IPv4 packets for `duration`. Ready when this returns.
    pub fn listen_raw_ipv4(
        &self,
        proto: u8,
        group: Option<Ipv4Addr>,
        duration: Duration,
    ) -> thread::JoinHandle<io::Result<Vec<Vec<u8>>>> {
        listen_raw_ipv4(&self.name, "eth0", proto, group, duration)
    }

    /// Captures the IPv4 frames arriving on eth0; see `capture_ipv4_frames`.
    pub fn capture_ipv4_frames(
        &self,
        duration: Duration,
    ) -> thread::JoinHandle<io::Result<Vec<Vec<u8>>>> {
        capture_ipv4_frames(&self.name, "eth0", duration)
    }
}

pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for byte in &mut mac {
        *byte = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

pub fn fmt_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A VRRP node: `eth0` at 192.0.2.(10+index) and 2001:db8::(10+index), index from 1.
pub struct Node {
    pub index: usize,
    ns: Ns,
}

impl std::ops::Deref for Node {
    type Target = Ns;
    fn deref(&self) -> &Ns {
        &self.ns
    }
}

impl Node {
    /// Writes `config` to the lab's scratch dir and starts
    /// `tinyvrrp -f CONF -l debug --status-socket SOCK` in this node's namespace, stderr to a log.
    pub fn spawn_daemon(&self, config: &str) -> DaemonHandle {
        let shared = &self.ns.shared;
        let k = shared.spawn_counter.fetch_add(1, Ordering::SeqCst);
        let stem = format!("n{}-{k}", self.index);
        let conf = shared.dir.join(format!("{stem}.conf"));
        let log = shared.dir.join(format!("{stem}.log"));
        let sock = shared.dir.join(format!("{stem}.sock"));
        fs::write(&conf, config).unwrap_or_else(|e| panic!("write {}: {e}", conf.display()));
        let conf_s = conf.to_string_lossy().into_owned();
        let sock_s = sock.to_string_lossy().into_owned();
        let pid = self.ns.spawn(
            &[
                DAEMON,
                "-f",
                &conf_s,
                "-l",
                "debug",
                "--status-socket",
                &sock_s,
            ],
            &log,
        );
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

/// The client namespace: 192.0.2.100/24, 2001:db8::100/64.
pub struct Client {
    ns: Ns,
}

impl std::ops::Deref for Client {
    type Target = Ns;
    fn deref(&self) -> &Ns {
        &self.ns
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
        command_output_timeout(
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

fn command_output_timeout(cmd: &mut Command, timeout: Duration) -> Option<Output> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
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

/// `tinyvrrp status` output: one `instance=... key=value ...` line per instance and `drops`
/// lines of `reason=count`. A counter that is not printed counts as 0.
#[derive(Debug, Default)]
pub struct Status {
    pub instances: Vec<HashMap<String, String>>,
    pub drops: HashMap<String, u64>,
}

impl Status {
    pub fn parse(text: &str) -> Status {
        let mut status = Status::default();
        for line in text.lines() {
            let mut words = line.split_whitespace().peekable();
            if words.peek() == Some(&"drops") {
                words.next();
                for (k, v) in words.filter_map(|w| w.split_once('=')) {
                    *status.drops.entry(k.to_owned()).or_default() += v.parse::<u64>().unwrap_or(0);
                }
            } else if line.trim_start().starts_with("instance=") {
                let fields = words
                    .filter_map(|w| w.split_once('='))
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
                status.instances.push(fields);
            }
        }
        status
    }

    pub fn instance(&self, name: &str) -> Option<&HashMap<String, String>> {
        self.instances
            .iter()
            .find(|i| i.get("instance").map(String::as_str) == Some(name))
    }

    /// A numeric field of an instance line (0 when absent or not a number).
    pub fn counter(&self, instance: &str, key: &str) -> u64 {
        self.instance(instance)
            .and_then(|i| i.get(key))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    pub fn drop_count(&self, reason: &str) -> u64 {
        self.drops.get(reason).copied().unwrap_or(0)
    }
}

/// A lab: bridge namespace, `nodes` node namespaces and a client namespace.
pub struct Lab {
    pub nodes: Vec<Node>,
    pub client: Client,
    shared: Arc<Shared>,
    namespaces: Vec<String>,
}

impl Lab {
    /// Builds a lab, or returns None (saying why on stderr) when not root or `ip` is missing.
    /// `tag` names the test in messages and in the scratch directory.
    pub fn new(tag: &str, nodes: usize) -> Option<Lab> {
        if !is_root() || !have_ip() {
            eprintln!("{tag}: skipped: needs root and ip netns");
            return None;
        }
        let _guard = NETNS_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        STALE_SWEEP.call_once(sweep_stale_namespaces);

        // Pick an id whose namespaces do not exist yet (a leftover from a recycled pid).
        let existing = netns_list();
        let pid = std::process::id();
        let id = loop {
            let n = LAB_COUNTER.fetch_add(1, Ordering::SeqCst);
            let id = format!("tvr{pid}x{n}");
            if !existing.iter().any(|ns| ns.starts_with(&format!("{id}-"))) {
                break id;
            }
        };
        let dir = std::env::temp_dir().join(&id);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));

        let bridge_ns = format!("{id}-br");
        let shared = Arc::new(Shared {
            id: id.clone(),
            tag: tag.to_owned(),
            dir,
            bridge_ns: bridge_ns.clone(),
            procs: Procs::default(),
            spawn_counter: AtomicU32::new(0),
            logs: Mutex::new(Vec::new()),
        });
        // From here on, a panic in setup still tears down what exists (Drop of this partial lab).
        let mut lab = LabBuilder {
            shared: Arc::clone(&shared),
            namespaces: Vec::new(),
            armed: true,
        };

        lab.add_ns(&bridge_ns);
        let br = bridge_ns.as_str();
        run_ok(&["ip", "-n", br, "link", "set", "lo", "up"]);
        run_ok(&[
            "ip",
            "-n",
            br,
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
            "stp_state",
            "0",
        ]);
        run_ok(&["ip", "-n", br, "link", "set", "br0", "up"]);

        let mut node_list = Vec::with_capacity(nodes);
        for i in 1..=nodes {
            let octet = 10 + i;
            assert!(octet < 100, "at most 89 nodes");
            let ns = lab.add_member(
                &format!("n{i}"),
                Ipv4Addr::new(192, 0, 2, octet as u8),
                &format!("2001:db8::{octet}"),
            );
            node_list.push(Node { index: i, ns });
        }
        let client_ns = lab.add_member("cl", CLIENT_V4.parse().expect("const"), CLIENT_V6);

        let namespaces = std::mem::take(&mut lab.namespaces);
        lab.armed = false;
        drop(lab);
        Some(Lab {
            nodes: node_list,
            client: Client { ns: client_ns },
            shared,
            namespaces,
        })
    }

    /// Node `i`, counted from 1 like the addresses.
    pub fn node(&self, i: usize) -> &Node {
        &self.nodes[i - 1]
    }

    pub fn id(&self) -> &str {
        &self.shared.id
    }

    pub fn namespaces(&self) -> &[String] {
        &self.namespaces
    }

    pub fn bridge_ns(&self) -> &str {
        &self.shared.bridge_ns
    }

    /// The lab's scratch directory (configs, logs, sockets); removed at teardown.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Pids the lab started and has not reaped yet.
    pub fn live_pids(&self) -> Vec<u32> {
        self.shared.procs.lock().keys().copied().collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.shared.procs.stop_all();
        let _guard = NETNS_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        teardown(&self.shared, &self.namespaces);
    }
}

/// Holds a lab under construction so a failing setup command still tears it down.
struct LabBuilder {
    shared: Arc<Shared>,
    namespaces: Vec<String>,
    armed: bool,
}

impl LabBuilder {
    fn add_ns(&mut self, name: &str) {
        run_ok(&["ip", "netns", "add", name]);
        self.namespaces.push(name.to_owned());
    }

    /// A namespace `<id>-<role>` with eth0 veth'd to port `<role>` on br0, addressed and up.
    fn add_member(&mut self, role: &str, ipv4: Ipv4Addr, ipv6: &str) -> Ns {
        let name = format!("{}-{role}", self.shared.id);
        self.add_ns(&name);
        let br = self.shared.bridge_ns.clone();
        let v4 = format!("{ipv4}/24");
        let v6 = format!("{ipv6}/64");
        // Both ends are created inside lab namespaces, so the host never sees either name.
        run_ok(&[
            "ip", "-n", &br, "link", "add", role, "type", "veth", "peer", "name", "eth0", "netns",
            &name,
        ]);
        run_ok(&["ip", "-n", &br, "link", "set", role, "master", "br0", "up"]);
        run_ok(&["ip", "-n", &name, "link", "set", "lo", "up"]);
        run_ok(&["ip", "-n", &name, "addr", "add", &v4, "dev", "eth0"]);
        run_ok(&[
            "ip", "-n", &name, "-6", "addr", "add", &v6, "dev", "eth0", "nodad",
        ]);
        run_ok(&["ip", "-n", &name, "link", "set", "eth0", "up"]);
        Ns {
            name,
            port: role.to_owned(),
            ipv4,
            ipv6: ipv6.to_owned(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl Drop for LabBuilder {
    // Runs while Lab::new holds NETNS_LOCK, so it does not take it again.
    fn drop(&mut self) {
        if self.armed {
            teardown(&self.shared, &self.namespaces);
        }
    }
}

/// Stops the lab's processes and deletes its namespaces; the caller holds NETNS_LOCK.
fn teardown(shared: &Shared, namespaces: &[String]) {
    shared.procs.stop_all();
    let panicking = thread::panicking();
    if panicking {
        // Keep the evidence: print the tail of every log the lab collected.
        let logs = shared
            .logs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for log in logs {
            let text = fs::read_to_string(&log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(40)..];
            eprintln!(
                "---- {} ({}): last {} lines of {}\n{}",
                shared.tag,
                shared.id,
                tail.len(),
                log.display(),
                tail.join("\n")
            );
        }
    }
    // Members first, the bridge namespace (created first) last.
    for ns in namespaces.iter().rev() {
        let out = run(&["ip", "netns", "del", ns]);
        if !out.status.success() {
            eprintln!(
                "lab teardown: ip netns del {ns}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
    let _ = fs::remove_dir_all(&shared.dir);
}

// ---------------------------------------------------------------------------------------------
// Raw packets. A network namespace is a per-thread attribute, so each of these runs on a fresh
// thread that setns()-es into the namespace and exits afterwards; the caller's thread is left
// where it was.

fn enter_netns(ns: &str) -> io::Result<()> {
    let f = File::open(format!("/run/netns/{ns}"))?;
    // SAFETY: f is an open namespace file; setns affects only the calling thread.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Runs `f` on a fresh thread inside network namespace `ns` and returns its result; sockets it
/// opens stay in that namespace and can be used from any thread afterwards. A panic in `f`
/// fails the caller.
pub fn in_netns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            enter_netns(ns).unwrap_or_else(|e| panic!("setns into {ns}: {e}"));
            f()
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

fn ifindex(ifname: &str) -> io::Result<u32> {
    let c = std::ffi::CString::new(ifname)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in ifname"))?;
    // SAFETY: c is a valid NUL-terminated string.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(idx)
}

struct Fd(libc::c_int);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: we own the descriptor.
        unsafe { libc::close(self.0) };
    }
}

fn raw_socket(proto: libc::c_int) -> io::Result<Fd> {
    // SAFETY: plain socket(2) call.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, proto) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Fd(fd))
}

fn setsockopt<T>(fd: &Fd, level: libc::c_int, name: libc::c_int, val: &T) -> io::Result<()> {
    // SAFETY: val points to a live T of the given size.
    let rc = unsafe {
        libc::setsockopt(
            fd.0,
            level,
            name,
            val as *const T as *const libc::c_void,
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn sockaddr_in(addr: Ipv4Addr) -> libc::sockaddr_in {
    // SAFETY: sockaddr_in is plain old data; all-zero is a valid value.
    let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sa.sin_family = libc::AF_INET as libc::sa_family_t;
    sa.sin_addr.s_addr = u32::from_ne_bytes(addr.octets());
    sa
}

/// Sends `packet` — a complete IPv4 packet, header included (IP_HDRINCL), so the caller sets
/// TTL, addresses and the payload's checksum — from namespace `ns` out of `ifname`, to the
/// destination written in the header. The kernel fills in the IP header checksum (and the id
/// when zero); everything else goes out as given.
pub fn send_raw_ipv4(ns: &str, ifname: &str, packet: &[u8]) -> io::Result<()> {
    if packet.len() < 20 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "short IPv4 packet",
        ));
    }
    let dst = Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]);
    let ns = ns.to_owned();
    let ifname = ifname.to_owned();
    let packet = packet.to_vec();
    thread::spawn(move || -> io::Result<()> {
        enter_netns(&ns)?;
        let idx = ifindex(&ifname)?;
        // IPPROTO_RAW implies IP_HDRINCL.
        let fd = raw_socket(libc::IPPROTO_RAW)?;
        if dst.is_multicast() {
            let mreq = libc::ip_mreqn {
                imr_multiaddr: libc::in_addr { s_addr: 0 },
                imr_address: libc::in_addr { s_addr: 0 },
                imr_ifindex: idx as libc::c_int,
            };
            setsockopt(&fd, libc::IPPROTO_IP, libc::IP_MULTICAST_IF, &mreq)?;
        }
        let sa = sockaddr_in(dst);
        // SAFETY: packet and sa are live for the call, lengths match.
        let n = unsafe {
            libc::sendto(
                fd.0,
                packet.as_ptr() as *const libc::c_void,
                packet.len(),
                0,
                &sa as *const libc::sockaddr_in as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n as usize != packet.len() {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "short send"));
        }
        Ok(())
    })
    .join()
    .map_err(|_| io::Error::other("send thread panicked"))?
}

/// Receives IPv4 packets of protocol `proto` in namespace `ns` for `duration` (joining `group`
/// on `ifname` when given). The returned handle yields every packet, IP header included. The
/// socket is open and joined when this function returns, so packets sent after it are seen.
pub fn listen_raw_ipv4(
    ns: &str,
    ifname: &str,
    proto: u8,
    group: Option<Ipv4Addr>,
    duration: Duration,
) -> thread::JoinHandle<io::Result<Vec<Vec<u8>>>> {
    listen_in(ns, ifname, duration, move |idx| {
        let fd = raw_socket(libc::c_int::from(proto))?;
        if let Some(group) = group {
            let mreq = libc::ip_mreqn {
                imr_multiaddr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(group.octets()),
                },
                imr_address: libc::in_addr { s_addr: 0 },
                imr_ifindex: idx as libc::c_int,
            };
            setsockopt(&fd, libc::IPPROTO_IP, libc::IP_ADD_MEMBERSHIP, &mreq)?;
        }
        Ok(fd)
    })
}

/// On a thread in namespace `ns`: `open` makes a socket for `ifname` (given its index), which
/// gets a short receive timeout and collects what arrives for `duration`. The socket is ready
/// when this returns, so packets sent after it are seen.
fn listen_in(
    ns: &str,
    ifname: &str,
    duration: Duration,
    open: impl FnOnce(u32) -> io::Result<Fd> + Send + 'static,
) -> thread::JoinHandle<io::Result<Vec<Vec<u8>>>> {
    let ns = ns.to_owned();
    let ifname = ifname.to_owned();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let handle = thread::spawn(move || -> io::Result<Vec<Vec<u8>>> {
        let fd = (|| -> io::Result<Fd> {
            enter_netns(&ns)?;
            let fd = open(ifindex(&ifname)?)?;
            let tv = libc::timeval {
                tv_sec: 0,
                tv_usec: 20_000,
            };
            setsockopt(&fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv)?;
            Ok(fd)
        })();
        let _ = ready_tx.send(());
        Ok(collect(&fd?, duration))
    });
    let _ = ready_rx.recv();
    handle
}

/// Every datagram `fd` (with a short SO_RCVTIMEO) receives during `duration`.
fn collect(fd: &Fd, duration: Duration) -> Vec<Vec<u8>> {
    let mut packets = Vec::new();
    let mut buf = [0u8; 2048];
    let start = Instant::now();
    while start.elapsed() < duration {
        // SAFETY: buf is live and its length is passed.
        let n = unsafe { libc::recv(fd.0, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0) };
        if n > 0 {
            packets.push(buf[..n as usize].to_vec());
        }
    }
    packets
}

/// Captures the IPv4 Ethernet frames (header included) arriving on `ifname` in namespace `ns`
/// for `duration`, whatever their destination (an AF_PACKET socket). Ready when this returns.
pub fn capture_ipv4_frames(
    ns: &str,
    ifname: &str,
    duration: Duration,
) -> thread::JoinHandle<io::Result<Vec<Vec<u8>>>> {
    listen_in(ns, ifname, duration, |idx| {
        let proto = (libc::ETH_P_IP as u16).to_be();
        // SAFETY: plain socket(2) call.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::c_int::from(proto),
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = Fd(raw);
        // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
        let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sa.sll_family = libc::AF_PACKET as u16;
        sa.sll_protocol = proto;
        sa.sll_ifindex = idx as libc::c_int;
        // SAFETY: sa is live for the call and its size is passed.
        let rc = unsafe {
            libc::bind(
                fd.0,
                &sa as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(fd)
    })
}

// ---------------------------------------------------------------------------------------------
// VRRP adverts built by hand, independent of the daemon's own packet code.

/// RFC 1071 internet checksum of `data` (odd length padded with a zero byte).
pub fn internet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(u16::from_be_bytes([*last, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// One VRRP advertisement, v2 (RFC 3768, no authentication) or v3 (RFC 5798 / 9568).
#[derive(Clone, Debug)]
pub struct Advert {
    pub version: u8,
    pub vrid: u8,
    pub priority: u8,
    /// v2: seconds; v3: centiseconds (12 bits).
    pub interval: u16,
    pub addrs: Vec<Ipv4Addr>,
}

impl Advert {
    /// The VRRP message. v2's checksum covers the message only; v3's (as keepalived and
    /// RFC 5798 do) an IPv4 pseudo-header with `src` and `dst` too.
    pub fn vrrp_bytes(&self, src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
        let mut m = vec![
            (self.version << 4) | 1,
            self.vrid,
            self.priority,
            self.addrs.len() as u8,
        ];
        if self.version == 2 {
            m.push(0); // auth type: none
            m.push(self.interval as u8);
        } else {
            m.extend_from_slice(&(self.interval & 0x0fff).to_be_bytes());
        }
        m.extend_from_slice(&[0, 0]); // checksum, filled below
        for a in &self.addrs {
            m.extend_from_slice(&a.octets());
        }
        if self.version == 2 {
            m.extend_from_slice(&[0; 8]); // authentication data
        }
        let sum = if self.version == 2 {
            internet_checksum(&m)
        } else {
            let mut pseudo = Vec::with_capacity(12 + m.len());
            pseudo.extend_from_slice(&src.octets());
            pseudo.extend_from_slice(&dst.octets());
            pseudo.extend_from_slice(&[0, IPPROTO_VRRP]);
            pseudo.extend_from_slice(&(m.len() as u16).to_be_bytes());
            pseudo.extend_from_slice(&m);
            internet_checksum(&pseudo)
        };
        m[6..8].copy_from_slice(&sum.to_be_bytes());
        m
    }

    /// The whole IPv4 packet from `src` to 224.0.0.18 with `ttl`, TOS 0xc0 like keepalived.
    pub fn ipv4_packet(&self, src: Ipv4Addr, ttl: u8) -> Vec<u8> {
        ipv4_packet(
            src,
            VRRP_GROUP_V4,
            ttl,
            IPPROTO_VRRP,
            &self.vrrp_bytes(src, VRRP_GROUP_V4),
        )
    }
}

/// Offset of the VRRP checksum in a packet built by `Advert::ipv4_packet`.
pub const VRRP_CHECKSUM_OFFSET: usize = 20 + 6;

/// A 20-byte IPv4 header (with its checksum) followed by `payload`.
pub fn ipv4_packet(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, proto: u8, payload: &[u8]) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let mut p = vec![0x45, 0xc0];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0]); // id, flags, fragment offset
    p.extend_from_slice(&[ttl, proto, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let sum = internet_checksum(&p);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

// ---------------------------------------------------------------------------------------------
// Modes: IPv6, multicast blocking, keepalived as a peer.

impl Ns {
    /// Writes a sysctl inside this namespace (`ip netns exec` gives it its own /proc/sys/net).
    pub fn sysctl(&self, key: &str, value: &str) {
        let kv = format!("{key}={value}");
        run_ok(&["ip", "netns", "exec", &self.name, "sysctl", "-q", "-w", &kv]);
    }

    /// eth0's IPv6 link-local address (without scope), if it has one.
    pub fn link_local(&self) -> Option<String> {
        let out = run(&[
            "ip", "-n", &self.name, "-6", "-o", "addr", "show", "dev", "eth0", "scope", "link",
        ]);
        let text = String::from_utf8_lossy(&out.stdout);
        let mut words = text.split_whitespace();
        while let Some(w) = words.next() {
            if w == "inet6" {
                return words
                    .next()
                    .and_then(|a| a.split('/').next())
                    .map(str::to_owned);
            }
        }
        None
    }

    /// Removes eth0's IPv6 link-local address(es).
    pub fn flush_link_local(&self) {
        run_ok(&[
            "ip", "-n", &self.name, "-6", "addr", "flush", "dev", "eth0", "scope", "link",
        ]);
    }

    /// Adds `addr` (with prefix) to eth0 without duplicate address detection.
    pub fn add_addr_nodad(&self, addr: &str) {
        run_ok(&[
            "ip", "-n", &self.name, "-6", "addr", "add", addr, "dev", "eth0", "nodad",
        ]);
    }

    /// `ip -o link show` of every interface in the namespace.
    pub fn links_text(&self) -> String {
        let out = run(&["ip", "-n", &self.name, "-o", "link", "show"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The MAC of interface `dev` in this namespace, if it exists.
    pub fn dev_mac(&self, dev: &str) -> Option<[u8; 6]> {
        let out = run(&["ip", "-n", &self.name, "-o", "link", "show", "dev", dev]);
        let text = String::from_utf8_lossy(&out.stdout);
        let mut words = text.split_whitespace();
        while let Some(w) = words.next() {
            if w == "link/ether" {
                return words.next().and_then(parse_mac);
            }
        }
        None
    }

    /// True when `ip` is configured on any interface of this namespace.
    pub fn has_addr_anywhere(&self, ip: &str) -> bool {
        let out = run(&["ip", "-n", &self.name, "-o", "addr", "show"]);
        String::from_utf8_lossy(&out.stdout).lines().any(|line| {
            line.split_whitespace()
                .any(|w| w.split('/').next() == Some(ip))
        })
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

    /// Stops the bridge from forwarding multicast to any port (broadcast, so ARP, still
    /// floods): only unicast adverts get through. Per-port `mcast_flood off` is enforced by
    /// the bridge's flood path whether or not snooping is on.
    pub fn block_multicast(&self) {
        let ports: Vec<String> = self
            .nodes
            .iter()
            .map(|n| n.port.clone())
            .chain(std::iter::once(self.client.port.clone()))
            .collect();
        for port in &ports {
            run_ok(&[
                "bridge",
                "-n",
                &self.shared.bridge_ns,
                "link",
                "set",
                "dev",
                port,
                "mcast_flood",
                "off",
            ]);
        }
    }
}

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

/// Pids of keepalived processes running anywhere on the machine (from /proc), to check that
/// nothing but the tests' own runs exist.
pub fn keepalived_pids() -> Vec<u32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "keepalived")
        })
        .collect()
}
