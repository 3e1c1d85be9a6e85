use super::*;

fn config(text: &str) -> Config {
    match crate::config::parse_str(text, "t.conf") {
        Ok(l) => l.config,
        Err(e) => panic!("unexpected errors:\n{e}"),
    }
}

const INST: &str =
    "[vrrp_instance VI_1]\ninterface = eth0\nvirtual_router_id = 51\nvirtual_ipaddress = 192.0.2.1/24\n";

/// "nobody" is 65534 and "ops" 1000 here, whatever this host says.
fn plan_as(text: &str, own_uid: u32) -> Plan {
    let uid_of = |name: &str| match name {
        "nobody" => Some(65534),
        "ops" => Some(1000),
        _ => None,
    };
    plan(&config(text), own_uid, uid_of)
}

const NET: Caps = bit(NET_RAW) | bit(NET_ADMIN);
const SCRIPT_USER: Caps = bit(SETUID) | bit(SETGID) | bit(KILL);

#[test]
fn without_scripts_only_the_two_network_capabilities_stay() {
    let p = plan_as(INST, 0);
    assert_eq!(p.keep, NET);
    assert_eq!(p.keep, 0x3000, "CapEff as /proc/PID/status shows it");
    assert!(!p.root_scripts);
    assert_eq!(plan_as(INST, 1000), p);
}

#[test]
fn a_script_run_by_another_user_keeps_set_uid_and_kill() {
    let track = "[vrrp_script chk]\nscript = /bin/true\nuser = nobody\n";
    let p = plan_as(&format!("{track}{INST}"), 0);
    assert_eq!(
        p,
        Plan {
            keep: NET | SCRIPT_USER,
            root_scripts: false
        }
    );
    // The same user as the daemon's: no set-uid, nothing more to keep.
    assert_eq!(plan_as(&format!("{track}{INST}"), 65534).keep, NET);
    // Notify scripts run as script_user.
    let notify = "[global_defs]\nscript_user = nobody\n";
    let text = format!("{notify}{INST}notify_master = /bin/true\n");
    assert_eq!(plan_as(&text, 0).keep, NET | SCRIPT_USER);
    assert_eq!(plan_as(&text, 65534).keep, NET);
}

#[test]
fn root_scripts_keep_the_bounding_set_and_root_means_the_daemon_itself() {
    let text = format!("{INST}notify_master = /bin/true\n");
    assert_eq!(
        plan_as(&text, 0),
        Plan {
            keep: NET,
            root_scripts: true
        }
    );
    // A non-root daemon runs them as itself.
    assert_eq!(
        plan_as(&text, 1000),
        Plan {
            keep: NET,
            root_scripts: false
        }
    );
    let root = "[global_defs]\nscript_user = root\n";
    assert_eq!(plan_as(&format!("{root}{text}"), 1000).keep, NET);
    // One script confined, one as root: both needs.
    let track = "[vrrp_script chk]\nscript = /bin/true\nuser = nobody\n";
    let p = plan_as(&format!("{track}{text}"), 0);
    assert_eq!(
        p,
        Plan {
            keep: NET | SCRIPT_USER,
            root_scripts: true
        }
    );
}

#[test]
fn a_fifo_owner_keeps_chown_and_its_script_counts_as_a_script() {
    let g = "[global_defs]\nnotify_fifo = /run/t.fifo nobody\nnotify_fifo_script = /bin/cat\n";
    let p = plan_as(&format!("{g}{INST}"), 1000);
    assert_eq!(p.keep, NET | bit(CHOWN));
    assert!(!p.root_scripts);
    assert!(plan_as(&format!("{g}{INST}"), 0).root_scripts);
}

#[test]
fn the_missing_message_names_each_capability_why_and_the_fix() {
    let m = Missing {
        missing: bit(NET_RAW) | bit(SETUID),
        needed: NET | SCRIPT_USER,
    };
    let text = m.to_string();
    assert!(
        text.contains("CAP_SETUID (scripts run as another user)"),
        "{text}"
    );
    assert!(
        text.contains("CAP_NET_RAW (raw VRRP and AF_PACKET sockets)"),
        "{text}"
    );
    assert!(!text.contains("CAP_NET_ADMIN ("), "held, not named: {text}");
    let all = "setcap cap_kill,cap_setgid,cap_setuid,cap_net_admin,cap_net_raw+ep /";
    assert!(text.contains(all), "{text}");
}
