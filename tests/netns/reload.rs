//! Reload in place on the netns lab: a rolling change (as a config tool does it: the backup
//! first, the master one second later) that adds or removes a VIP on both nodes and gives the
//! master a new priority loses no ping to the VIP at 10 ms and logs no transition. Needs root;
//! skips otherwise.

use crate::lab;

use std::time::Duration;

use lab::{wait_until, DaemonHandle, Lab};

const VIP: &str = "192.0.2.1";
const VIP2: &str = "192.0.2.2";

fn config(priority: u8, vips: &[&str]) -> String {
    let mut text = format!(
        "[vrrp_instance VI_1]\ninterface = eth0\nvirtual_router_id = 51\nversion = 3\n\
         priority = {priority}\nadvert_int = 0.1\n"
    );
    for v in vips {
        text += &format!("virtual_ipaddress = {v}/24\n");
    }
    text
}

fn state(d: &DaemonHandle) -> String {
    d.state("VI_1").unwrap_or_else(|| "<no status>".into())
}

fn wait_state(d: &DaemonHandle, want: &str) {
    let reached = wait_until(Duration::from_secs(8), Duration::from_millis(50), || {
        d.assert_running(want);
        state(d) == want
    });
    assert!(reached.is_some(), "never {want}:\n{}", d.log_text());
}

/// `ping -i 0.01 -c COUNT` from the client: (transmitted, received).
fn ping_summary(text: &str) -> (u32, u32) {
    let line = text
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or_else(|| panic!("no ping summary in:\n{text}"));
    let num = |word: &str| {
        let words: Vec<&str> = line.split([' ', ',']).filter(|w| !w.is_empty()).collect();
        let at = words.iter().position(|w| *w == word).unwrap_or(0);
        words.get(at.wrapping_sub(1)).and_then(|n| n.parse().ok())
    };
    let sent = num("packets").unwrap_or_else(|| panic!("{line}"));
    let got = num("received").unwrap_or_else(|| panic!("{line}"));
    (sent, got)
}

/// Node 1 (priority `p1`) master and node 2 backup with `before`; then node 2 and, 1 s later,
/// node 1 (with `p1_after`) reload to `after` while the client pings VIP every 10 ms.
fn rolling_reload(tag: &str, before: &[&str], after: &[&str], p1_after: u8) {
    let Some(lab) = Lab::new(tag, 2) else {
        return;
    };
    let (n1, n2) = (lab.node(1), lab.node(2));
    let d1 = n1.spawn_daemon(&config(150, before));
    wait_state(&d1, "MASTER");
    let d2 = n2.spawn_daemon(&config(100, before));
    wait_state(&d2, "BACKUP");
    assert!(
        lab.client.ping(VIP, Duration::from_secs(3)),
        "{tag}: no ping"
    );

    let (sent, got) = std::thread::scope(|s| {
        let pinger = s.spawn(|| {
            let out = lab
                .client
                .exec(&["ping", "-n", "-q", "-i", "0.01", "-c", "400", VIP]);
            ping_summary(&String::from_utf8_lossy(&out.stdout))
        });
        std::thread::sleep(Duration::from_millis(700));
        std::fs::write(&d2.conf, config(100, after)).expect("rewrite backup config");
        assert!(d2.kill(libc::SIGHUP));
        std::thread::sleep(Duration::from_secs(1));
        std::fs::write(&d1.conf, config(p1_after, after)).expect("rewrite master config");
        assert!(d1.kill(libc::SIGHUP));
        pinger.join().expect("pinger")
    });
    eprintln!("{tag}: {got} of {sent} pings answered across the rolling reload");

    let (log1, log2) = (d1.log_text(), d2.log_text());
    for (log, n) in [(&log1, 1), (&log2, 2)] {
        assert!(
            log.contains("1 changed in place, 0 restarted"),
            "{tag}: node {n}:\n{log}"
        );
        assert_eq!(
            log.matches("VI_1 MASTER ->").count(),
            0,
            "{tag}: node {n}:\n{log}"
        );
        assert!(!log.contains("removing VIP"), "{tag}: node {n}:\n{log}");
    }
    assert_eq!(log2.matches("VI_1 BACKUP -> MASTER").count(), 0, "{log2}");
    assert_eq!(sent, 400, "{tag}");
    assert_eq!(got, sent, "{tag}: pings lost");
    assert_eq!((state(&d1), state(&d2)), ("MASTER".into(), "BACKUP".into()));
    for v in after {
        assert!(
            n1.has_addr(v) && !n2.has_addr(v),
            "{tag}: {v} not on the master only"
        );
    }
    for v in before.iter().filter(|v| !after.contains(v)) {
        assert!(!n1.has_addr(v) && !n2.has_addr(v), "{tag}: {v} left behind");
    }
    let status = d1.parsed_status();
    assert_eq!(
        status.counter("VI_1", "priority"),
        u64::from(p1_after),
        "{tag}"
    );
    // The backup heard the master's old list for about a second: logged and counted once.
    let s2 = d2.parsed_status();
    assert_eq!(
        s2.counter("VI_1", "discard_vip_mismatch"),
        1,
        "{tag}:\n{log2}"
    );
    assert_eq!(log2.matches("other virtual addresses").count(), 1, "{log2}");
}

#[test]
fn a_rolling_reload_adding_a_vip_loses_no_ping_and_no_transition() {
    rolling_reload("reload-add", &[VIP], &[VIP, VIP2], 160);
    // With the VIP added by node 1 the client reaches it too (checked inside per node).
}

#[test]
fn a_rolling_reload_removing_a_vip_loses_no_ping_and_no_transition() {
    rolling_reload("reload-del", &[VIP, VIP2], &[VIP], 160);
}
