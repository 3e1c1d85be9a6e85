//! What a local process can do to a running daemon (issue 16): flood or stall its status
//! socket, plant files where its pidfile and socket go, start a second daemon for the same
//! virtual router, send it signals. A pair (node 1 priority 150, node 2 priority 100, VRRPv3,
//! 0.1 s) runs while the abuse goes on; the master's adverts are timestamped by the kernel on
//! a raw socket in the client namespace, and no gap may exceed one interval + 20 ms.
//! Needs root; skips otherwise.

use crate::lab;

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use lab::{in_netns, wait_until, DaemonHandle, Lab, Node, DAEMON};

const VIP: &str = "192.0.2.1";
const MASTER_IP: &str = "192.0.2.11";
const MAX_GAP: Duration = Duration::from_millis(120);

fn config(priority: u8) -> String {
    lab::v3_instance(priority, "0.1", VIP)
}

/// `config` plus `n` IPv6 instances on interfaces that do not exist (they sit in FAULT and
/// send nothing): a status of ~230 bytes per instance.
fn big_config(priority: u8, n: usize) -> String {
    let mut c = config(priority);
    for i in 0..n {
        c += &format!(
            "\n[vrrp_instance X{i}]\ninterface = nx{}\nvirtual_router_id = {}\npriority = 100\n\
             advert_int = 1\nversion = 3\nvirtual_ipaddress = 2001:db8:1::{:x}/64\n",
            i / 250,
            i % 250 + 1,
            i + 1
        );
    }
    c
}

/// `tinyvrrp status` (the lab's helper reads its output only after the exit, so a status over
/// a pipe's 64 KiB would never finish there).
fn status(d: &DaemonHandle) -> String {
    Command::new(DAEMON)
        .arg("--status-socket")
        .arg(&d.sock)
        .arg("status")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

fn state(d: &DaemonHandle) -> String {
    lab::Status::parse(&status(d))
        .instance("VI_1")
        .and_then(|i| i.get("state").cloned())
        .unwrap_or_else(|| "<no status>".into())
}

fn settled_pair(lab: &Lab, conf1: &str) -> (DaemonHandle, DaemonHandle) {
    let d1 = lab.node(1).spawn_daemon(conf1);
    let d2 = lab.node(2).spawn_daemon(&config(100));
    for (d, want) in [(&d1, "MASTER"), (&d2, "BACKUP")] {
        let ok = wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
            d.assert_running(want);
            state(d) == want
        });
        assert!(ok.is_some(), "node {} never {want}", d.node);
    }
    (d1, d2)
}

/// Kernel receive times of the adverts from `src` seen in the client namespace for `dur`.
fn advert_times(lab: &Lab, src: &str, dur: Duration) -> thread::JoinHandle<Vec<Duration>> {
    let src: std::net::Ipv4Addr = src.parse().expect("const");
    let fd = in_netns(&lab.client.name, || {
        // SAFETY: plain socket(2) call.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 112) };
        assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
        // SAFETY: a NUL-terminated name.
        let idx = unsafe { libc::if_nametoindex(b"eth0\0".as_ptr() as *const libc::c_char) };
        let mreq = libc::ip_mreqn {
            imr_multiaddr: libc::in_addr {
                s_addr: u32::from_ne_bytes([224, 0, 0, 18]),
            },
            imr_address: libc::in_addr { s_addr: 0 },
            imr_ifindex: idx as libc::c_int,
        };
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 20_000,
        };
        // SAFETY: the option values are live and their sizes are passed.
        unsafe {
            libc::setsockopt(
                fd,
                libc::IPPROTO_IP,
                libc::IP_ADD_MEMBERSHIP,
                &mreq as *const _ as *const libc::c_void,
                std::mem::size_of_val(&mreq) as u32,
            );
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                &tv as *const _ as *const libc::c_void,
                std::mem::size_of_val(&tv) as u32,
            );
        }
        fd
    });
    thread::spawn(move || {
        const SIOCGSTAMP: libc::c_ulong = 0x8906;
        // The window's ends count as adverts: a daemon stalled from the start, which sends its
        // missed adverts in one burst afterwards, must show as a gap.
        let wall = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
        };
        let first = wall();
        let mut times = vec![first];
        let mut buf = [0u8; 2048];
        let start = Instant::now();
        while start.elapsed() < dur {
            // SAFETY: buf is live and its length is passed.
            let n = unsafe { libc::recv(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0) };
            if n < 20 || buf[12..16] != src.octets() {
                continue;
            }
            let mut tv = libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            };
            // SAFETY: SIOCGSTAMP writes one timeval.
            if unsafe { libc::ioctl(fd, SIOCGSTAMP as _, &mut tv) } == 0 {
                times.push(Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000));
            }
        }
        // SAFETY: we own fd.
        unsafe { libc::close(fd) };
        times.push(first + dur);
        times
    })
}

fn max_gap(times: &[Duration]) -> Duration {
    times
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0]))
        .max()
        .unwrap_or(Duration::MAX)
}

fn assert_no_gap(what: &str, times: &[Duration]) {
    let gap = max_gap(times);
    eprintln!(
        "{what}: {} adverts, longest gap {:.1} ms",
        times.len() - 2,
        gap.as_secs_f64() * 1e3
    );
    assert!(times.len() > 12, "{what}: too few adverts seen");
    assert!(gap <= MAX_GAP, "{what}: adverts stopped for {gap:?}");
}

fn assert_still_sole_master(lab: &Lab, d1: &DaemonHandle, d2: &DaemonHandle) {
    d1.assert_running("after the abuse");
    d2.assert_running("after the abuse");
    assert_eq!(state(d1), "MASTER");
    assert_eq!(state(d2), "BACKUP");
    assert!(lab.node(1).has_addr(VIP) && !lab.node(2).has_addr(VIP));
}

#[test]
fn connect_close_flood_on_the_status_socket_does_not_stop_adverts() {
    let Some(lab) = Lab::new("statusflood", 2) else {
        return;
    };
    let (d1, d2) = settled_pair(&lab, &config(150));
    let watch = advert_times(&lab, MASTER_IP, Duration::from_secs(4));
    let flooders: Vec<_> = (0..4)
        .map(|_| {
            let sock = d1.sock.clone();
            thread::spawn(move || {
                let start = Instant::now();
                let mut n = 0u64;
                while start.elapsed() < Duration::from_millis(3500) {
                    n += u64::from(UnixStream::connect(&sock).is_ok());
                }
                n
            })
        })
        .collect();
    let connects: u64 = flooders
        .into_iter()
        .map(|t| t.join().expect("flooder"))
        .sum();
    let times = watch.join().expect("listener");
    eprintln!("{connects} connections in 3.5 s");
    assert_no_gap("connect+close flood", &times);
    assert_still_sole_master(&lab, &d1, &d2);
}

#[test]
fn big_status_to_stalled_and_slow_clients_does_not_stop_adverts() {
    let Some(lab) = Lab::new("statusbig", 2) else {
        return;
    };
    let (d1, d2) = settled_pair(&lab, &big_config(150, 3000));
    let full = status(&d1);
    assert!(full.len() > 500_000, "status is {} bytes", full.len());
    assert_eq!(
        full.lines().filter(|l| l.starts_with("instance=")).count(),
        3001
    );
    let quiet = advert_times(&lab, MASTER_IP, Duration::from_secs(4));
    let quiet = max_gap(&quiet.join().expect("listener"));
    eprintln!(
        "big status, no clients: longest gap {:.1} ms",
        quiet.as_secs_f64() * 1e3
    );

    let watch = advert_times(&lab, MASTER_IP, Duration::from_secs(4));
    // 20 clients that connect and never read, for 3 s.
    let stalled: Vec<UnixStream> = (0..20)
        .filter_map(|_| UnixStream::connect(&d1.sock).ok())
        .collect();
    // One that reads 4 KiB every 50 ms: 640 KB would take 8 s.
    let sock = d1.sock.clone();
    let slow = thread::spawn(move || {
        let mut s = UnixStream::connect(&sock).expect("connect");
        let (mut got, mut buf) = (Vec::new(), [0u8; 4096]);
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
            thread::sleep(Duration::from_millis(50));
        }
        got
    });
    thread::sleep(Duration::from_secs(3));
    drop(stalled);
    let times = watch.join().expect("listener");
    let slow = slow.join().expect("slow reader");
    assert_no_gap("big status, stalled and slow clients", &times);
    assert!(
        slow.len() < full.len() && !slow.ends_with(b"\nend\n"),
        "the slow client got {} of {} bytes and an end line",
        slow.len(),
        full.len()
    );
    // Later clients get the whole status again.
    thread::sleep(Duration::from_millis(500));
    assert_eq!(status(&d1).lines().count(), full.lines().count());
    assert_still_sole_master(&lab, &d1, &d2);
}

/// Runs the daemon in `node`'s namespace with `args` for up to `timeout`: its exit status
/// (None if it still ran: then it is stopped) and what it wrote.
fn run_briefly(node: &Node, args: &[&str], timeout: Duration) -> (Option<ExitStatus>, String) {
    let mut child = Command::new("ip")
        .args(["netns", "exec", &node.name, DAEMON])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    let status = loop {
        if let Ok(Some(s)) = child.try_wait() {
            break Some(s);
        }
        if start.elapsed() > timeout {
            // SAFETY: our own unreaped child.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            break None;
        }
        thread::sleep(Duration::from_millis(10));
    };
    let out = child.wait_with_output().expect("wait");
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    (status, text + &String::from_utf8_lossy(&out.stdout))
}

fn write_conf(lab: &Lab, name: &str, text: &str) -> String {
    let p = lab.dir().join(name);
    std::fs::write(&p, text).expect("write config");
    p.to_string_lossy().into_owned()
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

#[test]
fn pidfile_symlink_is_not_followed_and_a_second_start_leaves_the_first_alone() {
    let Some(lab) = Lab::new("pidfile", 2) else {
        return;
    };
    let n1 = lab.node(1);
    let conf = write_conf(&lab, "a.conf", &config(150));
    let victim = lab.dir().join("victim");
    std::fs::write(&victim, "precious\n").expect("write");
    let link = lab.dir().join("link.pid");
    std::os::unix::fs::symlink(&victim, &link).expect("symlink");
    let sock = s(&lab.dir().join("a.sock"));
    let link_s = s(&link);
    let args = ["-f", &conf, "--status-socket", &sock, "--pidfile", &link_s];
    let (st, log) = run_briefly(n1, &args, Duration::from_secs(3));
    assert!(st.is_some_and(|s| !s.success()), "started anyway: {log}");
    assert!(log.contains("symbolic link"), "{log}");
    assert_eq!(
        std::fs::read_to_string(&victim).ok().as_deref(),
        Some("precious\n")
    );

    // The first daemon holds its pidfile; a second start with the same pidfile (and status
    // socket) fails without touching it.
    let pidfile = lab.dir().join("a.pid");
    let pid_s = s(&pidfile);
    let first_args = ["-f", &conf, "--status-socket", &sock, "--pidfile", &pid_s];
    let full = [&[DAEMON][..], &first_args[..]].concat();
    let pid = n1.spawn(&full, &lab.dir().join("first.log"));
    let written = wait_until(Duration::from_secs(5), Duration::from_millis(20), || {
        std::fs::read_to_string(&pidfile).is_ok_and(|t| t.trim() == pid.to_string())
            && Path::new(&sock).exists()
    });
    assert!(written.is_some(), "first daemon never wrote its pidfile");
    let (st, log) = run_briefly(n1, &first_args, Duration::from_secs(3));
    assert!(st.is_some_and(|s| !s.success()), "second start ran: {log}");
    assert!(
        log.contains(&format!("pid {pid}")),
        "the refusal names the first: {log}"
    );
    assert_eq!(
        std::fs::read_to_string(&pidfile)
            .ok()
            .map(|t| t.trim().to_owned()),
        Some(pid.to_string()),
        "the first daemon's pidfile was changed or removed"
    );
    assert!(
        Path::new(&sock).exists(),
        "the first daemon's socket was removed"
    );
}

#[test]
fn a_second_daemon_for_the_same_virtual_router_is_refused() {
    let Some(lab) = Lab::new("single", 2) else {
        return;
    };
    let (d1, d2) = settled_pair(&lab, &config(150));
    let watch = advert_times(&lab, MASTER_IP, Duration::from_secs(3));
    // Another config file, pidfile and status socket, same interface and VRID.
    let conf = write_conf(&lab, "twin.conf", &config(200));
    let sock = s(&lab.dir().join("twin.sock"));
    let (st, log) = run_briefly(
        lab.node(1),
        &["-f", &conf, "--status-socket", &sock],
        Duration::from_secs(3),
    );
    assert!(st.is_some_and(|s| !s.success()), "the twin ran: {log}");
    assert!(
        log.contains("VRID 51 (IPv4) on eth0") && log.contains(&format!("pid {}", d1.pid)),
        "{log}"
    );
    assert_no_gap("second daemon refused", &watch.join().expect("listener"));
    assert_still_sole_master(&lab, &d1, &d2);
    // Another VRID on the same interface is fine; a reload onto VRID 51 is refused.
    let other = config(150)
        .replace("= 51", "= 52")
        .replace(VIP, "192.0.2.2");
    let d3 = lab.node(1).spawn_daemon(&other);
    let up = wait_until(Duration::from_secs(5), Duration::from_millis(50), || {
        d3.assert_running("VRID 52 beside 51");
        state(&d3) == "MASTER"
    });
    assert!(up.is_some(), "VRID 52 never master");
    std::fs::write(&d3.conf, config(200)).expect("rewrite");
    assert!(d3.kill(libc::SIGHUP));
    let refused = wait_until(Duration::from_secs(3), Duration::from_millis(50), || {
        d3.log_text().contains("reload refused")
    });
    let log = d3.log_text();
    assert!(
        refused.is_some() && log.contains(&format!("pid {}", d1.pid)),
        "{log}"
    );
    d3.assert_running("after the refused reload");
    assert_still_sole_master(&lab, &d1, &d2);
}

#[test]
fn signals_do_not_kill_without_cleanup() {
    let Some(lab) = Lab::new("signals", 2) else {
        return;
    };
    let (d1, d2) = settled_pair(&lab, &config(150));
    let watch = advert_times(&lab, MASTER_IP, Duration::from_secs(2));
    let rt2 = libc::SIGRTMIN() + 2; // keepalived's JSON dump signal
    for sig in [
        libc::SIGUSR2,
        libc::SIGUSR1,
        libc::SIGALRM,
        libc::SIGPWR,
        rt2,
    ] {
        assert!(d1.kill(sig), "signal {sig}: daemon gone");
        thread::sleep(Duration::from_millis(200));
        d1.assert_running(&format!("after signal {sig}"));
    }
    assert_no_gap("signals", &watch.join().expect("listener"));
    let log = d1.log_text();
    assert!(
        log.contains("stats: instances=1 master=1"),
        "SIGUSR2 logs counters:\n{log}"
    );
    assert_still_sole_master(&lab, &d1, &d2);
    assert!(d1.kill(libc::SIGTERM));
    let st = d1.wait(Duration::from_secs(3)).expect("no exit on SIGTERM");
    assert!(st.success(), "{st:?}");
    assert!(!lab.node(1).has_addr(VIP), "VIP left behind");
    assert!(!d1.sock.exists(), "status socket left behind");
}

#[test]
fn sighup_during_start_up_is_not_fatal() {
    let Some(lab) = Lab::new("earlyhup", 1) else {
        return;
    };
    let n1 = lab.node(1);
    // A big config so that loading it takes a while after the pidfile is written.
    let conf = write_conf(&lab, "big.conf", &big_config(150, 3000));
    for round in 0..3 {
        let pidfile = lab.dir().join(format!("hup{round}.pid"));
        let sock = s(&lab.dir().join(format!("hup{round}.sock")));
        let log = lab.dir().join(format!("hup{round}.log"));
        let pid_s = s(&pidfile);
        let args = [
            DAEMON,
            "-f",
            &conf,
            "--status-socket",
            &sock,
            "--pidfile",
            &pid_s,
        ];
        let pid = n1.spawn(&args, &log);
        let seen = wait_until(Duration::from_secs(5), Duration::ZERO, || pidfile.exists());
        assert!(seen.is_some(), "no pidfile");
        // SAFETY: the lab's unreaped child.
        unsafe { libc::kill(pid as i32, libc::SIGHUP) };
        let up = wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
            let out = Command::new(DAEMON)
                .args(["--status-socket", &sock, "status"])
                .output();
            out.is_ok_and(|o| o.status.success())
        });
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            up.is_some(),
            "round {round}: daemon died on an early SIGHUP:\n{text}"
        );
        // SAFETY: as above.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        let gone = wait_until(Duration::from_secs(3), Duration::from_millis(20), || {
            !pidfile.exists()
        });
        assert!(gone.is_some(), "round {round}: pidfile left after SIGTERM");
    }
}

#[test]
fn status_socket_path_is_checked_and_private() {
    let Some(lab) = Lab::new("sockpath", 1) else {
        return;
    };
    let n1 = lab.node(1);
    let conf = write_conf(&lab, "a.conf", &config(150));
    let dir = lab.dir();
    let file = dir.join("file.sock");
    std::fs::write(&file, "keep me\n").expect("write");
    let dangling = dir.join("dangling.sock");
    std::os::unix::fs::symlink(dir.join("nowhere"), &dangling).expect("symlink");
    let subdir = dir.join("dir.sock");
    std::fs::create_dir(&subdir).expect("mkdir");
    for (path, says) in [
        (&file, "not a socket"),
        (&dangling, "a symbolic link"),
        (&subdir, "a directory"),
    ] {
        let (st, log) = run_briefly(
            n1,
            &["-f", &conf, "--status-socket", &s(path)],
            Duration::from_secs(3),
        );
        assert!(
            st.is_some_and(|s| !s.success()),
            "{}: started: {log}",
            path.display()
        );
        assert!(log.contains(says), "{}: {log}", path.display());
        assert!(!log.contains("Address already in use"), "{log}");
    }
    assert_eq!(
        std::fs::read_to_string(&file).ok().as_deref(),
        Some("keep me\n")
    );

    // A stale socket is replaced; the new one is 0600 even under umask 000.
    let sock: PathBuf = dir.join("s.sock");
    drop(std::os::unix::net::UnixListener::bind(&sock).expect("bind"));
    let cmd = format!(
        "umask 000; exec {DAEMON} -f {conf} --status-socket {}",
        s(&sock)
    );
    n1.spawn(&["sh", "-c", &cmd], &dir.join("umask.log"));
    let up = wait_until(Duration::from_secs(5), Duration::from_millis(20), || {
        UnixStream::connect(&sock).is_ok()
    });
    assert!(up.is_some(), "daemon did not replace the stale socket");
    let mode = std::fs::metadata(&sock).expect("stat").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "socket mode {:o}", mode & 0o777);
}
