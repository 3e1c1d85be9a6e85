//! Health tracking on a real network: vrrp_script weights and FAULT, a hanging script killed
//! at its timeout while adverts go on, no zombies, track_interface. Needs root; skips otherwise.

use crate::lab;

use std::time::{Duration, Instant};

use lab::{wait_until, DaemonHandle, Lab, Node};

const VIP: &str = "192.0.2.1";

fn instance(priority: u8, extra: &str) -> String {
    format!(
        "[vrrp_instance VI_1]\n\
         interface = eth0\n\
         virtual_router_id = 51\n\
         priority = {priority}\n\
         advert_int = 1\n\
         version = 3\n\
         virtual_ipaddress = {VIP}/24\n\
         {extra}"
    )
}

fn script(name: &str, command: &str, weight: i32, extra: &str) -> String {
    format!("[vrrp_script {name}]\nscript = {command}\ninterval = 1\nweight = {weight}\n{extra}\n")
}

/// Writes a script the daemon can run (mode 0755).
fn executable(path: &std::path::Path, body: impl AsRef<[u8]>) {
    std::fs::write(path, body).expect("write script");
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
}

fn state(d: &DaemonHandle) -> String {
    d.state("VI_1").unwrap_or_else(|| "<no status>".into())
}

fn holds(master: (&Node, &DaemonHandle), backup: (&Node, &DaemonHandle)) -> bool {
    master.1.assert_running("tracking");
    backup.1.assert_running("tracking");
    state(master.1) == "MASTER"
        && master.0.has_addr(VIP)
        && state(backup.1) != "MASTER"
        && !backup.0.has_addr(VIP)
}

fn wait_holds(
    what: &str,
    master: (&Node, &DaemonHandle),
    backup: (&Node, &DaemonHandle),
    timeout: Duration,
) -> Duration {
    wait_until(timeout, Duration::from_millis(50), || holds(master, backup)).unwrap_or_else(|| {
        panic!(
            "{what}: node {} not master after {timeout:?} (states {} / {})",
            master.0.index,
            state(master.1),
            state(backup.1)
        )
    })
}

/// A lab where node 1 (150) tracks `scripts`/`extra` and node 2 (100) tracks nothing.
fn pair<'a>(
    lab: &'a Lab,
    scripts: &str,
    extra: &str,
) -> ((&'a Node, DaemonHandle), (&'a Node, DaemonHandle)) {
    let (n1, n2) = (lab.node(1), lab.node(2));
    let d1 = n1.spawn_daemon(&format!("{scripts}{}", instance(150, extra)));
    let d2 = n2.spawn_daemon(&instance(100, ""));
    ((n1, d1), (n2, d2))
}

#[test]
fn a_failing_script_moves_the_vip_and_its_recovery_brings_it_back() {
    let Some(lab) = Lab::new("trk_script", 2) else {
        return;
    };
    let flag = lab.dir().join("service-ok");
    std::fs::write(&flag, "").expect("flag");
    let check = format!("/usr/bin/test -f {}", flag.display());
    let scripts = script("chk", &check, -60, "fall = 2\nrise = 2");
    let ((n1, d1), (n2, d2)) = pair(&lab, &scripts, "track_script = chk\n");
    wait_holds("start", (n1, &d1), (n2, &d2), Duration::from_secs(8));

    std::fs::remove_file(&flag).expect("remove flag");
    let took = wait_holds(
        "script failing",
        (n2, &d2),
        (n1, &d1),
        Duration::from_secs(8),
    );
    // fall x interval (2 s) + one advert interval + Skew_Time(100) = 3.61 s, plus a margin.
    eprintln!(
        "track_script: VIP moved {:.2} s after the check started failing (bound 3.61 s)",
        took.as_secs_f64()
    );
    assert!(took < Duration::from_millis(4600), "took {took:?}");
    assert_eq!(d1.parsed_status().counter("VI_1", "effective_priority"), 90);

    std::fs::write(&flag, "").expect("flag back");
    let back = wait_holds(
        "script recovered",
        (n1, &d1),
        (n2, &d2),
        Duration::from_secs(8),
    );
    eprintln!(
        "track_script: VIP back {:.2} s after the check recovered",
        back.as_secs_f64()
    );
    assert_eq!(
        d1.parsed_status().counter("VI_1", "effective_priority"),
        150
    );
}

#[test]
fn weight_zero_puts_the_instance_in_fault() {
    let Some(lab) = Lab::new("trk_fault", 2) else {
        return;
    };
    let flag = lab.dir().join("ok");
    std::fs::write(&flag, "").expect("flag");
    let scripts = script(
        "chk",
        &format!("/usr/bin/test -f {}", flag.display()),
        0,
        "",
    );
    let ((n1, d1), (n2, d2)) = pair(&lab, &scripts, "track_script = chk\n");
    wait_holds("start", (n1, &d1), (n2, &d2), Duration::from_secs(8));
    std::fs::remove_file(&flag).expect("remove flag");
    wait_holds("fault", (n2, &d2), (n1, &d1), Duration::from_secs(6));
    assert_eq!(state(&d1), "FAULT");
    std::fs::write(&flag, "").expect("flag back");
    wait_holds("recovered", (n1, &d1), (n2, &d2), Duration::from_secs(8));
}

/// keepalived's habits: a bare command is found in PATH and run without a shell, and a script
/// that does not exist on this node counts as failing (its weight applies), rather than
/// refusing the config or silently dropping the check.
#[test]
fn a_bare_command_runs_from_path_and_a_missing_script_counts_as_failing() {
    let Some(lab) = Lab::new("trk_path", 2) else {
        return;
    };
    let flag = lab.dir().join("ok");
    std::fs::write(&flag, "").expect("flag");
    let scripts = script("chk", &format!("test -f {}", flag.display()), -60, "")
        + &script("gone", "/nonexistent/tinyvrrp-check --x", -30, "");
    let extra = "track_script = chk\ntrack_script = gone\n";
    let ((n1, d1), (n2, d2)) = pair(&lab, &scripts, extra);
    wait_holds("start", (n1, &d1), (n2, &d2), Duration::from_secs(8));
    let effective = || d1.parsed_status().counter("VI_1", "effective_priority");
    assert!(
        wait_until(
            Duration::from_secs(4),
            Duration::from_millis(50),
            || effective() == 120
        )
        .is_some(),
        "150 - 30 for the missing script, got {}",
        effective()
    );
    std::fs::remove_file(&flag).expect("remove flag");
    wait_holds(
        "check failing",
        (n2, &d2),
        (n1, &d1),
        Duration::from_secs(6),
    );
    assert_eq!(effective(), 60);
}

/// Children of `pid` in state Z.
fn zombies(pid: u32) -> Vec<String> {
    let out = std::process::Command::new("ps")
        .args(["-o", "pid=,stat=,args=", "--ppid", &pid.to_string()])
        .output()
        .expect("ps");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|s| s.starts_with('Z'))
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn a_hanging_script_is_killed_at_its_timeout_while_adverts_go_on() {
    let Some(lab) = Lab::new("trk_hang", 2) else {
        return;
    };
    // weight -10: a killed (failed) run takes node 1 to 140, still above node 2's 100, so it
    // stays master and must keep advertising every second while its script hangs each time.
    let scripts = script("hang", "/bin/sleep 3600", -10, "timeout = 1");
    let ((n1, d1), (n2, d2)) = pair(&lab, &scripts, "track_script = hang\n");
    wait_holds("start", (n1, &d1), (n2, &d2), Duration::from_secs(8));
    let killed = wait_until(Duration::from_secs(5), Duration::from_millis(100), || {
        d1.parsed_status().counter("VI_1", "effective_priority") == 140
    });
    assert!(
        killed.is_some(),
        "the hanging run was not counted as a failure"
    );
    let before = d2.parsed_status().counter("VI_1", "rx_adverts");
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs(5));
    let heard = d2.parsed_status().counter("VI_1", "rx_adverts") - before;
    eprintln!(
        "hanging script: node 2 heard {heard} adverts from node 1 in {:.1} s while node 1's \
         script kept hanging and being killed",
        t.elapsed().as_secs_f64()
    );
    assert!(heard >= 4, "node 1 sent only {heard} adverts in 5 s");
    assert!(holds((n1, &d1), (n2, &d2)));
    // Every killed run was collected.
    assert!(zombies(d1.pid).is_empty(), "{:?}", zombies(d1.pid));
    let log = d1.log_text();
    assert!(
        log.contains("vrrp_script hang: no answer after 1 s, killing it"),
        "{log}"
    );
}

#[test]
fn a_hundred_script_runs_leave_no_zombie() {
    let Some(lab) = Lab::new("trk_many", 2) else {
        return;
    };
    let scripts: String = (0..12)
        .map(|i| script(&format!("s{i}"), "/bin/true", 0, ""))
        .collect();
    let tracks: String = (0..12).map(|i| format!("track_script = s{i}\n")).collect();
    let ((n1, d1), (n2, d2)) = pair(&lab, &scripts, &tracks);
    wait_holds("start", (n1, &d1), (n2, &d2), Duration::from_secs(8));
    let ran = wait_until(Duration::from_secs(20), Duration::from_millis(200), || {
        d1.log_text().matches("vrrp_script s").count() >= 100
    });
    assert!(ran.is_some(), "fewer than 100 script runs logged");
    assert!(zombies(d1.pid).is_empty(), "{:?}", zombies(d1.pid));
    assert!(
        holds((n1, &d1), (n2, &d2)),
        "all scripts succeed: node 1 stays master"
    );
}

#[test]
fn track_interface_down_moves_the_vip() {
    let Some(lab) = Lab::new("trk_if", 2) else {
        return;
    };
    let n1 = lab.node(1);
    for args in [
        &[
            "ip", "link", "add", "up0", "type", "veth", "peer", "name", "up1",
        ][..],
        &["ip", "link", "set", "up1", "up"],
        &["ip", "link", "set", "up0", "up"],
    ] {
        assert!(n1.exec(args).status.success(), "{args:?}");
    }
    let ((n1, d1), (n2, d2)) = pair(&lab, "", "track_interface = up0\n");
    wait_holds("start", (n1, &d1), (n2, &d2), Duration::from_secs(8));
    assert!(n1
        .exec(&["ip", "link", "set", "up1", "down"])
        .status
        .success());
    let took = wait_holds("uplink down", (n2, &d2), (n1, &d1), Duration::from_secs(6));
    eprintln!(
        "track_interface: VIP moved {:.2} s after the uplink went down",
        took.as_secs_f64()
    );
    assert_eq!(state(&d1), "FAULT");
    assert!(n1
        .exec(&["ip", "link", "set", "up1", "up"])
        .status
        .success());
    wait_holds("uplink up", (n1, &d1), (n2, &d2), Duration::from_secs(8));
}

#[test]
fn notify_scripts_get_keepalived_arguments_and_run_in_order() {
    let Some(lab) = Lab::new("trk_notify", 2) else {
        return;
    };
    let out = lab.dir().join("notify.log");
    let hook = lab.dir().join("notify.sh");
    // The BACKUP script is slow and the MASTER one instant: scripts fired at once (as
    // keepalived does) would write MASTER before BACKUP; queued per instance they cannot.
    executable(
        &hook,
        format!(
            "#!/bin/sh\n[ \"$3\" = BACKUP ] && sleep 1\necho \"$*|$ACTION|$NAME|$PRIORITY\" >> {}\n",
            out.display()
        ),
    );
    let extra = format!("notify = {}\n", hook.display());
    let ((n1, d1), (n2, d2)) = pair(&lab, "", &extra);
    wait_holds("start", (n1, &d1), (n2, &d2), Duration::from_secs(8));
    // A quick MASTER -> BACKUP -> MASTER: node 2 outranks node 1 for a moment.
    std::fs::write(&d2.conf, instance(200, "")).expect("conf");
    assert!(d2.kill(libc::SIGHUP));
    wait_holds("node 2 up", (n2, &d2), (n1, &d1), Duration::from_secs(5));
    std::fs::write(&d2.conf, instance(100, "")).expect("conf");
    assert!(d2.kill(libc::SIGHUP));
    wait_holds("node 1 back", (n1, &d1), (n2, &d2), Duration::from_secs(5));
    let lines = wait_until(Duration::from_secs(5), Duration::from_millis(100), || {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .count()
            >= 4
    });
    assert!(
        lines.is_some(),
        "notify lines: {:?}",
        std::fs::read_to_string(&out)
    );
    let text = std::fs::read_to_string(&out).expect("notify log");
    let got: Vec<&str> = text.lines().collect();
    assert_eq!(
        got,
        vec![
            "INSTANCE VI_1 BACKUP 150|BACKUP|VI_1|150",
            "INSTANCE VI_1 MASTER 150|MASTER|VI_1|150",
            "INSTANCE VI_1 BACKUP 150|BACKUP|VI_1|150",
            "INSTANCE VI_1 MASTER 150|MASTER|VI_1|150",
        ],
        "in the order of the transitions"
    );
}

/// VI_1 (with `extra`) and VI_2 (VRID 52, 192.0.2.2), both at `priority`.
fn two(priority: u8, extra: &str) -> String {
    format!(
        "{}\n{}",
        instance(priority, extra),
        instance(priority, "")
            .replace("VI_1", "VI_2")
            .replace("virtual_router_id = 51", "virtual_router_id = 52")
            .replace(VIP, "192.0.2.2")
    )
}

fn both_on(n: &Node, d: &DaemonHandle) -> bool {
    n.has_addr(VIP)
        && n.has_addr("192.0.2.2")
        && d.state("VI_1").as_deref() == Some("MASTER")
        && d.state("VI_2").as_deref() == Some("MASTER")
}

#[test]
fn a_sync_group_fails_over_together() {
    let Some(lab) = Lab::new("trk_sync", 2) else {
        return;
    };
    let (n1, n2) = (lab.node(1), lab.node(2));
    for args in [
        &[
            "ip", "link", "add", "up0", "type", "veth", "peer", "name", "up1",
        ][..],
        &["ip", "link", "set", "up1", "up"],
        &["ip", "link", "set", "up0", "up"],
    ] {
        assert!(n1.exec(args).status.success(), "{args:?}");
    }
    // Only VI_1 tracks the uplink; the group takes VI_2 along.
    let group = "[vrrp_sync_group G]\ngroup = VI_1\ngroup = VI_2\n";
    let d1 = n1.spawn_daemon(&format!("{group}{}", two(150, "track_interface = up0\n")));
    let d2 = n2.spawn_daemon(&two(100, ""));
    let settled = wait_until(Duration::from_secs(8), Duration::from_millis(50), || {
        both_on(n1, &d1)
    });
    assert!(settled.is_some(), "node 1 never master of both");
    assert!(n1
        .exec(&["ip", "link", "set", "up1", "down"])
        .status
        .success());
    let took = wait_until(Duration::from_secs(5), Duration::from_millis(50), || {
        both_on(n2, &d2) && !n1.has_addr(VIP) && !n1.has_addr("192.0.2.2")
    });
    let took =
        took.unwrap_or_else(|| panic!("the group did not fail over together: {}", d1.status()));
    eprintln!(
        "sync group: both VIPs moved {:.2} s after the uplink went down",
        took.as_secs_f64()
    );
    assert_eq!(d1.state("VI_2").as_deref(), Some("FAULT"));
    assert!(n1
        .exec(&["ip", "link", "set", "up1", "up"])
        .status
        .success());
    let back = wait_until(Duration::from_secs(8), Duration::from_millis(50), || {
        both_on(n1, &d1)
    });
    assert!(
        back.is_some(),
        "the group did not come back: {}",
        d1.status()
    );
}

#[test]
fn track_file_value_times_weight_moves_the_vip() {
    let Some(lab) = Lab::new("trk_file", 2) else {
        return;
    };
    let file = lab.dir().join("prio");
    std::fs::write(&file, "0\n").expect("file");
    let section = format!(
        "[vrrp_track_file load]\nfile = {}\nweight = -10\n",
        file.display()
    );
    let ((n1, d1), (n2, d2)) = pair(&lab, &section, "track_file = load\n");
    wait_holds("start", (n1, &d1), (n2, &d2), Duration::from_secs(8));
    // 6 x -10 = -60: node 1 drops to 90, below node 2.
    std::fs::write(&file, "6\n").expect("file");
    let took = wait_holds("file 6", (n2, &d2), (n1, &d1), Duration::from_secs(5));
    eprintln!(
        "track_file: VIP moved {:.2} s after the file changed",
        took.as_secs_f64()
    );
    assert_eq!(d1.parsed_status().counter("VI_1", "effective_priority"), 90);
    std::fs::write(&file, "0\n").expect("file");
    wait_holds("file 0", (n1, &d1), (n2, &d2), Duration::from_secs(5));
}

fn track_process_line(d: &DaemonHandle, name: &str) -> Option<String> {
    d.status()
        .lines()
        .find(|l| l.starts_with(&format!("track_process name={name} ")))
        .map(str::to_owned)
}

#[test]
fn track_process_follows_a_process_started_and_killed() {
    let Some(lab) = Lab::new("trk_proc", 2) else {
        return;
    };
    // sleep under a name of our own, so no other process matches.
    let name = format!("tvrproc{}", std::process::id() % 100_000);
    let section = format!("[vrrp_track_process daemon]\nprocess = {name}\nweight = 0\n");
    let ((n1, d1), (n2, d2)) = pair(&lab, &section, "track_process = daemon\n");
    // Not running: node 1 is in FAULT and node 2 holds the VIP.
    wait_holds("absent", (n2, &d2), (n1, &d1), Duration::from_secs(8));
    assert_eq!(state(&d1), "FAULT");
    let line = track_process_line(&d1, "daemon").expect("track_process status line");
    assert!(line.contains("processes=0 health=down"), "{line}");

    let started = lab.start_named_sleep(&name);
    let took = wait_holds("started", (n1, &d1), (n2, &d2), Duration::from_secs(8));
    eprintln!(
        "track_process: started -> node 1 master in {:.2} s",
        took.as_secs_f64()
    );
    let line = track_process_line(&d1, "daemon").expect("track_process status line");
    assert!(line.contains("processes=1 health=up"), "{line}");

    drop(started);
    let took = wait_holds("killed", (n2, &d2), (n1, &d1), Duration::from_secs(8));
    eprintln!(
        "track_process: killed -> node 2 master in {:.2} s",
        took.as_secs_f64()
    );
    assert_eq!(state(&d1), "FAULT");
}

/// keepalived's sync-group rule beyond faults: a member that becomes backup to a higher
/// master takes the whole group to backup, and the group's notify scripts run once per
/// group state with `GROUP name STATE 0`.
#[test]
fn a_sync_group_member_outranked_takes_the_group_to_backup() {
    let Some(lab) = Lab::new("trk_sgb", 2) else {
        return;
    };
    let (n1, n2) = (lab.node(1), lab.node(2));
    let file = lab.dir().join("load");
    std::fs::write(&file, "0\n").expect("file");
    let out = lab.dir().join("group.log");
    let hook = lab.dir().join("group.sh");
    executable(
        &hook,
        format!("#!/bin/sh\necho \"$*|$TYPE\" >> {}\n", out.display()),
    );
    let sections = format!(
        "[vrrp_track_file load]\nfile = {}\nweight = -100\n\n\
         [vrrp_sync_group G]\ngroup = VI_1\ngroup = VI_2\nnotify = {}\n",
        file.display(),
        hook.display()
    );
    // Only VI_1 tracks the file: at 1 its priority is 50, below node 2's 100.
    let d1 = n1.spawn_daemon(&format!("{sections}{}", two(150, "track_file = load\n")));
    let d2 = n2.spawn_daemon(&two(100, ""));
    let settled = wait_until(Duration::from_secs(8), Duration::from_millis(50), || {
        both_on(n1, &d1)
    });
    assert!(settled.is_some(), "node 1 never master of both");
    std::fs::write(&file, "1\n").expect("file");
    let took = wait_until(Duration::from_secs(6), Duration::from_millis(50), || {
        both_on(n2, &d2) && !n1.has_addr(VIP) && !n1.has_addr("192.0.2.2")
    });
    let took = took.unwrap_or_else(|| {
        panic!(
            "the group did not go to backup together: {}\n{}",
            d1.status(),
            d2.status()
        )
    });
    eprintln!(
        "sync group: both VIPs moved {:.2} s after VI_1 was outranked",
        took.as_secs_f64()
    );
    assert_eq!(d1.state("VI_2").as_deref(), Some("BACKUP"));
    // VI_2 stays with node 2 although node 1's VI_2 (150) outranks it: the group holds it.
    std::thread::sleep(Duration::from_secs(3));
    assert!(both_on(n2, &d2), "VI_2 came back alone: {}", d1.status());
    std::fs::write(&file, "0\n").expect("file");
    let back = wait_until(Duration::from_secs(6), Duration::from_millis(50), || {
        both_on(n1, &d1) && !n2.has_addr(VIP) && !n2.has_addr("192.0.2.2")
    });
    assert!(
        back.is_some(),
        "the group did not come back: {}",
        d1.status()
    );
    let lines = wait_until(Duration::from_secs(5), Duration::from_millis(100), || {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .count()
            >= 4
    });
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    assert!(lines.is_some(), "group notify lines: {text:?}");
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        vec![
            "GROUP G BACKUP 0|GROUP",
            "GROUP G MASTER 0|GROUP",
            "GROUP G BACKUP 0|GROUP",
            "GROUP G MASTER 0|GROUP",
        ]
    );
}

/// Notify output reaches the daemon's log line by line while the script runs: a script that
/// writes far more than a pipe holds still finishes at once (a pipe read only at exit would
/// stall it until its timeout).
#[test]
fn notify_output_is_logged_and_a_chatty_script_is_not_stalled() {
    let Some(lab) = Lab::new("trk_nout", 1) else {
        return;
    };
    let done = lab.dir().join("done");
    let hook = lab.dir().join("chatty.sh");
    executable(
        &hook,
        format!(
            "#!/bin/sh\necho \"hello from notify $1\"\necho \"to stderr\" >&2\n\
             head -c 1048576 /dev/zero | tr '\\0' 'x'\necho\ntouch {}\n",
            done.display()
        ),
    );
    let n1 = lab.node(1);
    let d1 = n1.spawn_daemon(&instance(
        150,
        &format!("notify_master = {} MASTER\n", hook.display()),
    ));
    let master = wait_until(Duration::from_secs(8), Duration::from_millis(50), || {
        state(&d1) == "MASTER"
    });
    assert!(master.is_some(), "never master: {}", d1.status());
    let finished = wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        done.exists()
    });
    let took = finished.expect("the chatty notify script never finished (stalled on its pipe?)");
    eprintln!(
        "notify: 1 MiB of output, script done {:.2} s after master",
        took.as_secs_f64()
    );
    let logged = wait_until(Duration::from_secs(5), Duration::from_millis(100), || {
        let log = std::fs::read_to_string(&d1.log).unwrap_or_default();
        log.contains("hello from notify MASTER") && log.contains("to stderr")
    });
    assert!(
        logged.is_some(),
        "notify output not in the log: {}",
        std::fs::read_to_string(&d1.log).unwrap_or_default()
    );
}
