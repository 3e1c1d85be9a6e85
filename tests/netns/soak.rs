//! Soak in short (issue 13 part 3; `benches/soak.sh` is the long run): a pair with many
//! VRRPv3 instances at 0.1 s and two track scripts run every second. Once settled, each
//! daemon's heap allocations, open fds and RSS stay flat while the scripts keep running.
//! Needs root; skips otherwise.

use crate::lab;

use std::time::{Duration, Instant};

use lab::{wait_until, DaemonHandle, Lab};

/// Instances per node, half of them mastered by each node.
const INSTANCES: u32 = 20;

/// Two checks that always succeed: an ELF binary by path and a bare name found in PATH.
const SCRIPTS: &str = "[vrrp_script chk_true]\nscript = /bin/true\ninterval = 1\nweight = 2\n\n\
    [vrrp_script chk_dir]\nscript = test -d /\ninterval = 1\nweight = 3\n\n";

/// Node `node` (1 or 2) is master (150) of the instances whose parity is its own.
fn config(node: u32) -> String {
    let mut conf = String::from(SCRIPTS);
    for i in 1..=INSTANCES {
        let priority = if i % 2 == node % 2 { 150 } else { 100 };
        conf += &format!(
            "[vrrp_instance VI_{i}]\ninterface = eth0\nvirtual_router_id = {i}\n\
             priority = {priority}\nadvert_int = 0.1\nversion = 3\n\
             virtual_ipaddress = 192.0.2.{}/24\n\
             track_script = chk_true\ntrack_script = chk_dir\n\n",
            200 + i
        );
    }
    conf
}

#[derive(Debug)]
struct Sample {
    heap_allocs: u64,
    /// Runs of both scripts so far.
    runs: u64,
    masters: usize,
    fds: usize,
    rss_kib: u64,
}

/// The value of `key=` on the status lines starting with `prefix`, summed.
fn field_sum(text: &str, prefix: &str, key: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .flat_map(|l| l.split_whitespace())
        .filter_map(|w| w.strip_prefix(key))
        .filter_map(|v| v.parse::<u64>().ok())
        .sum()
}

/// None while the status socket does not answer (start-up).
fn try_sample(d: &DaemonHandle) -> Option<Sample> {
    d.assert_running("soak");
    let text = d.status();
    if !text.contains("heap_allocs=") {
        return None;
    }
    let proc_status =
        std::fs::read_to_string(format!("/proc/{}/status", d.pid)).unwrap_or_default();
    let rss_kib = proc_status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS for pid {}", d.pid));
    let fds = std::fs::read_dir(format!("/proc/{}/fd", d.pid)).map_or(0, |dir| dir.count());
    Some(Sample {
        heap_allocs: field_sum(&text, "process ", "heap_allocs="),
        runs: field_sum(&text, "track_script ", "runs="),
        masters: text.matches("state=MASTER").count(),
        fds,
        rss_kib,
    })
}

fn sample(d: &DaemonHandle) -> Sample {
    try_sample(d).unwrap_or_else(|| panic!("no status from pid {}", d.pid))
}

/// Tolerances: heap allocations at most 4 in 30 s (a script run allocates nothing, nor does
/// serving status; what may, once each, on a loaded machine: a debug line longer than any
/// before grows the logger's reused buffer, a burst of events bigger than any before (a
/// script timing out, a stalled peer) the router's action queue — a run used to cost 10
/// allocations, about 600 here); open fds at most 3 above the lowest sample (a script run in flight
/// holds /dev/null and the two ends of its exec pipe); RSS at most 16 KiB (four pages) above
/// the first sample (code or stack pages touched for the first time, not a heap that grows).
#[test]
fn a_pair_running_track_scripts_stays_flat() {
    let Some(lab) = Lab::new("soak", 2) else {
        return;
    };
    let d1 = lab.node(1).spawn_daemon(&config(1));
    let d2 = lab.node(2).spawn_daemon(&config(2));
    let half = (INSTANCES / 2) as usize;
    let settled = wait_until(Duration::from_secs(15), Duration::from_millis(200), || {
        let masters = |d| try_sample(d).map(|s| s.masters);
        masters(&d1) == Some(half) && masters(&d2) == Some(half)
    });
    assert!(
        settled.is_some(),
        "the pair did not settle to {half} masters each: {:?} {:?}",
        try_sample(&d1),
        try_sample(&d2)
    );
    // Start-up (GARP bursts, the first status replies and script runs) is over by then.
    std::thread::sleep(Duration::from_secs(3));
    let mut samples = (Vec::new(), Vec::new());
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        samples.0.push(sample(&d1));
        samples.1.push(sample(&d2));
        std::thread::sleep(Duration::from_secs(2));
    }
    for (node, s) in [(1, &samples.0), (2, &samples.1)] {
        assert_flat(node, s);
    }
}

fn assert_flat(node: u32, s: &[Sample]) {
    let (first, last) = (&s[0], &s[s.len() - 1]);
    eprintln!(
        "node {node}: {} samples over 30 s, {} script runs; heap_allocs {} -> {}, \
         fds {} -> {}, RSS {} -> {} KiB",
        s.len(),
        last.runs - first.runs,
        first.heap_allocs,
        last.heap_allocs,
        first.fds,
        last.fds,
        first.rss_kib,
        last.rss_kib
    );
    // Two scripts at 1 s for 30 s: about 60 runs; fewer than 40 means they stopped.
    assert!(
        last.runs - first.runs >= 40,
        "node {node}: scripts did not run: {s:?}"
    );
    assert!(
        last.heap_allocs - first.heap_allocs <= 4,
        "node {node}: the heap allocated in the steady state: {s:?}"
    );
    let low = s.iter().map(|x| x.fds).min().unwrap_or(0);
    assert!(
        s.iter().all(|x| x.fds <= low + 3),
        "node {node}: open fds grew: {s:?}"
    );
    assert!(
        s.iter().all(|x| x.rss_kib <= first.rss_kib + 16),
        "node {node}: RSS grew: {s:?}"
    );
}
