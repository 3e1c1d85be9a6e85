//! Namespaces and the bridge: building a lab, its nodes and client, and tearing it down.

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::thread;

use super::procs::Procs;
use super::{have_ip, is_root, run, run_ok};

const CLIENT_V4: &str = "192.0.2.100";
const CLIENT_V6: &str = "2001:db8::100";

static LAB_COUNTER: AtomicU32 = AtomicU32::new(0);
/// `ip netns add` mounts /run/netns on first use; concurrent first uses race, so labs are set
/// up and torn down one at a time within a process.
static NETNS_LOCK: Mutex<()> = Mutex::new(());
static STALE_SWEEP: Once = Once::new();

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

/// What the lab nodes share: its id, scratch directory, and the processes it started.
pub(super) struct Shared {
    pub(super) id: String,
    tag: String,
    pub(super) dir: PathBuf,
    bridge_ns: String,
    pub(super) procs: Procs,
    pub(super) spawn_counter: AtomicU32,
    pub(super) logs: Mutex<Vec<PathBuf>>,
}

/// A network namespace of the lab; `Node` and `Client` deref to it.
pub struct Ns {
    pub name: String,
    /// This namespace's port on br0, in the bridge namespace.
    pub port: String,
    pub ipv4: Ipv4Addr,
    pub ipv6: String,
    pub(super) shared: Arc<Shared>,
}

impl Ns {
    /// Detaches this namespace's port from br0 while both veth ends stay up (carrier on): a
    /// partition, as opposed to a link failure. (Setting the port's STP state to disabled does
    /// not stick on a bridge without STP, so the port leaves the bridge instead.)
    pub fn isolate(&self) {
        self.set_port(&["nomaster"]);
    }

    /// Ends `isolate`.
    pub fn rejoin(&self) {
        self.set_port(&["master", "br0"]);
    }

    /// `ip link set dev PORT <what>` on this namespace's port, in the bridge namespace.
    fn set_port(&self, what: &[&str]) {
        let bridge = &self.shared.bridge_ns;
        let mut args = vec!["ip", "-n", bridge, "link", "set", "dev", &self.port];
        args.extend_from_slice(what);
        run_ok(&args);
    }
}

/// A VRRP node: `eth0` at 192.0.2.(10+index) and 2001:db8::(10+index), index from 1.
pub struct Node {
    pub index: usize,
    pub(super) ns: Ns,
}

impl std::ops::Deref for Node {
    type Target = Ns;
    fn deref(&self) -> &Ns {
        &self.ns
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

/// A lab: bridge namespace, `nodes` node namespaces and a client namespace.
pub struct Lab {
    pub nodes: Vec<Node>,
    pub client: Client,
    pub(super) shared: Arc<Shared>,
    namespaces: Vec<String>,
}

impl Lab {
    /// The namespace that holds br0 (a VM's tap joins the bridge there).
    pub fn bridge_ns(&self) -> &str {
        &self.shared.bridge_ns
    }

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

impl Lab {
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
