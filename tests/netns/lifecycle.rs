//! The daemon's life around the protocol: reload on SIGHUP (and refusal of a broken config),
//! an interface that is missing at start, leftover VIPs from a crashed run, SIGUSR1, and the
//! steady state allocating nothing. Needs root; skips otherwise.

use crate::lab;

use std::time::Duration;

use lab::{wait_until, DaemonHandle, Lab, Node};

const VIP: &str = "192.0.2.1";

fn config(interface: &str, priority: u8, vip: &str) -> String {
    format!(
        "[vrrp_instance VI_1]\n\
         interface = {interface}\n\
         virtual_router_id = 51\n\
         priority = {priority}\n\
         advert_int = 0.5\n\
         version = 3\n\
         virtual_ipaddress = {vip}/24\n"
    )
}

fn state(d: &DaemonHandle) -> String {
    d.state("VI_1").unwrap_or_else(|| "<no status>".into())
}

fn wait_state(d: &DaemonHandle, want: &str, timeout: Duration) -> bool {
    wait_until(timeout, Duration::from_millis(50), || {
        d.assert_running(want);
        state(d) == want
    })
    .is_some()
}

/// The process-wide line of `tinyvrrp status`: `process heap_allocs=N`.
fn heap_allocs(d: &DaemonHandle) -> u64 {
    let text = d.status();
    text.lines()
        .filter(|l| l.starts_with("process "))
        .flat_map(|l| l.split_whitespace())
        .find_map(|w| w.strip_prefix("heap_allocs="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no heap_allocs in status:\n{text}"))
}

fn settled_pair(lab: &Lab) -> (&Node, DaemonHandle, &Node, DaemonHandle) {
    let (n1, n2) = (lab.node(1), lab.node(2));
    let d1 = n1.spawn_daemon(&config("eth0", 150, VIP));
    let d2 = n2.spawn_daemon(&config("eth0", 100, VIP));
    assert!(
        wait_state(&d1, "MASTER", Duration::from_secs(8)),
        "node 1 never MASTER"
    );
    assert!(wait_state(&d2, "BACKUP", Duration::from_secs(2)));
    (n1, d1, n2, d2)
}

#[test]
fn sighup_applies_a_new_priority_and_keeps_running_on_a_broken_config() {
    let Some(lab) = Lab::new("reload", 2) else {
        return;
    };
    let (n1, d1, n2, d2) = settled_pair(&lab);

    std::fs::write(&d2.conf, config("eth0", 200, VIP)).expect("rewrite config");
    assert!(d2.kill(libc::SIGHUP));
    let took = wait_until(Duration::from_secs(8), Duration::from_millis(50), || {
        state(&d2) == "MASTER" && n2.has_addr(VIP) && !n1.has_addr(VIP)
    })
    .expect("node 2 did not take over after reloading with priority 200");
    eprintln!(
        "reload: node 2 master {:.3} s after SIGHUP",
        took.as_secs_f64()
    );
    assert!(wait_state(&d1, "BACKUP", Duration::from_secs(2)));

    std::fs::write(
        &d2.conf,
        config("eth0", 200, VIP).replace("priority = 200", "priority = 300"),
    )
    .expect("rewrite config");
    assert!(d2.kill(libc::SIGHUP));
    let refused = wait_until(Duration::from_secs(3), Duration::from_millis(50), || {
        d2.log_text().contains("reload refused")
    });
    assert!(
        refused.is_some(),
        "no refusal in the log:\n{}",
        d2.log_text()
    );
    let log = d2.log_text();
    assert!(
        log.contains(&format!(
            "{}:4: [vrrp_instance VI_1] priority",
            d2.conf.display()
        )),
        "the refusal names file:line and key:\n{log}"
    );
    // The running configuration stays: still master, still holding the VIP, for a while.
    std::thread::sleep(Duration::from_secs(2));
    d2.assert_running("broken reload");
    assert_eq!(state(&d2), "MASTER");
    assert!(n2.has_addr(VIP) && !n1.has_addr(VIP));
}

#[test]
fn sighup_keeps_unchanged_instances_without_a_flap_and_starts_new_ones() {
    let Some(lab) = Lab::new("noflap", 2) else {
        return;
    };
    let (n1, d1, n2, d2) = settled_pair(&lab);
    let second = config("eth0", 150, "192.0.2.2")
        .replace("VI_1", "VI_2")
        .replace("virtual_router_id = 51", "virtual_router_id = 52");
    std::fs::write(&d1.conf, config("eth0", 150, VIP) + "\n" + &second).expect("rewrite");
    assert!(d1.kill(libc::SIGHUP));
    // For 3 s (6 adverts) the VIP never leaves node 1 and never appears on node 2.
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        assert!(n1.has_addr(VIP), "VIP left the master during reload");
        assert!(
            !n2.has_addr(VIP),
            "VIP appeared on the backup during reload"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(state(&d1), "MASTER");
    assert_eq!(state(&d2), "BACKUP");
    let log = d1.log_text();
    assert!(
        log.contains("1 kept, 0 changed in place, 0 restarted, 0 removed, 1 added"),
        "{log}"
    );
    assert_eq!(log.matches("VI_1 MASTER ->").count(), 0, "{log}");
    assert_eq!(
        d1.state("VI_2").as_deref(),
        Some("MASTER"),
        "VI_2 not started"
    );
    assert!(d2.parsed_status().counter("VI_1", "rx_priority_zero") == 0);
}

#[test]
fn interface_missing_at_start_is_fault_until_it_appears() {
    let Some(lab) = Lab::new("late_if", 1) else {
        return;
    };
    let n1 = lab.node(1);
    let d1 = n1.spawn_daemon(&config("late0", 150, "198.51.100.1"));
    assert!(
        wait_state(&d1, "FAULT", Duration::from_secs(3)),
        "not FAULT: {}",
        state(&d1)
    );
    std::thread::sleep(Duration::from_millis(500));
    d1.assert_running("missing interface must not stop the daemon");

    let run = |args: &[&str]| {
        let out = n1.exec(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "ip", "link", "add", "late0", "type", "veth", "peer", "name", "late1",
    ]);
    run(&["ip", "link", "set", "late1", "up"]);
    run(&["ip", "link", "set", "late0", "up"]);
    // Up but no address yet: still FAULT (the boot race keepalived users hit).
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(state(&d1), "FAULT");
    run(&["ip", "addr", "add", "198.51.100.11/24", "dev", "late0"]);
    assert!(
        wait_state(&d1, "MASTER", Duration::from_secs(5)),
        "never MASTER after the interface appeared: {}",
        state(&d1)
    );
    let addrs = n1.exec(&["ip", "-o", "addr", "show", "dev", "late0"]);
    let addrs = String::from_utf8_lossy(&addrs.stdout);
    assert!(
        addrs.contains("inet 198.51.100.1/24"),
        "VIP not on late0:\n{addrs}"
    );
}

#[test]
fn a_vip_left_by_a_crashed_run_is_removed_at_start() {
    let Some(lab) = Lab::new("leftover", 2) else {
        return;
    };
    let (n1, n2) = (lab.node(1), lab.node(2));
    let d1 = n1.spawn_daemon(&config("eth0", 150, VIP));
    assert!(wait_state(&d1, "MASTER", Duration::from_secs(8)));
    let out = n2.exec(&["ip", "addr", "add", &format!("{VIP}/24"), "dev", "eth0"]);
    assert!(out.status.success());
    let d2 = n2.spawn_daemon(&config("eth0", 100, VIP));
    let gone = wait_until(Duration::from_secs(2), Duration::from_millis(20), || {
        !n2.has_addr(VIP)
    });
    assert!(gone.is_some(), "leftover VIP still on the backup");
    assert!(wait_state(&d2, "BACKUP", Duration::from_secs(2)));
    assert!(d2.log_text().contains("removing leftover VIP"));
}

#[test]
fn sigusr1_logs_each_instance() {
    let Some(lab) = Lab::new("usr1", 2) else {
        return;
    };
    let (_, d1, _, _d2) = settled_pair(&lab);
    assert!(d1.kill(libc::SIGUSR1));
    let logged = wait_until(Duration::from_secs(2), Duration::from_millis(50), || {
        d1.log_text()
            .lines()
            .any(|l| l.contains("status: instance=VI_1") && l.contains("state=MASTER"))
    });
    assert!(logged.is_some(), "{}", d1.log_text());
}

#[test]
fn steady_state_allocates_nothing() {
    let Some(lab) = Lab::new("alloc", 2) else {
        return;
    };
    let (_, d1, _, d2) = settled_pair(&lab);
    // Let start-up allocations (GARP bursts, first status) finish.
    std::thread::sleep(Duration::from_secs(6));
    let before = (heap_allocs(&d1), heap_allocs(&d2));
    let adverts_before = d1.parsed_status().counter("VI_1", "tx_adverts");
    std::thread::sleep(Duration::from_secs(4));
    let after = (heap_allocs(&d1), heap_allocs(&d2));
    let adverts = d1.parsed_status().counter("VI_1", "tx_adverts") - adverts_before;
    let received = d2.parsed_status().counter("VI_1", "rx_adverts");
    eprintln!(
        "steady state: {adverts} adverts sent, backup received {received} in all; \
         heap allocations master {} -> {}, backup {} -> {}",
        before.0, after.0, before.1, after.1
    );
    assert!(adverts >= 6, "only {adverts} adverts in 4 s at 0.5 s");
    assert_eq!(before, after, "the steady state allocated");
}

/// Health checks that run all the time allocate nothing either: a track_process following a
/// running process (a /proc scan each second inside the lab's namespace) beside the adverts.
#[test]
fn steady_state_with_track_process_allocates_nothing() {
    let Some(lab) = Lab::new("alloc_tp", 1) else {
        return;
    };
    let name = format!("tvralloc{}", std::process::id() % 100_000);
    let _proc = lab.start_named_sleep(&name);
    let n1 = lab.node(1);
    let conf = format!(
        "[vrrp_track_process p]\nprocess = {name}\nweight = 10\n\n{}track_process = p\n",
        config("eth0", 100, VIP)
    );
    let d1 = n1.spawn_daemon(&conf);
    assert!(
        wait_state(&d1, "MASTER", Duration::from_secs(8)),
        "never MASTER"
    );
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(
        d1.parsed_status().counter("VI_1", "effective_priority"),
        110,
        "the process is not seen"
    );
    let before = heap_allocs(&d1);
    std::thread::sleep(Duration::from_secs(4));
    let after = heap_allocs(&d1);
    eprintln!("steady state with track_process: heap allocations {before} -> {after}");
    assert_eq!(before, after, "the steady state allocated");
}

/// `vrrp_startup_delay` (keepalived's): no instance runs until it has passed, then the node
/// elects itself as it would have at start. Alone at priority 150 and 1 s adverts that is
/// the delay plus Master_Down_Interval (3.41 s); without the delay, 3.41 s.
#[test]
fn startup_delay_holds_every_instance_back() {
    let tag = "startup_delay";
    let Some(lab) = Lab::new(tag, 1) else {
        return;
    };
    let n1 = lab.node(1);
    let start = std::time::Instant::now();
    let d = n1.spawn_daemon(&format!(
        "[global_defs]\nvrrp_startup_delay = 2\n\n[vrrp_instance VI_1]\ninterface = eth0\n\
         virtual_router_id = 51\npriority = 150\nadvert_int = 1\nvirtual_ipaddress = {VIP}/24\n"
    ));
    let took = wait_until(Duration::from_secs(12), Duration::from_millis(20), || {
        n1.has_addr(VIP)
    })
    .unwrap_or_else(|| panic!("{tag}: never master:\n{}", d.log_text()));
    let total = start.elapsed();
    eprintln!("{tag}: master {:.2} s after start", total.as_secs_f64());
    assert!(
        took >= Duration::from_millis(5_000),
        "{tag}: master after {took:?}: the 2 s start-up delay was not kept"
    );
    assert!(
        d.log_text().contains("delaying start-up by 2.00 s"),
        "{tag}"
    );
    d.assert_running(tag);
}
