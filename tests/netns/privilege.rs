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
    assert!(log.contains("setcap cap_net_raw,cap_net_admin+ep"), "{log}");
    assert!(!n1.has_addr_anywhere(VIP));

    // Both capabilities, but the status socket in a directory only root may write.
    let both = nobody_with("+net_raw,+net_admin");
    let both: Vec<&str> = both.iter().map(String::as_str).collect();
    let d = n1.spawn_daemon_via(&both, &exe, &config(150, ""), Some(Path::new(lab.dir())));
    let exit = d.wait(Duration::from_secs(10));
    assert_eq!(exit.and_then(|s| s.code()), Some(1), "{}", d.log_text());
    let log = d.log_text();
    assert!(log.contains("Permission denied"), "{log}");
    let hint = "not root: put --pidfile and --status-socket in a directory this user owns";
    assert!(log.contains(hint), "{log}");
}

const S50: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/busybox/S50tinyvrrp");

/// Kills (by pid, from the pidfile) a daemon the init script detached, however the test ends.
struct Detached(PathBuf);

impl Drop for Detached {
    fn drop(&mut self) {
        let pid = fs::read_to_string(&self.0).unwrap_or_default();
        if let Ok(pid) = pid.trim().parse::<i32>() {
            // SAFETY: kill(2) of the daemon this test started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

#[test]
fn busybox_init_script_runs_it_as_another_user_with_file_capabilities() {
    let Some(lab) = Lab::new("privilege::busybox", 1) else {
        return;
    };
    let Some(busybox) = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("busybox"))
        .find(|p| p.exists())
    else {
        panic!("busybox not found (tests/run.sh installs it)");
    };
    let dir = lab.dir().join("s50");
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).expect("mkdir");
    let applets = ["start-stop-daemon", "sed", "sleep", "rm", "cut", "basename"];
    for applet in applets.iter().chain(&["mkdir", "chown", "chmod"]) {
        std::os::unix::fs::symlink(&busybox, bin.join(applet)).expect("applet symlink");
    }
    let conf = dir.join("tinyvrrp.conf");
    fs::write(&conf, config(150, "")).expect("write config");
    let run = dir.join("run");
    let defaults = dir.join("default");
    let settings = format!(
        "TINYVRRP_BIN={}\nTINYVRRP_CONF={}\nTINYVRRP_USER=nobody\nTINYVRRP_RUNDIR={}\n\
         TINYVRRP_ARGS=\"-l info\"\n",
        exe_with_file_caps(&lab),
        conf.display(),
        run.display()
    );
    fs::write(&defaults, settings).expect("write defaults");
    let _guard = Detached(run.join("tinyvrrp.pid"));
    let script = |action: &str| {
        let out = Command::new("ip")
            .args(["netns", "exec", &lab.node(1).name])
            .arg(&busybox)
            .args(["sh", S50, action])
            .env_clear()
            .env(
                "PATH",
                format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", bin.display()),
            )
            .env("TINYVRRP_DEFAULTS", &defaults)
            .output()
            .expect("run S50tinyvrrp");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (
            out.status.success(),
            text + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, text) = script("start");
    assert!(ok && text.contains("OK"), "start: {text}");
    let pid: u32 = fs::read_to_string(run.join("tinyvrrp.pid"))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .expect("pidfile in TINYVRRP_RUNDIR");
    let sock = run.join("tinyvrrp.sock").to_string_lossy().into_owned();
    let master = wait_until(SETTLE, POLL, || {
        let out = Command::new(DAEMON)
            .args(["--status-socket", &sock, "status"])
            .output();
        let status = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
        lab.node(1).has_addr(VIP) && status.unwrap_or_default().contains("state=MASTER")
    });
    assert!(master.is_some(), "not master under S50tinyvrrp as nobody");
    let s = proc_status(pid);
    assert_eq!(s.get("Uid"), Some(&u64::from(NOBODY)), "{s:?}");
    assert_eq!(
        (s.get("CapEff"), s.get("CapAmb")),
        (Some(&NET_RAW_ADMIN), Some(&0))
    );

    let (ok, text) = script("stop");
    assert!(ok && text.contains("OK"), "stop: {text}");
    assert!(!lab.node(1).has_addr(VIP), "VIP left after stop");
    assert!(
        !run.join("tinyvrrp.sock").exists(),
        "status socket left after stop"
    );
}
