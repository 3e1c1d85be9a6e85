use super::*;

const SAMPLE: &str = "\
instance=LAN interface=br-lan vrid=51 version=3 state=BACKUP priority=100 effective_priority=90 vips=none addresses=192.0.2.100,192.0.2.101 master=192.0.2.1 master_priority=200 since=12.5s reason=higher_priority rx_adverts=7 tx_adverts=0 rx_priority_zero=1 tx_priority_zero=0 become_master=0 release_master=0 transitions_startup=1 transitions_higher_priority=1 discard_interval_mismatch=2 peer=192.0.2.1 csum_rfc5798=7 csum_rfc9568=0
instance=WAN interface=eth1 vrid=7 version=2 state=MASTER priority=150 effective_priority=150 vips=held rx_adverts=0 tx_adverts=9 rx_priority_zero=0 tx_priority_zero=0 become_master=1 release_master=0
process heap_allocs=1234 rss_bytes=901120
drops bad_checksum=3 unknown_vrid=1
track_script name=chk runs=3 health=up weight=-20
track_script name=new runs=0 health=unknown weight=5
track_process name=dns processes=0 health=down weight=0
";

fn rendered() -> String {
    let mut out = String::new();
    render(SAMPLE, &mut out);
    out
}

#[test]
fn exporter_names_labels_and_values() {
    let out = rendered();
    for line in [
        "keepalived_up 1",
        r#"keepalived_vrrp_state{iname="LAN",intf="br-lan",vrid="51",ip_address="192.0.2.100"} 1"#,
        r#"keepalived_vrrp_state{iname="LAN",intf="br-lan",vrid="51",ip_address="192.0.2.101"} 1"#,
        r#"keepalived_vrrp_state{iname="WAN",intf="eth1",vrid="7",ip_address=""} 2"#,
        r#"keepalived_advertisements_received_total{iname="LAN",intf="br-lan",vrid="51"} 7"#,
        r#"keepalived_advertisements_sent_total{iname="WAN",intf="eth1",vrid="7"} 9"#,
        r#"keepalived_become_master_total{iname="WAN",intf="eth1",vrid="7"} 1"#,
        r#"keepalived_release_master_total{iname="WAN",intf="eth1",vrid="7"} 0"#,
        r#"keepalived_priority_zero_received_total{iname="LAN",intf="br-lan",vrid="51"} 1"#,
        r#"keepalived_advertisements_interval_errors_total{iname="LAN",intf="br-lan",vrid="51"} 2"#,
        r#"keepalived_advertisements_interval_errors_total{iname="WAN",intf="eth1",vrid="7"} 0"#,
        r#"keepalived_script_status{name="chk"} 1"#,
        "# TYPE keepalived_become_master_total counter",
        "# TYPE keepalived_vrrp_state gauge",
    ] {
        assert!(out.lines().any(|l| l == line), "{line} missing in\n{out}");
    }
    // A check not decided yet and a tracked process have no keepalived_script_status.
    assert!(!out.contains(r#"keepalived_script_status{name="new"}"#));
    assert!(!out.contains(r#"keepalived_script_status{name="dns"}"#));
}

#[test]
fn what_the_exporter_lacks() {
    let out = rendered();
    for line in [
        r#"tinyvrrp_priority{iname="LAN",intf="br-lan",vrid="51"} 100"#,
        r#"tinyvrrp_effective_priority{iname="LAN",intf="br-lan",vrid="51"} 90"#,
        r#"tinyvrrp_master_priority{iname="LAN",intf="br-lan",vrid="51"} 200"#,
        r#"tinyvrrp_master{iname="LAN",intf="br-lan",vrid="51",master="192.0.2.1"} 1"#,
        r#"tinyvrrp_last_transition_seconds{iname="LAN",intf="br-lan",vrid="51",reason="higher_priority"} 12.5"#,
        r#"tinyvrrp_transitions_total{iname="LAN",intf="br-lan",vrid="51",reason="startup"} 1"#,
        r#"tinyvrrp_discards_total{iname="LAN",intf="br-lan",vrid="51",reason="interval_mismatch"} 2"#,
        r#"tinyvrrp_checksum_form_total{iname="LAN",intf="br-lan",vrid="51",peer="192.0.2.1",form="rfc5798"} 7"#,
        r#"tinyvrrp_vips_held{iname="WAN",intf="eth1",vrid="7"} 1"#,
        r#"tinyvrrp_drops_total{reason="bad_checksum"} 3"#,
        "tinyvrrp_resident_memory_bytes 901120",
        "tinyvrrp_heap_allocations_total 1234",
        r#"tinyvrrp_tracker_up{type="script",name="chk"} 1"#,
        r#"tinyvrrp_tracker_up{type="process",name="dns"} 0"#,
        r#"tinyvrrp_tracker_weight{type="script",name="chk"} -20"#,
        r#"tinyvrrp_tracker_weight{type="script",name="new"} 5"#,
    ] {
        assert!(out.lines().any(|l| l == line), "{line} missing in\n{out}");
    }
    // A backup's master priority only; the WAN master has no master_priority sample.
    assert!(!out.contains(r#"tinyvrrp_master_priority{iname="WAN""#));
    assert!(!out.contains(r#"tinyvrrp_tracker_up{type="script",name="new"}"#));
}

/// The text format: every sample's family has one HELP and one TYPE, before its samples, and
/// the samples of a family are together.
#[test]
fn families_are_declared_once_and_grouped() {
    let out = rendered();
    let mut seen: Vec<&str> = Vec::new();
    let mut current = "";
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split(' ').next().unwrap();
            assert!(!seen.contains(&name), "{name} declared twice");
            seen.push(name);
            current = name;
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let name = line.split(['{', ' ']).next().unwrap();
        assert_eq!(name, current, "{line} outside its family");
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }
}

#[test]
fn label_values_are_escaped_and_garbled_values_are_nan() {
    let mut out = String::new();
    render(
        "instance=a\"b\\c interface=e vrid=1 state=WEIRD rx_adverts=x1\n",
        &mut out,
    );
    assert!(
        out.contains(r#"keepalived_vrrp_state{iname="a\"b\\c",intf="e",vrid="1",ip_address=""} 0"#)
    );
    assert!(out.contains(
        r#"keepalived_advertisements_received_total{iname="a\"b\\c",intf="e",vrid="1"} NaN"#
    ));
    // Nothing but the up gauge and empty families from an empty status.
    out.clear();
    render("", &mut out);
    assert!(out
        .lines()
        .all(|l| l.starts_with('#') || l == "keepalived_up 1"));
}

#[test]
fn down_is_one_gauge() {
    let mut out = String::new();
    render_down(&mut out);
    assert_eq!(
        out,
        "# HELP keepalived_up Status\n# TYPE keepalived_up gauge\nkeepalived_up 0\n"
    );
}

/// The renderer reads what the daemon's `status::render` really writes.
#[test]
fn renders_the_daemons_status() {
    use crate::instance::{GarpSchedule, Instance, Params};
    use crate::packet::Version;
    use crate::status::{render as status, Counters, InstanceView, PeerForms};
    use std::time::Duration;

    let instance = Instance::new(Params {
        vrid: 42,
        version: Version::V3,
        priority: 150,
        advert_int_cs: 100,
        preempt: true,
        preempt_delay: Duration::ZERO,
        primary_ip: "192.0.2.11".parse().unwrap(),
        auth: None,
        garp: GarpSchedule::default(),
    });
    let transitions = [1];
    let addresses = ["192.0.2.100".parse().unwrap()];
    let view = InstanceView {
        name: "VI_1",
        interface: "eth0",
        instance: &instance,
        discards: &Counters::default(),
        forms: &PeerForms::default(),
        vips_held: false,
        addresses: &addresses,
        since_transition: Some(Duration::from_millis(1500)),
        reason: "startup",
        transitions: &transitions,
    };
    let mut text = String::new();
    status(&mut text, std::iter::once(view), &Counters::default());
    let mut out = String::new();
    render(&text, &mut out);
    for line in [
        r#"keepalived_vrrp_state{iname="VI_1",intf="eth0",vrid="42",ip_address="192.0.2.100"} 0"#,
        r#"tinyvrrp_last_transition_seconds{iname="VI_1",intf="eth0",vrid="42",reason="startup"} 1.5"#,
        r#"tinyvrrp_transitions_total{iname="VI_1",intf="eth0",vrid="42",reason="startup"} 1"#,
        r#"tinyvrrp_priority{iname="VI_1",intf="eth0",vrid="42"} 150"#,
    ] {
        assert!(out.lines().any(|l| l == line), "{line} missing in\n{out}");
    }
    assert!(out.contains("\ntinyvrrp_heap_allocations_total "));
}

#[test]
fn rss_is_read_from_proc() {
    let rss = rss_bytes().unwrap();
    assert!(rss > 100 * 1024, "{rss}");
}
