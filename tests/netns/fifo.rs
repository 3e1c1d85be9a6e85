//! keepalived's notify FIFO, side by side: the same node (a sync group G1 of VI_1 and VI_2,
//! and a lone VI_3) runs once under keepalived and once under tinyvrrp through the same
//! transitions, each writing its `vrrp_notify_fifo`, and the lines must be the same, in the
//! same order:
//!
//! 1. start as BACKUP alone on the link -> MASTER when the down timers expire;
//! 2. a peer (tinyvrrp) with priority 250 for VI_1 comes: VI_1 and, by its group, VI_2 go
//!    BACKUP; VI_3 stays MASTER;
//! 3. the peer stops (priority 0): VI_1 and VI_2 are MASTER again;
//! 4. an advert from a lower-priority master of VI_3 (sent from the client): keepalived's
//!    MASTER_RX_LOWER_PRI event line;
//! 5. the node stops (SIGTERM).
//!
//! One difference is allowed, and it is not the FIFO's: when one member of a sync group
//! becomes master, keepalived pulls the others to master at once and writes their lines
//! before the one that pulled them (`VI_2 MASTER`, `VI_1 MASTER`, `GROUP MASTER`), while
//! tinyvrrp's members take over on their own timers (`VI_1`, then `VI_2`, then the group).
//! So the members' lines just before a GROUP line of the same state are compared as a set;
//! everything else (the start-up lines, every other line, the GROUP lines and where they
//! come) must be the same.
//!
//! The test reads the FIFO itself (opened once the daemon has created it; the daemon holds it
//! read-write, so nothing written before is lost) and checks that the daemon removes it at
//! exit. A second test checks that a FIFO nobody reads does not hold adverts back. Needs root
//! and keepalived (tests/run.sh installs it); skips without root.

use crate::lab;

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;
use std::time::Duration;

use lab::{wait_until, Lab, Node};

const POLL: Duration = Duration::from_millis(20);
const VIPS: [&str; 3] = ["192.0.2.1", "192.0.2.2", "192.0.2.3"];

fn keepalived_conf(fifo: &Path) -> String {
    let mut s = format!(
        "global_defs {{\n    router_id ka\n    vrrp_notify_fifo {}\n}}\n\
         vrrp_sync_group G1 {{\n    group {{\n        VI_1\n        VI_2\n    }}\n}}\n",
        fifo.display()
    );
    for (i, (prio, vip)) in [150, 120, 100].iter().zip(VIPS).enumerate() {
        s += &format!(
            "vrrp_instance VI_{n} {{\n    state BACKUP\n    interface eth0\n    \
             virtual_router_id {vrid}\n    priority {prio}\n    advert_int 1\n    \
             virtual_ipaddress {{\n        {vip}/24\n    }}\n}}\n",
            n = i + 1,
            vrid = 51 + i,
        );
    }
    s
}

fn tinyvrrp_instance(n: usize, priority: u8) -> String {
    format!(
        "[vrrp_instance VI_{n}]\nstate = BACKUP\ninterface = eth0\nvirtual_router_id = {}\n\
         priority = {priority}\nadvert_int = 1\nvirtual_ipaddress = {}/24\n",
        50 + n,
        VIPS[n - 1]
    )
}

fn tinyvrrp_conf(fifo: &Path) -> String {
    format!(
        "[global_defs]\nvrrp_notify_fifo = {}\n[vrrp_sync_group G1]\ngroup = VI_1\ngroup = VI_2\n",
        fifo.display()
    ) + &tinyvrrp_instance(1, 150)
        + &tinyvrrp_instance(2, 120)
        + &tinyvrrp_instance(3, 100)
}

/// Which of the VIPs `node` holds, as a bitmask (bit 0 = VI_1).
fn held(node: &Node) -> u8 {
    VIPS.iter()
        .enumerate()
        .filter(|(_, v)| node.has_addr(v))
        .fold(0, |m, (i, _)| m | 1 << i)
}

fn wait_held(node: &Node, want: u8, step: &str, log: impl Fn() -> String) {
    if wait_until(Duration::from_secs(10), POLL, || held(node) == want).is_none() {
        panic!(
            "{step}: node {} holds VIPs {:03b}, expected {want:03b}; log:\n{}",
            node.index,
            held(node),
            log()
        );
    }
}

/// Opens the FIFO for reading once the daemon has created it.
fn open_fifo(path: &Path, log: impl Fn() -> String) -> File {
    let made = wait_until(Duration::from_secs(5), POLL, || {
        std::fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo())
    });
    if made.is_none() {
        panic!("{} was not created; log:\n{}", path.display(), log());
    }
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

/// Everything in the FIFO, read after its writer exited (then read() ends with 0).
fn read_all(mut reader: File) -> Vec<String> {
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                panic!("the FIFO still has a writer: {text:?}")
            }
            Err(e) => panic!("reading the FIFO: {e}"),
        }
    }
    text.lines().map(str::to_string).collect()
}

/// Steps 2 and 3 with the peer on node 2; `log` is the subject's log.
fn peer_comes_and_goes(lab: &Lab, log: &dyn Fn() -> String) {
    let subject = lab.node(1);
    wait_held(subject, 0b111, "start", log);
    let peer = lab.node(2).spawn_daemon(&tinyvrrp_instance(1, 250));
    wait_held(subject, 0b100, "peer with 250 for VI_1", log);
    wait_held(lab.node(2), 0b001, "peer is master of VI_1", || {
        peer.log_text()
    });
    peer.stop();
    wait_held(subject, 0b111, "peer gone", log);
    let lower = lab::Advert {
        version: 2,
        vrid: 53,
        priority: 50,
        interval: 1,
        addrs: vec![VIPS[2].parse().expect("VIP")],
    };
    let src = "192.0.2.100".parse().expect("client address");
    lab.client
        .send_raw_ipv4(&lower.ipv4_packet(src, 255))
        .expect("send the lower-priority advert");
    std::thread::sleep(Duration::from_millis(500));
    wait_held(subject, 0b111, "lower-priority master heard", log);
}

fn keepalived_lines(lab: &Lab) -> Vec<String> {
    let fifo = lab.dir().join("ka.fifo");
    let ka = lab.node(1).spawn_keepalived(&keepalived_conf(&fifo));
    let log = || ka.log_text();
    let reader = open_fifo(&fifo, log);
    peer_comes_and_goes(lab, &log);
    assert!(
        ka.terminate(Duration::from_secs(10)).is_some(),
        "keepalived did not stop; log:\n{}",
        log()
    );
    assert!(!fifo.exists(), "keepalived left its FIFO behind");
    read_all(reader)
}

fn tinyvrrp_lines(lab: &Lab) -> Vec<String> {
    let fifo = lab.dir().join("tv.fifo");
    let tv = lab.node(1).spawn_daemon(&tinyvrrp_conf(&fifo));
    let log = || tv.log_text();
    let reader = open_fifo(&fifo, log);
    peer_comes_and_goes(lab, &log);
    tv.kill(libc::SIGTERM);
    assert!(
        tv.wait(Duration::from_secs(5)).is_some(),
        "tinyvrrp did not stop; log:\n{}",
        log()
    );
    assert!(!fifo.exists(), "tinyvrrp left its FIFO behind");
    read_all(reader)
}

/// Sorts each run of INSTANCE lines of `members` in the same state that ends in a GROUP
/// line of that state (see the module comment).
fn members_as_sets(mut lines: Vec<String>, members: &[&str]) -> Vec<String> {
    for g in 0..lines.len() {
        let Some(state) = lines[g]
            .strip_prefix("GROUP ")
            .and_then(|r| r.split(' ').nth(1))
        else {
            continue;
        };
        let is_member_line = |l: &String| {
            members.iter().any(|m| {
                l.strip_prefix(&format!("INSTANCE \"{m}\" "))
                    .is_some_and(|r| r.split(' ').next() == Some(state))
            })
        };
        let start = lines[..g]
            .iter()
            .rposition(|l| !is_member_line(l))
            .map_or(0, |i| i + 1);
        lines[start..g].sort();
    }
    lines
}

#[test]
fn members_as_sets_only_reorders_a_group_s_run() {
    let v = |s: &[&str]| s.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    let ka = v(&[
        "GROUP \"G1\" BACKUP 0",
        "INSTANCE \"VI_1\" BACKUP 150",
        "INSTANCE \"VI_2\" BACKUP 120",
        "INSTANCE \"VI_2\" MASTER 120",
        "INSTANCE \"VI_1\" MASTER 150",
        "GROUP \"G1\" MASTER 0",
        "INSTANCE \"VI_3\" MASTER 100",
    ]);
    let mut tv = ka.clone();
    tv.swap(3, 4);
    assert_ne!(tv, ka);
    assert_eq!(
        members_as_sets(tv, &["VI_1", "VI_2"]),
        members_as_sets(ka.clone(), &["VI_1", "VI_2"])
    );
    let mut late_group = ka.clone();
    late_group.swap(5, 6);
    assert_ne!(
        members_as_sets(late_group, &["VI_1", "VI_2"]),
        members_as_sets(ka.clone(), &["VI_1", "VI_2"])
    );
    let mut start = ka.clone();
    start.swap(0, 1);
    assert_ne!(
        members_as_sets(start, &["VI_1", "VI_2"]),
        members_as_sets(ka, &["VI_1", "VI_2"])
    );
}

#[test]
fn fifo_lines_match_keepalived_s() {
    let Some(lab) = Lab::new("netns_fifo", 2) else {
        return;
    };
    let ka = keepalived_lines(&lab);
    let tv = tinyvrrp_lines(&lab);
    eprintln!(
        "keepalived:\n{}\ntinyvrrp:\n{}",
        ka.join("\n"),
        tv.join("\n")
    );
    let members = ["VI_1", "VI_2"];
    assert_eq!(
        members_as_sets(tv, &members),
        members_as_sets(ka, &members),
        "tinyvrrp's FIFO lines differ from keepalived's"
    );
}

fn tx_adverts(d: &lab::DaemonHandle) -> u64 {
    d.parsed_status().counter("VI_1", "tx_adverts")
}

/// A FIFO that is full (its reader never reads: here the test, holding 64 KiB in it) holds
/// nothing back: adverts go on every second, transitions happen at once, the lines are
/// dropped with one warning, and once the reader catches up the next line goes in.
#[test]
fn a_full_fifo_does_not_hold_adverts_back() {
    let Some(lab) = Lab::new("netns_fifo_full", 2) else {
        return;
    };
    let path = lab.dir().join("full.fifo");
    let c = std::ffi::CString::new(path.to_string_lossy().as_bytes()).expect("path");
    // SAFETY: mkfifo on a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let mut reader = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)
        .expect("open FIFO");
    let mut filled = 0;
    while let Ok(n) = std::io::Write::write(&mut reader, &[b'x'; 4096]) {
        filled += n;
    }
    assert!(filled >= 4096, "filled {filled}");

    let conf = format!(
        "[global_defs]\nvrrp_notify_fifo = {}\n{}",
        path.display(),
        tinyvrrp_instance(1, 200)
    );
    let (n1, n2) = (lab.node(1), lab.node(2));
    let tv = n1.spawn_daemon(&conf);
    let log = || tv.log_text();
    let backup = n2.spawn_daemon(&tinyvrrp_instance(1, 100));
    wait_held(n1, 0b001, "node 1 master with its FIFO full", log);
    let before = tx_adverts(&tv);
    std::thread::sleep(Duration::from_secs(5));
    tv.assert_running("full FIFO");
    let sent = tx_adverts(&tv) - before;
    assert!((4..=6).contains(&sent), "{sent} adverts in 5 s");
    assert_eq!(held(n2), 0, "the backup took over: adverts were held back");
    backup.stop();

    // A preempting peer and its departure: two more transitions, at once.
    let peer = n2.spawn_daemon(&tinyvrrp_instance(1, 250));
    wait_held(n1, 0, "node 1 backup to 250", log);
    peer.kill(libc::SIGTERM);
    wait_held(n1, 0b001, "node 1 master again", log);
    assert_eq!(log().matches("line dropped").count(), 1, "{}", log());

    let mut sink = vec![0u8; 1 << 17];
    while reader.read(&mut sink).is_ok_and(|n| n > 0) {}
    tv.kill(libc::SIGTERM);
    assert!(tv.wait(Duration::from_secs(5)).is_some(), "{}", log());
    let mut rest = [0u8; 256];
    let n = reader.read(&mut rest).unwrap_or(0);
    assert_eq!(
        String::from_utf8_lossy(&rest[..n]),
        "INSTANCE \"VI_1\" STOP 200\n"
    );
    assert!(log().contains("taking lines again; "), "{}", log());
    assert!(
        path.exists(),
        "a FIFO the daemon did not create is left in place"
    );
}
