//! keepalived's instance and sync-group options on the netns lab: track_script on a sync
//! group, mcast_src_ip, dont_track_primary, `use_vmac = NAME`, an instance without VIPs.
//! Needs root; skips otherwise.

use crate::lab;

use std::net::Ipv4Addr;
use std::time::Duration;

use lab::{wait_until, DaemonHandle, Lab, Node};

const VIP1: &str = "192.0.2.1";
const VIP2: &str = "192.0.2.2";

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// Master_Down_Interval with advert_int 1.
fn master_down(priority: u8) -> f64 {
    3.0 + (256.0 - f64::from(priority)) / 256.0
}

fn state(d: &DaemonHandle, instance: &str) -> String {
    d.state(instance).unwrap_or_else(|| "<no status>".into())
}

fn wait_state(tag: &str, d: &DaemonHandle, instance: &str, want: &str, timeout: Duration) {
    let reached = wait_until(timeout, Duration::from_millis(50), || {
        d.assert_running(tag);
        state(d, instance) == want
    });
    assert!(
        reached.is_some(),
        "{tag}: {instance} is {} after {timeout:?}, want {want}",
        state(d, instance)
    );
}

fn instance(name: &str, vrid: u8, priority: u8, vip: &str, extra: &str) -> String {
    format!(
        "[vrrp_instance {name}]\ninterface = eth0\nstate = BACKUP\nvirtual_router_id = {vrid}\n\
         priority = {priority}\nadvert_int = 1\n{vip}{extra}\n"
    )
}

fn vip_line(addr: &str) -> String {
    format!("virtual_ipaddress = {addr}/24\n")
}

/// Two instances in sync group G; `group_extra` goes into the group.
fn grouped(priority: u8, scripts: &str, group_extra: &str) -> String {
    format!(
        "{scripts}{}{}[vrrp_sync_group G]\ngroup = VI_1\ngroup = VI_2\n{group_extra}",
        instance("VI_1", 51, priority, &vip_line(VIP1), ""),
        instance("VI_2", 52, priority, &vip_line(VIP2), ""),
    )
}

/// Node `n` holds both VIPs as master of both instances; `other` holds none.
fn group_on(n: (&Node, &DaemonHandle), other: (&Node, &DaemonHandle)) -> bool {
    n.1.assert_running("sync group");
    other.1.assert_running("sync group");
    ["VI_1", "VI_2"]
        .iter()
        .all(|i| state(n.1, i) == "MASTER" && state(other.1, i) == "BACKUP")
        && n.0.has_addr(VIP1)
        && n.0.has_addr(VIP2)
        && !other.0.has_addr(VIP1)
        && !other.0.has_addr(VIP2)
}

fn wait_group_on(tag: &str, n: (&Node, &DaemonHandle), other: (&Node, &DaemonHandle)) {
    let held = wait_until(secs(10.0), Duration::from_millis(50), || group_on(n, other));
    assert!(
        held.is_some(),
        "{tag}: node {} does not hold the group (states {} {} / {} {})",
        n.0.index,
        state(n.1, "VI_1"),
        state(n.1, "VI_2"),
        state(other.1, "VI_1"),
        state(other.1, "VI_2")
    );
}

/// A track_script given on the sync group applies to both members: when it fails on the
/// master, both instances (and both VIPs) move to the other node, and come back with it.
#[test]
fn a_sync_group_track_script_moves_every_member() {
    let tag = "opt_group_script";
    let Some(lab) = Lab::new(tag, 2) else { return };
    let (n1, n2) = (lab.node(1), lab.node(2));
    let flag = lab.dir().join("service-ok");
    std::fs::write(&flag, "").expect("flag");
    let scripts = format!(
        "[vrrp_script chk]\nscript = /usr/bin/test -f {}\ninterval = 1\n\n",
        flag.display()
    );
    let d1 = n1.spawn_daemon(&grouped(150, &scripts, "track_script = chk weight -60\n"));
    let d2 = n2.spawn_daemon(&grouped(100, "", ""));
    wait_group_on(tag, (n1, &d1), (n2, &d2));

    std::fs::remove_file(&flag).expect("remove flag");
    wait_group_on(tag, (n2, &d2), (n1, &d1));
    let status = d1.parsed_status();
    for i in ["VI_1", "VI_2"] {
        assert_eq!(status.counter(i, "effective_priority"), 90, "{tag}: {i}");
    }

    std::fs::write(&flag, "").expect("flag back");
    wait_group_on(tag, (n1, &d1), (n2, &d2));
}

/// `mcast_src_ip`: multicast adverts leave from that address (seen in captured packets and
/// as the backup's master=), and the instance is in FAULT until the address is there.
#[test]
fn mcast_src_ip_is_the_source_of_multicast_adverts() {
    let tag = "opt_mcast_src";
    let Some(lab) = Lab::new(tag, 2) else { return };
    let (n1, n2) = (lab.node(1), lab.node(2));
    let src = "192.0.2.50";
    let extra = format!("mcast_src_ip = {src}/24\n");
    let d1 = n1.spawn_daemon(&instance("VI_1", 51, 150, &vip_line(VIP1), &extra));
    wait_state(tag, &d1, "VI_1", "FAULT", secs(3.0));
    let d2 = n2.spawn_daemon(&instance("VI_1", 51, 100, &vip_line(VIP1), ""));
    wait_state(tag, &d2, "VI_1", "MASTER", secs(master_down(100) + 3.0));

    n1.exec(&["ip", "addr", "add", &format!("{src}/24"), "dev", "eth0"]);
    wait_state(tag, &d1, "VI_1", "MASTER", secs(master_down(150) + 3.0));
    wait_state(tag, &d2, "VI_1", "BACKUP", secs(2.0));
    let group = Ipv4Addr::new(224, 0, 0, 18);
    let capture = lab.client.listen_raw_ipv4(112, Some(group), secs(2.5));
    let packets = capture.join().expect("capture thread").expect("capture");
    let sources: Vec<Ipv4Addr> = packets
        .iter()
        .filter(|p| p.len() >= 22 && p[21] == 51)
        .map(|p| Ipv4Addr::new(p[12], p[13], p[14], p[15]))
        .collect();
    assert!(sources.len() >= 2, "{tag}: captured {sources:?}");
    assert!(
        sources.iter().all(|s| s.to_string() == src),
        "{tag}: sources {sources:?}"
    );
    let s2 = d2.parsed_status();
    let master = s2.instance("VI_1").and_then(|i| i.get("master")).cloned();
    assert_eq!(master.as_deref(), Some(src), "{tag}: {s2:?}");
}

/// `dont_track_primary`: the interface going down does not put the instance in FAULT (it
/// stays master, as keepalived); without it, it does.
#[test]
fn dont_track_primary_ignores_the_interface_going_down() {
    let tag = "opt_dont_track";
    let Some(lab) = Lab::new(tag, 2) else { return };
    let (n1, n2) = (lab.node(1), lab.node(2));
    let d1 = n1.spawn_daemon(&instance(
        "VI_1",
        51,
        150,
        &vip_line(VIP1),
        "dont_track_primary\n",
    ));
    let d2 = n2.spawn_daemon(&instance("VI_1", 51, 100, &vip_line(VIP1), ""));
    wait_state(tag, &d1, "VI_1", "MASTER", secs(master_down(150) + 3.0));
    wait_state(tag, &d2, "VI_1", "BACKUP", secs(2.0));
    n1.link_down();
    n2.link_down();
    // Node 2 tracks its interface: FAULT at once.
    wait_state(tag, &d2, "VI_1", "FAULT", secs(2.0));
    std::thread::sleep(secs(master_down(150)));
    assert_eq!(state(&d1, "VI_1"), "MASTER", "{tag}");
    assert!(n1.has_addr(VIP1), "{tag}: VIP dropped");
    n1.link_up();
    n2.link_up();
    wait_state(tag, &d2, "VI_1", "BACKUP", secs(master_down(100) + 3.0));
    assert_eq!(state(&d1, "VI_1"), "MASTER", "{tag}");
}

/// `use_vmac = NAME`: the macvlan carries the given name, on the master only.
#[test]
fn use_vmac_name_names_the_macvlan() {
    let tag = "opt_vmac_name";
    let Some(lab) = Lab::new(tag, 2) else { return };
    let (n1, n2) = (lab.node(1), lab.node(2));
    let extra = "use_vmac = vrrp_lan\n";
    let d1 = n1.spawn_daemon(&instance("VI_1", 51, 150, &vip_line(VIP1), extra));
    let d2 = n2.spawn_daemon(&instance("VI_1", 51, 100, &vip_line(VIP1), extra));
    wait_state(tag, &d1, "VI_1", "MASTER", secs(master_down(150) + 4.0));
    wait_state(tag, &d2, "VI_1", "BACKUP", secs(2.0));
    let virtual_mac = [0x00, 0x00, 0x5e, 0x00, 0x01, 51];
    assert_eq!(
        n1.dev_mac("vrrp_lan"),
        Some(virtual_mac),
        "{tag}: {}",
        n1.links_text()
    );
    assert_eq!(n1.dev_mac("vrrp.51"), None, "{tag}: default name used");
    assert_eq!(n2.dev_mac("vrrp_lan"), None, "{tag}: VMAC on the backup");
    assert!(n1.has_addr_anywhere(VIP1) && !n1.has_addr(VIP1), "{tag}");
    d1.stop();
    assert_eq!(n1.dev_mac("vrrp_lan"), None, "{tag}: VMAC left behind");
    wait_state(tag, &d2, "VI_1", "MASTER", secs(master_down(100) + 1.0));
    assert_eq!(n2.dev_mac("vrrp_lan"), Some(virtual_mac), "{tag}");
}

/// An instance without VIPs (notify-driven setups) still elects a master and runs its
/// notify scripts.
#[test]
fn an_instance_without_vips_elects_and_notifies() {
    let tag = "opt_no_vips";
    let Some(lab) = Lab::new(tag, 2) else { return };
    let (n1, n2) = (lab.node(1), lab.node(2));
    let out = lab.dir().join("n1-notify");
    let hook = lab.dir().join("hook.sh");
    std::fs::write(
        &hook,
        format!("#!/bin/sh\necho \"$@\" >> {}\n", out.display()),
    )
    .expect("hook");
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let notify = format!("notify = {}\n", hook.display());
    let d1 = n1.spawn_daemon(&instance("VI_1", 51, 150, "", &notify));
    let d2 = n2.spawn_daemon(&instance("VI_1", 51, 100, "", ""));
    wait_state(tag, &d1, "VI_1", "MASTER", secs(master_down(150) + 3.0));
    wait_state(tag, &d2, "VI_1", "BACKUP", secs(2.0));
    let s2 = d2.parsed_status();
    let master = s2.instance("VI_1").and_then(|i| i.get("master")).cloned();
    assert_eq!(master.as_deref(), Some("192.0.2.11"), "{tag}: {s2:?}");
    let written = wait_until(secs(3.0), Duration::from_millis(50), || {
        std::fs::read_to_string(&out).is_ok_and(|t| t.contains("INSTANCE VI_1 MASTER"))
    });
    assert!(
        written.is_some(),
        "{tag}: notify output {:?}",
        std::fs::read_to_string(&out)
    );
    let log = d1.log_text();
    assert!(
        log.contains("virtual_ipaddress: warning: none given"),
        "{tag}: {log}"
    );
}

/// keepalived.conf with two instances in sync group G; `group_extra` goes into the group.
fn keepalived_grouped(priority: u8, scripts: &str, group_extra: &str) -> String {
    let inst = |name: &str, vrid: u8, vip: &str| {
        format!(
            "vrrp_instance {name} {{\n state BACKUP\n interface eth0\n virtual_router_id {vrid}\n \
             priority {priority}\n advert_int 1\n virtual_ipaddress {{\n  {vip}/24\n }}\n}}\n"
        )
    };
    format!(
        "{scripts}{}{}vrrp_sync_group G {{\n group {{\n  VI_1\n  VI_2\n }}\n{group_extra}}}\n",
        inst("VI_1", 51, VIP1),
        inst("VI_2", 52, VIP2)
    )
}

/// Both VIPs on `on` and none on `off`.
fn vips_on(on: &Node, off: &Node) -> bool {
    on.has_addr(VIP1) && on.has_addr(VIP2) && !off.has_addr(VIP1) && !off.has_addr(VIP2)
}

fn wait_vips_on(tag: &str, on: &Node, off: &Node, timeout: Duration) {
    let moved = wait_until(timeout, Duration::from_millis(50), || vips_on(on, off));
    assert!(
        moved.is_some(),
        "{tag}: VIPs not all on node {} after {timeout:?}",
        on.index
    );
}

/// keepalived itself, with the group-level track_script on node 1 and tinyvrrp on node 2:
/// the script's weight moves both members (the behaviour the tinyvrrp side copies), and the
/// mixed pair agrees on one master for both VIPs.
#[test]
fn keepalived_applies_a_sync_group_track_script_to_every_member_too() {
    let tag = "opt_group_script_ka";
    let Some(lab) = Lab::new(tag, 2) else { return };
    let (n1, n2) = (lab.node(1), lab.node(2));
    let flag = lab.dir().join("service-ok");
    std::fs::write(&flag, "").expect("flag");
    let scripts = format!(
        "vrrp_script chk {{\n script \"/usr/bin/test -f {}\"\n interval 1\n}}\n",
        flag.display()
    );
    let ka = n1.spawn_keepalived(&keepalived_grouped(
        150,
        &scripts,
        " track_script {\n  chk weight -60\n }\n",
    ));
    let d2 = n2.spawn_daemon(&grouped(100, "", ""));
    wait_vips_on(tag, n1, n2, secs(12.0));
    assert_eq!(state(&d2, "VI_1"), "BACKUP", "{tag}");

    std::fs::remove_file(&flag).expect("remove flag");
    wait_vips_on(tag, n2, n1, secs(10.0));
    assert!(ka.is_running(), "{tag}: keepalived died");
    for i in ["VI_1", "VI_2"] {
        assert_eq!(state(&d2, i), "MASTER", "{tag}: {i}");
    }
    std::fs::write(&flag, "").expect("flag back");
    wait_vips_on(tag, n1, n2, secs(12.0));
}

/// The same with the roles swapped: tinyvrrp's group-level track_script hands both VIPs to
/// a keepalived peer.
#[test]
fn a_sync_group_track_script_hands_every_member_to_keepalived() {
    let tag = "opt_group_script_tv";
    let Some(lab) = Lab::new(tag, 2) else { return };
    let (n1, n2) = (lab.node(1), lab.node(2));
    let flag = lab.dir().join("service-ok");
    std::fs::write(&flag, "").expect("flag");
    let scripts = format!(
        "[vrrp_script chk]\nscript = /usr/bin/test -f {}\ninterval = 1\n\n",
        flag.display()
    );
    let d1 = n1.spawn_daemon(&grouped(150, &scripts, "track_script = chk weight -60\n"));
    let ka = n2.spawn_keepalived(&keepalived_grouped(100, "", ""));
    wait_vips_on(tag, n1, n2, secs(12.0));
    std::fs::remove_file(&flag).expect("remove flag");
    wait_vips_on(tag, n2, n1, secs(10.0));
    assert!(ka.is_running(), "{tag}: keepalived died");
    for i in ["VI_1", "VI_2"] {
        assert_eq!(state(&d1, i), "BACKUP", "{tag}: {i}");
    }
    std::fs::write(&flag, "").expect("flag back");
    wait_vips_on(tag, n1, n2, secs(10.0));
}

/// What tinyvrrp's dont_track_primary copies, checked on keepalived itself: with the flag its
/// instance stays master (VIP kept, no FAULT) while its interface is down.
#[test]
fn keepalived_with_dont_track_primary_stays_master_with_its_link_down() {
    let tag = "opt_dont_track_ka";
    let Some(lab) = Lab::new(tag, 1) else { return };
    let n1 = lab.node(1);
    let conf = format!(
        "vrrp_instance VI_1 {{\n state BACKUP\n interface eth0\n virtual_router_id 51\n \
         priority 150\n advert_int 1\n dont_track_primary\n virtual_ipaddress {{\n  {VIP1}/24\n \
         }}\n}}\n"
    );
    let ka = n1.spawn_keepalived(&conf);
    let up = wait_until(
        secs(master_down(150) + 4.0),
        Duration::from_millis(50),
        || n1.has_addr(VIP1),
    );
    assert!(up.is_some(), "{tag}: keepalived never master");
    n1.link_down();
    std::thread::sleep(secs(3.0));
    let log = ka.log_text();
    assert!(ka.is_running(), "{tag}: keepalived died");
    assert!(n1.has_addr(VIP1), "{tag}: VIP removed:\n{log}");
    assert!(
        !log.contains("FAULT"),
        "{tag}: keepalived went to FAULT:\n{log}"
    );
    n1.link_up();
}
