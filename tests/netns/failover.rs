//! The daemon in a real network: tinyvrrp nodes in network namespaces joined by a bridge, seen
//! from a client namespace (its neighbour table and pings). Needs root and `ip netns`; every
//! test skips (passes with a "skipped" line) otherwise. The `harness_*` tests check the lab
//! itself and do not need the daemon.
//!
//! The daemon tests use VRRPv3 with advert_int 1 s: slow enough to stay stable when the test
//! threads share two busy cores, and Skew_Time (0.61 s at priority 100) stays far from
//! Master_Down_Interval (3.61 s), so a graceful handover and a timeout are easy to tell apart.

use crate::lab;

use lab::{wait_until, Advert, DaemonHandle, Lab, Node, Status};
use std::net::Ipv4Addr;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

const VIP: &str = "192.0.2.1";
const VIP_ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const VRID: u8 = 51;
/// advert_int in the configs below, seconds.
const ADVERT_INT: f64 = 1.0;
const POLL: Duration = Duration::from_millis(10);

/// v3 Skew_Time = ((256 - priority) * Master_Adver_Interval) / 256.
fn skew(priority: u8) -> f64 {
    (256.0 - f64::from(priority)) * ADVERT_INT / 256.0
}

/// Master_Down_Interval = 3 * Master_Adver_Interval + Skew_Time.
fn master_down(priority: u8) -> f64 {
    3.0 * ADVERT_INT + skew(priority)
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn config(priority: u8, extra: &str) -> String {
    format!(
        "[vrrp_instance VI_1]\n\
         interface = eth0\n\
         state = BACKUP\n\
         virtual_router_id = {VRID}\n\
         priority = {priority}\n\
         advert_int = {ADVERT_INT}\n\
         version = 3\n\
         {extra}\
         virtual_ipaddress = {VIP}/24\n"
    )
}

fn state(d: &DaemonHandle) -> String {
    d.state("VI_1").unwrap_or_else(|| "<no status>".into())
}

/// Waits until `master` holds the VIP and reports MASTER while every other node in `backups`
/// reports BACKUP without the VIP. Panics with both states after `timeout`.
fn wait_settled(
    tag: &str,
    master: (&Node, &DaemonHandle),
    backups: &[(&Node, &DaemonHandle)],
    timeout: Duration,
) -> Duration {
    let took = wait_until(timeout, Duration::from_millis(50), || {
        master.1.assert_running(tag);
        backups.iter().for_each(|(_, d)| d.assert_running(tag));
        master.0.has_addr(VIP)
            && state(master.1) == "MASTER"
            && backups
                .iter()
                .all(|(n, d)| !n.has_addr(VIP) && state(d) == "BACKUP")
    });
    match took {
        Some(t) => t,
        None => panic!(
            "{tag}: not settled with node {} master after {timeout:?}: master {} (VIP {}), \
             backups {:?}",
            master.0.index,
            state(master.1),
            master.0.has_addr(VIP),
            backups
                .iter()
                .map(|(n, d)| (n.index, state(d), n.has_addr(VIP)))
                .collect::<Vec<_>>()
        ),
    }
}

/// Two nodes started together with priorities `p1`, `p2`, settled with node 1 as master.
fn start_pair(tag: &str, p1: u8, p2: u8, extra: &str) -> Option<(Lab, DaemonHandle, DaemonHandle)> {
    let lab = Lab::new(tag, 2)?;
    let d1 = lab.node(1).spawn_daemon(&config(p1, extra));
    let d2 = lab.node(2).spawn_daemon(&config(p2, extra));
    let took = wait_settled(
        tag,
        (lab.node(1), &d1),
        &[(lab.node(2), &d2)],
        secs(master_down(p1.min(p2)) + 4.0),
    );
    eprintln!("{tag}: node 1 (priority {p1}) master after {took:?}");
    Some((lab, d1, d2))
}

/// Client pings the VIP and checks its neighbour entry names `node`'s MAC.
fn assert_client_reaches(lab: &Lab, node: &Node, tag: &str) {
    assert!(
        lab.client.ping(VIP, Duration::from_secs(3)),
        "{tag}: client cannot ping the VIP"
    );
    let mac = lab.client.neigh_mac(VIP);
    assert_eq!(
        mac,
        Some(node.mac()),
        "{tag}: client's neighbour entry for the VIP is {:?}, node {} is {}",
        mac.map(|m| lab::fmt_mac(&m)),
        node.index,
        lab::fmt_mac(&node.mac())
    );
}

/// ARP ignores a changed link-layer address within `locktime` (1 s) of the last update unless
/// the kernel sees a gratuitous ARP; wait it out so a slow GARP path cannot pass by accident.
fn past_arp_locktime() {
    thread::sleep(Duration::from_millis(1100));
}

// --------------------------------------------------------------------------------------------
// The harness itself.

#[test]
fn harness_lab_connectivity_and_links() {
    let Some(lab) = Lab::new("harness_connectivity", 2) else {
        return;
    };
    let (n1, n2, cl) = (lab.node(1), lab.node(2), &lab.client);
    assert_eq!(n1.ipv4, Ipv4Addr::new(192, 0, 2, 11));
    assert_eq!(n2.ipv6, "2001:db8::12");
    assert!(n1.has_addr("192.0.2.11") && n1.has_addr("2001:db8::11"));
    assert!(!n2.has_addr("192.0.2.11"));
    assert!(cl.has_addr("192.0.2.100") && cl.has_addr("2001:db8::100"));
    for ns in lab.namespaces() {
        assert!(ns.starts_with(&format!("{}-", lab.id())), "{ns}");
    }
    assert_ne!(n1.mac(), n2.mac());

    let t = Duration::from_secs(3);
    assert!(n1.ping("192.0.2.12", t), "node 1 -> node 2");
    assert!(n2.ping("2001:db8::11", t), "node 2 -> node 1 over IPv6");
    assert!(cl.ping("192.0.2.11", t) && cl.ping("192.0.2.12", t));
    assert!(cl.ping("2001:db8::11", t) && cl.ping("2001:db8::12", t));
    assert_eq!(cl.neigh_mac("192.0.2.11"), Some(n1.mac()));
    assert_eq!(cl.neigh_mac("192.0.2.12"), Some(n2.mac()));
    assert_eq!(cl.neigh_mac("192.0.2.99"), None);

    n1.link_down();
    assert!(
        !cl.ping("192.0.2.11", Duration::from_secs(1)),
        "ping through a down link"
    );
    n1.link_up();
    assert!(cl.ping("192.0.2.11", t), "after link up");
    assert!(
        n1.has_addr("2001:db8::11"),
        "IPv6 address back after link up"
    );
    assert!(cl.ping("2001:db8::11", t), "IPv6 after link up");

    n2.isolate();
    assert!(
        !cl.ping("192.0.2.12", Duration::from_secs(1)),
        "ping to an isolated node"
    );
    n2.rejoin();
    assert!(cl.ping("192.0.2.12", t), "after rejoin");
}

#[test]
fn harness_multicast_floods_and_raw_packets_arrive_unchanged() {
    let Some(lab) = Lab::new("harness_multicast", 2) else {
        return;
    };
    let src = lab.node(1).ipv4;
    let advert = Advert {
        version: 3,
        vrid: 77,
        priority: 200,
        interval: 100,
        addrs: vec![VIP_ADDR],
    };
    let good = advert.ipv4_packet(src, 255);
    let mut low_ttl = advert.ipv4_packet(src, 64);
    low_ttl[lab::VRRP_CHECKSUM_OFFSET] ^= 0x5a; // a broken checksum must arrive as sent too

    let listen = secs(1.0);
    let on_node2 = lab
        .node(2)
        .listen_raw_ipv4(lab::IPPROTO_VRRP, Some(lab::VRRP_GROUP_V4), listen);
    let on_client = lab
        .client
        .listen_raw_ipv4(lab::IPPROTO_VRRP, Some(lab::VRRP_GROUP_V4), listen);
    lab.node(1).send_raw_ipv4(&good).expect("send advert");
    lab.node(1)
        .send_raw_ipv4(&low_ttl)
        .expect("send low-TTL advert");

    for (who, handle) in [("node 2", on_node2), ("client", on_client)] {
        let got = handle.join().expect("listener thread").expect("listener");
        assert_eq!(got.len(), 2, "{who} got {} packets", got.len());
        for (sent, recv) in [(&good, &got[0]), (&low_ttl, &got[1])] {
            assert_eq!(recv.len(), sent.len(), "{who}: length");
            assert_eq!(recv[8], sent[8], "{who}: TTL changed on the way");
            assert_eq!(recv[9], lab::IPPROTO_VRRP);
            assert_eq!(&recv[12..20], &sent[12..20], "{who}: addresses");
            assert_eq!(&recv[20..], &sent[20..], "{who}: VRRP bytes");
        }
    }
}

#[test]
fn harness_teardown_on_panic_leaves_nothing_behind() {
    if !lab::is_root() {
        eprintln!("harness_teardown: skipped: needs root and ip netns");
        return;
    }
    let seen: Mutex<Option<(Vec<String>, u32)>> = Mutex::new(None);
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        let Some(lab) = Lab::new("harness_teardown", 1) else {
            return;
        };
        let log = lab.dir().join("sleep.log");
        let pid = lab.node(1).spawn(&["sleep", "600"], &log);
        assert!(lab.live_pids().contains(&pid));
        *seen.lock().unwrap() = Some((lab.namespaces().to_vec(), pid));
        panic!("deliberate panic with a lab alive");
    }));
    assert!(result.is_err(), "the closure was meant to panic");
    let (namespaces, pid) = seen.lock().unwrap().take().expect("lab was built");
    assert_eq!(namespaces.len(), 3, "bridge, node, client: {namespaces:?}");
    let left = lab::netns_list();
    for ns in &namespaces {
        assert!(!left.contains(ns), "{ns} survived the panic: {left:?}");
    }
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "process {pid} survived the panic"
    );
}

#[test]
fn harness_labs_in_one_process_do_not_collide() {
    let Some(a) = Lab::new("harness_collide_a", 1) else {
        return;
    };
    let b = thread::spawn(|| Lab::new("harness_collide_b", 1).expect("second lab"))
        .join()
        .expect("second lab thread");
    assert_ne!(a.id(), b.id());
    assert!(a.namespaces().iter().all(|n| !b.namespaces().contains(n)));
    // Same addresses in both labs, yet each client reaches its own node.
    assert!(a.client.ping("192.0.2.11", Duration::from_secs(3)));
    assert!(b.client.ping("192.0.2.11", Duration::from_secs(3)));
    assert_eq!(a.client.neigh_mac("192.0.2.11"), Some(a.node(1).mac()));
    assert_eq!(b.client.neigh_mac("192.0.2.11"), Some(b.node(1).mac()));
}

#[test]
fn harness_advert_builder_matches_keepalived_captures() {
    // Checksums from shared/captures/keepalived-v2-failover.txt and -v3-failover.txt.
    let v2 = |priority| Advert {
        version: 2,
        vrid: 51,
        priority,
        interval: 1,
        addrs: vec![VIP_ADDR],
    };
    let group = lab::VRRP_GROUP_V4;
    let n1 = Ipv4Addr::new(192, 0, 2, 11);
    let n2 = Ipv4Addr::new(192, 0, 2, 12);
    // The v2 message is 20 bytes: 8 of header, one address, 8 of authentication data.
    assert_eq!(
        v2(150).vrrp_bytes(n1, group),
        [
            0x21, 0x33, 0x96, 0x01, 0x00, 0x01, 0x86, 0xc8, 0xc0, 0x00, 0x02, 0x01, 0, 0, 0, 0, 0,
            0, 0, 0
        ]
    );
    assert_eq!(&v2(100).vrrp_bytes(n2, group)[6..8], &[0xb8, 0xc8]);

    let v3 = |priority| Advert {
        version: 3,
        vrid: 51,
        priority,
        interval: 10,
        addrs: vec![VIP_ADDR],
    };
    assert_eq!(
        v3(150).vrrp_bytes(n1, group),
        [0x31, 0x33, 0x96, 0x01, 0x00, 0x0a, 0xd4, 0x24, 0xc0, 0x00, 0x02, 0x01]
    );
    assert_eq!(&v3(100).vrrp_bytes(n2, group)[6..8], &[0x06, 0x24]);

    // The captured IPv4 header (id 2) and its checksum 0x188e.
    let mut hdr = [
        0x45, 0xc0, 0x00, 0x20, 0x00, 0x02, 0x00, 0x00, 0xff, 0x70, 0x00, 0x00, 0xc0, 0x00, 0x02,
        0x0b, 0xe0, 0x00, 0x00, 0x12,
    ];
    assert_eq!(lab::internet_checksum(&hdr), 0x188e);
    hdr[10..12].copy_from_slice(&0x188eu16.to_be_bytes());
    assert_eq!(lab::internet_checksum(&hdr), 0);
    let p = v3(150).ipv4_packet(n1, 255);
    assert_eq!(lab::internet_checksum(&p[..20]), 0);
    assert_eq!((p[8], p[9], p.len()), (255, 112, 32));
}

#[test]
fn harness_status_parser() {
    let s = Status::parse(
        "instance=VI_1 interface=eth0 vrid=51 state=MASTER priority=150 effective_priority=150 \
         master=192.0.2.11 rx_adverts=3 tx_adverts=40 become_master=1\n\
         instance=VI_2 interface=eth0 vrid=52 state=BACKUP priority=100\n\
         drops bad_ttl=2 bad_checksum=0 unknown_vrid=5\n",
    );
    assert_eq!(s.instances.len(), 2);
    assert_eq!(
        s.instance("VI_1")
            .and_then(|i| i.get("state"))
            .map(String::as_str),
        Some("MASTER")
    );
    assert_eq!(s.counter("VI_1", "tx_adverts"), 40);
    assert_eq!(s.counter("VI_2", "tx_adverts"), 0);
    assert_eq!(s.drop_count("bad_ttl"), 2);
    assert_eq!(s.drop_count("unknown_vrid"), 5);
    assert_eq!(s.drop_count("truncated"), 0);
    assert!(s.instance("VI_3").is_none());
}

// --------------------------------------------------------------------------------------------
// The daemon.

#[test]
fn election_by_priority() {
    let tag = "election_by_priority";
    let Some((lab, d1, d2)) = start_pair(tag, 150, 100, "") else {
        return;
    };
    assert_client_reaches(&lab, lab.node(1), tag);

    // Still so two adverts later, and the backup knows who the master is.
    thread::sleep(secs(2.0 * ADVERT_INT));
    assert!(lab.node(1).has_addr(VIP) && !lab.node(2).has_addr(VIP));
    let s1 = d1.parsed_status();
    let s2 = d2.parsed_status();
    assert_eq!(s1.counter("VI_1", "priority"), 150);
    assert!(s1.counter("VI_1", "become_master") >= 1, "{s1:?}");
    assert!(s1.counter("VI_1", "tx_adverts") >= 2, "{s1:?}");
    let i2 = s2.instance("VI_1").expect("backup status");
    assert_eq!(i2.get("state").map(String::as_str), Some("BACKUP"));
    assert_eq!(i2.get("master").map(String::as_str), Some("192.0.2.11"));
    assert!(s2.counter("VI_1", "rx_adverts") >= 2, "{s2:?}");
    assert!(
        d1.log_text().contains("VI_1 BACKUP -> MASTER"),
        "{}",
        d1.log_text()
    );
}

#[test]
fn crash_failover_moves_vip_and_client_neighbour_entry() {
    let tag = "crash_failover";
    let Some((lab, d1, d2)) = start_pair(tag, 150, 100, "") else {
        return;
    };
    assert_client_reaches(&lab, lab.node(1), tag);
    past_arp_locktime();

    let backup_mac = lab.node(2).mac();
    let bound = master_down(100);
    let t0 = Instant::now();
    assert!(d1.kill(libc::SIGKILL));
    let took = wait_until(secs(bound + 3.0), POLL, || {
        lab.client.neigh_mac(VIP) == Some(backup_mac)
    });
    let vip_at = wait_until(secs(1.0), POLL, || lab.node(2).has_addr(VIP)).map(|_| t0.elapsed());
    let took = took.unwrap_or_else(|| {
        panic!(
            "{tag}: client's neighbour entry never moved to the backup (VIP on backup: {vip_at:?}, \
             state {})",
            state(&d2)
        )
    });
    eprintln!(
        "{tag}: SIGKILL -> client neighbour entry on backup's MAC in {:.3} s \
         (Master_Down_Interval {bound:.3} s, VIP on backup at {vip_at:?})",
        took.as_secs_f64()
    );
    // Not before the down timer could have run out (the master's last advert left at most one
    // interval before the kill), and not much after it.
    assert!(
        took.as_secs_f64() >= bound - ADVERT_INT - 0.1,
        "{tag}: backup took over after {took:?}, before Master_Down_Interval could expire"
    );
    assert!(
        took.as_secs_f64() <= bound + 1.0,
        "{tag}: takeover took {took:?}, Master_Down_Interval is {bound:.3} s"
    );
    assert_eq!(state(&d2), "MASTER");
    assert!(d2.log_text().contains("VI_1 BACKUP -> MASTER"));
    assert!(lab.client.ping(VIP, Duration::from_secs(3)));
}

#[test]
fn link_down_on_master_hands_vip_to_backup() {
    let tag = "link_down_master";
    let Some((lab, _d1, d2)) = start_pair(tag, 150, 100, "") else {
        return;
    };
    assert_client_reaches(&lab, lab.node(1), tag);
    past_arp_locktime();

    let backup_mac = lab.node(2).mac();
    lab.node(1).link_down();
    let took = wait_until(secs(master_down(100) + 3.0), POLL, || {
        lab.node(2).has_addr(VIP) && lab.client.neigh_mac(VIP) == Some(backup_mac)
    });
    let took = took.unwrap_or_else(|| panic!("{tag}: backup did not take over ({})", state(&d2)));
    eprintln!(
        "{tag}: master link down -> backup holds VIP and client entry in {:.3} s \
         (Master_Down_Interval {:.3} s)",
        took.as_secs_f64(),
        master_down(100)
    );
    assert_eq!(state(&d2), "MASTER");
    assert_client_reaches(&lab, lab.node(2), tag);
}

#[test]
fn graceful_sigterm_hands_over_in_skew_time() {
    let tag = "graceful_sigterm";
    let Some((lab, d1, d2)) = start_pair(tag, 150, 100, "") else {
        return;
    };
    assert_client_reaches(&lab, lab.node(1), tag);
    past_arp_locktime();

    assert!(d1.kill(libc::SIGTERM));
    let took = wait_until(secs(master_down(100) + 2.0), POLL, || {
        lab.node(2).has_addr(VIP)
    })
    .unwrap_or_else(|| panic!("{tag}: backup never took over ({})", state(&d2)));
    let exit = d1.wait(secs(ADVERT_INT + 1.0));
    eprintln!(
        "{tag}: SIGTERM -> VIP on backup in {:.3} s (Skew_Time {:.3} s, Master_Down_Interval \
         {:.3} s); master exited {exit:?}",
        took.as_secs_f64(),
        skew(100),
        master_down(100)
    );
    // Without the priority-0 advert the backup would wait at least
    // Master_Down_Interval - advert_int (2.61 s) after the master's last advert.
    assert!(
        took.as_secs_f64() < skew(100) + 1.0,
        "{tag}: handover took {took:?}: the backup waited for its down timer"
    );
    let exit = exit.unwrap_or_else(|| panic!("{tag}: master still running after SIGTERM"));
    assert_eq!(exit.code(), Some(0), "{tag}: master exit status");
    assert!(
        !lab.node(1).has_addr(VIP),
        "{tag}: stopped master kept the VIP"
    );
    assert!(
        wait_until(secs(2.0), POLL, || lab.client.neigh_mac(VIP)
            == Some(lab.node(2).mac()))
        .is_some(),
        "{tag}: client's neighbour entry did not move to the backup"
    );
    assert_eq!(state(&d2), "MASTER");
}

#[test]
fn preemption_restarted_higher_priority_takes_vip_back() {
    let tag = "preemption";
    let Some((lab, d1, d2)) = start_pair(tag, 150, 100, "") else {
        return;
    };
    d1.stop();
    wait_settled(tag, (lab.node(2), &d2), &[], secs(master_down(100) + 2.0));
    assert!(!lab.node(1).has_addr(VIP));

    let d1 = lab.node(1).spawn_daemon(&config(150, ""));
    let took = wait_settled(
        tag,
        (lab.node(1), &d1),
        &[(lab.node(2), &d2)],
        secs(master_down(150) + 3.0),
    );
    eprintln!("{tag}: restarted priority-150 node is master again after {took:?}");
    assert!(
        d2.log_text().contains("VI_1 MASTER -> BACKUP"),
        "{}",
        d2.log_text()
    );
    assert!(
        wait_until(secs(2.0), POLL, || lab.client.ping(VIP, secs(1.0))
            && lab.client.neigh_mac(VIP) == Some(lab.node(1).mac()))
        .is_some(),
        "{tag}: client does not reach the VIP on node 1"
    );
}

#[test]
fn nopreempt_restarted_higher_priority_stays_backup() {
    let tag = "nopreempt";
    let Some(lab) = Lab::new(tag, 2) else {
        return;
    };
    let conf = |p| config(p, "nopreempt\n");
    // Node 1 first, so it is the master the test starts from whatever the start-up timing.
    let d1 = lab.node(1).spawn_daemon(&conf(150));
    wait_settled(tag, (lab.node(1), &d1), &[], secs(master_down(150) + 3.0));
    let d2 = lab.node(2).spawn_daemon(&conf(100));
    wait_settled(
        tag,
        (lab.node(1), &d1),
        &[(lab.node(2), &d2)],
        secs(2.0 * ADVERT_INT + 2.0),
    );

    d1.stop();
    wait_settled(tag, (lab.node(2), &d2), &[], secs(master_down(100) + 2.0));

    let d1 = lab.node(1).spawn_daemon(&conf(150));
    wait_settled(
        tag,
        (lab.node(2), &d2),
        &[(lab.node(1), &d1)],
        secs(master_down(150) + 2.0),
    );
    // Hold on for twice its down interval: a preempting node would have taken over by then.
    let hold = secs(2.0 * master_down(150));
    let start = Instant::now();
    while start.elapsed() < hold {
        assert!(
            lab.node(2).has_addr(VIP) && !lab.node(1).has_addr(VIP),
            "{tag}: VIP moved after {:?} (node 1 {}, node 2 {})",
            start.elapsed(),
            state(&d1),
            state(&d2)
        );
        thread::sleep(Duration::from_millis(100));
    }
    let s1 = d1.parsed_status();
    let i1 = s1.instance("VI_1").expect("status of restarted node 1");
    assert_eq!(i1.get("state").map(String::as_str), Some("BACKUP"));
    assert_eq!(i1.get("master").map(String::as_str), Some("192.0.2.12"));
    assert_eq!(s1.counter("VI_1", "become_master"), 0);
}

#[test]
fn equal_priority_higher_address_wins() {
    let tag = "equal_priority";
    let Some(lab) = Lab::new(tag, 2) else {
        return;
    };
    let (n1, n2) = (lab.node(1), lab.node(2));
    // Partitioned, both become master; once joined, both masters hear each other and the
    // tie-break on the primary address must leave only 192.0.2.12.
    n1.isolate();
    n2.isolate();
    let d1 = n1.spawn_daemon(&config(100, ""));
    let d2 = n2.spawn_daemon(&config(100, ""));
    wait_settled(tag, (n1, &d1), &[], secs(master_down(100) + 3.0));
    wait_settled(tag, (n2, &d2), &[], secs(2.0));
    n1.rejoin();
    n2.rejoin();
    let took = wait_settled(tag, (n2, &d2), &[(n1, &d1)], secs(3.0 * ADVERT_INT + 2.0));
    eprintln!("{tag}: split brain resolved in favour of 192.0.2.12 after {took:?}");
    thread::sleep(secs(2.0 * ADVERT_INT));
    assert!(n2.has_addr(VIP) && !n1.has_addr(VIP), "{tag}: not stable");
    lab.client.neigh_flush(VIP);
    assert_client_reaches(&lab, n2, tag);
}

#[test]
fn link_down_gives_fault_and_link_up_recovers() {
    let tag = "link_fault";
    let Some((lab, d1, d2)) = start_pair(tag, 150, 100, "") else {
        return;
    };
    let n1 = lab.node(1);
    let t0 = Instant::now();
    n1.link_down();
    let took = wait_until(secs(3.0), POLL, || {
        state(&d1) == "FAULT" && !n1.has_addr(VIP)
    })
    .unwrap_or_else(|| {
        panic!(
            "{tag}: after link down: state {}, VIP still there: {}",
            state(&d1),
            n1.has_addr(VIP)
        )
    });
    eprintln!(
        "{tag}: link down -> FAULT without VIP in {:.3} s",
        took.as_secs_f64()
    );
    wait_settled(tag, (lab.node(2), &d2), &[], secs(master_down(100) + 2.0));
    eprintln!(
        "{tag}: backup master {:.3} s after link down",
        t0.elapsed().as_secs_f64()
    );

    n1.link_up();
    let took = wait_settled(
        tag,
        (n1, &d1),
        &[(lab.node(2), &d2)],
        secs(master_down(150) + 3.0),
    );
    eprintln!(
        "{tag}: link up -> node 1 master again in {:.3} s",
        took.as_secs_f64()
    );
    assert!(d1.log_text().contains("FAULT"), "{}", d1.log_text());
}

#[test]
fn vip_deleted_by_hand_is_restored() {
    let tag = "vip_deleted";
    let Some((lab, d1, _d2)) = start_pair(tag, 150, 100, "") else {
        return;
    };
    let n1 = lab.node(1);
    let out = n1.exec(&["ip", "addr", "del", &format!("{VIP}/24"), "dev", "eth0"]);
    assert!(out.status.success(), "ip addr del failed");
    let t0 = Instant::now();
    let took = wait_until(secs(2.5), POLL, || n1.has_addr(VIP));
    eprintln!(
        "{tag}: VIP deleted by hand -> restored after {took:?} (gave up after {:?})",
        t0.elapsed()
    );
    assert!(took.is_some(), "{tag}: VIP not restored ({})", state(&d1));
    assert_eq!(state(&d1), "MASTER");
    assert!(lab.client.ping(VIP, Duration::from_secs(3)));
}

#[test]
fn malformed_adverts_are_dropped_and_counted() {
    let tag = "malformed_adverts";
    let Some((lab, d1, d2)) = start_pair(tag, 150, 100, "") else {
        return;
    };
    let from = lab.client.ipv4;
    // Each would make the master step down if it were accepted: priority 254 > 150.
    let hostile = |vrid| Advert {
        version: 3,
        vrid,
        priority: 254,
        interval: (ADVERT_INT * 100.0) as u16,
        addrs: vec![VIP_ADDR],
    };
    let bad_ttl = hostile(VRID).ipv4_packet(from, 64);
    let mut bad_checksum = hostile(VRID).ipv4_packet(from, 255);
    bad_checksum[lab::VRRP_CHECKSUM_OFFSET] ^= 0x5a;
    let unknown_vrid = hostile(VRID + 1).ipv4_packet(from, 255);
    for _ in 0..3 {
        for p in [&bad_ttl, &bad_checksum, &unknown_vrid] {
            lab.client.send_raw_ipv4(p).expect("inject advert");
        }
        thread::sleep(Duration::from_millis(50));
    }

    let counted = |d: &DaemonHandle| {
        let s = d.parsed_status();
        ["bad_ttl", "bad_checksum", "unknown_vrid"].map(|r| s.drop_count(r))
    };
    let all_counted = wait_until(secs(2.0), Duration::from_millis(50), || {
        counted(&d1).iter().all(|&n| n >= 1) && counted(&d2).iter().all(|&n| n >= 1)
    });
    eprintln!(
        "{tag}: drops [bad_ttl, bad_checksum, unknown_vrid] master {:?}, backup {:?}",
        counted(&d1),
        counted(&d2)
    );
    assert!(
        all_counted.is_some(),
        "{tag}: drops not counted:\n{}\n{}",
        d1.status(),
        d2.status()
    );
    // Give a wrongly accepted advert time to show: the master would have stepped down.
    thread::sleep(secs(ADVERT_INT));
    assert_eq!(state(&d1), "MASTER");
    assert_eq!(state(&d2), "BACKUP");
    assert!(lab.node(1).has_addr(VIP) && !lab.node(2).has_addr(VIP));
    assert!(
        !d1.log_text().contains("MASTER -> BACKUP"),
        "{}",
        d1.log_text()
    );

    // Control: the same advert, well formed, does reach the daemon and is obeyed.
    let good = hostile(VRID).ipv4_packet(from, 255);
    lab.client.send_raw_ipv4(&good).expect("inject good advert");
    assert!(
        wait_until(secs(2.0), POLL, || d1
            .log_text()
            .contains("VI_1 MASTER -> BACKUP"))
        .is_some(),
        "{tag}: a valid priority-254 advert from the client did not move the master to BACKUP; \
         the injected packets may not reach the daemon at all"
    );
}
