use std::net::IpAddr;
use std::time::Duration;

use super::*;
use crate::config::parse_str;
use crate::netlink::{AddrInfo, IfName, LinkInfo};
use crate::packet::{emit, AdvertFields, ChecksumForm, Version};
use crate::track::Health;

const ETH0: u32 = 2;
const ETH1: u32 = 3;
const OWN: &str = "192.0.2.10";
const PEER: &str = "192.0.2.20";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn ms(n: u64) -> Time {
    Duration::from_millis(n)
}

fn config(text: &str) -> Config {
    parse_str(text, "t.conf")
        .unwrap_or_else(|e| panic!("{e}"))
        .config
}

fn instance(name: &str, vrid: u8, priority: u8, extra: &str) -> String {
    format!(
        "[vrrp_instance {name}]\ninterface = eth0\nvirtual_router_id = {vrid}\nversion = 3\n\
         priority = {priority}\nadvert_int = 0.1\nvirtual_ipaddress = 192.0.2.{vrid}/24\n{extra}\n"
    )
}

fn link(index: u32, name: &str, up: bool) -> NetEvent {
    NetEvent::LinkChanged(LinkInfo {
        index,
        name: IfName::new(name).unwrap_or_else(|e| panic!("{e}")),
        mac: [2, 0, 0, 0, 0, index as u8],
        up,
        flags: 0,
    })
}

fn addr(index: u32, a: &str) -> AddrInfo {
    AddrInfo {
        index,
        addr: ip(a),
        prefix_len: 24,
        scope: 0,
        flags: 0,
        label: None,
    }
}

/// A router on a machine with eth0 (192.0.2.10) and eth1, started at 0.
fn started(text: &str) -> Router {
    let mut r = Router::new(config(text));
    let events = [
        link(ETH0, "eth0", true),
        link(ETH1, "eth1", true),
        NetEvent::AddrAdded(addr(ETH0, OWN)),
    ];
    r.handle_net_events(ms(0), &events);
    r.start(ms(0));
    drain(&mut r);
    r
}

fn drain(r: &mut Router) -> Vec<Action> {
    std::iter::from_fn(|| r.poll_action()).collect()
}

fn ops(actions: &[Action]) -> Vec<Op> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Instance { op, .. } => Some(op.clone()),
            Action::GroupTransition { .. } => None,
        })
        .collect()
}

fn transitions(actions: &[Action]) -> Vec<State> {
    ops(actions)
        .into_iter()
        .filter_map(|op| match op {
            Op::Transition { to, .. } => Some(to),
            _ => None,
        })
        .collect()
}

fn state(r: &Router, i: usize) -> State {
    r.slots()[i].instance().state()
}

/// Runs the timers until `until`, 10 ms at a time; returns every action.
fn run(r: &mut Router, from: u64, until: u64) -> Vec<Action> {
    let mut all = Vec::new();
    for t in (from..=until).step_by(10) {
        r.handle_timeout(ms(t));
        all.extend(drain(r));
    }
    all
}

/// A v3 advert from `src` for `vrid` listing `vips`, as a datagram payload.
fn advert(vrid: u8, priority: u8, vips: &[&str], src: &str, dst: &str) -> Vec<u8> {
    let fields = AdvertFields {
        version: Version::V3,
        vrid,
        priority,
        adver_int_cs: 10,
        auth_type: 0,
        auth_data: [0; 8],
    };
    let addrs: Vec<IpAddr> = vips.iter().map(|v| ip(v)).collect();
    let mut buf = [0u8; 256];
    let form = ChecksumForm::PseudoHeader;
    let n =
        emit(&fields, &addrs, ip(src), ip(dst), form, &mut buf).unwrap_or_else(|e| panic!("{e}"));
    buf[..n].to_vec()
}

fn receive(r: &mut Router, now: Time, payload: &[u8], ttl: u8, dst: &str) -> Vec<Action> {
    let d = Datagram {
        ifindex: ETH0,
        src: ip(PEER),
        dst: ip(dst),
        ttl,
        payload,
        truncated: false,
    };
    r.handle_datagram(now, Family::V4, &d);
    drain(r)
}

const GROUP: &str = "224.0.0.18";

/// One instance (`extra` in it, `sections` before it), master after its down timer ran out.
fn master(extra: &str, sections: &str) -> Router {
    let mut r = started(&(sections.to_string() + &instance("VI_1", 1, 150, extra)));
    run(&mut r, 0, 500);
    assert_eq!(state(&r, 0), State::Master);
    r
}

#[test]
fn start_removes_leftovers_then_a_lone_instance_becomes_master() {
    let mut r = Router::new(config(&instance("VI_1", 1, 150, "")));
    r.handle_net_events(ms(0), &[link(ETH0, "eth0", true)]);
    r.handle_net_events(ms(0), &[NetEvent::AddrAdded(addr(ETH0, OWN))]);
    assert!(drain(&mut r).is_empty(), "nothing runs before start");
    r.start(ms(0));
    let first = ops(&drain(&mut r));
    assert_eq!(first[0], Op::RemoveLeftovers { vmac: true });
    assert!(first.contains(&Op::JoinGroup));
    assert_eq!(state(&r, 0), State::Backup);
    let later = ops(&run(&mut r, 10, 500));
    assert!(later.contains(&Op::AddVips));
    assert!(r.slots()[0].vips_held());
    assert_eq!(r.slots()[0].usable().map(|u| u.source), Some(ip(OWN)));
}

#[test]
fn multicast_adverts_need_ttl_255_unicast_ones_do_not() {
    let mut r = started(&instance("VI_1", 1, 100, ""));
    let p = advert(1, 200, &["192.0.2.1"], PEER, GROUP);
    assert!(receive(&mut r, ms(10), &p, 254, GROUP).is_empty());
    assert_eq!(r.drops().get("bad_ttl"), 1);
    assert_eq!(r.slots()[0].instance().stats().rx_adverts, 0);
    receive(&mut r, ms(20), &p, 255, GROUP);
    assert_eq!(r.slots()[0].instance().stats().rx_adverts, 1);

    let peer = format!("unicast_src_ip = {OWN}\nunicast_peer = {PEER}\n");
    let mut u = started(&instance("VI_1", 1, 100, &peer));
    let p = advert(1, 200, &["192.0.2.1"], PEER, OWN);
    receive(&mut u, ms(10), &p, 60, OWN);
    assert_eq!(u.drops().get("bad_ttl"), 0);
    assert_eq!(u.slots()[0].instance().stats().rx_adverts, 1);
}

#[test]
fn unknown_vrids_and_peers_are_counted_not_fed() {
    let mut r = started(&instance("VI_1", 1, 100, ""));
    receive(
        &mut r,
        ms(10),
        &advert(9, 200, &["192.0.2.9"], PEER, GROUP),
        255,
        GROUP,
    );
    assert_eq!(r.drops().get("unknown_vrid"), 1);
    let peer = format!("unicast_src_ip = {OWN}\nunicast_peer = 192.0.2.30\n");
    let mut u = started(&instance("VI_1", 1, 100, &peer));
    receive(
        &mut u,
        ms(10),
        &advert(1, 200, &["192.0.2.1"], PEER, OWN),
        255,
        OWN,
    );
    assert_eq!(u.drops().get("unknown_peer"), 1);
}

#[test]
fn multicast_adverts_are_for_multicast_instances_and_unicast_ones_for_unicast_instances() {
    // A listed peer's advert sent to the group is not for a unicast instance, and one sent
    // to our own address is not for a multicast instance.
    let peer = format!("unicast_src_ip = {OWN}\nunicast_peer = {PEER}\n");
    for (extra, dst) in [(peer.as_str(), GROUP), ("", OWN)] {
        let mut r = started(&instance("VI_1", 1, 100, extra));
        let before = r.slots()[0].instance().stats().rx_adverts;
        receive(
            &mut r,
            ms(10),
            &advert(1, 200, &["192.0.2.1"], PEER, dst),
            255,
            dst,
        );
        assert_eq!(r.drops().get("unknown_peer"), 1, "to {dst}");
        assert_eq!(
            r.slots()[0].instance().stats().rx_adverts,
            before,
            "to {dst}"
        );
    }
}

#[test]
fn another_vip_list_is_logged_once_per_peer_and_the_election_goes_on() {
    let mut r = started(&instance("VI_1", 1, 100, ""));
    let other = advert(1, 200, &["192.0.2.1", "192.0.2.99"], PEER, GROUP);
    for t in 1..=5 {
        receive(&mut r, ms(t * 10), &other, 255, GROUP);
    }
    let s = &r.slots()[0];
    assert_eq!(s.discards().get("vip_mismatch"), 1);
    assert_eq!(s.instance().stats().rx_adverts, 5);
    assert_eq!(s.instance().master().map(|m| m.0), Some(ip(PEER)));
    // Agreeing again, then differing again, is a new mismatch.
    receive(
        &mut r,
        ms(60),
        &advert(1, 200, &["192.0.2.1"], PEER, GROUP),
        255,
        GROUP,
    );
    receive(&mut r, ms(70), &other, 255, GROUP);
    assert_eq!(r.slots()[0].discards().get("vip_mismatch"), 2);
}

const SCRIPT: &str = "[vrrp_script chk]\nscript = /bin/true\nweight = -60\n";
const FAULT_SCRIPT: &str = "[vrrp_script chk]\nscript = /bin/true\nweight = 0\n";

#[test]
fn a_failing_weighted_script_lowers_the_priority_and_the_master_says_so() {
    let mut r = master("track_script = chk\n", SCRIPT);
    r.handle_track(ms(600), [TrackResult::Script("chk", Health::Down)]);
    let out = ops(&drain(&mut r));
    assert_eq!(r.slots()[0].instance().effective_priority(), 90);
    assert!(out.contains(&Op::SendAdvert { priority: 90 }), "{out:?}");
    assert_eq!(state(&r, 0), State::Master);
    r.handle_track(ms(700), [TrackResult::Script("chk", Health::Up)]);
    drain(&mut r);
    assert_eq!(r.slots()[0].instance().effective_priority(), 150);
}

#[test]
fn a_tracking_fault_sends_priority_0_and_is_not_a_link_fault() {
    let mut r = master("track_script = chk\n", FAULT_SCRIPT);
    r.handle_track(ms(600), [TrackResult::Script("chk", Health::Down)]);
    let out = drain(&mut r);
    let o = ops(&out);
    assert_eq!(o[0], Op::SendAdvert { priority: 0 });
    assert!(o.contains(&Op::RemoveVips));
    assert_eq!(transitions(&out), [State::Fault]);
    // The VIPs come off the link the instance had, though the slot forgot it.
    assert!(out
        .iter()
        .all(|a| matches!(a, Action::Instance { link: Some(_), .. })));
    let s = &r.slots()[0];
    assert!(s.tracked_fault() && s.usable().is_none());
    assert_eq!(s.fault_cause, Some(FaultCause::Tracking));
    r.handle_track(ms(700), [TrackResult::Script("chk", Health::Up)]);
    assert_eq!(transitions(&drain(&mut r)), [State::Backup]);
    assert!(!r.slots()[0].tracked_fault());
}

#[test]
fn track_files_and_interfaces() {
    let file = "[vrrp_track_file f]\nfile = /nonexistent\nweight = 0\n";
    let mut r = started(&(file.to_string() + &instance("VI_1", 1, 150, "track_file = f\n")));
    r.handle_track(ms(10), [TrackResult::File("f", 0)]);
    assert_eq!(state(&r, 0), State::Backup);
    r.handle_track(ms(20), [TrackResult::File("f", 3)]);
    assert_eq!(state(&r, 0), State::Fault);

    let mut r = started(&instance(
        "VI_1",
        1,
        150,
        "track_interface = eth1 weight -100\n",
    ));
    r.handle_net_events(ms(10), &[link(ETH1, "eth1", false)]);
    assert_eq!(r.slots()[0].instance().effective_priority(), 50);
    let mut r = started(&instance("VI_1", 1, 150, "track_interface = eth1\n"));
    r.handle_net_events(ms(10), &[link(ETH1, "eth1", false)]);
    assert_eq!(state(&r, 0), State::Fault);
    r.handle_net_events(ms(20), &[link(ETH1, "eth1", true)]);
    assert_eq!(state(&r, 0), State::Backup);
}

fn grouped(extra: &str) -> String {
    format!(
        "{}{}[vrrp_sync_group G]\ngroup = VI_1\ngroup = VI_2\n",
        instance("VI_1", 1, 150, extra),
        instance("VI_2", 2, 150, ""),
    )
}

#[test]
fn a_fault_of_one_member_holds_its_sync_group_in_fault() {
    let mut r = started(&(FAULT_SCRIPT.to_string() + &grouped("track_script = chk\n")));
    run(&mut r, 0, 500);
    assert_eq!((state(&r, 0), state(&r, 1)), (State::Master, State::Master));
    r.handle_track(ms(600), [TrackResult::Script("chk", Health::Down)]);
    let out = drain(&mut r);
    assert_eq!((state(&r, 0), state(&r, 1)), (State::Fault, State::Fault));
    assert!(out.contains(&Action::GroupTransition {
        group: 0,
        state: State::Fault
    }));
    r.handle_track(ms(700), [TrackResult::Script("chk", Health::Up)]);
    drain(&mut r);
    assert_eq!((state(&r, 0), state(&r, 1)), (State::Backup, State::Backup));
}

#[test]
fn a_member_outranked_by_a_peer_takes_its_group_to_backup() {
    let mut r = started(&grouped(""));
    run(&mut r, 0, 500);
    let p = advert(1, 200, &["192.0.2.1"], PEER, GROUP);
    let out = receive(&mut r, ms(510), &p, 255, GROUP);
    assert_eq!((state(&r, 0), state(&r, 1)), (State::Backup, State::Backup));
    assert!(r.slots()[1].instance().held());
    // The held master left with priority 0 so the peer's member takes over quickly.
    assert!(ops(&out).contains(&Op::SendAdvert { priority: 0 }));
    // While held, VI_2 does not take over even when its down timer runs out.
    for t in (520..=1500).step_by(50) {
        receive(&mut r, ms(t), &p, 255, GROUP);
        r.handle_timeout(ms(t));
        drain(&mut r);
    }
    assert_eq!(state(&r, 1), State::Backup);
}

fn reload(r: &mut Router, now: Time, text: &str) -> (ReloadSummary, Vec<Action>) {
    let sum = r.reload(now, config(text));
    (sum, drain(r))
}

#[test]
fn a_reload_adding_a_vip_and_a_priority_changes_the_master_in_place() {
    let mut r = master("", "");
    let extra = "virtual_ipaddress = 192.0.2.99/24\n";
    let (sum, out) = reload(&mut r, ms(600), &instance("VI_1", 1, 160, extra));
    assert_eq!(sum.changed, 1);
    assert_eq!(sum.restarted, 0);
    assert!(transitions(&out).is_empty(), "{out:?}");
    let o = ops(&out);
    let new = r.slots()[0].cfg().vips[1].clone();
    assert_eq!(o[0], Op::AddVip(new));
    let garp = Op::SendGarpFor {
        addr: ip("192.0.2.99"),
        count: 5,
    };
    assert_eq!(o[1], garp);
    assert!(o.contains(&Op::SendAdvert { priority: 160 }));
    assert!(!o
        .iter()
        .any(|op| matches!(op, Op::RemoveVips | Op::RemoveVip(_))));
    assert_eq!(
        r.slots()[0].vip_addrs(),
        [ip("192.0.2.1"), ip("192.0.2.99")]
    );
    assert_eq!(state(&r, 0), State::Master);
}

#[test]
fn a_reload_removing_a_vip_removes_only_that_one() {
    let mut r = master("virtual_ipaddress = 192.0.2.99/24\n", "");
    let (_, out) = reload(&mut r, ms(600), &instance("VI_1", 1, 150, ""));
    let o = ops(&out);
    assert!(transitions(&out).is_empty());
    assert_eq!(o.len(), 1, "{o:?}");
    assert!(matches!(&o[0], Op::RemoveVip(v) if v.addr == ip("192.0.2.99")));
    assert!(r.slots()[0].vips_held());
}

#[test]
fn a_backup_takes_new_vips_without_touching_addresses() {
    let mut r = started(&instance("VI_1", 1, 100, ""));
    let extra = "virtual_ipaddress = 192.0.2.99/24\n";
    let (_, out) = reload(&mut r, ms(50), &instance("VI_1", 1, 100, extra));
    assert!(ops(&out).is_empty(), "{out:?}");
    assert_eq!(state(&r, 0), State::Backup);
}

#[test]
fn a_reload_of_the_interval_and_tracking_keeps_the_state() {
    let mut r = master("", "");
    let text = instance("VI_1", 1, 150, "track_script = chk\n");
    let text = SCRIPT.to_string() + &text.replace("advert_int = 0.1", "advert_int = 0.5");
    let (_, out) = reload(&mut r, ms(600), &text);
    assert!(transitions(&out).is_empty());
    let adverts = ops(&run(&mut r, 610, 2600))
        .into_iter()
        .filter(|o| matches!(o, Op::SendAdvert { .. }))
        .count();
    assert!(
        (3..=5).contains(&adverts),
        "{adverts} adverts in 2 s at 0.5 s"
    );
    r.handle_track(ms(2700), [TrackResult::Script("chk", Health::Down)]);
    drain(&mut r);
    assert_eq!(r.slots()[0].instance().effective_priority(), 90);
}

#[test]
fn an_identity_change_stops_the_old_instance_and_starts_a_new_one() {
    let mut r = master("", "");
    let old = r.slots()[0].id();
    let (sum, out) = reload(&mut r, ms(600), &instance("VI_1", 7, 150, ""));
    assert_eq!((sum.removed, sum.added), (1, 1));
    let on_old: Vec<Op> = out
        .iter()
        .filter_map(|a| match a {
            Action::Instance { slot, op, .. } if *slot == old => Some(op.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(on_old[0], Op::SendAdvert { priority: 0 });
    assert!(on_old.contains(&Op::RemoveVips));
    assert_ne!(r.slots()[0].id(), old);
    assert!(r.slot(old).is_none(), "retired once drained");

    // A new version is a restart too, the slot keeps its place.
    let mut r = master("", "");
    let text = instance("VI_1", 1, 150, "").replace("version = 3", "version = 2");
    let text = text.replace("advert_int = 0.1", "advert_int = 1");
    let (sum, _) = reload(&mut r, ms(600), &text);
    assert_eq!(sum.restarted, 1);
    assert_eq!(state(&r, 0), State::Backup);
}

#[test]
fn stopping_hands_over_before_the_vips_go() {
    let mut r = master("", "");
    r.begin_stop(ms(600));
    let o = ops(&drain(&mut r));
    // Make before break: priority 0 out, the VIPs kept until the successor is heard.
    assert_eq!(o[0], Op::SendAdvert { priority: 0 });
    assert!(!o.contains(&Op::RemoveVips), "{o:?}");
    assert_eq!(r.phase(), Phase::Stopping);
    // The backup's first advert as master ends the wait.
    let out = receive(
        &mut r,
        ms(650),
        &advert(1, 100, &["192.0.2.1"], PEER, GROUP),
        255,
        GROUP,
    );
    assert!(ops(&out).contains(&Op::RemoveVips), "{out:?}");
    assert_eq!(transitions(&out), [State::Init]);
    assert_eq!(r.phase(), Phase::Stopped);
}

#[test]
fn stopping_with_nobody_to_hand_over_to_ends_at_the_bound() {
    let mut r = master("", "");
    r.begin_stop(ms(600));
    drain(&mut r);
    let out = run(&mut r, 610, 3_000);
    assert!(ops(&out).contains(&Op::RemoveVips), "{out:?}");
    assert_eq!(r.phase(), Phase::Stopped);
}

#[test]
fn stopping_without_handover_drops_the_vips_at_once() {
    let mut r = master("", "[global_defs]\nstop_handover = no\n");
    r.begin_stop(ms(600));
    let o = ops(&drain(&mut r));
    assert_eq!(o[0], Op::SendAdvert { priority: 0 });
    assert!(o.contains(&Op::RemoveVips), "{o:?}");
    assert_eq!(r.phase(), Phase::Stopped);
}

/// Found by fuzz/fuzz_targets/router_events.rs: one pass over the members left VI_1 held by
/// VI_2, which the same pass then released (and which took over, so holds nobody).
#[test]
fn a_reload_that_releases_a_member_settles_the_whole_group() {
    let text = |three: bool| {
        let mut t = instance("VI_1", 1, 150, "") + &instance("VI_2", 2, 150, "");
        let mut g = "[vrrp_sync_group G]\ngroup = VI_1\ngroup = VI_2\n".to_string();
        if three {
            t += &instance("VI_3", 3, 150, "");
            g += "group = VI_3\n";
        }
        t + &g
    };
    let mut r = started(&text(true));
    run(&mut r, 0, 500);
    // Peers outrank VI_2 and VI_3: each holds the other members back.
    let p2 = advert(2, 200, &["192.0.2.2"], PEER, GROUP);
    let p3 = advert(3, 200, &["192.0.2.3"], PEER, GROUP);
    for t in (510..=1500).step_by(10) {
        // VRID 2's peer goes silent: VI_2's down timer runs out while VI_3 holds it.
        if t <= 600 {
            receive(&mut r, ms(t), &p2, 255, GROUP);
        }
        receive(&mut r, ms(t), &p3, 255, GROUP);
        r.handle_timeout(ms(t));
        drain(&mut r);
    }
    assert_eq!(state(&r, 1), State::Backup);
    assert!(r.slots()[0].instance().held() && r.slots()[1].instance().held());
    reload(&mut r, ms(1510), &text(false));
    assert_eq!(state(&r, 1), State::Master);
    assert!(!r.slots()[0].instance().held(), "VI_1 held by nobody");
}
