//! Issue 13 part 5, least privilege: the daemon runs as `nobody` with CAP_NET_RAW and
//! CAP_NET_ADMIN only (given as ambient capabilities by setpriv, or as file capabilities by
//! setcap), fails over, and keeps only what its configuration needs after start-up, as
//! /proc/PID/status shows; a missing capability is named at start-up. Needs root (to make the
//! lab and switch users); skips otherwise.

use crate::lab;

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use lab::{wait_until, DaemonHandle, Lab, DAEMON};

const VIP: &str = "192.0.2.1";
const NOBODY: u32 = 65534;
const NET_RAW_ADMIN: u64 = 1 << 13 | 1 << 12;
/// CAP_KILL, CAP_SETGID, CAP_SETUID: kept for scripts run as another user.
const SCRIPT_USER: u64 = 1 << 5 | 1 << 6 | 1 << 7;
const SETTLE: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(100);

/// `nobody` without any capability.
const AS_NOBODY: [&str; 4] = [
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
];

/// `nobody` with `caps` (e.g. "+net_raw,+net_admin") inheritable and ambient, as systemd's
/// AmbientCapabilities= gives them.
fn nobody_with(caps: &str) -> Vec<String> {
    let mut v: Vec<String> = AS_NOBODY.iter().map(|s| s.to_string()).collect();
    v.push(format!("--inh-caps={caps}"));
    v.push(format!("--ambient-caps={caps}"));
    v
}

fn config(priority: u8, extra: &str) -> String {
    format!(
        "[vrrp_instance VI_1]\ninterface = eth0\nstate = BACKUP\nvirtual_router_id = 51\n\
         priority = {priority}\nadvert_int = 1\nversion = 3\nvirtual_ipaddress = {VIP}/24\n\
         {extra}"
    )
}

/// The daemon where `nobody` can run it: a hard link in the lab's directory (the target
/// directory may not be open to it); a copy across file systems.
fn exe_for_nobody(lab: &Lab) -> String {
    let exe = lab.dir().join("tinyvrrp");
    if fs::hard_link(DAEMON, &exe).is_err() {
        fs::copy(DAEMON, &exe).expect("copy the daemon");
    }
    exe.to_string_lossy().into_owned()
}

/// A copy of the daemon with `setcap cap_net_raw,cap_net_admin+ep` (a copy: the capabilities
/// must not land on the build's own binary).
fn exe_with_file_caps(lab: &Lab) -> String {
    let exe = lab.dir().join("tinyvrrp-fcaps");
    fs::copy(DAEMON, &exe).expect("copy the daemon");
    let out = Command::new("setcap")
        .args(["cap_net_raw,cap_net_admin+ep"])
        .arg(&exe)
        .output()
        .expect("run setcap (libcap2-bin)");
    assert!(out.status.success(), "setcap: {out:?}");
    exe.to_string_lossy().into_owned()
}

/// A directory `nobody` owns, for its status sockets.
fn nobody_dir(lab: &Lab) -> PathBuf {
    let dir = lab.dir().join("nobody");
    fs::create_dir_all(&dir).expect("mkdir");
    std::os::unix::fs::chown(&dir, Some(NOBODY), Some(NOBODY)).expect("chown");
    dir
}

/// The `Uid:` and `Cap*:` lines of /proc/PID/status (the real uid, capability sets as numbers).
fn proc_status(pid: u32) -> HashMap<String, u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    parse_status(&text)
}

fn parse_status(text: &str) -> HashMap<String, u64> {
    let mut m = HashMap::new();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.split_whitespace().next().unwrap_or("");
        let parsed = match key {
            "Uid" => value.parse().ok(),
            k if k.starts_with("Cap") => u64::from_str_radix(value, 16).ok(),
            _ => None,
        };
        if let Some(v) = parsed {
            m.insert(key.to_string(), v);
        }
    }
    m
}

/// CapEff and CapPrm are `keep`, nothing inheritable or ambient; the log says so.
fn assert_reduced(tag: &str, d: &DaemonHandle, keep: u64) -> HashMap<String, u64> {
    let s = proc_status(d.pid);
    let shown = |k: &str| s.get(k).copied();
    assert_eq!(
        (
            shown("CapEff"),
            shown("CapPrm"),
            shown("CapInh"),
            shown("CapAmb")
        ),
        (Some(keep), Some(keep), Some(0), Some(0)),
        "{tag}: capabilities of pid {} after start-up: {s:?}; log:\n{}",
        d.pid,
        d.log_text()
    );
    let line = format!("capabilities reduced to {keep:#x}");
    assert!(
        d.log_text().contains(&line),
        "{tag}: no {line:?} in the log"
    );
    s
}

fn is_master(node: &lab::Node, d: &DaemonHandle) -> bool {
    node.has_addr_anywhere(VIP) && d.state("VI_1").as_deref() == Some("MASTER")
}

#[test]
fn nobody_with_two_capabilities_fails_over() {
    let Some(lab) = Lab::new("privilege::nobody_pair", 2) else {
        return;
    };
    let (n1, n2) = (lab.node(1), lab.node(2));
    let sockets = nobody_dir(&lab);
    let (exe, fcaps) = (exe_for_nobody(&lab), exe_with_file_caps(&lab));
    let ambient = nobody_with("+net_raw,+net_admin");
    let ambient: Vec<&str> = ambient.iter().map(String::as_str).collect();
    // VMACs: a macvlan and its parent's arp_* sysctls, written by a non-root process.
    let vmac = "use_vmac\n";
    let d1 = n1.spawn_daemon_via(&ambient, &exe, &config(150, vmac), Some(&sockets));
    let d2 = n2.spawn_daemon_via(&AS_NOBODY, &fcaps, &config(100, vmac), Some(&sockets));
    let settled = wait_until(SETTLE, POLL, || {
        d1.assert_running("n1 as nobody (ambient)");
        d2.assert_running("n2 as nobody (file capabilities)");
        is_master(n1, &d1) && d2.state("VI_1").as_deref() == Some("BACKUP")
    });
    assert!(
        settled.is_some(),
        "n1 never master: {:?} / {:?}\n{}",
        d1.state("VI_1"),
        d2.state("VI_1"),
        d1.log_text()
    );
    for (tag, d) in [("ambient", &d1), ("file caps", &d2)] {
        let s = assert_reduced(tag, d, NET_RAW_ADMIN);
        assert_eq!(s.get("Uid"), Some(&u64::from(NOBODY)), "{tag}: {s:?}");
    }
    assert!(lab.client.ping(VIP, Duration::from_secs(3)), "VIP on n1");

    d1.kill(libc::SIGKILL);
    let took = wait_until(SETTLE, POLL, || {
        d2.assert_running("n2 taking over");
        is_master(n2, &d2)
    });
    assert!(took.is_some(), "n2 never took over:\n{}", d2.log_text());
    assert!(lab.client.ping(VIP, Duration::from_secs(3)), "VIP on n2");
    let sysctl = n2.exec(&["cat", "/proc/sys/net/ipv4/conf/eth0/arp_ignore"]);
    assert_eq!(String::from_utf8_lossy(&sysctl.stdout).trim(), "1");
    let log = d2.log_text();
    assert!(!log.contains("ERROR") && !log.contains("WARN"), "{log}");
    assert_reduced("file caps, after the takeover", &d2, NET_RAW_ADMIN);
}

/// Writes an executable shell script into the lab's directory.
fn script(lab: &Lab, name: &str, body: &str) -> String {
    let path = lab.dir().join(name);
    fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
    path.to_string_lossy().into_owned()
}

#[test]
fn a_root_daemon_keeps_only_what_its_configuration_needs() {
    let Some(lab) = Lab::new("privilege::root", 2) else {
        return;
    };
    let own = proc_status(std::process::id());
    let full = own["CapBnd"];
    let out = nobody_dir(&lab);
    let check = script(
        &lab,
        "check.sh",
        &format!("id -u > {}/check.uid", out.display()),
    );
    let caps_file = lab.dir().join("notify.caps");
    let notify = script(
        &lab,
        "notify.sh",
        &format!(
            "grep -E '^Cap(Eff|Bnd)' /proc/self/status > {}",
            caps_file.display()
        ),
    );
    let scripts = format!("[vrrp_script chk]\nscript = {check}\ninterval = 1\nuser = nobody\n");
    let extra = format!("track_script = chk\nnotify_master = {notify}\n");
    let d1 = lab
        .node(1)
        .spawn_daemon(&format!("{scripts}{}", config(150, &extra)));
    // Node 2: its own VRID, no scripts.
    let plain = config(150, "")
        .replace("= 51", "= 52")
        .replace(VIP, "192.0.2.2");
    let d2 = lab.node(2).spawn_daemon(&plain);
    let up = wait_until(SETTLE, POLL, || {
        d1.assert_running("n1");
        d2.assert_running("n2");
        is_master(lab.node(1), &d1) && caps_file.exists() && out.join("check.uid").exists()
    });
    assert!(
        up.is_some(),
        "n1 not master with its scripts run:\n{}",
        d1.log_text()
    );

    // Scripts as nobody: set-uid/gid and kill stay; root's notify script keeps the bounding set
    // and with it all of root's capabilities, as keepalived's.
    let s = assert_reduced("root daemon with scripts", &d1, NET_RAW_ADMIN | SCRIPT_USER);
    assert_eq!(s.get("CapBnd"), Some(&full), "{s:?}");
    let uid = fs::read_to_string(out.join("check.uid")).unwrap_or_default();
    assert_eq!(uid.trim(), NOBODY.to_string(), "vrrp_script ran as nobody");
    let seen = parse_status(&fs::read_to_string(&caps_file).unwrap_or_default());
    assert_eq!(
        seen.get("CapEff"),
        Some(&full),
        "notify script as root: {seen:?}"
    );

    let s = assert_reduced("root daemon without scripts", &d2, NET_RAW_ADMIN);
    assert_eq!(
        s.get("CapBnd"),
        Some(&NET_RAW_ADMIN),
        "bounding set cut: {s:?}"
    );
    assert_eq!(s.get("Uid"), Some(&0));
}

#[test]
fn a_missing_capability_or_writable_path_is_named_at_start_up() {
    let Some(lab) = Lab::new("privilege::missing", 1) else {
        return;
    };
    let n1 = lab.node(1);
    let exe = exe_for_nobody(&lab);
    let sockets = nobody_dir(&lab);
    let admin_only = nobody_with("+net_admin");
    let admin_only: Vec<&str> = admin_only.iter().map(String::as_str).collect();
    let d = n1.spawn_daemon_via(&admin_only, &exe, &config(150, ""), Some(&sockets));
    let exit = d.wait(Duration::from_secs(10));
    assert_eq!(exit.and_then(|s| s.code()), Some(1), "{}", d.log_text());
    let log = d.log_text();
    assert!(
        log.contains("missing CAP_NET_RAW (raw VRRP and AF_PACKET sockets)"),
        "{log}"
    );
    assert!(!log.contains("CAP_NET_ADMIN ("), "held, yet named: {log}");
    assert!(log.contains("setcap cap_net_admin,cap_net_raw+ep"), "{log}");
    assert!(!n1.has_addr_anywhere(VIP));

    // Both capabilities, but the status socket in a directory only root may write.
    let both = nobody_with("+net_raw,+net_admin");
    let both: Vec<&str> = both.iter().map(String::as_str).collect();
    let d = n1.spawn_daemon_via(&both, &exe, &config(150, ""), Some(Path::new(lab.dir())));
    let exit = d.wait(Duration::from_secs(10));
    assert_eq!(exit.and_then(|s| s.code()), Some(1), "{}", d.log_text());
    let log = d.log_text();
    assert!(log.contains("Permission denied"), "{log}");
    assert!(log.contains("not writable by this user"), "{log}");
}
