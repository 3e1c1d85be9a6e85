use std::net::IpAddr;
use std::path::PathBuf;

use super::*;
use crate::packet::{Family, Version};

fn ok(text: &str) -> Loaded {
    match parse_str(text, "t.conf") {
        Ok(l) => l,
        Err(e) => panic!("unexpected errors:\n{e}"),
    }
}

/// (line, key, kind) of every error.
fn errs(text: &str) -> Vec<(usize, String, ErrorKind)> {
    match parse_str(text, "t.conf") {
        Ok(_) => panic!("parsed, expected errors:\n{text}"),
        Err(ConfigErrors(v)) => v.into_iter().map(|e| (e.line, e.key, e.kind)).collect(),
    }
}

fn one_err(text: &str) -> (usize, String, ErrorKind) {
    let mut all = errs(text);
    assert_eq!(all.len(), 1, "expected one error, got {all:?}");
    all.remove(0)
}

/// A valid instance on lines 1-4; `extra` starts at line 5.
fn inst(extra: &str) -> String {
    format!(
        "[vrrp_instance VI_1]\ninterface = eth0\nvirtual_router_id = 51\nvirtual_ipaddress = 192.0.2.1/24\n{extra}"
    )
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn range_err(value: &str, allowed: &'static str) -> ErrorKind {
    ErrorKind::OutOfRange {
        value: value.to_string(),
        allowed,
    }
}

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

const FULL_EXAMPLE: &str = "\
[global_defs]
router_id = edge1

[vrrp_script chk_dns]
script = /bin/true dnsmasq
interval = 2
weight = -20

[vrrp_instance VI_1]
interface = eth0
state = BACKUP
virtual_router_id = 51
priority = 150
advert_int = 1
version = 3
virtual_ipaddress = 192.0.2.1/24
virtual_ipaddress = 192.0.2.2/24 dev eth1 label eth1:vip
track_script = chk_dns

[vrrp_instance VI_2]
interface = eth0
virtual_router_id = 52
virtual_ipaddress = fe80::52
virtual_ipaddress = 2001:db8::10/64
version = 3
advert_int = 0.5

[vrrp_sync_group G1]
group = VI_1
group = VI_2
notify_master = /bin/true group-master
";

#[test]
fn full_example() {
    let loaded = ok(FULL_EXAMPLE);
    assert_eq!(loaded.warnings, vec![]);
    let c = loaded.config;
    assert_eq!(c.global.router_id.as_deref(), Some("edge1"));
    assert_eq!(
        c.scripts,
        vec![VrrpScript {
            name: "chk_dns".into(),
            script: "/bin/true dnsmasq".into(),
            interval_s: 2,
            timeout_s: 2,
            weight: -20,
            rise: 1,
            fall: 1,
            user: None,
        }]
    );
    assert_eq!(c.instances.len(), 2);
    let v1 = &c.instances[0];
    assert_eq!(v1.name, "VI_1");
    assert_eq!(v1.interface, "eth0");
    assert_eq!(v1.initial_state, InitialState::Backup);
    assert_eq!((v1.vrid, v1.priority, v1.advert_int_cs), (51, 150, 100));
    assert_eq!((v1.version, v1.family), (Version::V3, Family::V4));
    assert_eq!(
        v1.vips,
        vec![
            Vip {
                addr: ip("192.0.2.1"),
                prefix_len: 24,
                dev: None,
                label: None,
                brd: None,
                scope: 0,
            },
            Vip {
                addr: ip("192.0.2.2"),
                prefix_len: 24,
                dev: Some("eth1".into()),
                label: Some("eth1:vip".into()),
                brd: None,
                scope: 0,
            },
        ]
    );
    assert_eq!(
        v1.track_scripts,
        vec![TrackScriptRef {
            name: "chk_dns".into(),
            weight: None
        }]
    );
    let v2 = &c.instances[1];
    assert_eq!(
        (
            v2.family,
            v2.advert_int_cs,
            v2.vips[0].prefix_len,
            v2.vips[1].prefix_len
        ),
        (Family::V6, 50, 128, 64)
    );
    assert_eq!(
        c.sync_groups,
        vec![SyncGroup {
            name: "G1".into(),
            instances: vec!["VI_1".into(), "VI_2".into()],
            track_interfaces: vec![],
            track_scripts: vec![],
            track_files: vec![],
            track_processes: vec![],
            notify_master: Some("/bin/true group-master".into()),
            notify_backup: None,
            notify_fault: None,
            notify_stop: None,
            notify: None,
        }]
    );
}

#[test]
fn defaults_match_keepalived() {
    let c = ok(&inst("")).config;
    assert_eq!(c.global, GlobalDefs::default());
    let i = &c.instances[0];
    assert_eq!(i.initial_state, InitialState::Backup);
    assert_eq!(i.priority, 100);
    assert_eq!(i.advert_int_cs, 100);
    assert_eq!(i.version, Version::V2);
    assert_eq!(i.family, Family::V4);
    assert!(i.preempt);
    assert_eq!(i.preempt_delay_cs, 0);
    assert_eq!(
        (i.unicast_src_ip, i.unicast_peers.len(), i.unicast_ttl),
        (None, 0, None)
    );
    assert_eq!(i.auth, None);
    assert_eq!(
        (
            i.garp_master_delay_s,
            i.garp_master_repeat,
            i.garp_master_refresh_s,
            i.garp_master_refresh_repeat
        ),
        (5, 5, 0, 1)
    );
    assert!(i.track_interfaces.is_empty() && i.track_scripts.is_empty());
    assert!(i.track_files.is_empty());
    assert_eq!(i.notify_master, None);
    assert!(!i.v3_checksum_as_v2 && !i.use_vmac);
}

#[test]
fn default_prefix_is_host_route_per_family() {
    let c = ok("[vrrp_instance A]\ninterface = eth0\nvirtual_router_id = 1\nvirtual_ipaddress = 192.0.2.1\n\
         [vrrp_instance B]\ninterface = eth0\nvirtual_router_id = 1\nversion = 3\nvirtual_ipaddress = 2001:db8::1\n")
    .config;
    assert_eq!(c.instances[0].vips[0].prefix_len, 32);
    assert_eq!(c.instances[1].vips[0].prefix_len, 128);
    assert_eq!(c.instances[1].family, Family::V6);
}

#[test]
fn script_defaults_and_timeout_follows_interval() {
    let c = ok("[vrrp_script s]\nscript = /bin/true\ninterval = 7\n").config;
    let s = &c.scripts[0];
    assert_eq!(
        (s.interval_s, s.timeout_s, s.weight, s.rise, s.fall),
        (7, 7, 0, 1, 1)
    );
    let c = ok("[vrrp_script s]\nscript = \"/bin/true -x\"\n").config;
    assert_eq!((c.scripts[0].interval_s, c.scripts[0].timeout_s), (1, 1));
    assert_eq!(c.scripts[0].script, "/bin/true -x");
}

#[test]
fn global_defs_give_instance_defaults_wherever_they_are() {
    let text = inst("advert_int = 0.25\n")
        + "[global_defs]\nvrrp_version = 3\nvrrp_garp_master_delay = 1\nvrrp_garp_master_repeat = 2\n\
           vrrp_garp_master_refresh = 60\nvrrp_garp_master_refresh_repeat = 3\n";
    let i = &ok(&text).config.instances[0];
    assert_eq!((i.version, i.advert_int_cs), (Version::V3, 25));
    assert_eq!(
        (
            i.garp_master_delay_s,
            i.garp_master_repeat,
            i.garp_master_refresh_s,
            i.garp_master_refresh_repeat
        ),
        (1, 2, 60, 3)
    );
    let i = &ok(&(text
        + "[vrrp_instance B]\ninterface = eth0\nvirtual_router_id = 2\n\
                  virtual_ipaddress = 192.0.2.9\nversion = 2\ngarp_master_delay = 0\n"))
    .config
    .instances[1];
    assert_eq!(
        (i.version, i.garp_master_delay_s, i.garp_master_repeat),
        (Version::V2, 0, 2)
    );
}

#[test]
fn every_instance_key_is_read() {
    let text = "[vrrp_script chk]\nscript = /bin/true\n\
                [vrrp_track_file tf]\nfile = /run/prio\nweight = -2\n"
        .to_string()
        + &inst(
            "state = master\npriority = 200\nadvert_int = 3\nunicast_src_ip = 192.0.2.10\n\
             unicast_peer = 192.0.2.11\nunicast_peer = 192.0.2.12\nunicast_ttl = 64\n\
             auth_type = PASS\nauth_pass = abc\ntrack_interface = eth1\n\
             track_interface = eth2 weight -10\ntrack_script = chk weight 10\n\
             track_file = tf weight 5\nnotify_master = /bin/true m\nnotify_backup = /bin/true b\n\
             notify_fault = /bin/true f\nnotify_stop = /bin/true s\nnotify = /bin/true n\n\
             use_vmac = yes\n",
        );
    let c = ok(&text).config;
    assert_eq!(
        c.track_files,
        vec![VrrpTrackFile {
            name: "tf".into(),
            file: "/run/prio".into(),
            weight: -2
        }]
    );
    let i = &c.instances[0];
    assert_eq!(i.initial_state, InitialState::Master);
    assert_eq!((i.priority, i.advert_int_cs), (200, 300));
    assert_eq!(i.unicast_src_ip, Some(ip("192.0.2.10")));
    assert_eq!(i.unicast_peers, vec![ip("192.0.2.11"), ip("192.0.2.12")]);
    assert_eq!(i.unicast_ttl, Some(64));
    assert_eq!(i.auth, Some(*b"abc\0\0\0\0\0"));
    assert_eq!(
        i.track_interfaces,
        vec![
            TrackInterface {
                name: "eth1".into(),
                weight: None
            },
            TrackInterface {
                name: "eth2".into(),
                weight: Some(-10)
            }
        ]
    );
    assert_eq!(i.track_scripts[0].weight, Some(10));
    assert_eq!(
        i.track_files,
        vec![TrackFileRef {
            name: "tf".into(),
            weight: Some(5)
        }]
    );
    assert_eq!(i.notify_master.as_deref(), Some("/bin/true m"));
    assert_eq!(i.notify_backup.as_deref(), Some("/bin/true b"));
    assert_eq!(i.notify_fault.as_deref(), Some("/bin/true f"));
    assert_eq!(i.notify_stop.as_deref(), Some("/bin/true s"));
    assert_eq!(i.notify.as_deref(), Some("/bin/true n"));
    assert!(i.use_vmac);
}

#[test]
fn v3_checksum_as_v2_and_nopreempt_flags() {
    let i = &ok(&inst("version = 3\nv3_checksum_as_v2 =\nnopreempt = yes\n"))
        .config
        .instances[0];
    assert!(i.v3_checksum_as_v2 && !i.preempt);
    let i = &ok(&inst("nopreempt =\n")).config.instances[0];
    assert!(!i.preempt);
    let i = &ok(&inst("nopreempt = false\n")).config.instances[0];
    assert!(i.preempt);
    let i = &ok(&inst("preempt_delay = 2.5\n")).config.instances[0];
    assert_eq!(i.preempt_delay_cs, 250);
}

// ---- errors: each with its exact line, key and kind ----

#[test]
fn unknown_section_and_key() {
    assert_eq!(
        one_err("[vrrp_server x]\n"),
        (
            1,
            String::new(),
            ErrorKind::UnknownSection {
                allowed: SECTION_TYPES
            }
        )
    );
    let unknown = |key: &str, keepalived, suggestion| ErrorKind::UnknownKey {
        key: key.into(),
        keepalived,
        suggestion,
    };
    assert_eq!(
        one_err(&inst("\nprio = 1\n")),
        (6, "prio".into(), unknown("prio", false, None))
    );
    assert_eq!(
        one_err(&inst("priorty = 1\n")),
        (
            5,
            "priorty".into(),
            unknown("priorty", false, Some("priority"))
        )
    );
    // A keepalived keyword tinyvrrp lacks says so, in one short line.
    let e = one_err(&inst("track_bfd = b1\n"));
    assert_eq!(e, (5, "track_bfd".into(), unknown("track_bfd", true, None)));
    assert_eq!(
        e.2.to_string(),
        "keepalived's track_bfd is not supported by tinyvrrp"
    );
    assert_eq!(
        one_err("[global_defs]\nvrrp_strict\n").2,
        unknown("vrrp_strict", true, None)
    );
    assert_eq!(
        one_err("[vrrp_script s]\nscript = /bin/true\ninit_fail\n").2,
        unknown("init_fail", true, None)
    );
    assert_eq!(
        unknown("prio", false, None).to_string(),
        "unknown key (see the README's Configuration reference)"
    );
}

#[test]
fn section_names() {
    assert_eq!(
        one_err("[vrrp_instance]\n"),
        (1, String::new(), ErrorKind::MissingSectionName)
    );
    assert!(matches!(
        one_err("[global_defs x]\n").2,
        ErrorKind::BadSectionName { .. }
    ));
    assert!(matches!(
        one_err("[vrrp_script a b]\n").2,
        ErrorKind::BadSectionName { .. }
    ));
}

#[test]
fn missing_required_keys_are_all_reported_at_the_header() {
    let e = errs("\n[vrrp_instance VI_1]\nstate = BACKUP\n");
    assert_eq!(
        e,
        vec![
            (2, "interface".into(), ErrorKind::Missing),
            (2, "virtual_router_id".into(), ErrorKind::Missing),
        ]
    );
    // virtual_ipaddress is optional with VRRPv2 (a warning), required with v3.
    assert_eq!(
        one_err(
            "[vrrp_instance V]
interface = eth0
virtual_router_id = 1
version = 3
"
        ),
        (1, "virtual_ipaddress".into(), ErrorKind::NoVipsWithV3)
    );
    assert_eq!(
        one_err("[vrrp_script s]\ninterval = 1\n"),
        (1, "script".into(), ErrorKind::Missing)
    );
    assert_eq!(
        one_err("[vrrp_track_file t]\n"),
        (1, "file".into(), ErrorKind::Missing)
    );
    assert_eq!(
        one_err(&(inst("") + "[vrrp_sync_group G]\n")),
        (5, "group".into(), ErrorKind::Missing)
    );
}

#[test]
fn vrid_and_priority_ranges() {
    let base = "[vrrp_instance VI_1]\ninterface = eth0\nvirtual_ipaddress = 192.0.2.1\n";
    for bad in ["0", "256"] {
        assert_eq!(
            one_err(&format!("{base}virtual_router_id = {bad}\n")),
            (4, "virtual_router_id".into(), range_err(bad, "1..=255"))
        );
    }
    assert!(matches!(
        one_err(&format!("{base}virtual_router_id = x1\n")).2,
        ErrorKind::BadValue { .. }
    ));
    for bad in ["0", "256", "-1"] {
        assert_eq!(
            one_err(&inst(&format!("priority = {bad}\n"))),
            (5, "priority".into(), range_err(bad, "1..=255"))
        );
    }
}

#[test]
fn advert_int_depends_on_version_given_anywhere() {
    assert_eq!(
        one_err(&inst("advert_int = 0.5\n")),
        (
            5,
            "advert_int".into(),
            ErrorKind::AdvertIntNotWholeSeconds {
                value: "0.5".into()
            }
        )
    );
    assert_eq!(
        one_err(&inst("advert_int = 256\n")),
        (
            5,
            "advert_int".into(),
            range_err("256", "1..=255 seconds with version 2")
        )
    );
    assert_eq!(
        one_err(&inst("advert_int = 41\nversion = 3\n")),
        (
            5,
            "advert_int".into(),
            range_err("41", "0.01..=40.95 seconds with version 3")
        )
    );
    assert_eq!(
        one_err(&inst("advert_int = 0\nversion = 3\n")),
        (
            5,
            "advert_int".into(),
            range_err("0", "0.01..=40.95 seconds with version 3")
        )
    );
    assert!(matches!(
        one_err(&inst("advert_int = 0.001\nversion = 3\n")).2,
        ErrorKind::BadValue { .. }
    ));
    assert_eq!(
        ok(&inst("advert_int = 2 # two\n")).config.instances[0].advert_int_cs,
        200
    );
    assert_eq!(
        ok(&inst("advert_int = 40.95\nversion = 3\n"))
            .config
            .instances[0]
            .advert_int_cs,
        4095
    );
    assert_eq!(
        ok(&inst("advert_int = 255\n")).config.instances[0].advert_int_cs,
        25500
    );
}

#[test]
fn bad_addresses_and_prefixes() {
    let base = "[vrrp_instance VI_1]\ninterface = eth0\nvirtual_router_id = 1\nversion = 3\n";
    assert!(matches!(
        one_err(&format!("{base}virtual_ipaddress = 192.0.2.256\n")),
        (5, k, ErrorKind::BadValue { .. }) if k == "virtual_ipaddress"
    ));
    assert_eq!(
        one_err(&format!("{base}virtual_ipaddress = 192.0.2.1/33\n")),
        (
            5,
            "virtual_ipaddress".into(),
            range_err("33", "prefix 0..=32 for IPv4")
        )
    );
    assert_eq!(
        one_err(&format!("{base}virtual_ipaddress = 2001:db8::1/129\n")),
        (
            5,
            "virtual_ipaddress".into(),
            range_err("129", "prefix 0..=128 for IPv6")
        )
    );
    assert!(matches!(
        one_err(&inst("unicast_peer = 192.0.2.x\n")),
        (5, k, ErrorKind::BadValue { .. }) if k == "unicast_peer"
    ));
}

#[test]
fn family_mismatches() {
    let mismatch = ErrorKind::FamilyMismatch {
        expected: Family::V4,
        found: Family::V6,
    };
    let mixed = ErrorKind::MixedFamilyVips {
        expected: Family::V4,
        found: Family::V6,
    };
    assert_eq!(
        one_err(&inst("version = 3\nvirtual_ipaddress = 2001:db8::1\n")),
        (6, "virtual_ipaddress".into(), mixed.clone())
    );
    let text = mixed.to_string();
    assert!(
        text.contains("same virtual_router_id") && text.contains("tinyvrrp import"),
        "{text}"
    );
    assert_eq!(
        one_err(&inst("unicast_src_ip = 2001:db8::2\n")),
        (5, "unicast_src_ip".into(), mismatch.clone())
    );
    assert_eq!(
        one_err(&inst(
            "unicast_peer = 192.0.2.3\nunicast_peer = 2001:db8::3\n"
        )),
        (6, "unicast_peer".into(), mismatch)
    );
}

#[test]
fn ipv6_needs_version_3() {
    assert_eq!(
        one_err("[vrrp_instance V]\ninterface = eth0\nvirtual_router_id = 1\nvirtual_ipaddress = 2001:db8::1\n"),
        (4, "virtual_ipaddress".into(), ErrorKind::V2RequiresIpv4)
    );
}

#[test]
fn duplicate_vrid_per_interface_and_family() {
    let a = "[vrrp_instance A]\ninterface = eth0\nvirtual_router_id = 7\nversion = 3\nvirtual_ipaddress = 192.0.2.1\n";
    let same = "[vrrp_instance B]\ninterface = eth0\nvirtual_router_id = 7\nversion = 3\nvirtual_ipaddress = 192.0.2.2\n";
    assert_eq!(
        one_err(&format!("{a}{same}")),
        (
            8,
            "virtual_router_id".into(),
            ErrorKind::DuplicateVrid {
                vrid: 7,
                interface: "eth0".into(),
                other_instance: "A".into(),
                other_line: 3
            }
        )
    );
    let v6 = "[vrrp_instance B]\ninterface = eth0\nvirtual_router_id = 7\nversion = 3\nvirtual_ipaddress = 2001:db8::2\n";
    assert_eq!(ok(&format!("{a}{v6}")).config.instances.len(), 2);
    let other_if = same.replace("eth0", "eth1");
    assert_eq!(ok(&format!("{a}{other_if}")).config.instances.len(), 2);
}

#[test]
fn references_to_undefined_names() {
    assert_eq!(
        one_err(&inst("track_script = chk_dns weight 2\n")),
        (
            5,
            "track_script".into(),
            ErrorKind::UnknownScript {
                name: "chk_dns".into()
            }
        )
    );
    assert_eq!(
        one_err(&inst("track_file = tf\n")),
        (
            5,
            "track_file".into(),
            ErrorKind::UnknownTrackFile { name: "tf".into() }
        )
    );
    assert_eq!(
        one_err(&(inst("") + "[vrrp_sync_group G]\ngroup = VI_1\ngroup = VI_9\n")),
        (
            7,
            "group".into(),
            ErrorKind::UnknownInstance {
                name: "VI_9".into()
            }
        )
    );
}

#[test]
fn instance_in_two_sync_groups() {
    let text = inst("")
        + "[vrrp_instance VI_2]\ninterface = eth0\nvirtual_router_id = 52\nvirtual_ipaddress = 192.0.2.2\n\
           [vrrp_sync_group G1]\ngroup = VI_1\ngroup = VI_2\n\
           [vrrp_sync_group G2]\ngroup = VI_2\ngroup = VI_1\n";
    assert_eq!(
        errs(&text),
        vec![
            (
                13,
                "group".into(),
                ErrorKind::InstanceInTwoGroups {
                    instance: "VI_2".into(),
                    other_group: "G1".into()
                }
            ),
            (
                14,
                "group".into(),
                ErrorKind::InstanceInTwoGroups {
                    instance: "VI_1".into(),
                    other_group: "G1".into()
                }
            ),
        ]
    );
}

#[test]
fn authentication_rules() {
    let v3 = inst("version = 3\nauth_type = PASS\nauth_pass = x\n");
    assert_eq!(
        warnings(&v3),
        vec![(6, "auth_type".into(), WarningKind::AuthIgnoredWithV3)]
    );
    assert_eq!(ok(&v3).config.instances[0].auth, None);
    assert_eq!(
        one_err(&inst("auth_type = AH\nauth_pass = x\n")),
        (5, "auth_type".into(), ErrorKind::AuthAhUnsupported)
    );
    // The message says why (RFC 3768, keepalived's own AH) and what to use instead.
    let ah = ErrorKind::AuthAhUnsupported.to_string();
    assert!(
        ah.contains("RFC 3768") && ah.contains("non-standard"),
        "{ah}"
    );
    assert!(
        ah.contains("auth_type = PASS") && ah.contains("version 3"),
        "{ah}"
    );
    assert_eq!(
        one_err(&inst("auth_pass = x\n")),
        (5, "auth_pass".into(), ErrorKind::AuthPassWithoutType)
    );
    assert_eq!(
        one_err(&inst("auth_type = PASS\n")),
        (1, "auth_pass".into(), ErrorKind::Missing)
    );
    assert!(matches!(
        one_err(&inst("auth_type = MD5\nauth_pass = x\n")).2,
        ErrorKind::BadValue { .. }
    ));
}

#[test]
fn weight_ranges() {
    assert_eq!(
        one_err("[vrrp_script s]\nscript = /bin/true\nweight = 254\n"),
        (3, "weight".into(), range_err("254", "-253..=253"))
    );
    let with_script = "[vrrp_script s]\nscript = /bin/true\n".to_string();
    assert_eq!(
        one_err(&(with_script.clone() + &inst("track_script = s weight -254\n"))),
        (7, "track_script".into(), range_err("-254", "-253..=253"))
    );
    assert_eq!(
        one_err(&inst("track_interface = eth1 weight 300\n")),
        (5, "track_interface".into(), range_err("300", "-253..=253"))
    );
    assert!(matches!(
        one_err(&(with_script + &inst("track_script = s weight 2 reverse\n"))).2,
        ErrorKind::BadValue { .. }
    ));
}

#[test]
fn script_commands_as_keepalived_runs_them() {
    // A bare name is looked up in PATH, as keepalived does, and said so.
    let text = "[vrrp_script s]\nscript = sh -c 'pidof dnsmasq || exit 1'\n";
    let w = warnings(text);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        matches!(&w[0].2, WarningKind::ScriptFoundInPath { word, path } if word == "sh" && path.ends_with("/sh")),
        "{w:?}"
    );
    // keepalived runs no shell: `||` would be an argument of pidof.
    let w = warnings("[vrrp_script s]\nscript = /bin/pidof dnsmasq || exit 1\n");
    assert_eq!(
        w.first().map(|w| w.2.clone()),
        Some(WarningKind::ShellSyntaxAsArgument { word: "||".into() }),
        "{w:?}"
    );
    // A relative path or a line that does not split into words can run nowhere: errors.
    assert_eq!(
        one_err("[vrrp_script s]\nscript = bin/check x\n"),
        (
            2,
            "script".into(),
            ErrorKind::ScriptNotAbsolute {
                path: "bin/check".into()
            }
        )
    );
    assert!(matches!(
        one_err("[vrrp_script s]\nscript = /bin/true \"open\n").2,
        ErrorKind::Syntax(SyntaxError::UnterminatedQuote)
    ));
    // Missing or not executable here: a warning, it may exist on the target.
    assert_eq!(
        warnings("[vrrp_script s]\n\nscript = /nonexistent/tinyvrrp-check x\n"),
        vec![(
            3,
            "script".into(),
            WarningKind::TrackScriptUnusable {
                detail: ErrorKind::ScriptNotFound {
                    path: "/nonexistent/tinyvrrp-check".into()
                }
            }
        )]
    );
    let path = std::env::temp_dir().join(format!("tinyvrrp-config-test-{}", std::process::id()));
    std::fs::write(&path, "#!/bin/sh\n").unwrap();
    let text = format!("[vrrp_script s]\nscript = {}\n", path.display());
    let result = warnings(&text);
    let _ = std::fs::remove_file(&path);
    assert_eq!(
        result,
        vec![(
            2,
            "script".into(),
            WarningKind::TrackScriptUnusable {
                detail: ErrorKind::ScriptNotExecutable {
                    path: path.display().to_string()
                }
            }
        )]
    );
    let w = WarningKind::TrackScriptUnusable {
        detail: ErrorKind::ScriptNotFound {
            path: "chk_haproxy".into(),
        },
    };
    assert_eq!(
        w.to_string(),
        "chk_haproxy is not found in PATH; if so on the target, the check counts as failing"
    );
}

#[test]
fn duplicate_sections_keys_and_values() {
    let text = inst("") + "[vrrp_instance VI_1]\ninterface = eth1\n";
    assert_eq!(
        one_err(&text),
        (
            5,
            String::new(),
            ErrorKind::DuplicateSection { first_line: 1 }
        )
    );
    assert_eq!(
        one_err("[global_defs]\n[global_defs]\n"),
        (
            2,
            String::new(),
            ErrorKind::DuplicateSection { first_line: 1 }
        )
    );
    assert_eq!(
        one_err(&inst("priority = 1\npriority = 2\n")),
        (
            6,
            "priority".into(),
            ErrorKind::DuplicateKey { first_line: 5 }
        )
    );
    assert_eq!(
        one_err(&inst(
            "unicast_peer = 192.0.2.3\nunicast_peer = 192.0.2.3/24\n"
        )),
        (
            6,
            "unicast_peer".into(),
            ErrorKind::DuplicateValue { first_line: 5 }
        )
    );
}

#[test]
fn syntax_errors_come_with_lines() {
    assert_eq!(
        one_err("router_id = x\n[global_defs]\n"),
        (
            1,
            "router_id".into(),
            ErrorKind::Syntax(SyntaxError::KeyOutsideSection)
        )
    );
    // A lone word is read as a flag, so a misspelt one is an unknown key, named.
    assert_eq!(
        one_err(&inst("nopremept\n")),
        (
            5,
            "nopremept".into(),
            ErrorKind::UnknownKey {
                key: "nopremept".into(),
                keepalived: false,
                suggestion: Some("nopreempt")
            }
        )
    );
    assert_eq!(
        one_err(&inst("no-preempt\n")),
        (
            5,
            String::new(),
            ErrorKind::Syntax(SyntaxError::NoSeparator)
        )
    );
    // keepalived's `key value`: the key is named, and its absence is not reported again.
    let e = one_err("[vrrp_instance VI_1]\ninterface eth0\nvirtual_router_id = 51\nvirtual_ipaddress = 192.0.2.1\n");
    assert_eq!(
        (e.0, e.1.as_str(), e.2),
        (
            2,
            "interface",
            ErrorKind::Syntax(SyntaxError::MissingEquals)
        )
    );
    let err = parse_str(&inst("smtp_alert {\n"), "k.conf").unwrap_err();
    assert_eq!(
        err.to_string(),
        "k.conf:5: [vrrp_instance VI_1] smtp_alert: keepalived's `{ }` block (allowed: a [section] \
         header and one `key = value` per line; `tinyvrrp import` converts keepalived.conf)"
    );
}

/// Syntax errors and the errors of the lines that could be read come in one run, in line
/// order.
#[test]
fn syntax_and_semantic_errors_come_together() {
    let text = inst("priority = 300\nbad line here\n[vrrp_script s\nscript = ./x\n[global_defs]\nvrrp_version = 4\n");
    let got: Vec<(usize, String)> = errs(&text).into_iter().map(|(l, k, _)| (l, k)).collect();
    let want: Vec<(usize, String)> = [(5, "priority"), (6, "bad"), (7, ""), (10, "vrrp_version")]
        .iter()
        .map(|(l, k)| (*l, k.to_string()))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn inline_comments_never_change_a_value() {
    let text = inst(
        "auth_type = PASS ! keepalived's mark\nauth_pass = 1111 # note\npriority = 150 ; high\n\
         ! a keepalived comment\n    # indented\nnotify = \"/bin/echo a # b\"\n",
    );
    let loaded = ok(&text);
    let i = &loaded.config.instances[0];
    assert_eq!(i.auth, Some(*b"1111\0\0\0\0"));
    assert_eq!(i.priority, 150);
    assert_eq!(i.notify.as_deref(), Some("/bin/echo a # b"));
    assert_eq!(loaded.warnings, vec![]);
    // keepalived would cut at a `#` inside a word; kept here, with a warning.
    let w = warnings(&inst("auth_type = PASS\nauth_pass = ab#cd\n"));
    assert_eq!(
        w,
        vec![(
            6,
            "auth_pass".into(),
            WarningKind::CommentMarkInValue { mark: '#' }
        )]
    );
    assert_eq!(
        ok(&inst("auth_type = PASS\nauth_pass = \"ab#cd\"\n")).warnings,
        vec![]
    );
}

#[test]
fn keepalived_keys_without_effect_warn_once_each() {
    let text =
        "[global_defs]\nnotification_email = a@example.org\nnotification_email = b@example.org\n\
                notification_email_from = k@example.org\nsmtp_server = 192.0.2.25\n\
                smtp_connect_timeout = 30\nenable_traps\nlvs_sync_daemon = eth0 VI_1\n\
                dynamic_interfaces\n"
            .to_string()
            + &inst("smtp_alert\ndebug = 2\n").replace("[vrrp", "\n[vrrp");
    let w = warnings(&text);
    let keys: Vec<(usize, &str)> = w.iter().map(|(l, k, _)| (*l, k.as_str())).collect();
    assert_eq!(
        keys,
        vec![
            (2, "notification_email"),
            (3, "notification_email"),
            (4, "notification_email_from"),
            (5, "smtp_server"),
            (6, "smtp_connect_timeout"),
            (7, "enable_traps"),
            (8, "lvs_sync_daemon"),
            (9, "dynamic_interfaces"),
            (15, "smtp_alert"),
            (16, "debug"),
        ]
    );
    assert_eq!(
        w[0].2,
        WarningKind::NoEffect {
            key: "notification_email".into()
        }
    );
    assert_eq!(
        w[0].2.to_string(),
        "keepalived's notification_email has no effect on VRRP; ignored"
    );
    let group = inst("")
        + "[vrrp_instance VI_2]\ninterface = eth0\nvirtual_router_id = 52\n\
                 virtual_ipaddress = 192.0.2.2\n[vrrp_sync_group G]\ngroup = VI_1\ngroup = VI_2\n\
                 smtp_alert = yes\n";
    assert_eq!(warnings(&group).len(), 1);
}

#[test]
fn unknown_state_is_backup_with_a_warning() {
    let text = inst("state = SLAVE\n");
    assert_eq!(
        warnings(&text),
        vec![(
            5,
            "state".into(),
            WarningKind::UnknownStateIsBackup {
                value: "SLAVE".into()
            }
        )]
    );
    assert_eq!(
        ok(&text).config.instances[0].initial_state,
        InitialState::Backup
    );
}

#[test]
fn default_interface_serves_instances_without_one() {
    let text = "[global_defs]\ndefault_interface = br-lan\n[vrrp_instance VI_1]\n\
                virtual_router_id = 51\nvirtual_ipaddress = 192.0.2.1/24\n\
                [vrrp_instance VI_2]\ninterface = eth1\nvirtual_router_id = 52\n\
                virtual_ipaddress = 192.0.2.2/24\n";
    let c = ok(text).config;
    assert_eq!(c.global.default_interface.as_deref(), Some("br-lan"));
    assert_eq!(c.instances[0].interface, "br-lan");
    assert_eq!(c.instances[1].interface, "eth1");
    // Without it, interface stays required.
    assert_eq!(
        one_err("[vrrp_instance VI_1]\nvirtual_router_id = 51\nvirtual_ipaddress = 192.0.2.1\n"),
        (1, "interface".into(), ErrorKind::Missing)
    );
    assert!(matches!(
        one_err("[global_defs]\ndefault_interface = a/b\n").2,
        ErrorKind::BadValue { .. }
    ));
}

#[test]
fn bare_keepalived_flags_are_accepted_and_keep_line_numbers() {
    let text = inst("nopreempt\r\nuse_vmac\npriority = 300\n");
    let errors = parse_str(&text, "t.conf").expect_err("priority 300 must fail");
    assert_eq!(errors.0.len(), 1);
    assert_eq!(
        (errors.0[0].line, errors.0[0].key.as_str()),
        (7, "priority")
    );
    let loaded = parse_str(&inst("nopreempt\n"), "t.conf").expect("bare nopreempt parses");
    assert!(!loaded.config.instances[0].preempt);
}

#[test]
fn all_errors_are_reported_together_in_line_order() {
    let text = "[vrrp_script s]\nscript = ./relative\n\
                [vrrp_instance VI_1]\ninterface = eth0\nvirtual_router_id = 300\n\
                priority = 0\nvirtual_ipaddress = 192.0.2.1\nfoo = bar\ntrack_script = nope\n";
    let e = errs(text);
    let got: Vec<(usize, &str)> = e.iter().map(|(l, k, _)| (*l, k.as_str())).collect();
    assert_eq!(
        got,
        vec![
            (2, "script"),
            (5, "virtual_router_id"),
            (6, "priority"),
            (8, "foo"),
            (9, "track_script")
        ]
    );
}

#[test]
fn display_names_file_line_section_key_and_allowed() {
    let err = parse_str(&inst("priority = 0\nversion = 4\n"), "/etc/tinyvrrp.conf").unwrap_err();
    assert_eq!(
        err.to_string(),
        "/etc/tinyvrrp.conf:5: [vrrp_instance VI_1] priority: \"0\" is out of range (allowed: 1..=255)\n\
         /etc/tinyvrrp.conf:6: [vrrp_instance VI_1] version: bad value \"4\" (allowed: 2, 3)"
    );
    let err = parse_str("[foo]\n", "f").unwrap_err();
    assert!(err
        .to_string()
        .starts_with("f:1: [foo] unknown section (allowed: global_defs, "));
}

// ---- warnings ----

fn warnings(text: &str) -> Vec<(usize, String, WarningKind)> {
    ok(text)
        .warnings
        .into_iter()
        .map(|w| (w.line, w.key, w.message))
        .collect()
}

#[test]
fn nopreempt_traps_warn_and_behave_like_keepalived() {
    let text = inst("state = MASTER\nnopreempt =\n");
    assert_eq!(
        warnings(&text),
        vec![(6, "nopreempt".into(), WarningKind::NopreemptWithMaster)]
    );
    assert!(ok(&text).config.instances[0].preempt);

    let text = inst("priority = 255\nnopreempt = yes\n");
    assert_eq!(
        warnings(&text),
        vec![(6, "nopreempt".into(), WarningKind::NopreemptWithOwner)]
    );
    assert!(ok(&text).config.instances[0].preempt);

    let text = inst("nopreempt = 1\npreempt_delay = 30\n");
    assert_eq!(
        warnings(&text),
        vec![(
            6,
            "preempt_delay".into(),
            WarningKind::PreemptDelayWithNopreempt
        )]
    );
    let i = &ok(&text).config.instances[0];
    assert_eq!((i.preempt, i.preempt_delay_cs), (false, 0));

    let text = inst("state = MASTER\npreempt_delay = 30\n");
    assert_eq!(
        warnings(&text),
        vec![(
            6,
            "preempt_delay".into(),
            WarningKind::PreemptDelayWithMaster
        )]
    );
}

#[test]
fn other_warnings() {
    let text = inst("auth_type = PASS\nauth_pass = 0123456789\n");
    assert_eq!(
        warnings(&text),
        vec![(
            6,
            "auth_pass".into(),
            WarningKind::AuthPassTruncated { length: 10 }
        )]
    );
    assert_eq!(ok(&text).config.instances[0].auth, Some(*b"01234567"));

    let text = inst("notify_master = /nonexistent/notify.sh\n");
    let w = warnings(&text);
    assert_eq!(w.len(), 1);
    assert_eq!((w[0].0, w[0].1.as_str()), (5, "notify_master"));
    assert!(matches!(
        &w[0].2,
        WarningKind::NotifyScriptUnusable {
            detail: ErrorKind::ScriptNotFound { .. }
        }
    ));

    let text = inst("") + "[vrrp_sync_group G]\ngroup = VI_1\n";
    assert_eq!(
        warnings(&text),
        vec![(6, "group".into(), WarningKind::SyncGroupSingleInstance)]
    );

    assert_eq!(
        warnings(&inst("v3_checksum_as_v2 = yes\n")),
        vec![(
            5,
            "v3_checksum_as_v2".into(),
            WarningKind::ChecksumAsV2Ignored
        )]
    );

    let v6 = "[vrrp_instance V]\ninterface = eth0\nvirtual_router_id = 1\nversion = 3\n\
              virtual_ipaddress = 2001:db8::1\nvirtual_ipaddress = fe80::1\n";
    assert_eq!(
        warnings(v6),
        vec![(
            5,
            "virtual_ipaddress".into(),
            WarningKind::FirstIpv6VipNotLinkLocal
        )]
    );
    assert_eq!(
        warnings(&format!("{v6}unicast_peer = 2001:db8::2\n")),
        vec![]
    );
    assert_eq!(warnings(&v6.replace("2001:db8::1", "fe80::2")), vec![]);

    let w = ok(&inst("state = MASTER\nnopreempt =\n")).warnings;
    assert_eq!(
        w[0].to_string(),
        format!(
            "t.conf:6: [vrrp_instance VI_1] nopreempt: warning: {}",
            WarningKind::NopreemptWithMaster
        )
    );
}

// ---- files ----

#[test]
fn example_file_loads() {
    let loaded = match load(&data("example.conf")) {
        Ok(l) => l,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(loaded.warnings, vec![]);
    let c = loaded.config;
    assert_eq!(c.instances.len(), 2);
    assert_eq!(c.sync_groups.len(), 1);
    assert!(!c.scripts.is_empty() && !c.track_files.is_empty());
}

fn lines_and_keys(name: &str) -> Vec<(usize, String)> {
    let e = load(&data(name)).unwrap_err();
    assert!(e.0.iter().all(|x| x.file.ends_with(name)), "{e}");
    e.0.into_iter().map(|x| (x.line, x.key)).collect()
}

#[test]
fn broken_files_report_every_error() {
    let expect = |v: &[(usize, &str)]| -> Vec<(usize, String)> {
        v.iter().map(|(l, k)| (*l, k.to_string())).collect()
    };
    assert_eq!(
        lines_and_keys("bad-instance.conf"),
        expect(&[
            (4, "virtual_router_id"),
            (5, "priority"),
            (6, "advert_int"),
            (7, "virtual_ipaddress"),
            (8, "virtual_ipaddress"),
            (9, "unicast_peer"),
            (10, "preempt"),
            (11, "auth_type"),
        ])
    );
    assert_eq!(
        lines_and_keys("bad-syntax.conf"),
        expect(&[
            (1, "router_id"),
            // The lines that can be read are checked too: no virtual_router_id.
            (3, "virtual_router_id"),
            (4, "interface"),
            (6, "virtual_ipaddress"),
            (7, "track_script"),
            (8, "")
        ])
    );
    assert_eq!(
        lines_and_keys("bad-references.conf"),
        expect(&[
            (5, "track_script"),
            (6, "track_file"),
            (10, "virtual_router_id"),
            (15, "group")
        ])
    );
}

#[test]
fn unreadable_file_names_the_file() {
    let e = load(std::path::Path::new("/nonexistent/tinyvrrp.conf")).unwrap_err();
    assert_eq!(e.0.len(), 1);
    assert_eq!(e.0[0].file, "/nonexistent/tinyvrrp.conf");
    assert!(matches!(
        e.0[0].kind,
        ErrorKind::Io {
            kind: std::io::ErrorKind::NotFound,
            ..
        }
    ));
    assert!(e
        .to_string()
        .starts_with("/nonexistent/tinyvrrp.conf:0: cannot read the file"));
}

/// Random mixes of valid and invalid instance lines: always a result (no panic), and an
/// accepted config always satisfies the documented ranges.
#[test]
fn generated_configs_never_panic_and_accepted_ones_are_in_range() {
    const LINES: &[&str] = &[
        "priority = 255",
        "priority = 0",
        "priority = 99999999999999999999",
        "state = MASTER",
        "nopreempt =",
        "nopreempt = no",
        "preempt_delay = 1000.01",
        "preempt_delay = 0.5",
        "advert_int = 0.01",
        "advert_int = 40.95",
        "advert_int = 255",
        "advert_int = 1.",
        "version = 3",
        "version = 4",
        "virtual_ipaddress = 2001:db8::1/0",
        "virtual_ipaddress = 192.0.2.7/0 dev eth9 label eth9:x",
        "virtual_ipaddress = /",
        "virtual_ipaddress = 192.0.2.8 label",
        "unicast_peer = ::",
        "unicast_ttl = 0",
        "auth_type = PASS",
        "auth_pass = \u{e9}\u{e9}\u{e9}\u{e9}\u{e9}",
        "track_interface = eth0 weight",
        "track_interface = a/b",
        "track_script = s weight -253",
        "garp_master_repeat = 0",
        "interface = 0123456789abcdef",
        "virtual_router_id = 255",
        "use_vmac = a/b",
        "use_vmac = vrrp_lan",
        "mcast_src_ip = 192.0.2.9/24",
        "dont_track_primary",
        "no_accept",
        "accept",
    ];
    let mut seed: u64 = 42;
    let mut next = |n: usize| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        usize::try_from(seed >> 33).unwrap_or(0) % n
    };
    let mut accepted = 0;
    for _ in 0..2000 {
        let mut text = "[vrrp_script s]\nscript = /bin/true\n".to_string();
        let mut extra = String::new();
        for _ in 0..next(6) {
            extra.push_str(LINES[next(LINES.len())]);
            extra.push('\n');
        }
        text.push_str(&inst(&extra));
        if let Ok(loaded) = parse_str(&text, "gen.conf") {
            accepted += 1;
            let i = &loaded.config.instances[0];
            assert!(i.priority >= 1 && i.vrid >= 1, "{text}");
            match i.version {
                Version::V2 => {
                    assert!(i.advert_int_cs % 100 == 0 && (100..=25500).contains(&i.advert_int_cs))
                }
                Version::V3 => assert!((1..=4095).contains(&i.advert_int_cs)),
            }
            assert!(i.preempt_delay_cs <= 100_000);
            assert!(i
                .vips
                .iter()
                .all(|v| crate::config::values::family_of(&v.addr) == i.family));
            if !i.preempt {
                assert!(
                    i.initial_state == InitialState::Backup && i.priority < 255,
                    "{text}"
                );
            }
        }
    }
    assert!(
        accepted > 100,
        "too few valid configs generated: {accepted}"
    );
}

#[test]
fn track_process_sections_and_references() {
    let text = "[vrrp_track_process dns]\nprocess = dnsmasq\nquorum = 2\nquorum_max = 3\n\
                weight = -30\ndelay = 1.5\nterminate_delay = 3\n\n\
                [vrrp_track_process web]\nprocess = /usr/sbin/nginx -c /etc/nginx\n\
                param_match = initial\n\n"
        .to_string()
        + &inst("track_process = dns weight -40\ntrack_process = web\n");
    let c = ok(&text).config;
    let dns = &c.track_processes[0];
    assert_eq!(dns.matcher.process, "dnsmasq");
    assert_eq!(dns.matcher.params, None);
    assert_eq!((dns.quorum, dns.quorum_max, dns.weight), (2, Some(3), -30));
    assert_eq!((dns.fork_delay_cs, dns.terminate_delay_cs), (150, 300));
    let web = &c.track_processes[1];
    assert_eq!(web.matcher.process, "/usr/sbin/nginx");
    assert_eq!(
        web.matcher.params,
        Some(vec!["-c".to_string(), "/etc/nginx".to_string()])
    );
    assert_eq!(web.matcher.param_match, ParamMatch::Initial);
    assert_eq!((web.quorum, web.quorum_max, web.weight), (1, None, 0));
    assert_eq!(
        c.instances[0].track_processes,
        vec![
            TrackRef {
                name: "dns".into(),
                weight: Some(-40)
            },
            TrackRef {
                name: "web".into(),
                weight: None
            }
        ]
    );
    // param_match alone means "no parameters at all".
    let bare = ok(
        &("[vrrp_track_process p]\nprocess = x\nparam_match = partial\n\n".to_string() + &inst("")),
    )
    .config;
    assert_eq!(bare.track_processes[0].matcher.params, Some(vec![]));
    assert_eq!(
        one_err(&inst("track_process = nope\n")),
        (
            5,
            "track_process".into(),
            ErrorKind::UnknownTrackProcess {
                name: "nope".into()
            }
        )
    );
    let e =
        errs(&("[vrrp_track_process p]\nquorum = 3\nquorum_max = 2\n\n".to_string() + &inst("")));
    let keys: Vec<&str> = e.iter().map(|x| x.1.as_str()).collect();
    assert!(keys.contains(&"process"), "{e:?}");
    assert!(keys.contains(&"quorum_max"), "{e:?}");
}

#[test]
fn source_and_peer_addresses_drop_a_prefix_as_keepalived() {
    let c = ok(&inst(
        "unicast_src_ip = 192.0.2.10/24\nunicast_peer = 192.0.2.11/24\nunicast_peer = 192.0.2.12\n",
    ))
    .config;
    let i = &c.instances[0];
    assert_eq!(i.unicast_src_ip, Some(ip("192.0.2.10")));
    assert_eq!(i.unicast_peers, vec![ip("192.0.2.11"), ip("192.0.2.12")]);
    assert_eq!(
        one_err(&inst("unicast_src_ip = 192.0.2.10/33\n")),
        (
            5,
            "unicast_src_ip".into(),
            range_err("33", "prefix 0..=32 for IPv4")
        )
    );
    assert!(matches!(
        one_err(&inst("unicast_peer = 192.0.2.11/x\n")).2,
        ErrorKind::BadValue { .. }
    ));
    assert!(matches!(
        one_err(&inst("unicast_peer = /24\n")).2,
        ErrorKind::BadValue { .. }
    ));
}

#[test]
fn mcast_src_ip_is_the_source_address_like_unicast_src_ip() {
    let i = &ok(&inst("mcast_src_ip = 192.0.2.20/24\n")).config.instances[0];
    assert_eq!(i.unicast_src_ip, Some(ip("192.0.2.20")));
    assert!(i.unicast_peers.is_empty());
    // Both may be given when they agree (one setting in keepalived).
    let both = inst("mcast_src_ip = 192.0.2.20\nunicast_src_ip = 192.0.2.20/24\n");
    assert_eq!(
        ok(&both).config.instances[0].unicast_src_ip,
        Some(ip("192.0.2.20"))
    );
    assert_eq!(
        one_err(&inst(
            "unicast_src_ip = 192.0.2.20\nmcast_src_ip = 192.0.2.21\n"
        )),
        (
            6,
            "mcast_src_ip".into(),
            ErrorKind::Conflicts {
                other_key: "unicast_src_ip",
                other_line: 5
            }
        )
    );
    assert_eq!(
        one_err(&inst("mcast_src_ip = 2001:db8::2\n")),
        (
            5,
            "mcast_src_ip".into(),
            ErrorKind::FamilyMismatch {
                expected: Family::V4,
                found: Family::V6
            }
        )
    );
}

#[test]
fn an_instance_without_vips_is_a_warning_with_v2() {
    let text = "[vrrp_instance VI_1]\ninterface = eth0\nvirtual_router_id = 51\n\
                notify_master = /bin/true\n";
    let loaded = ok(text);
    assert!(loaded.config.instances[0].vips.is_empty());
    assert_eq!(loaded.config.instances[0].family, Family::V4);
    assert_eq!(
        warnings(text),
        vec![(
            1,
            "virtual_ipaddress".into(),
            WarningKind::NoVirtualIpaddress
        )]
    );
    // v2 is IPv4 only: an IPv6 source cannot make a VIP-less instance IPv6.
    let v6 = "[vrrp_instance VI_1]\ninterface = eth0\nvirtual_router_id = 51\n\
              unicast_src_ip = 2001:db8::1\n";
    assert!(matches!(
        one_err(v6),
        (4, _, ErrorKind::FamilyMismatch { .. })
    ));
}

#[test]
fn a_duplicate_vip_is_ignored_with_a_warning() {
    let text = inst("virtual_ipaddress = 192.0.2.2\nvirtual_ipaddress = 192.0.2.1/32\n");
    let loaded = ok(&text);
    let addrs: Vec<IpAddr> = loaded.config.instances[0]
        .vips
        .iter()
        .map(|v| v.addr)
        .collect();
    assert_eq!(addrs, vec![ip("192.0.2.1"), ip("192.0.2.2")]);
    // The first one's prefix is kept, as keepalived keeps the first entry.
    assert_eq!(loaded.config.instances[0].vips[0].prefix_len, 24);
    assert_eq!(
        warnings(&text),
        vec![(
            6,
            "virtual_ipaddress".into(),
            WarningKind::DuplicateVip { first_line: 4 }
        )]
    );
}

#[test]
fn accept_modes_follow_keepalived_without_a_firewall() {
    // accept: keepalived's default without vrrp_strict; nothing to say.
    assert_eq!(ok(&inst("accept\n")).warnings, vec![]);
    assert_eq!(ok(&inst("no_accept = no\n")).warnings, vec![]);
    assert_eq!(
        warnings(&inst("no_accept\n")),
        vec![(5, "no_accept".into(), WarningKind::NoAcceptNotEnforced)]
    );
    // The address owner always accepts (RFC 5798 §6.4.3; keepalived installs no rule).
    assert_eq!(ok(&inst("priority = 255\nno_accept\n")).warnings, vec![]);
    assert_eq!(
        one_err(&inst("accept\nno_accept\n")),
        (
            6,
            "no_accept".into(),
            ErrorKind::Conflicts {
                other_key: "accept",
                other_line: 5
            }
        )
    );
    let text = WarningKind::NoAcceptNotEnforced.to_string();
    assert!(text.contains("does not filter"), "{text}");
}

#[test]
fn dont_track_primary_is_a_flag() {
    assert!(!ok(&inst("")).config.instances[0].dont_track_primary);
    assert!(ok(&inst("dont_track_primary\n")).config.instances[0].dont_track_primary);
    assert!(!ok(&inst("dont_track_primary = no\n")).config.instances[0].dont_track_primary);
    assert!(matches!(
        one_err(&inst("dont_track_primary = eth0\n")),
        (5, _, ErrorKind::BadValue { .. })
    ));
}

#[test]
fn use_vmac_takes_an_optional_name() {
    let vmac = |extra: &str| {
        let i = ok(&inst(extra)).config.instances.remove(0);
        (i.use_vmac, i.vmac_name)
    };
    assert_eq!(vmac("use_vmac\n"), (true, None));
    assert_eq!(vmac("use_vmac = yes\n"), (true, None));
    assert_eq!(vmac("use_vmac = no\n"), (false, None));
    assert_eq!(
        vmac("use_vmac = vrrp_lan\n"),
        (true, Some("vrrp_lan".into()))
    );
    for bad in ["0123456789abcdef", "a/b", "vr:1"] {
        assert!(
            matches!(
                one_err(&inst(&format!("use_vmac = {bad}\n"))),
                (5, _, ErrorKind::BadValue { .. })
            ),
            "{bad}"
        );
    }
    // A name already taken: keepalived ignores the second one; so do we, with a warning.
    let text = inst("use_vmac = vrrp_lan\n")
        + "[vrrp_instance VI_2]\ninterface = eth0\nvirtual_router_id = 52\n\
           virtual_ipaddress = 192.0.2.2\nuse_vmac = vrrp_lan\n";
    let loaded = ok(&text);
    assert_eq!(loaded.config.instances[1].vmac_name, None);
    assert!(loaded.config.instances[1].use_vmac);
    assert_eq!(
        warnings(&text),
        vec![(
            10,
            "use_vmac".into(),
            WarningKind::VmacNameTaken {
                other_instance: "VI_1".into()
            }
        )]
    );
}

#[test]
fn vmac_xmit_base_needs_use_vmac() {
    let xmit = |extra: &str| ok(&inst(extra)).config.instances[0].vmac_xmit_base;
    assert!(!xmit("use_vmac\n"));
    assert!(xmit("use_vmac\nvmac_xmit_base\n"));
    assert!(xmit("use_vmac = vrrp_lan\nvmac_xmit_base = yes\n"));
    assert!(!xmit("use_vmac\nvmac_xmit_base = no\n"));
    assert!(warnings(&inst("use_vmac\nvmac_xmit_base\n")).is_empty());
    // keepalived clears it without a VMAC ("only valid with a vmac"); so do we, with a warning.
    assert!(!xmit("vmac_xmit_base\n"));
    assert_eq!(
        warnings(&inst("vmac_xmit_base\n")),
        vec![(5, "vmac_xmit_base".into(), WarningKind::XmitBaseWithoutVmac)]
    );
}

/// Two instances in a sync group: `vi1_extra` starts at line 16, `group_extra` at line 24
/// plus the lines of `vi1_extra`.
fn group_conf(vi1_extra: &str, vi2_priority: u8, group_extra: &str) -> String {
    format!(
        "[vrrp_script chk]\nscript = /bin/true\nweight = -20\n\
         [vrrp_script hard]\nscript = /bin/true\n\
         [vrrp_track_file f]\nfile = /tmp/x\nweight = 3\n\
         [vrrp_track_process p]\nprocess = dnsmasq\nweight = -7\n\
         [vrrp_instance VI_1]\ninterface = eth0\nvirtual_router_id = 1\n\
         virtual_ipaddress = 192.0.2.1\n{vi1_extra}\
         [vrrp_instance VI_2]\ninterface = eth0\nvirtual_router_id = 2\n\
         virtual_ipaddress = 192.0.2.2\npriority = {vi2_priority}\n\
         [vrrp_sync_group G]\ngroup = VI_1\ngroup = VI_2\n{group_extra}"
    )
}

fn tref(name: &str, weight: i32) -> TrackRef {
    TrackRef {
        name: name.into(),
        weight: Some(weight),
    }
}

#[test]
fn sync_group_tracking_applies_to_every_member() {
    let text = group_conf(
        "",
        100,
        "track_script = chk\ntrack_script = hard weight 0\ntrack_interface = eth9 weight -30\n\
         track_interface = eth8\ntrack_file = f\ntrack_process = p weight -9\n",
    );
    let loaded = ok(&text);
    assert_eq!(loaded.warnings, vec![]);
    let g = &loaded.config.sync_groups[0];
    assert_eq!(g.track_scripts.len(), 2);
    assert_eq!(
        g.track_interfaces,
        vec![
            tref("eth9", -30),
            TrackRef {
                name: "eth8".into(),
                weight: None
            }
        ]
    );
    for i in &loaded.config.instances {
        // Weights are resolved against their sections when merged.
        assert_eq!(
            i.track_scripts,
            vec![tref("chk", -20), tref("hard", 0)],
            "{}",
            i.name
        );
        assert_eq!(i.track_interfaces, vec![tref("eth9", -30), tref("eth8", 0)]);
        assert_eq!(i.track_files, vec![tref("f", 3)]);
        assert_eq!(i.track_processes, vec![tref("p", -9)]);
    }
}

#[test]
fn sync_group_tracking_merges_with_the_members_own_like_keepalived() {
    // VI_1 tracks chk itself (weighted): the group's weight wins, with a warning at VI_1's
    // line; hard is unweighted (FAULT) on VI_1 and stays so.
    let text = group_conf(
        "track_script = chk weight -5\ntrack_script = hard\n",
        100,
        "track_script = chk weight -40\ntrack_script = hard weight -10\n",
    );
    let loaded = ok(&text);
    let vi1 = &loaded.config.instances[0];
    assert_eq!(
        vi1.track_scripts,
        vec![
            tref("chk", -40),
            TrackRef {
                name: "hard".into(),
                weight: None
            }
        ]
    );
    assert_eq!(
        loaded.config.instances[1].track_scripts,
        vec![tref("chk", -40), tref("hard", -10)]
    );
    let group = |_: ()| WarningKind::TrackedByInstanceAndGroup { group: "G".into() };
    assert_eq!(
        warnings(&text),
        vec![
            (16, "track_script".into(), group(())),
            (17, "track_script".into(), group(()))
        ]
    );
}

#[test]
fn a_group_with_an_address_owner_cannot_use_weights() {
    let text = group_conf("", 255, "track_script = chk\ntrack_file = f weight 0\n");
    let loaded = ok(&text);
    for i in &loaded.config.instances {
        assert_eq!(i.track_scripts, vec![tref("chk", 0)]);
        assert_eq!(i.track_files, vec![tref("f", 0)]);
    }
    assert_eq!(
        warnings(&text),
        vec![(
            24,
            "track_script".into(),
            WarningKind::GroupWeightWithOwner {
                instance: "VI_2".into()
            }
        )]
    );
}

#[test]
fn sync_group_tracking_names_must_exist() {
    let text = group_conf("", 100, "track_script = nope\ntrack_interface = a/b\n");
    let e = errs(&text);
    assert_eq!(
        e[0],
        (
            24,
            "track_script".into(),
            ErrorKind::UnknownScript {
                name: "nope".into()
            }
        )
    );
    assert!(matches!(e[1], (25, _, ErrorKind::BadValue { .. })), "{e:?}");
    assert_eq!(e.len(), 2);
}

// ---- notify FIFOs ----

#[test]
fn notify_fifos_take_keepalived_s_path_user_group_and_script() {
    let text = inst("")
        + "[global_defs]\nnotify_fifo = /run/ka.fifo\nnotify_fifo_script = /bin/true -x\n\
           vrrp_notify_fifo = /run/vrrp.fifo nobody nogroup\n";
    let loaded = ok(&text);
    assert_eq!(loaded.warnings, vec![]);
    let g = &loaded.config.global;
    assert_eq!(
        g.notify_fifo,
        Some(NotifyFifo {
            path: "/run/ka.fifo".into(),
            user: None,
            group: None,
            script: Some("/bin/true -x".into()),
        })
    );
    assert_eq!(
        g.vrrp_notify_fifo,
        Some(NotifyFifo {
            path: "/run/vrrp.fifo".into(),
            user: Some("nobody".into()),
            group: Some("nogroup".into()),
            script: None,
        })
    );
}

#[test]
fn notify_fifo_mistakes_are_named() {
    let (line, key, kind) = one_err(&(inst("") + "[global_defs]\nvrrp_notify_fifo = run/x\n"));
    assert_eq!((line, key.as_str()), (6, "vrrp_notify_fifo"));
    assert!(matches!(kind, ErrorKind::BadValue { .. }), "{kind:?}");
    let (_, key, _) = one_err(&(inst("") + "[global_defs]\nnotify_fifo = /a u g extra\n"));
    assert_eq!(key, "notify_fifo");
    let (line, key, _) =
        one_err(&(inst("") + "[global_defs]\nnotify_fifo = /a\nnotify_fifo = /b\n"));
    assert_eq!((line, key.as_str()), (7, "notify_fifo"));
}

#[test]
fn a_fifo_script_without_its_fifo_and_a_fifo_named_twice_are_warnings() {
    let w = warnings(&(inst("") + "[global_defs]\nvrrp_notify_fifo_script = /bin/true\n"));
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!((w[0].0, w[0].1.as_str()), (6, "vrrp_notify_fifo_script"));
    let text = inst("") + "[global_defs]\nnotify_fifo = /run/x\nvrrp_notify_fifo = /run/x\n";
    let w = warnings(&text);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!((w[0].0, w[0].1.as_str()), (7, "vrrp_notify_fifo"));
    let g = ok(&text).config.global;
    assert!(g.notify_fifo.is_some() && g.vrrp_notify_fifo.is_none());
}

#[test]
fn a_vip_in_two_instances_on_one_interface_is_a_warning() {
    let second = |iface: &str, vip: &str| {
        format!(
            "[vrrp_instance VI_2]\ninterface = {iface}\nvirtual_router_id = 52\n\
             virtual_ipaddress = 192.0.2.9\nvirtual_ipaddress = {vip}\n"
        )
    };
    let text = inst("") + &second("eth0", "192.0.2.1/24");
    assert_eq!(
        warnings(&text),
        vec![(
            9,
            "virtual_ipaddress".into(),
            WarningKind::VipInTwoInstances {
                other_instance: "VI_1".into()
            }
        )]
    );
    // Another interface, or `dev` elsewhere: a different address.
    assert_eq!(
        ok(&(inst("") + &second("eth1", "192.0.2.1/24"))).warnings,
        vec![]
    );
    let on_eth1 = second("eth0", "192.0.2.1/24 dev eth1");
    assert_eq!(ok(&(inst("") + &on_eth1)).warnings, vec![]);
}

#[test]
fn sync_group_tracking_weight_is_accepted_and_changes_nothing() {
    // keepalived needs it for members' own weights to count; tinyvrrp always counts them.
    let text = group_conf("track_script = chk\n", 100, "sync_group_tracking_weight\n");
    let loaded = ok(&text);
    assert_eq!(loaded.warnings, vec![]);
    assert_eq!(
        loaded.config.instances[0].track_scripts,
        vec![TrackRef {
            name: "chk".into(),
            weight: None
        }]
    );
    assert!(ok(&group_conf("", 100, "global_tracking\n"))
        .warnings
        .is_empty());
    assert!(matches!(
        one_err(&group_conf("", 100, "global_tracking = maybe\n")),
        (24, _, ErrorKind::BadValue { .. })
    ));
}

#[test]
fn vrrp_startup_delay_takes_keepalived_s_seconds() {
    let with = |v: &str| inst("") + "[global_defs]\nvrrp_startup_delay = " + v + "\n";
    assert_eq!(ok(&with("5")).config.global.vrrp_startup_delay_cs, 500);
    assert_eq!(ok(&with("0.25")).config.global.vrrp_startup_delay_cs, 25);
    assert_eq!(ok(&inst("")).config.global.vrrp_startup_delay_cs, 0);
    assert!(matches!(
        one_err(&with("3601")),
        (6, _, ErrorKind::OutOfRange { .. })
    ));
    assert!(matches!(
        one_err(&with("soon")),
        (6, _, ErrorKind::BadValue { .. })
    ));
}

/// A unique path in the temp directory.
fn temp_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tinyvrrp-cfg-{tag}-{}", std::process::id()))
}

fn io_detail(path: &std::path::Path) -> (std::io::ErrorKind, String) {
    match load(path).map_err(|e| e.0.into_iter().next().map(|e| e.kind)) {
        Err(Some(ErrorKind::Io { kind, detail })) => (kind, detail),
        other => panic!("expected an Io error, got {other:?}"),
    }
}

#[test]
fn a_fifo_a_device_or_a_directory_is_refused_without_blocking() {
    let fifo = temp_path("fifo");
    let _ = std::fs::remove_file(&fifo);
    let c = std::ffi::CString::new(fifo.to_str().expect("utf8")).expect("cstr");
    // SAFETY: mkfifo on a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    // Without O_NONBLOCK the open() itself blocks until a writer appears.
    let (_, detail) = io_detail(&fifo);
    let _ = std::fs::remove_file(&fifo);
    assert!(detail.contains("not a regular file"), "{detail}");
    for path in ["/dev/zero", "/"] {
        let (_, detail) = io_detail(std::path::Path::new(path));
        assert!(detail.contains("not a regular file"), "{path}: {detail}");
    }
}

#[test]
fn a_config_over_the_size_cap_is_refused() {
    let path = temp_path("big");
    let mut text = inst("");
    let fill = format!("# {}\n", "x".repeat(1000));
    while (text.len() as u64) <= MAX_CONFIG_BYTES {
        text.push_str(&fill);
    }
    std::fs::write(&path, &text).expect("write");
    let (_, detail) = io_detail(&path);
    let _ = std::fs::remove_file(&path);
    assert!(detail.contains("1 MiB"), "{detail}");
    // The same cap for stdin (--check -f -).
    let mut endless = std::io::repeat(b'#');
    let e = read_capped(&mut endless).unwrap_err();
    assert!(describe(&e).contains("1 MiB"));
}

#[test]
fn a_config_others_can_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let path = temp_path("mode");
    std::fs::write(&path, inst("")).expect("write");
    let mode = |m: u32| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(m));
    mode(0o644).expect("chmod");
    assert!(load(&path).is_ok());
    mode(0o646).expect("chmod");
    let (_, detail) = io_detail(&path);
    assert!(detail.contains("writable by others"), "{detail}");
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        // Group write: only root's group; another owner: refused.
        let own = |uid, gid| std::os::unix::fs::chown(&path, Some(uid), Some(gid));
        mode(0o664).expect("chmod");
        assert!(load(&path).is_ok());
        own(0, 65534).expect("chown");
        assert!(io_detail(&path).1.contains("chmod go-w"));
        mode(0o644).expect("chmod");
        own(65534, 0).expect("chown");
        assert!(io_detail(&path).1.contains("owned by another user"));
    }
    let _ = std::fs::remove_file(&path);
}

/// `n` VIPs after the one of `inst`: 198.51.100.x, then 203.0.113.x.
fn many_vips(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "virtual_ipaddress = {}.{}\n",
                ["198.51.100", "203.0.113"][i / 250],
                i % 250 + 1
            )
        })
        .collect()
}

#[test]
fn more_vips_than_an_advert_carries_are_refused_at_the_first_extra_one() {
    ok(&inst(&many_vips(254)));
    // Line 4 holds the first VIP, so the 256th is on line 5 + 254.
    assert_eq!(
        one_err(&inst(&many_vips(300))),
        (
            259,
            "virtual_ipaddress".into(),
            ErrorKind::TooManyVips { max: 255 }
        )
    );
    let v6 = |n: usize| -> String {
        let vips: String = (1..=n)
            .map(|i| format!("virtual_ipaddress = 2001:db8::{i:x}\n"))
            .collect();
        format!("[vrrp_instance V6]\ninterface = eth0\nvirtual_router_id = 1\nversion = 3\n{vips}")
    };
    ok(&v6(89));
    let (line, key, kind) = one_err(&v6(90));
    assert_eq!(
        (line, key.as_str(), kind),
        (94, "virtual_ipaddress", ErrorKind::TooManyVips { max: 89 })
    );
    let text = ErrorKind::TooManyVips { max: 255 }.to_string();
    assert!(text.contains("virtual_ipaddress_excluded"), "{text}");
}

fn host(dev: &str, addr: &str, prefix_len: u8) -> HostAddr {
    HostAddr {
        dev: dev.into(),
        addr: ip(addr),
        prefix_len,
    }
}

/// (line, key, kind) of the errors of `text` against `addrs` and `running`.
fn host_errs(
    text: &str,
    addrs: Vec<HostAddr>,
    running: &[InstanceConfig],
) -> Vec<(usize, String, ErrorKind)> {
    let check = HostCheck {
        addrs,
        running,
        refuse: true,
    };
    match parse_with(text, "t.conf", Some(&check)) {
        Ok(_) => vec![],
        Err(ConfigErrors(v)) => v.into_iter().map(|e| (e.line, e.key, e.kind)).collect(),
    }
}

#[test]
fn a_vip_the_host_already_holds_is_refused() {
    // inst's VIP is 192.0.2.1/24 on eth0; a /32 VIP on line 5.
    let text = inst("virtual_ipaddress = 198.51.100.7\n");
    let refused = |dev: &str, p| ErrorKind::HostAddress {
        dev: dev.into(),
        prefix_len: p,
    };
    // The host's own address: other prefix, or another interface.
    assert_eq!(
        host_errs(&text, vec![host("eth0", "198.51.100.7", 24)], &[]),
        vec![(5, "virtual_ipaddress".into(), refused("eth0", 24))]
    );
    assert_eq!(
        host_errs(&text, vec![host("eth1", "192.0.2.1", 24)], &[]),
        vec![(4, "virtual_ipaddress".into(), refused("eth1", 24))]
    );
    // keepalived's rule: the same address, prefix and interface is a VIP left behind.
    assert_eq!(
        host_errs(&text, vec![host("eth0", "198.51.100.7", 32)], &[]),
        vec![]
    );
    // On a reload, an address of a running instance is the daemon's own wherever it is.
    let running = ok(&inst("")).config.instances;
    assert_eq!(
        host_errs(&text, vec![host("eth1", "192.0.2.1", 32)], &running),
        vec![]
    );
    // --check warns instead.
    let check = HostCheck {
        addrs: vec![host("eth0", "198.51.100.7", 24)],
        running: &[],
        refuse: false,
    };
    let loaded = parse_with(&text, "t.conf", Some(&check)).expect("a warning only");
    assert_eq!(loaded.warnings.len(), 1);
    // The real host holds 127.0.0.1 on lo.
    assert!(host_addrs()
        .iter()
        .any(|h| h.addr == ip("127.0.0.1") && h.dev == "lo"));
}

#[test]
fn a_reload_to_a_config_without_instances_is_refused_unless_none_run() {
    let path = temp_path("empty");
    std::fs::write(&path, "[global_defs]\nrouter_id = r1\n").expect("write");
    let running = ok(&inst("")).config.instances;
    let refused = load_for_daemon(&path, &running).map_err(|e| e.0[0].kind.clone());
    let from_none = load_for_daemon(&path, &[]).map(|l| l.config.instances.len());
    let checked = load_for_check(&path).map(|l| l.warnings);
    let _ = std::fs::remove_file(&path);
    assert_eq!(refused.unwrap_err(), ErrorKind::NoInstances);
    assert_eq!(from_none, Ok(0));
    let warnings = checked.expect("--check accepts it");
    assert!(matches!(
        &warnings[..],
        [ConfigWarning {
            message: WarningKind::DaemonRefuses {
                detail: ErrorKind::NoInstances
            },
            ..
        }]
    ));
}

#[test]
fn an_unknown_user_is_refused_at_load() {
    let global = "[global_defs]\nscript_user = nobdy-tinyvrrp\n";
    let (line, key, _) = one_err(global);
    assert_eq!((line, key.as_str()), (2, "script_user"));
    let script = "[vrrp_script chk]\nscript = /bin/true\nuser = nobdy-tinyvrrp\n";
    let (line, key, _) = one_err(script);
    assert_eq!((line, key.as_str()), (3, "user"));
    ok("[global_defs]\nscript_user = nobody\n");
}

#[test]
fn a_user_may_be_followed_by_a_group_as_keepalived_allows() {
    let global = |v: &str| format!("[global_defs]\nscript_user = {v}\n");
    let loaded = ok(&global("nobody root"));
    assert_eq!(
        loaded.config.global.script_user.as_deref(),
        Some("nobody root")
    );
    let script = "[vrrp_script chk]\nscript = /bin/true\nuser = root root\n";
    assert_eq!(
        ok(script).config.scripts[0].user.as_deref(),
        Some("root root")
    );
    for bad in ["nobody nogrp-tinyvrrp", "nobody root root"] {
        let (line, key, _) = one_err(&global(bad));
        assert_eq!((line, key.as_str()), (2, "script_user"), "{bad}");
    }
}

#[test]
fn allowed_sources_per_instance_repeat_or_space_separated_else_the_global_ones() {
    let i = &ok(&inst(
        "allowed_sources = 192.0.2.11 192.0.2.12\nallowed_sources = 192.0.2.13\n",
    ))
    .config
    .instances[0];
    let want = vec![ip("192.0.2.11"), ip("192.0.2.12"), ip("192.0.2.13")];
    assert_eq!(i.allowed_sources, want);
    assert!(ok(&inst("")).config.instances[0].allowed_sources.is_empty());
    // Global: both families; an instance takes its own family's.
    let text = format!(
        "[global_defs]\nallowed_sources = 2001:db8::11 192.0.2.11\nstop_handover = no\n{}",
        inst("")
    );
    let c = ok(&text).config;
    assert_eq!(c.instances[0].allowed_sources, vec![ip("192.0.2.11")]);
    assert!(!c.global.stop_handover);
    assert!(ok(&inst("")).config.global.stop_handover);
    // The instance's own list wins over the global one.
    let text = format!(
        "[global_defs]\nallowed_sources = 192.0.2.11\n{}",
        inst("allowed_sources = 192.0.2.12\n")
    );
    assert_eq!(
        ok(&text).config.instances[0].allowed_sources,
        vec![ip("192.0.2.12")]
    );
    for bad in [
        "allowed_sources = 2001:db8::1\n",
        "allowed_sources = x\n",
        "allowed_sources =\n",
    ] {
        let (line, key, _) = one_err(&inst(bad));
        assert_eq!((line, key.as_str()), (5, "allowed_sources"), "{bad}");
    }
}

/// Issue 16 #4: repeats among thousands of sections are found by sorting, and what is
/// reported is capped (a reload logs at most MAX_REPORTS lines per kind, plus a count).
#[test]
fn repeats_in_a_big_file_are_found_and_the_reports_capped() {
    let n = 5000;
    let text: String = (0..n)
        .map(|i| format!("[vrrp_instance i{i}]\ninterface = eth0\nvirtual_router_id = 7\nvirtual_ipaddress = 192.0.2.1\n"))
        .collect();
    let all = errs(&text);
    assert_eq!(all.len(), error::MAX_REPORTS + 1);
    let (line, key, kind) = &all[0];
    assert_eq!((*line, key.as_str()), (7, "virtual_router_id"));
    assert!(
        matches!(kind, ErrorKind::DuplicateVrid { other_line: 3, .. }),
        "{kind:?}"
    );
    assert_eq!(
        all.last().map(|e| &e.2),
        Some(&ErrorKind::MoreErrors {
            count: n - 1 - error::MAX_REPORTS
        })
    );
    let text: String = (0..n)
        .map(|i| format!("[vrrp_instance i{i}]\ninterface = e{i}\nvirtual_router_id = 7\nvirtual_ipaddress = 192.0.2.1\n"))
        .chain((0..n).map(|i| format!("[vrrp_script s{}]\nscript = /bin/true\n", i % 2)))
        .collect();
    let all = errs(&text);
    assert!(all.iter().all(|e| matches!(
        e.2,
        ErrorKind::DuplicateSection { .. } | ErrorKind::MoreErrors { .. }
    )));
    let list: String = (0..=error::MAX_LIST)
        .map(|i| format!("unicast_peer = 10.0.{}.{}\n", i / 250, i % 250 + 1))
        .collect();
    let (line, key, kind) = one_err(&inst(&list));
    assert_eq!((line, key.as_str()), (5 + error::MAX_LIST, "unicast_peer"));
    assert_eq!(
        kind,
        ErrorKind::TooManyLines {
            max: error::MAX_LIST
        }
    );
}

#[cfg(feature = "metrics")]
#[test]
fn metrics_listen_takes_an_address_and_a_port() {
    let with = |v: &str| format!("[global_defs]\nmetrics_listen = {v}\n{}", inst(""));
    assert_eq!(ok(&inst("")).config.global.metrics_listen, None);
    let c = ok(&with("127.0.0.1:9165")).config;
    assert_eq!(
        c.global.metrics_listen,
        Some("127.0.0.1:9165".parse().unwrap())
    );
    let c = ok(&with("[::1]:9165")).config;
    assert_eq!(c.global.metrics_listen, Some("[::1]:9165".parse().unwrap()));
    for bad in [
        "127.0.0.1",
        "127.0.0.1:0",
        ":9165",
        "localhost:9165",
        "::1:9165",
        "",
    ] {
        let (line, key, _) = one_err(&with(bad));
        assert_eq!((line, key.as_str()), (2, "metrics_listen"), "{bad}");
    }
}

/// Built without the endpoint: the key is refused where it stands, not ignored.
#[cfg(not(feature = "metrics"))]
#[test]
fn metrics_listen_is_refused_without_the_feature() {
    let text = format!(
        "[global_defs]\nmetrics_listen = 127.0.0.1:9165\n{}",
        inst("")
    );
    let (line, key, kind) = one_err(&text);
    assert_eq!((line, key.as_str()), (2, "metrics_listen"));
    assert!(kind.to_string().contains("no metrics endpoint"), "{kind}");
}
