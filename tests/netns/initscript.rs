//! contrib/busybox/S50tinyvrrp run for real, the way a busybox appliance runs it: in busybox ash,
//! with busybox's `start-stop-daemon` (and busybox's sed, sleep, rm, ... — a directory of
//! applet symlinks comes first in PATH, so the host's own tools never stand in), inside a node
//! of the netns lab, against a tinyvrrp peer started by the lab in the other node.
//!
//! Needs root (the lab) and busybox: as root a missing busybox is a failure (tests/run.sh
//! installs Debian's `busybox` package); without root every test that needs the lab skips.
//!
//! The script's daemon is detached by start-stop-daemon, so the lab does not know it: an
//! `Initscript` guard kills, by pid, every tinyvrrp left in its node's namespace when the test
//! ends (also on panic). The test process makes itself a child subreaper, so the detached
//! daemon becomes its child when the script exits: the test can then reap it and read its exit
//! status, instead of pid 1 doing so behind its back.

use crate::lab;

use std::fs;
use std::os::unix::fs::symlink;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use lab::{output_timeout, wait_until, Lab, Node, Status, DAEMON};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/busybox/S50tinyvrrp");
const INITTAB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/busybox/inittab");
const VIP: &str = "192.0.2.1";
/// The external commands the script runs, all taken from busybox.
const APPLETS: &[&str] = &["start-stop-daemon", "sed", "sleep", "rm", "cut", "basename"];
/// No script action may take longer (stop waits at most TINYVRRP_STOP_TIMEOUT = 10 s).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);

fn config(priority: u8) -> String {
    lab::v3_instance(priority, "0.5", VIP)
}

fn busybox_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join("busybox"))
        .find(|p| p.is_file())
}

/// busybox, or None after saying why when it is missing and we are not root. As root (CI) a
/// missing busybox fails the test: tests/run.sh installs it.
fn need_busybox(tag: &str) -> Option<PathBuf> {
    match busybox_path() {
        Some(p) => Some(p),
        None if lab::is_root() => {
            panic!("{tag}: busybox is not installed (tests/run.sh installs Debian's busybox)")
        }
        None => {
            eprintln!("{tag}: skipped: busybox is not installed and we are not root");
            None
        }
    }
}

/// Detached daemons are re-parented to the nearest subreaper: make that us.
fn become_subreaper() {
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes an integer and touches no memory.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    assert_eq!(rc, 0, "prctl(PR_SET_CHILD_SUBREAPER)");
}

/// The one-letter state in /proc/PID/status (`R`, `S`, `Z`, ...), None when there is no such
/// process.
fn proc_state(pid: u32) -> Option<char> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("State:"))
        .and_then(|s| s.trim().chars().next())
}

fn alive(pid: u32) -> bool {
    proc_state(pid).is_some_and(|s| s != 'Z')
}

/// Signals a daemon the script started (checked alive first, so the pid is still it).
fn signal(pid: u32, sig: libc::c_int) {
    assert!(alive(pid), "pid {pid} is not running");
    // SAFETY: kill has no memory effects; the pid is the test's own daemon.
    assert_eq!(
        unsafe { libc::kill(pid as libc::pid_t, sig) },
        0,
        "kill {pid}"
    );
}

/// Reaps `pid` if it is our (exited) child; its exit code, or None when it is not our child
/// or has not exited.
fn reap(pid: u32) -> Option<libc::c_int> {
    let mut status: libc::c_int = 0;
    // SAFETY: waitpid on one pid with WNOHANG; `status` is a valid out pointer.
    let got = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, libc::WNOHANG) };
    (got == pid as libc::pid_t).then(|| {
        if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            128 + libc::WTERMSIG(status)
        }
    })
}

/// What a script action did.
struct Run {
    ok: bool,
    /// stdout and stderr, one after the other.
    text: String,
}

/// S50tinyvrrp set up for one node: its settings in a defaults file (TINYVRRP_DEFAULTS), all
/// paths in the lab's scratch directory. Dropping it stops every tinyvrrp still running in the
/// node's namespace (by pid; only the script starts daemons there).
struct Initscript<'a> {
    node: &'a Node,
    busybox: PathBuf,
    bin_dir: PathBuf,
    defaults: PathBuf,
    conf: PathBuf,
    pidfile: PathBuf,
    sock: PathBuf,
}

impl<'a> Initscript<'a> {
    /// `args` is TINYVRRP_ARGS: the tests log to stderr (/dev/null once detached), never to the
    /// host's /dev/log. None keeps the script's default (`-l info --syslog`).
    fn new(lab: &Lab, node: &'a Node, busybox: &Path, args: Option<&str>) -> Self {
        let dir = lab.dir().join(format!("initscript-n{}", node.index));
        let bin_dir = dir.join("bin");
        fs::create_dir_all(&bin_dir).expect("mkdir bin");
        for applet in APPLETS {
            symlink(busybox, bin_dir.join(applet)).expect("applet symlink");
        }
        let s = Initscript {
            node,
            busybox: busybox.to_owned(),
            defaults: dir.join("default"),
            conf: dir.join("tinyvrrp.conf"),
            pidfile: dir.join("tinyvrrp.pid"),
            sock: dir.join("tinyvrrp.sock"),
            bin_dir,
        };
        let mut settings = format!(
            "TINYVRRP_BIN={}\nTINYVRRP_CONF={}\nTINYVRRP_PIDFILE={}\nTINYVRRP_STATUS_SOCKET={}\n",
            DAEMON,
            s.conf.display(),
            s.pidfile.display(),
            s.sock.display()
        );
        if let Some(args) = args {
            settings += &format!("TINYVRRP_ARGS=\"{args}\"\n");
        }
        fs::write(&s.defaults, settings).expect("write defaults");
        s
    }

    fn write_config(&self, text: &str) {
        fs::write(&self.conf, text).expect("write config");
    }

    /// `busybox sh S50tinyvrrp ACTION` inside the node's namespace.
    fn run(&self, action: &str) -> Run {
        let busybox = self.busybox.to_string_lossy();
        self.run_in_ns(action, &[&busybox, "sh", SCRIPT, action])
    }

    /// Like `run`, in a private mount namespace (unshare) whose /dev is `dev`, with the real
    /// /dev/null bound onto `dev/null` (an empty file there). The daemon stays in that
    /// namespace; nothing is mounted outside it.
    fn run_with_dev(&self, action: &str, dev: &Path) -> Run {
        let busybox = self.busybox.to_string_lossy();
        let dev = dev.to_string_lossy();
        self.run_in_ns(
            action,
            &[
                "unshare",
                "--mount",
                "--propagation",
                "private",
                &busybox,
                "sh",
                "-c",
                "mount --bind /dev/null \"$1/null\" && mount --rbind \"$1\" /dev && \
                 exec \"$2\" sh \"$3\" \"$4\"",
                "sh",
                &dev,
                &busybox,
                SCRIPT,
                action,
            ],
        )
    }

    fn run_in_ns(&self, action: &str, args: &[&str]) -> Run {
        let path = format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", self.bin_dir.display());
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.node.name])
            .args(args)
            .env_clear()
            .env("PATH", path)
            .env("TINYVRRP_DEFAULTS", &self.defaults);
        let out = output_timeout(&mut cmd, SCRIPT_TIMEOUT).unwrap_or_else(|| {
            panic!("S50tinyvrrp {action} still running after {SCRIPT_TIMEOUT:?}")
        });
        let run = Run {
            ok: out.status.success(),
            text: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        };
        eprintln!("S50tinyvrrp {action}: {:?} {}", out.status, run.text.trim());
        run
    }

    fn pid(&self) -> Option<u32> {
        fs::read_to_string(&self.pidfile).ok()?.trim().parse().ok()
    }

    fn status(&self) -> Status {
        let sock = self.sock.to_string_lossy().into_owned();
        let text = output_timeout(
            Command::new(DAEMON).args(["--status-socket", &sock, "status"]),
            Duration::from_secs(3),
        )
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
        Status::parse(&text)
    }

    fn field(&self, key: &str) -> Option<String> {
        self.status().instance("VI_1")?.get(key).cloned()
    }

    /// Live tinyvrrp processes in the node's namespace.
    fn daemons(&self) -> Vec<u32> {
        let out = Command::new("ip")
            .args(["netns", "pids", &self.node.name])
            .output()
            .expect("ip netns pids");
        let daemon = fs::canonicalize(DAEMON).expect("daemon path");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|w| w.parse::<u32>().ok())
            .filter(|pid| {
                alive(*pid)
                    && fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe == daemon)
            })
            .collect()
    }
}

impl Drop for Initscript<'_> {
    fn drop(&mut self) {
        let pids = self.daemons();
        for pid in &pids {
            eprintln!("teardown: stopping tinyvrrp pid {pid} left by the script");
            // SAFETY: a tinyvrrp in a namespace only this test uses: the script started it.
            unsafe { libc::kill(*pid as libc::pid_t, libc::SIGTERM) };
        }
        for pid in pids {
            if wait_until(Duration::from_secs(3), POLL, || !alive(pid)).is_none() {
                // SAFETY: as above; still alive, so the pid is still that process.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
                wait_until(Duration::from_secs(2), POLL, || !alive(pid));
            }
            reap(pid);
        }
    }
}

#[test]
fn script_passes_busybox_ash_n_and_shellcheck() {
    let Some(busybox) = need_busybox("ash -n") else {
        return;
    };
    let out = Command::new(&busybox)
        .args(["ash", "-n", SCRIPT])
        .output()
        .expect("run busybox ash -n");
    assert!(
        out.status.success(),
        "busybox ash -n {SCRIPT}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    match Command::new("shellcheck")
        .args(["-s", "sh", SCRIPT])
        .output()
    {
        Ok(out) => assert!(
            out.status.success(),
            "shellcheck -s sh {SCRIPT}:\n{}",
            String::from_utf8_lossy(&out.stdout)
        ),
        Err(e) => eprintln!("shellcheck part skipped: cannot run shellcheck: {e}"),
    }
}

#[test]
fn start_takes_the_vip_reload_applies_priority_stop_releases_it() {
    let Some(lab) = Lab::new("initscript", 2) else {
        return;
    };
    let busybox = need_busybox("initscript").expect("busybox");
    become_subreaper();
    let (n1, n2) = (lab.node(1), lab.node(2));
    let peer = n2.spawn_daemon(&config(100));
    let s = Initscript::new(&lab, n1, &busybox, Some("-l debug"));
    s.write_config(&config(150));

    // start: exits 0, the daemon (priority 150) takes the VIP from the peer (100).
    let run = s.run("start");
    assert!(run.ok && run.text.contains("OK"), "start: {}", run.text);
    let pid = s.pid().expect("start returned but there is no pidfile");
    assert!(alive(pid), "pid {pid} from the pidfile is not running");
    wait_until(Duration::from_secs(8), POLL, || {
        n1.has_addr(VIP)
            && !n2.has_addr(VIP)
            && s.field("state").as_deref() == Some("MASTER")
            && peer.state("VI_1").as_deref() == Some("BACKUP")
    })
    .unwrap_or_else(|| {
        panic!(
            "the script's daemon never took the VIP: status {:?}, peer {:?}",
            s.field("state"),
            peer.state("VI_1")
        )
    });
    assert_eq!(s.daemons(), vec![pid]);

    // start again: exits 0, says so, starts nothing.
    let run = s.run("start");
    assert!(
        run.ok && run.text.contains("already running"),
        "second start: {}",
        run.text
    );
    thread::sleep(Duration::from_millis(300));
    assert_eq!(s.pid(), Some(pid), "the pidfile changed");
    assert_eq!(s.daemons(), vec![pid], "a second daemon runs");

    // reload with priority 50: the same process applies it and the peer wins.
    s.write_config(&config(50));
    let run = s.run("reload");
    assert!(run.ok && run.text.contains("OK"), "reload: {}", run.text);
    wait_until(Duration::from_secs(8), POLL, || {
        s.field("priority").as_deref() == Some("50")
            && s.field("state").as_deref() == Some("BACKUP")
            && n2.has_addr(VIP)
            && !n1.has_addr(VIP)
    })
    .unwrap_or_else(|| {
        panic!(
            "reload to priority 50 not applied: priority {:?} state {:?}, peer {:?}",
            s.field("priority"),
            s.field("state"),
            peer.state("VI_1")
        )
    });
    assert_eq!(s.daemons(), vec![pid], "reload restarted the daemon");

    // reload with priority 200: it preempts the peer again.
    s.write_config(&config(200));
    assert!(s.run("reload").ok);
    wait_until(Duration::from_secs(8), POLL, || {
        s.field("priority").as_deref() == Some("200")
            && s.field("state").as_deref() == Some("MASTER")
            && n1.has_addr(VIP)
            && !n2.has_addr(VIP)
    })
    .expect("reload to priority 200 did not win the VIP back");

    // stop: exits 0 only once the process is gone, the VIP released. The daemon is frozen
    // (SIGSTOP) while stop runs, so it cannot exit on the SIGTERM: stop must still be waiting
    // a second later; once thawed it exits and stop returns.
    signal(pid, libc::SIGSTOP);
    let (returned_while_frozen, run) = thread::scope(|scope| {
        let stopper = scope.spawn(|| s.run("stop"));
        thread::sleep(Duration::from_secs(1));
        let early = stopper.is_finished();
        signal(pid, libc::SIGCONT);
        (early, stopper.join().expect("stop thread"))
    });
    assert!(
        !returned_while_frozen,
        "stop returned while the daemon could not have exited: {}",
        run.text
    );
    assert!(run.ok && run.text.contains("OK"), "stop: {}", run.text);
    assert!(!alive(pid), "stop returned while pid {pid} still runs");
    assert!(
        !n1.has_addr(VIP),
        "stop returned with the VIP still on eth0"
    );
    assert!(!s.pidfile.exists(), "stop left the pidfile");
    assert_eq!(s.daemons(), Vec::<u32>::new());
    // The daemon was re-parented to us (subreaper): it exited cleanly on SIGTERM.
    assert_eq!(reap(pid), Some(0), "the daemon's exit code after stop");
    assert_eq!(
        proc_state(pid),
        None,
        "pid {pid} still exists after reaping"
    );
    wait_until(Duration::from_secs(5), POLL, || n2.has_addr(VIP))
        .expect("the peer did not take over after stop");

    // stop again: nothing to do, still success.
    let run = s.run("stop");
    assert!(
        run.ok && run.text.contains("not running"),
        "second stop: {}",
        run.text
    );
}

#[test]
fn start_on_a_broken_config_fails_showing_the_error_and_reload_keeps_the_old_one() {
    let Some(lab) = Lab::new("initscript_broken", 1) else {
        return;
    };
    let busybox = need_busybox("initscript_broken").expect("busybox");
    become_subreaper();
    let n1 = lab.node(1);
    let s = Initscript::new(&lab, n1, &busybox, Some("-l debug"));
    let broken = config(150).replace("priority = 150", "priority = 0");
    let error = format!("{}:4: [vrrp_instance VI_1] priority", s.conf.display());

    s.write_config(&broken);
    let run = s.run("start");
    assert!(!run.ok, "start on a broken config exited 0: {}", run.text);
    assert!(
        run.text.contains("FAIL") && run.text.contains(&error),
        "start does not show {error:?}:\n{}",
        run.text
    );
    assert!(!s.pidfile.exists(), "a pidfile after a failed start");
    assert_eq!(
        s.daemons(),
        Vec::<u32>::new(),
        "a daemon after a failed start"
    );

    // A good config starts; a broken one is refused by reload, which shows why, and the
    // daemon keeps running what it had.
    s.write_config(&config(150));
    assert!(s.run("start").ok);
    let pid = s.pid().expect("pidfile");
    wait_until(Duration::from_secs(5), POLL, || n1.has_addr(VIP)).expect("VIP never taken");
    s.write_config(&broken);
    let run = s.run("reload");
    assert!(!run.ok, "reload of a broken config exited 0: {}", run.text);
    assert!(
        run.text.contains(&error),
        "reload hides the error:\n{}",
        run.text
    );
    assert_eq!(s.daemons(), vec![pid]);
    assert_eq!(s.field("priority").as_deref(), Some("150"));
    assert!(n1.has_addr(VIP));

    // restart with the broken config refuses before stopping anything.
    let run = s.run("restart");
    assert!(
        !run.ok && run.text.contains(&error),
        "restart: {}",
        run.text
    );
    assert_eq!(
        s.daemons(),
        vec![pid],
        "restart stopped the daemon for a broken config"
    );
    assert!(n1.has_addr(VIP));

    // restart with a good config: a new daemon, with the new config.
    s.write_config(&config(120));
    let run = s.run("restart");
    assert!(run.ok, "restart: {}", run.text);
    let new_pid = s.pid().expect("pidfile after restart");
    assert_ne!(new_pid, pid);
    assert!(!alive(pid), "the old daemon survived restart");
    reap(pid);
    assert_eq!(s.daemons(), vec![new_pid]);
    wait_until(Duration::from_secs(5), POLL, || {
        s.field("priority").as_deref() == Some("120") && n1.has_addr(VIP)
    })
    .expect("the restarted daemon does not hold the VIP with priority 120");
}

/// With the script's default arguments (`-l info --syslog`) the daemon's records reach
/// /dev/log as `<PRI>tinyvrrp[PID]: message`, facility daemon. The binary has no option for the
/// socket path, so the script runs in a private mount namespace whose /dev is a scratch
/// directory: `null` bound to the real /dev/null and `log` a symlink to a datagram socket this
/// test binds. The host's /dev/log is neither used nor touched.
#[test]
fn syslog_records_reach_dev_log() {
    let Some(lab) = Lab::new("initscript_syslog", 1) else {
        return;
    };
    let busybox = need_busybox("initscript_syslog").expect("busybox");
    become_subreaper();
    let n1 = lab.node(1);
    let s = Initscript::new(&lab, n1, &busybox, None);
    s.write_config(&config(150));

    let dev = private_dev(lab.dir());
    let log_sock = lab.dir().join("syslog.sock");
    let server = UnixDatagram::bind(&log_sock).expect("bind the syslog socket");
    server
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    symlink(&log_sock, dev.join("log")).expect("dev/log symlink");

    let run = s.run_with_dev("start", &dev);
    assert!(run.ok, "start: {}", run.text);
    let pid = s.pid().expect("pidfile");
    wait_until(Duration::from_secs(5), POLL, || n1.has_addr(VIP)).expect("VIP never taken");

    let prefix = format!("tinyvrrp[{pid}]: ");
    let mut records = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline && !records.iter().any(|r: &String| r.contains("-> MASTER")) {
        if let Ok(n) = server.recv(&mut buf) {
            records.push(String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).into_owned());
        }
    }
    eprintln!("syslog records: {records:#?}");
    assert!(
        records.iter().any(|r| r.contains("-> MASTER")),
        "no MASTER transition among the syslog records: {records:#?}"
    );
    for r in &records {
        let pri: u32 = r
            .strip_prefix('<')
            .and_then(|t| t.split_once('>'))
            .filter(|(_, msg)| msg.starts_with(&prefix))
            .and_then(|(p, _)| p.parse().ok())
            .unwrap_or_else(|| panic!("not <PRI>{prefix}...: {r:?}"));
        assert_eq!(pri >> 3, 3, "facility of {r:?} is not daemon");
        assert!(pri & 7 <= 6, "a debug record at the default level: {r:?}");
    }

    let run = s.run("stop");
    assert!(run.ok, "stop: {}", run.text);
    assert_eq!(reap(pid), Some(0));
}

/// The inittab example's one entry: `::respawn:` and a command line that runs the installed
/// binary in the foreground with --syslog. Run as written (paths swapped for the test's) it is
/// a foreground daemon: the pid init would watch takes the VIP, and SIGTERM (init at shutdown)
/// makes it release the VIP and exit 0.
#[test]
fn inittab_respawn_line_runs_the_daemon_in_the_foreground() {
    let text = fs::read_to_string(INITTAB).expect("read contrib/busybox/inittab");
    let entries: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .collect();
    assert_eq!(entries.len(), 1, "one inittab entry expected: {entries:?}");
    let fields: Vec<&str> = entries[0].splitn(4, ':').collect();
    let [id, _runlevels, action, process] = fields[..] else {
        panic!("not id:runlevels:action:process: {}", entries[0]);
    };
    assert_eq!((id, action), ("", "respawn"));
    let argv: Vec<&str> = process.split_whitespace().collect();
    assert_eq!(argv.first(), Some(&"/usr/sbin/tinyvrrp"));
    assert!(argv.contains(&"--syslog"), "no --syslog: {process}");
    let opt = |name: &str| {
        argv.iter()
            .position(|a| *a == name)
            .and_then(|i| argv.get(i + 1))
            .copied()
            .unwrap_or_else(|| panic!("no {name} in {process}"))
    };
    assert_eq!(opt("-f"), "/etc/tinyvrrp.conf");
    assert_eq!(opt("--pidfile"), "/var/run/tinyvrrp.pid");

    let Some(lab) = Lab::new("inittab", 1) else {
        return;
    };
    let busybox = need_busybox("inittab").expect("busybox");
    let n1 = lab.node(1);
    let dir = lab.dir();
    let (conf, pidfile, sock) = (
        dir.join("tinyvrrp.conf"),
        dir.join("tinyvrrp.pid"),
        dir.join("tinyvrrp.sock"),
    );
    fs::write(&conf, config(150)).expect("write config");
    let dev = private_dev(dir);
    let swapped: Vec<String> = argv
        .iter()
        .map(|a| match *a {
            "/usr/sbin/tinyvrrp" => DAEMON.to_owned(),
            "/etc/tinyvrrp.conf" => conf.to_string_lossy().into_owned(),
            "/var/run/tinyvrrp.pid" => pidfile.to_string_lossy().into_owned(),
            other => other.to_owned(),
        })
        .collect();
    // --syslog must not reach the host's /dev/log: the same private /dev as above.
    let (busybox, dev, sock_s) = (
        busybox.to_string_lossy(),
        dev.to_string_lossy(),
        sock.to_string_lossy(),
    );
    let mut args = vec![
        "unshare",
        "--mount",
        "--propagation",
        "private",
        &busybox,
        "sh",
        "-c",
        "mount --bind /dev/null \"$1/null\" && mount --rbind \"$1\" /dev && shift && exec \"$@\"",
        "sh",
        &dev,
    ];
    args.extend(swapped.iter().map(String::as_str));
    args.extend(["--status-socket", &sock_s]);
    let pid = n1.spawn(&args, &dir.join("inittab.log"));

    wait_until(Duration::from_secs(5), POLL, || {
        n1.has_addr(VIP) && fs::read_to_string(&pidfile).is_ok_and(|p| p.trim() == pid.to_string())
    })
    .unwrap_or_else(|| {
        panic!(
            "the inittab command did not take the VIP as pid {pid} (the one init watches); log:\n{}",
            fs::read_to_string(dir.join("inittab.log")).unwrap_or_default()
        )
    });
    assert!(alive(pid));
    signal(pid, libc::SIGTERM);
    wait_until(Duration::from_secs(5), POLL, || !alive(pid)).expect("no exit on SIGTERM");
    assert!(!n1.has_addr(VIP), "VIP left behind after SIGTERM");
}

/// A scratch /dev in `dir` for `run_with_dev` and the inittab test, holding `null`, an empty
/// file to bind the real /dev/null onto. Without a `log` in it, --syslog falls back to stderr.
fn private_dev(dir: &Path) -> PathBuf {
    let dev = dir.join("dev");
    fs::create_dir_all(&dev).expect("mkdir dev");
    fs::write(dev.join("null"), b"").expect("touch dev/null");
    dev
}
