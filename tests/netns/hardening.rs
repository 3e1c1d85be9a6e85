//! Issue 16: bad local input (a FIFO or a huge file at the config path, an empty config, a
//! VIP the host already holds) must neither stall the master's adverts nor take anything away.
//! Adverts are timed on the wire from the client namespace. Needs root; skips otherwise.

use crate::lab;

use std::thread;
use std::time::{Duration, Instant};

use lab::{in_netns, wait_until, DaemonHandle, Lab};

const VIP: &str = "192.0.2.1";
/// The most an advert may come late (issue 16).
const SLACK: Duration = Duration::from_millis(20);

/// An instance advertising every `cs` centiseconds.
fn config_every(cs: u32, extra: &str) -> String {
    format!(
        "[vrrp_instance VI_1]\ninterface = eth0\nvirtual_router_id = 51\npriority = 150\n\
         version = 3\nadvert_int = {}.{:02}\nvirtual_ipaddress = {VIP}/24\n{extra}",
        cs / 100,
        cs % 100
    )
}

fn config(extra: &str) -> String {
    config_every(20, extra)
}

/// When each VRRP advert reached namespace `ns` during `duration`; `ready_rx` hears when the
/// socket is ready and at each advert.
fn advert_times(
    ns: &str,
    duration: Duration,
) -> (
    thread::JoinHandle<Vec<Instant>>,
    std::sync::mpsc::Receiver<()>,
) {
    let ns = ns.to_string();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let handle = thread::spawn(move || {
        in_netns(&ns, move || {
            // SAFETY: a raw socket for IP protocol 112; closed below.
            let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, 112) };
            assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
            let group = libc::ip_mreqn {
                imr_multiaddr: libc::in_addr {
                    s_addr: u32::from_ne_bytes([224, 0, 0, 18]),
                },
                imr_address: libc::in_addr { s_addr: 0 },
                // SAFETY: a NUL-terminated interface name.
                imr_ifindex: unsafe { libc::if_nametoindex(c"eth0".as_ptr()) } as libc::c_int,
            };
            let tv = libc::timeval {
                tv_sec: 0,
                tv_usec: 10_000,
            };
            // SAFETY: setsockopt with live values of the sizes given.
            unsafe {
                let size = |n: usize| n as libc::socklen_t;
                let g = std::ptr::addr_of!(group).cast();
                libc::setsockopt(fd, libc::IPPROTO_IP, libc::IP_ADD_MEMBERSHIP, g, size(12));
                let t = std::ptr::addr_of!(tv).cast();
                libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, t, size(16));
            }
            let _ = ready_tx.send(());
            let (start, mut times, mut buf) = (Instant::now(), Vec::new(), [0u8; 2048]);
            while start.elapsed() < duration {
                // SAFETY: buf is live and its length is passed.
                let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
                if n > 0 {
                    times.push(Instant::now());
                    let _ = ready_tx.send(());
                }
            }
            // SAFETY: the socket opened above.
            unsafe { libc::close(fd) };
            times
        })
    });
    let _ = ready_rx.recv();
    (handle, ready_rx)
}

/// The longest time between two adverts (and before the first, after the last).
fn longest_gap(start: Instant, end: Instant, times: &[Instant]) -> Duration {
    let mut at = start;
    let mut longest = Duration::ZERO;
    for &t in times.iter().chain([end].iter()) {
        longest = longest.max(t.saturating_duration_since(at));
        at = t;
    }
    longest
}

fn master(lab: &Lab, config: &str) -> DaemonHandle {
    let d = lab.node(1).spawn_daemon(config);
    let up = wait_until(Duration::from_secs(5), Duration::from_millis(50), || {
        d.state("VI_1").as_deref() == Some("MASTER") && lab.node(1).has_addr(VIP)
    });
    assert!(up.is_some(), "no master:\n{}", d.log_text());
    d
}

/// Sends SIGHUP right after an advert, while adverts are timed: none may come late.
fn reload_while_timed(lab: &Lab, d: &DaemonHandle, interval: Duration, what: &str) {
    let window = interval * 5;
    let start = Instant::now();
    let (times, adverts) = advert_times(&lab.client.name, window);
    let _ = adverts.recv_timeout(interval * 2);
    assert!(d.kill(libc::SIGHUP));
    let times = times.join().expect("listener");
    let gap = longest_gap(start, start + window, &times);
    eprintln!("{what}: longest advert gap {:.3} s", gap.as_secs_f64());
    assert!(
        gap <= interval + SLACK,
        "{what}: adverts stopped for {gap:?}:\n{}",
        d.log_text()
    );
    assert!(lab.node(1).has_addr(VIP), "{what}: the VIP went away");
}

/// #3: the config re-pointed to a FIFO, then SIGHUP: refused at once (no blocking open()).
#[test]
fn a_fifo_at_the_config_path_does_not_block_a_reload() {
    let Some(lab) = Lab::new("harden_fifo", 1) else {
        return;
    };
    let d = master(&lab, &config(""));
    std::fs::remove_file(&d.conf).expect("rm config");
    let c = std::ffi::CString::new(d.conf.to_string_lossy().as_bytes()).expect("path");
    // SAFETY: mkfifo on a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    reload_while_timed(&lab, &d, Duration::from_millis(200), "FIFO");
    assert!(
        d.log_text().contains("not a regular file"),
        "{}",
        d.log_text()
    );
    assert!(d.kill(libc::SIGTERM));
    assert!(d.wait(Duration::from_secs(3)).is_some(), "SIGTERM ignored");
}

/// #4: a 1 MiB config of 40,000 VIPs (refused: more than 255) parses within one advert
/// interval (1 s here; the pairwise repeat check took seconds on 40,000 VIPs).
#[test]
fn a_huge_config_reloads_without_a_late_advert() {
    let Some(lab) = Lab::new("harden_huge", 1) else {
        return;
    };
    let d = master(&lab, &config_every(100, ""));
    let mut text = config_every(100, "");
    for i in 0..40_000u32 {
        let line = format!(
            "virtual_ipaddress = 10.{}.{}.{}\n",
            i >> 16,
            (i >> 8) & 255,
            i & 255
        );
        if text.len() + line.len() > 1 << 20 {
            break;
        }
        text.push_str(&line);
    }
    std::fs::write(&d.conf, &text).expect("write config");
    reload_while_timed(&lab, &d, Duration::from_secs(1), "huge config");
    let refused = wait_until(Duration::from_secs(3), Duration::from_millis(50), || {
        d.log_text().contains("more than 255 VIPs")
    });
    assert!(refused.is_some(), "{}", d.log_text());
}

/// #11: a reload to a file without instances is refused; the master keeps its VIP.
#[test]
fn a_reload_to_an_empty_config_is_refused() {
    let Some(lab) = Lab::new("harden_empty", 1) else {
        return;
    };
    let d = master(&lab, &config(""));
    std::fs::write(&d.conf, "").expect("empty config");
    reload_while_timed(&lab, &d, Duration::from_millis(200), "empty config");
    let log = d.log_text();
    assert!(
        log.contains("reload refused") && log.contains("no vrrp_instance"),
        "{log}"
    );
    assert_eq!(d.state("VI_1").as_deref(), Some("MASTER"));
}

/// #6: a VIP that is the host's own address (another prefix, or another interface) is refused
/// at start, and the host keeps its address.
#[test]
fn a_vip_the_host_holds_is_refused_and_left_alone() {
    let Some(lab) = Lab::new("harden_hostaddr", 1) else {
        return;
    };
    let node = lab.node(1);
    let own = node.ipv4.to_string();
    let missing_if = format!(
        "{}[vrrp_instance VI_2]\ninterface = nosuch0\nvirtual_router_id = 52\n\
         virtual_ipaddress = {own}/24\n",
        config("")
    );
    // The node holds its address as /24: a /32 VIP of it is not a VIP left behind.
    let own_vip = config("").replace(&format!("{VIP}/24"), &own);
    for conf in [own_vip, missing_if] {
        let d = node.spawn_daemon(&conf);
        let exited = d.wait(Duration::from_secs(5));
        let log = d.log_text();
        assert!(exited.is_some_and(|s| !s.success()), "started:\n{log}");
        assert!(log.contains("the host already holds this address"), "{log}");
        assert!(node.has_addr(&own), "the host lost {own}:\n{log}");
        assert!(!node.has_addr(VIP), "{log}");
    }
}
