use super::*;

fn config(text: &str) -> Config {
    match crate::config::parse_str(text, "t.conf") {
        Ok(l) => l.config,
        Err(e) => panic!("unexpected errors:\n{e}"),
    }
}

const INST: &str =
    "[vrrp_instance VI_1]\ninterface = eth0\nvirtual_router_id = 51\nvirtual_ipaddress = 192.0.2.1/24\n";

fn plan_as(text: &str, root: bool) -> Plan {
    plan(&config(text), root)
}

const NET: Caps = bit(NET_RAW) | bit(NET_ADMIN);
const SCRIPT_USER: Caps = bit(SETUID) | bit(SETGID) | bit(KILL);

#[test]
fn without_scripts_only_the_two_network_capabilities_stay() {
    let p = plan_as(INST, true);
    assert_eq!(p.keep, NET);
    assert_eq!(p.keep, 0x3000, "CapEff as /proc/PID/status shows it");
    assert!(!p.root_scripts);
    assert_eq!(plan_as(INST, false), p);
}

#[test]
fn a_script_run_as_a_user_keeps_set_uid_and_kill() {
    let track = "[vrrp_script chk]\nscript = /bin/true\nuser = nobody\n";
    let p = plan_as(&format!("{track}{INST}"), true);
    assert_eq!(
        p,
        Plan {
            keep: NET | SCRIPT_USER,
            root_scripts: false
        }
    );
    // Even the daemon's own user: spawn's setgroups(2) needs CAP_SETGID.
    assert_eq!(
        plan_as(&format!("{track}{INST}"), false).keep,
        NET | SCRIPT_USER
    );
    // Notify scripts run as script_user, an instance's or a sync group's.
    let notify = "[global_defs]\nscript_user = nobody\n";
    let text = format!("{notify}{INST}notify_master = /bin/true\n");
    assert_eq!(plan_as(&text, true).keep, NET | SCRIPT_USER);
    let group = "[vrrp_sync_group G]\ngroup = VI_1\nnotify_backup = /bin/true\n";
    let text = format!("{notify}{INST}{group}");
    assert_eq!(plan_as(&text, true).keep, NET | SCRIPT_USER);
    // script_user alone, with no script to run, needs nothing.
    assert_eq!(plan_as(&format!("{notify}{INST}"), true).keep, NET);
    // keepalived's USER GROUP: root with root's group is the daemon itself, with another
    // group it is a setgid.
    let as_root = |spec: &str| {
        let track = format!("[vrrp_script chk]\nscript = /bin/true\nuser = {spec}\n");
        plan_as(&format!("{track}{INST}"), true)
    };
    assert_eq!(as_root("root root").keep, NET);
    assert!(as_root("root root").root_scripts);
    assert_eq!(as_root("nobody root").keep, NET | SCRIPT_USER);
}

#[test]
fn root_scripts_keep_the_bounding_set_and_root_means_the_daemon_itself() {
    let text = format!("{INST}notify_master = /bin/true\n");
    assert_eq!(
        plan_as(&text, true),
        Plan {
            keep: NET,
            root_scripts: true
        }
    );
    // A non-root daemon runs them as itself.
    assert_eq!(
        plan_as(&text, false),
        Plan {
            keep: NET,
            root_scripts: false
        }
    );
    let root = "[global_defs]\nscript_user = root\n";
    assert_eq!(plan_as(&format!("{root}{text}"), false).keep, NET);
    assert!(plan_as(&format!("{root}{text}"), true).root_scripts);
    // One script confined, one as root: both needs.
    let track = "[vrrp_script chk]\nscript = /bin/true\nuser = nobody\n";
    let p = plan_as(&format!("{track}{text}"), true);
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
    let p = plan_as(&format!("{g}{INST}"), false);
    assert_eq!(p.keep, NET | bit(CHOWN));
    assert!(!p.root_scripts);
    assert!(plan_as(&format!("{g}{INST}"), true).root_scripts);
}

#[test]
fn the_missing_message_names_each_capability_why_and_the_fix() {
    let text = Missing(bit(NET_RAW) | bit(SETUID)).to_string();
    assert!(
        text.contains("CAP_SETUID (scripts run as a user)"),
        "{text}"
    );
    assert!(
        text.contains("CAP_NET_RAW (raw VRRP and AF_PACKET sockets)"),
        "{text}"
    );
    assert!(!text.contains("CAP_NET_ADMIN ("), "held, not named: {text}");
    assert!(
        text.contains("setcap cap_net_raw,cap_net_admin+ep /"),
        "{text}"
    );
}
