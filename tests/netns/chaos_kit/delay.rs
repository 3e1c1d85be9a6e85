//! Delay with jitter on one bridge port, made in user space (no sch_netem on this kernel):
//! the port leaves br0 and a relay thread copies frames between it and a new veth pair whose
//! other end joins br0, holding each frame `delay` ± `jitter` (uniform, so frames may
//! reorder, as netem's jitter does). Dropping the `Delay` stops the relay and puts the port
//! back.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::rng::Rng;
use crate::lab::in_netns;

fn ip(ns: &str, args: &[&str]) {
    let out = Command::new("ip")
        .args(["-n", ns])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("ip {args:?}: {e}"));
    assert!(
        out.status.success(),
        "ip -n {ns} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An AF_PACKET socket for every frame on `ifname` (of the calling thread's namespace).
fn packet_socket(ifname: &str) -> OwnedFd {
    let all = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: plain socket(2) call.
    let raw = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            libc::c_int::from(all),
        )
    };
    assert!(
        raw >= 0,
        "AF_PACKET socket: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: raw is a descriptor we just opened and own.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let name = std::ffi::CString::new(ifname).expect("ifname");
    // SAFETY: name is NUL-terminated.
    let idx = unsafe { libc::if_nametoindex(name.as_ptr()) };
    assert!(idx != 0, "no interface {ifname}");
    // SAFETY: sockaddr_ll is plain old data; all-zero is valid.
    let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sa.sll_family = libc::AF_PACKET as u16;
    sa.sll_protocol = all;
    sa.sll_ifindex = idx as libc::c_int;
    // SAFETY: sa is live for the call and its size is passed.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            &sa as *const libc::sockaddr_ll as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "bind {ifname}: {}", std::io::Error::last_os_error());
    fd
}

/// One frame received on `fd` that did not leave through it, if any is waiting.
fn recv_incoming(fd: &OwnedFd, buf: &mut [u8]) -> Option<Option<usize>> {
    // SAFETY: as in packet_socket.
    let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: buf and sa are live and their sizes are passed.
    let n = unsafe {
        libc::recvfrom(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            0,
            &mut sa as *mut libc::sockaddr_ll as *mut libc::sockaddr,
            &mut len,
        )
    };
    if n < 0 {
        return None;
    }
    Some((sa.sll_pkttype != libc::PACKET_OUTGOING).then_some(n as usize))
}

struct Held {
    at: Instant,
    to: usize,
    frame: Vec<u8>,
}

/// Copies frames between the two sockets until `stop`, each held `delay` ± `jitter`.
fn relay(fds: [OwnedFd; 2], delay: Duration, jitter: Duration, stop: &AtomicBool) {
    let clock = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    let seed = clock.map_or(0, |d| d.as_nanos() as u64) ^ u64::from(std::process::id());
    let mut rng = Rng::new(seed);
    let mut held: Vec<Held> = Vec::new();
    let mut buf = vec![0u8; 65536];
    let j = jitter.as_micros() as u64;
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let next = held.iter().map(|h| h.at).min();
        let wait = next.map_or(Duration::from_millis(20), |at| {
            at.saturating_duration_since(now)
        });
        let mut pfd = [0, 1].map(|i| libc::pollfd {
            fd: fds[i].as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        });
        let ts = libc::timespec {
            tv_sec: wait.as_secs() as libc::time_t,
            tv_nsec: wait.subsec_nanos() as libc::c_long,
        };
        // SAFETY: pfd and ts are live for the call; a null sigmask keeps the thread's mask.
        unsafe { libc::ppoll(pfd.as_mut_ptr(), 2, &ts, std::ptr::null()) };
        for (i, fd) in fds.iter().enumerate() {
            while let Some(got) = recv_incoming(fd, &mut buf) {
                let Some(n) = got else { continue };
                let offset = Duration::from_micros(rng.range(0, 2 * j));
                held.push(Held {
                    at: Instant::now() + delay + offset - jitter,
                    to: 1 - i,
                    frame: buf[..n].to_vec(),
                });
            }
        }
        let now = Instant::now();
        held.retain(|h| {
            if h.at > now {
                return true;
            }
            // SAFETY: the frame is live for the call; a failed send is a lost frame.
            unsafe {
                libc::send(
                    fds[h.to].as_raw_fd(),
                    h.frame.as_ptr().cast(),
                    h.frame.len(),
                    0,
                )
            };
            false
        });
    }
}

/// The relay on one port; see the module comment.
pub struct Delay {
    bridge_ns: String,
    port: String,
    relay_dev: String,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Delay {
    /// Puts the relay between `port` (a port of br0 in `bridge_ns`) and the bridge.
    /// `jitter` must not exceed `delay`.
    pub fn new(bridge_ns: &str, port: &str, delay: Duration, jitter: Duration) -> Delay {
        assert!(jitter <= delay);
        let relay_dev = format!("d{port}");
        let bridge_side = format!("d{port}b");
        ip(
            bridge_ns,
            &[
                "link",
                "add",
                &relay_dev,
                "type",
                "veth",
                "peer",
                "name",
                &bridge_side,
            ],
        );
        ip(
            bridge_ns,
            &["link", "set", &bridge_side, "master", "br0", "up"],
        );
        ip(bridge_ns, &["link", "set", &relay_dev, "up"]);
        ip(bridge_ns, &["link", "set", port, "nomaster"]);
        let fds = in_netns(bridge_ns, || {
            [packet_socket(port), packet_socket(&relay_dev)]
        });
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::spawn(move || relay(fds, delay, jitter, &flag));
        Delay {
            bridge_ns: bridge_ns.to_owned(),
            port: port.to_owned(),
            relay_dev,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Delay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = Command::new("ip")
            .args(["-n", &self.bridge_ns, "link", "del", &self.relay_dev])
            .output();
        let _ = Command::new("ip")
            .args([
                "-n",
                &self.bridge_ns,
                "link",
                "set",
                &self.port,
                "master",
                "br0",
            ])
            .output();
    }
}
