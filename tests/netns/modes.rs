//! The modes beyond one IPv4 multicast LAN, on the netns lab: unicast peers (with multicast
//! blocked on the bridge), VRRPv3 over IPv6, VRRPv2 simple-password authentication.
//! Needs root; skips otherwise.

use crate::lab;

use lab::{wait_until, DaemonHandle, Lab, Node};
use std::thread;
use std::time::{Duration, Instant};

const VRID: u8 = 52;
const POLL: Duration = Duration::from_millis(20);
/// advert_int of every config here, seconds.
const ADVERT_INT: f64 = 1.0;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn master_down(priority: u8) -> f64 {
    3.0 * ADVERT_INT + (256.0 - f64::from(priority)) / 256.0 * ADVERT_INT
}

fn state(d: &DaemonHandle) -> String {
    d.state("VI_1").unwrap_or_else(|| "<no status>".into())
}

fn conf(priority: u8, version: u8, vip: &str, extra: &str) -> String {
    format!(
        "[vrrp_instance VI_1]\ninterface = eth0\nstate = BACKUP\nvirtual_router_id = {VRID}\n\
         priority = {priority}\nadvert_int = {ADVERT_INT}\nversion = {version}\n{extra}\
         virtual_ipaddress = {vip}\n"
    )
}

fn unicast_extra(me: &Node, peers: &[&Node]) -> String {
    let mut s = format!("unicast_src_ip = {}\n", me.ipv4);
    for p in peers {
        s.push_str(&format!("unicast_peer = {}\n", p.ipv4));
    }
    s
}

/// Waits until `d` reports `want`; panics with the state it has after `timeout`.
fn wait_state(tag: &str, d: &DaemonHandle, want: &str, timeout: Duration) -> Duration {
    wait_until(timeout, Duration::from_millis(50), || {
        d.assert_running(tag);
        state(d) == want
    })
    .unwrap_or_else(|| panic!("{tag}: state {} after {timeout:?}, want {want}", state(d)))
}

// --------------------------------------------------------------------------------------------
// Unicast.

/// With multicast blocked, two multicast-mode nodes cannot hear each other and both become
/// master: proof that `block_multicast` works, so the unicast tests below prove something.
#[test]
fn blocked_multicast_splits_multicast_mode() {
    let tag = "blocked_mcast";
    let Some(lab) = Lab::new(tag, 2) else { return };
    lab.block_multicast();
    let vip = "192.0.2.2/24";
    let d1 = lab.node(1).spawn_daemon(&conf(150, 3, vip, ""));
    let d2 = lab.node(2).spawn_daemon(&conf(100, 3, vip, ""));
    wait_state(tag, &d1, "MASTER", secs(master_down(150) + 3.0));
    wait_state(tag, &d2, "MASTER", secs(master_down(100) + 3.0));
    // ARP (broadcast) still goes through.
    assert!(lab.client.ping("192.0.2.11", Duration::from_secs(2)));
}

#[test]
fn unicast_failover_with_multicast_blocked() {
    let tag = "unicast_failover";
    let Some(lab) = Lab::new(tag, 3) else { return };
    lab.block_multicast();
    let (n1, n2, n3) = (lab.node(1), lab.node(2), lab.node(3));
    let vip = "192.0.2.2";
    let vipc = format!("{vip}/24");
    let d1 = n1.spawn_daemon(&conf(150, 3, &vipc, &unicast_extra(n1, &[n2])));
    let d2 = n2.spawn_daemon(&conf(100, 3, &vipc, &unicast_extra(n2, &[n1])));
    // A stranger with the same VRID and a higher priority, peering with both: not in their
    // peer lists, so its adverts must be dropped (else it would take the VIP from node 1).
    let d3 = n3.spawn_daemon(&conf(200, 3, "192.0.2.3/24", &unicast_extra(n3, &[n1, n2])));

    wait_state(tag, &d1, "MASTER", secs(master_down(150) + 4.0));
    wait_state(tag, &d2, "BACKUP", secs(2.0));
    wait_state(tag, &d3, "MASTER", secs(master_down(200) + 3.0));
    thread::sleep(secs(2.0 * ADVERT_INT));
    assert!(n1.has_addr(vip) && !n2.has_addr(vip));
    assert_eq!(state(&d1), "MASTER", "{tag}: node 1 gave way to a non-peer");
    for (d, who) in [(&d1, "node 1"), (&d2, "node 2")] {
        let s = d.parsed_status();
        assert!(
            s.drop_count("unknown_peer") >= 2,
            "{tag}: {who} did not count the stranger's adverts: {s:?}"
        );
    }
    let s2 = d2.parsed_status();
    assert!(s2.counter("VI_1", "rx_adverts") >= 2, "{s2:?}");
    assert_eq!(
        s2.instance("VI_1")
            .and_then(|i| i.get("master"))
            .map(String::as_str),
        Some("192.0.2.11")
    );

    assert!(lab.client.ping(vip, Duration::from_secs(2)));
    assert_eq!(lab.client.neigh_mac(vip), Some(n1.mac()));
    // Past the ARP locktime, so only a GARP can be what moves the entry.
    thread::sleep(Duration::from_millis(1100));

    // Crash the master: the backup takes over by its down timer, unicast only.
    let t0 = Instant::now();
    assert!(d1.kill(libc::SIGKILL));
    wait_until(secs(master_down(100) + 3.0), POLL, || n2.has_addr(vip))
        .unwrap_or_else(|| panic!("{tag}: backup never took over ({})", state(&d2)));
    eprintln!(
        "{tag}: SIGKILL -> VIP on the unicast backup in {:.3} s (Master_Down_Interval {:.3} s)",
        t0.elapsed().as_secs_f64(),
        master_down(100)
    );
    wait_state(tag, &d2, "MASTER", secs(1.0));
    assert!(
        wait_until(secs(2.0), POLL, || lab.client.neigh_mac(vip)
            == Some(n2.mac()))
        .is_some(),
        "{tag}: client's entry did not follow the GARP"
    );

    // Node 1 comes back and preempts over unicast; a graceful stop hands back in Skew_Time.
    let d1 = n1.spawn_daemon(&conf(150, 3, &vipc, &unicast_extra(n1, &[n2])));
    wait_until(secs(master_down(150) + 3.0), POLL, || {
        n1.has_addr(vip) && !n2.has_addr(vip)
    })
    .unwrap_or_else(|| panic!("{tag}: node 1 did not preempt ({})", state(&d1)));
    let t0 = Instant::now();
    d1.stop();
    wait_until(secs(master_down(100)), POLL, || n2.has_addr(vip))
        .unwrap_or_else(|| panic!("{tag}: no handover on SIGTERM ({})", state(&d2)));
    let took = t0.elapsed().as_secs_f64();
    eprintln!("{tag}: SIGTERM -> VIP on the unicast backup in {took:.3} s");
    assert!(
        took < master_down(100) - ADVERT_INT,
        "{tag}: the priority-0 unicast advert was not honoured ({took:.3} s)"
    );
}

/// `unicast_src_ip` must be on the interface: until it is, the instance is in FAULT (it must
/// not advertise from another address); it recovers by itself when the address appears.
#[test]
fn unicast_src_ip_missing_is_fault_until_added() {
    let tag = "unicast_src_missing";
    let Some(lab) = Lab::new(tag, 1) else { return };
    let n1 = lab.node(1);
    let extra = "unicast_src_ip = 192.0.2.50\nunicast_peer = 192.0.2.12\n";
    let d1 = n1.spawn_daemon(&conf(150, 3, "192.0.2.2/24", extra));
    wait_state(tag, &d1, "FAULT", secs(3.0));
    thread::sleep(secs(master_down(150)));
    assert_eq!(state(&d1), "FAULT");
    assert!(!n1.has_addr("192.0.2.2"));
    n1.exec(&["ip", "addr", "add", "192.0.2.50/24", "dev", "eth0"]);
    wait_state(tag, &d1, "MASTER", secs(master_down(150) + 3.0));
    assert!(n1.has_addr("192.0.2.2"));
}

// --------------------------------------------------------------------------------------------
// VRRPv3 over IPv6.

const VIP6: &str = "2001:db8::1";

#[test]
fn ipv6_vip_moves_and_client_neighbour_follows_the_na() {
    let tag = "ipv6_failover";
    let Some(lab) = Lab::new(tag, 2) else { return };
    let (n1, n2) = (lab.node(1), lab.node(2));
    // Node 2 routes: its NAs must carry the Router flag (checked in the client's table).
    n2.sysctl("net.ipv6.conf.eth0.forwarding", "1");
    let vip = format!("{VIP6}/64");
    let d1 = n1.spawn_daemon(&conf(150, 3, &vip, ""));
    let d2 = n2.spawn_daemon(&conf(100, 3, &vip, ""));
    wait_state(tag, &d1, "MASTER", secs(master_down(150) + 5.0));
    wait_state(tag, &d2, "BACKUP", secs(2.0));
    assert!(n1.has_addr(VIP6) && !n2.has_addr(VIP6));
    // The VIP is usable at once: added without DAD (it would stay tentative for a second).
    let flags = n1.exec(&["ip", "-6", "-o", "addr", "show", "dev", "eth0", "to", VIP6]);
    let flags = String::from_utf8_lossy(&flags.stdout).into_owned();
    assert!(!flags.contains("tentative"), "{tag}: {flags}");
    assert!(
        lab.client.ping(VIP6, Duration::from_secs(3)),
        "{tag}: ping VIP"
    );
    assert_eq!(lab.client.neigh_mac(VIP6), Some(n1.mac()));
    // Backup learned the master's link-local source.
    let ll1 = n1.link_local().expect("node 1 link-local");
    let s2 = d2.parsed_status();
    assert_eq!(
        s2.instance("VI_1")
            .and_then(|i| i.get("master"))
            .map(String::as_str),
        Some(ll1.as_str()),
        "{s2:?}"
    );
    thread::sleep(Duration::from_millis(1100));

    assert!(d1.kill(libc::SIGKILL));
    let took = wait_until(secs(master_down(100) + 3.0), POLL, || {
        lab.client.neigh_mac(VIP6) == Some(n2.mac())
    })
    .unwrap_or_else(|| {
        panic!(
            "{tag}: client's entry did not move (backup {}, VIP on backup {})",
            state(&d2),
            n2.has_addr(VIP6)
        )
    });
    eprintln!(
        "{tag}: SIGKILL -> client's IPv6 neighbour entry on the backup's MAC in {:.3} s",
        took.as_secs_f64()
    );
    let entry = lab
        .client
        .exec(&["ip", "-6", "neigh", "show", "to", VIP6, "dev", "eth0"]);
    let entry = String::from_utf8_lossy(&entry.stdout).into_owned();
    assert!(
        entry.contains("router"),
        "{tag}: NA without the Router flag: {entry}"
    );
    assert!(lab.client.ping(VIP6, Duration::from_secs(3)));
}

/// Without a link-local address there is no source for adverts: FAULT, and back by itself
/// when the kernel (or anyone) gives the interface one again.
#[test]
fn ipv6_link_local_lost_is_fault_and_recovers() {
    let tag = "ipv6_ll_fault";
    let Some(lab) = Lab::new(tag, 1) else { return };
    let n1 = lab.node(1);
    let d1 = n1.spawn_daemon(&conf(150, 3, &format!("{VIP6}/64"), ""));
    wait_state(tag, &d1, "MASTER", secs(master_down(150) + 5.0));
    let ll = n1.link_local().expect("link-local");
    n1.flush_link_local();
    wait_state(tag, &d1, "FAULT", secs(3.0));
    assert!(!n1.has_addr(VIP6), "{tag}: VIP kept in FAULT");
    n1.add_addr_nodad(&format!("{ll}/64"));
    wait_state(tag, &d1, "MASTER", secs(master_down(150) + 3.0));
    assert!(n1.has_addr(VIP6));
}

// --------------------------------------------------------------------------------------------
// VRRPv2 simple password.

#[test]
fn v2_auth_pass_wrong_password_is_ignored_and_counted() {
    let tag = "v2_auth_pass";
    let Some(lab) = Lab::new(tag, 3) else { return };
    let (n1, n2, n3) = (lab.node(1), lab.node(2), lab.node(3));
    let right = "auth_type = PASS\nauth_pass = s3cret\n";
    let wrong = "auth_type = PASS\nauth_pass = guess\n";
    let d1 = n1.spawn_daemon(&conf(150, 2, "192.0.2.2/24", right));
    let d2 = n2.spawn_daemon(&conf(100, 2, "192.0.2.2/24", right));
    // A higher priority with the wrong password: if it were accepted, node 1 would step down.
    let d3 = n3.spawn_daemon(&conf(200, 2, "192.0.2.3/24", wrong));
    wait_state(tag, &d1, "MASTER", secs(master_down(150) + 4.0));
    wait_state(tag, &d2, "BACKUP", secs(2.0));
    wait_state(tag, &d3, "MASTER", secs(master_down(200) + 3.0));
    thread::sleep(secs(2.0 * ADVERT_INT + 0.2));
    assert_eq!(
        state(&d1),
        "MASTER",
        "{tag}: a wrong password took the master down"
    );
    assert!(n1.has_addr("192.0.2.2") && !n2.has_addr("192.0.2.2"));
    for (d, who) in [(&d1, "node 1"), (&d2, "node 2"), (&d3, "node 3")] {
        let s = d.parsed_status();
        assert!(
            s.counter("VI_1", "discard_auth_mismatch") >= 2,
            "{tag}: {who} did not count wrong-password adverts: {s:?}"
        );
    }
    // Node 2 accepts node 1 (same password): it knows its master.
    let s2 = d2.parsed_status();
    assert_eq!(
        s2.instance("VI_1")
            .and_then(|i| i.get("master"))
            .map(String::as_str),
        Some("192.0.2.11"),
        "{s2:?}"
    );
    // And takes over when node 1 leaves (priority 0 with the right password).
    d1.stop();
    wait_state(tag, &d2, "MASTER", secs(master_down(100) - ADVERT_INT));
}

// --------------------------------------------------------------------------------------------
// VMAC.

fn sysctl_value(n: &Node, key: &str) -> String {
    let out = n.exec(&["sysctl", "-n", key]);
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn vmac_on_master_only_and_client_arp_holds_the_virtual_mac() {
    let tag = "vmac_v4";
    let Some(lab) = Lab::new(tag, 2) else { return };
    let (n1, n2) = (lab.node(1), lab.node(2));
    let vip = "192.0.2.2";
    let vmac = "vrrp.52";
    let virtual_mac = [0x00, 0x00, 0x5e, 0x00, 0x01, VRID];
    // A leftover from a crashed run on node 2: removed when the daemon starts.
    n2.exec(&[
        "ip",
        "link",
        "add",
        "link",
        "eth0",
        "name",
        vmac,
        "address",
        "00:00:5e:00:01:34",
        "type",
        "macvlan",
        "mode",
        "private",
    ]);
    assert_eq!(
        n2.dev_mac(vmac),
        Some(virtual_mac),
        "{tag}: leftover not created"
    );
    let arp_ignore_before = sysctl_value(n1, "net.ipv4.conf.eth0.arp_ignore");

    let extra = "use_vmac\n";
    let d1 = n1.spawn_daemon(&conf(150, 3, &format!("{vip}/24"), extra));
    let d2 = n2.spawn_daemon(&conf(100, 3, &format!("{vip}/24"), extra));
    wait_state(tag, &d1, "MASTER", secs(master_down(150) + 4.0));
    wait_state(tag, &d2, "BACKUP", secs(2.0));
    assert_eq!(
        n1.dev_mac(vmac),
        Some(virtual_mac),
        "{tag}: {}",
        n1.links_text()
    );
    assert_eq!(
        n2.dev_mac(vmac),
        None,
        "{tag}: VMAC on the backup: {}",
        n2.links_text()
    );
    assert!(
        n1.has_addr_anywhere(vip) && !n1.has_addr(vip),
        "{tag}: VIP not on the VMAC"
    );
    assert!(!n2.has_addr_anywhere(vip));
    assert_eq!(sysctl_value(n1, "net.ipv4.conf.eth0.arp_ignore"), "1");
    assert_eq!(sysctl_value(n1, "net.ipv4.conf.vrrp/52.arp_ignore"), "1");
    assert!(
        lab.client.ping(vip, Duration::from_secs(3)),
        "{tag}: ping VIP"
    );
    assert_eq!(lab.client.neigh_mac(vip), Some(virtual_mac));
    // The backup hears the master's adverts (sent through the VMAC).
    let s2 = d2.parsed_status();
    assert_eq!(
        s2.instance("VI_1")
            .and_then(|i| i.get("master"))
            .map(String::as_str),
        Some("192.0.2.11"),
        "{s2:?}"
    );

    // Graceful stop: the VMAC goes with node 1 and comes up on node 2; the client's entry
    // never has to change.
    d1.stop();
    assert_eq!(n1.dev_mac(vmac), None, "{tag}: VMAC left behind at exit");
    assert_eq!(
        sysctl_value(n1, "net.ipv4.conf.eth0.arp_ignore"),
        arp_ignore_before,
        "{tag}: arp_ignore not restored"
    );
    wait_state(tag, &d2, "MASTER", secs(master_down(100)));
    assert_eq!(n2.dev_mac(vmac), Some(virtual_mac));
    assert!(
        lab.client.ping(vip, Duration::from_secs(3)),
        "{tag}: ping after handover"
    );
    assert_eq!(lab.client.neigh_mac(vip), Some(virtual_mac));
}

/// The Ethernet sources of the VRRP adverts from `src` among captured IPv4 frames.
fn advert_macs(frames: &[Vec<u8>], src: std::net::Ipv4Addr) -> Vec<[u8; 6]> {
    frames
        .iter()
        .filter(|f| f.get(23) == Some(&112) && f.get(26..30) == Some(&src.octets()[..]))
        .filter_map(|f| f.get(6..12)?.try_into().ok())
        .collect()
}

/// keepalived's `vmac_xmit_base`: node 1's adverts leave from eth0 (its MAC, its address)
/// while its VIP sits on the VMAC and the client's ARP entry holds the virtual MAC; node 2,
/// plain `use_vmac` on VRID 53, advertises from its virtual MAC.
#[test]
fn vmac_xmit_base_sends_adverts_from_the_parent_mac() {
    let tag = "vmac_xmit";
    let Some(lab) = Lab::new(tag, 2) else { return };
    let (n1, n2) = (lab.node(1), lab.node(2));
    let vip = "192.0.2.2";
    let d1 = n1.spawn_daemon(&conf(150, 3, vip, "use_vmac\nvmac_xmit_base\n"));
    let conf2 = conf(150, 3, "192.0.2.3", "use_vmac\n").replace("id = 52", "id = 53");
    let d2 = n2.spawn_daemon(&conf2);
    wait_state(tag, &d1, "MASTER", secs(master_down(150) + 4.0));
    wait_state(tag, &d2, "MASTER", secs(2.0));
    let virtual_mac = [0x00, 0x00, 0x5e, 0x00, 0x01, VRID];
    assert_eq!(n1.dev_mac("vrrp.52"), Some(virtual_mac), "{tag}");
    assert!(
        n1.has_addr_anywhere(vip) && !n1.has_addr(vip),
        "{tag}: VIP not on the VMAC"
    );

    let capture = lab.client.capture_ipv4_frames(secs(2.5));
    let frames = capture.join().expect("capture thread").expect("capture");
    let from1 = advert_macs(&frames, n1.ipv4);
    assert!(from1.len() >= 2, "{tag}: adverts of node 1: {from1:?}");
    assert!(from1.iter().all(|m| *m == n1.mac()), "{tag}: {from1:?}");
    let from2 = advert_macs(&frames, n2.ipv4);
    assert!(from2.len() >= 2, "{tag}: adverts of node 2: {from2:?}");
    let vmac2 = [0x00, 0x00, 0x5e, 0x00, 0x01, 53];
    assert!(from2.iter().all(|m| *m == vmac2), "{tag}: {from2:?}");

    assert!(
        lab.client.ping(vip, Duration::from_secs(3)),
        "{tag}: ping VIP"
    );
    assert_eq!(lab.client.neigh_mac(vip), Some(virtual_mac));
}

// --------------------------------------------------------------------------------------------
// The README's examples (no root needed).

/// Every ```ini block of the README's "Example configurations" passes `tinyvrrp --check`.
#[test]
fn readme_example_configurations_are_valid() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let start = readme
        .find("<!-- section: examples -->")
        .expect("examples section");
    let end = readme
        .find("<!-- end section: examples -->")
        .expect("end of examples section");
    let section = &readme[start..end];
    let blocks: Vec<&str> = section
        .split("```ini\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .collect();
    assert!(
        blocks.len() >= 5,
        "expected an example per mode, got {}",
        blocks.len()
    );
    let dir = std::env::temp_dir().join(format!("tinyvrrp-readme-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (i, block) in blocks.iter().enumerate() {
        let path = dir.join(format!("example{i}.conf"));
        std::fs::write(&path, block).expect("write");
        let out = std::process::Command::new(lab::DAEMON)
            .arg("--check")
            .arg("-f")
            .arg(&path)
            .output()
            .expect("run tinyvrrp --check");
        assert!(
            out.status.success(),
            "example {i} rejected:\n{block}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn vmac_ipv6_client_neighbour_holds_the_virtual_mac() {
    let tag = "vmac_v6";
    let Some(lab) = Lab::new(tag, 2) else { return };
    let (n1, n2) = (lab.node(1), lab.node(2));
    let vmac = "vrrp6.52";
    let virtual_mac = [0x00, 0x00, 0x5e, 0x00, 0x02, VRID];
    let vip = format!("{VIP6}/64");
    let d1 = n1.spawn_daemon(&conf(150, 3, &vip, "use_vmac\n"));
    let d2 = n2.spawn_daemon(&conf(100, 3, &vip, "use_vmac\n"));
    wait_state(tag, &d1, "MASTER", secs(master_down(150) + 5.0));
    wait_state(tag, &d2, "BACKUP", secs(2.0));
    assert_eq!(
        n1.dev_mac(vmac),
        Some(virtual_mac),
        "{tag}: {}",
        n1.links_text()
    );
    assert_eq!(n2.dev_mac(vmac), None);
    assert!(
        lab.client.ping(VIP6, Duration::from_secs(3)),
        "{tag}: ping VIP"
    );
    assert_eq!(lab.client.neigh_mac(VIP6), Some(virtual_mac));
    d1.stop();
    assert_eq!(n1.dev_mac(vmac), None, "{tag}: VMAC left behind at exit");
    wait_state(tag, &d2, "MASTER", secs(master_down(100)));
    assert_eq!(n2.dev_mac(vmac), Some(virtual_mac));
    assert!(
        lab.client.ping(VIP6, Duration::from_secs(3)),
        "{tag}: ping after handover"
    );
    assert_eq!(lab.client.neigh_mac(VIP6), Some(virtual_mac));
}

/// keepalived's `unicast_ttl`: a unicast master's adverts reach the peer with that TTL.
#[test]
fn unicast_ttl_sets_the_ttl_adverts_leave_with() {
    let tag = "ucast_ttl";
    let Some(lab) = Lab::new(tag, 2) else { return };
    let (n1, n2) = (lab.node(1), lab.node(2));
    let extra = format!("{}unicast_ttl = 7\n", unicast_extra(n1, &[n2]));
    let d1 = n1.spawn_daemon(&conf(150, 3, "192.0.2.2/24", &extra));
    wait_state(tag, &d1, "MASTER", secs(master_down(150) + 3.0));
    let listener = n2.listen_raw_ipv4(112, None, Duration::from_millis(2500));
    let packets = listener.join().expect("listener").expect("raw socket");
    let ttls: Vec<u8> = packets
        .iter()
        .filter(|p| p.get(12..16) == Some(&n1.ipv4.octets()[..]))
        .filter_map(|p| p.get(8).copied())
        .collect();
    assert!(ttls.len() >= 2, "adverts seen: {}", ttls.len());
    assert!(ttls.iter().all(|&t| t == 7), "TTLs {ttls:?}");
}
