//! What tests/netns_chaos.rs needs beside the lab: a pair of daemons with two instances (one
//! plain, one with `use_vmac`), transitions counted from the logs, the RFC's bounds on them,
//! the "settled and clean" checks, and the network faults the lab does not have (loss with
//! nftables, delay with a userspace relay: this kernel has no sch_netem).
#![allow(dead_code)]

pub mod delay;
pub mod loss;
#[path = "../../sim/rng.rs"]
pub mod rng;

use std::process::Command;
use std::time::Duration;

use crate::lab::{wait_until, DaemonHandle, Lab};

/// VI_1 (VRID 51) holds VIP on eth0; VI_2 (VRID 52) holds VMAC_VIP on the macvlan `vrrp.52`.
pub const VIP: &str = "192.0.2.1";
pub const VMAC_VIP: &str = "192.0.2.2";
pub const VMAC_DEV: &str = "vrrp.52";
pub const INSTANCES: [&str; 2] = ["VI_1", "VI_2"];
pub const POLL: Duration = Duration::from_millis(20);

pub fn long() -> bool {
    std::env::var("TINYVRRP_LONG").is_ok_and(|v| v == "1")
}

/// VRRP timing of a run and what RFC 5798 derives from it.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub version: u8,
    /// Advertisement interval in centiseconds (v2: a whole number of seconds).
    pub centis: u32,
}

pub const V3_100MS: Timing = Timing {
    version: 3,
    centis: 10,
};
pub const V2_1S: Timing = Timing {
    version: 2,
    centis: 100,
};

impl Timing {
    pub fn advert(self) -> Duration {
        Duration::from_millis(u64::from(self.centis) * 10)
    }

    /// Skew_Time = ((256 - Priority) * Master_Adver_Interval) / 256 (v2: the interval is 1 s).
    pub fn skew(self, priority: u8) -> Duration {
        self.advert() * (256 - u32::from(priority)) / 256
    }

    /// Master_Down_Interval = 3 * Master_Adver_Interval + Skew_Time: how long a backup at
    /// `priority` waits without an advert before it takes over.
    pub fn master_down(self, priority: u8) -> Duration {
        self.advert() * 3 + self.skew(priority)
    }

    fn advert_int(self) -> String {
        if self.version == 2 {
            (self.centis / 100).to_string()
        } else {
            format!("{}.{:02}", self.centis / 100, self.centis % 100)
        }
    }
}

/// The config of one node of the pair.
pub fn conf(t: Timing, priority: u8) -> String {
    let common = format!(
        "interface = eth0\npriority = {priority}\nadvert_int = {}\nversion = {}\n",
        t.advert_int(),
        t.version
    );
    format!(
        "[vrrp_instance VI_1]\n{common}virtual_router_id = 51\nvirtual_ipaddress = {VIP}/24\n\n\
         [vrrp_instance VI_2]\n{common}virtual_router_id = 52\nuse_vmac\n\
         virtual_ipaddress = {VMAC_VIP}/24\n"
    )
}

pub const HIGH: u8 = 150;
pub const LOW: u8 = 100;

/// A pair HIGH / LOW started and settled: node 1 master of both instances.
pub fn pair(lab: &Lab, t: Timing) -> (DaemonHandle, DaemonHandle) {
    let d1 = lab.node(1).spawn_daemon(&conf(t, HIGH));
    let d2 = lab.node(2).spawn_daemon(&conf(t, LOW));
    settled(lab, &[&d1, &d2], 1, "start");
    (d1, d2)
}

/// Transitions of `instance` logged in `log` (`VI_1 BACKUP -> MASTER: ...`).
pub fn transitions(log: &str, instance: &str) -> u64 {
    let states = ["INIT", "BACKUP", "MASTER", "FAULT"];
    log.lines()
        .filter_map(|l| l.split_once(&format!(" {instance} ")))
        .filter(|(_, rest)| {
            let mut w = rest.split_whitespace();
            let (from, arrow, to) = (w.next(), w.next(), w.next());
            arrow == Some("->")
                && from.is_some_and(|f| states.contains(&f))
                && to.is_some_and(|t| states.contains(&t.trim_end_matches(':')))
        })
        .count() as u64
}

/// Where each daemon's log stood at the start of a scenario.
pub struct Mark(Vec<usize>);

impl Mark {
    pub fn new(ds: &[&DaemonHandle]) -> Mark {
        Mark(ds.iter().map(|d| d.log_text().len()).collect())
    }

    /// A mark at the start of every log.
    pub fn from_start() -> Mark {
        Mark(Vec::new())
    }

    /// Transitions of `instance` each daemon logged since the mark.
    pub fn since(&self, ds: &[&DaemonHandle], instance: &str) -> Vec<u64> {
        ds.iter()
            .enumerate()
            .map(|(i, d)| {
                let at = self.0.get(i).copied().unwrap_or(0);
                transitions(d.log_text().get(at..).unwrap_or(""), instance)
            })
            .collect()
    }
}

/// The smallest k with P(X > k) < 1e-4 for X ~ Poisson(lambda): a count of independent rare
/// events expected lambda times stays at or below k in all but one run in 10 000.
pub fn poisson_bound(lambda: f64) -> u64 {
    let mut term = (-lambda).exp();
    let mut cdf = term;
    let mut k = 0;
    while 1.0 - cdf >= 1e-4 {
        k += 1;
        term *= lambda / k as f64;
        cdf += term;
    }
    k
}

/// Fails with both logs unless every instance counted at most its bound.
pub fn assert_within(
    what: &str,
    counts: &[(&str, Vec<u64>)],
    bounds: &[u64],
    ds: &[&DaemonHandle],
) {
    for (instance, got) in counts {
        eprintln!("{what}: {instance} transitions per node {got:?}, RFC bound {bounds:?}");
        if got.iter().zip(bounds).any(|(g, b)| g > b) {
            let logs: Vec<String> = ds.iter().map(|d| d.log_text()).collect();
            panic!(
                "{what}: {instance} made {got:?} transitions, more than the bound {bounds:?}\n{}",
                logs.join("\n----\n")
            );
        }
    }
}

fn state(d: &DaemonHandle, instance: &str) -> String {
    d.state(instance).unwrap_or_default()
}

fn pids_in(ns: &str) -> Vec<u32> {
    let out = Command::new("ip")
        .args(["netns", "pids", ns])
        .output()
        .unwrap_or_else(|e| panic!("ip netns pids {ns}: {e}"));
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// What is wrong with the lab now, if anything, with node `master` (if any) expected master
/// of every instance and `ds` the only processes running.
fn mess(lab: &Lab, ds: &[&DaemonHandle], master: Option<usize>) -> Option<String> {
    for d in ds {
        d.assert_running("settle");
        for inst in INSTANCES {
            let want = if Some(d.node) == master {
                "MASTER"
            } else {
                "BACKUP"
            };
            if state(d, inst) != want {
                return Some(format!("node {} {inst} is {}", d.node, state(d, inst)));
            }
        }
    }
    for node in &lab.nodes {
        let mine = Some(node.index) == master;
        if node.has_addr(VIP) != mine {
            return Some(format!("node {}: VIP {VIP} present {}", node.index, !mine));
        }
        if node.has_addr_anywhere(VMAC_VIP) != mine || node.dev_mac(VMAC_DEV).is_some() != mine {
            return Some(format!(
                "node {}: VMAC or its VIP present {}",
                node.index, !mine
            ));
        }
    }
    if lab.client.has_addr_anywhere(VIP) || lab.client.has_addr_anywhere(VMAC_VIP) {
        return Some("a VIP on the client".into());
    }
    let live: Vec<u32> = ds.iter().map(|d| d.pid).collect();
    for ns in lab.namespaces() {
        if let Some(p) = pids_in(ns).into_iter().find(|p| !live.contains(p)) {
            return Some(format!("process {p} left in {ns}"));
        }
    }
    None
}

/// Waits (up to 20 s: the longest flap hold-down is 8 Master_Down_Intervals) until node
/// `master` is the only master of both instances, holds both VIPs and the VMAC alone, and no
/// process other than `ds` runs in any of the lab's namespaces; panics with the logs if not.
pub fn settled(lab: &Lab, ds: &[&DaemonHandle], master: usize, what: &str) {
    let mut last = None;
    let ok = wait_until(Duration::from_secs(20), POLL, || {
        last = mess(lab, ds, Some(master));
        last.is_none()
    });
    if ok.is_none() {
        let logs: Vec<String> = ds.iter().map(|d| d.log_text()).collect();
        panic!(
            "{what}: not settled: {}\n{}",
            last.unwrap_or_default(),
            logs.join("\n----\n")
        );
    }
}

/// Stops every daemon (SIGTERM) and checks that nothing is left: no VIP, no macvlan, no
/// process in any of the lab's namespaces.
pub fn stop_all_clean(lab: &Lab, ds: &[&DaemonHandle]) {
    for d in ds {
        d.stop();
    }
    for node in &lab.nodes {
        assert!(
            !node.has_addr_anywhere(VIP) && !node.has_addr_anywhere(VMAC_VIP),
            "node {}: a VIP left after the stop",
            node.index
        );
        assert!(
            node.dev_mac(VMAC_DEV).is_none(),
            "node {}: the VMAC left after the stop",
            node.index
        );
    }
    for ns in lab.namespaces() {
        assert_eq!(pids_in(ns), Vec::<u32>::new(), "processes left in {ns}");
    }
}
