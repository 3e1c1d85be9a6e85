//! Raw packets. A network namespace is a per-thread attribute, so each of these runs on a fresh
//! thread that setns()-es into the namespace and exits afterwards; the caller's thread is left
//! where it was.

use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::os::unix::io::AsRawFd;
use std::thread;
use std::time::{Duration, Instant};

use super::setup::Ns;

impl Ns {
    /// Sends one hand-built IPv4 packet (header included) out of eth0; see `send_raw_ipv4`.
    pub fn send_raw_ipv4(&self, packet: &[u8]) -> io::Result<()> {
        send_raw_ipv4(&self.name, "eth0", packet)
    }

    /// Starts a listener for IP protocol `proto` on eth0 (joined to `group` when multicast);
    /// it collects whole IPv4 packets for `duration`. Ready when this returns.
    pub fn listen_raw_ipv4(
        &self,
        proto: u8,
        group: Option<Ipv4Addr>,
        duration: Duration,
    ) -> thread::JoinHandle<io::Result<Vec<Vec<u8>>>> {
        listen_raw_ipv4(&self.name, "eth0", proto, group, duration)
    }

    /// Captures the IPv4 frames arriving on eth0; see `capture_ipv4_frames`.
    pub fn capture_ipv4_frames(
        &self,
        duration: Duration,
    ) -> thread::JoinHandle<io::Result<Vec<Vec<u8>>>> {
        capture_ipv4_frames(&self.name, "eth0", duration)
    }
}

fn enter_netns(ns: &str) -> io::Result<()> {
    let f = File::open(format!("/run/netns/{ns}"))?;
    // SAFETY: f is an open namespace file; setns affects only the calling thread.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Runs `f` on a fresh thread inside network namespace `ns` and returns its result; sockets it
/// opens stay in that namespace and can be used from any thread afterwards. A panic in `f`
/// fails the caller.
pub fn in_netns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            enter_netns(ns).unwrap_or_else(|e| panic!("setns into {ns}: {e}"));
            f()
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

fn ifindex(ifname: &str) -> io::Result<u32> {
    let c = std::ffi::CString::new(ifname)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in ifname"))?;
    // SAFETY: c is a valid NUL-terminated string.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(idx)
}

struct Fd(libc::c_int);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: we own the descriptor.
        unsafe { libc::close(self.0) };
    }
}

fn raw_socket(proto: libc::c_int) -> io::Result<Fd> {
    // SAFETY: plain socket(2) call.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, proto) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Fd(fd))
}

fn setsockopt<T>(fd: &Fd, level: libc::c_int, name: libc::c_int, val: &T) -> io::Result<()> {
    // SAFETY: val points to a live T of the given size.
    let rc = unsafe {
        libc::setsockopt(
            fd.0,
            level,
            name,
            val as *const T as *const libc::c_void,
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn sockaddr_in(addr: Ipv4Addr) -> libc::sockaddr_in {
    // SAFETY: sockaddr_in is plain old data; all-zero is a valid value.
    let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sa.sin_family = libc::AF_INET as libc::sa_family_t;
    sa.sin_addr.s_addr = u32::from_ne_bytes(addr.octets());
    sa
}

/// Sends `packet` — a complete IPv4 packet, header included (IP_HDRINCL), so the caller sets
/// TTL, addresses and the payload's checksum — from namespace `ns` out of `ifname`, to the
/// destination written in the header. The kernel fills in the IP header checksum (and the id
/// when zero); everything else goes out as given.
pub fn send_raw_ipv4(ns: &str, ifname: &str, packet: &[u8]) -> io::Result<()> {
    if packet.len() < 20 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "short IPv4 packet",
        ));
    }
    let dst = Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]);
    let ns = ns.to_owned();
    let ifname = ifname.to_owned();
    let packet = packet.to_vec();
    thread::spawn(move || -> io::Result<()> {
        enter_netns(&ns)?;
        let idx = ifindex(&ifname)?;
        // IPPROTO_RAW implies IP_HDRINCL.
        let fd = raw_socket(libc::IPPROTO_RAW)?;
        if dst.is_multicast() {
            let mreq = libc::ip_mreqn {
                imr_multiaddr: libc::in_addr { s_addr: 0 },
                imr_address: libc::in_addr { s_addr: 0 },
                imr_ifindex: idx as libc::c_int,
            };
            setsockopt(&fd, libc::IPPROTO_IP, libc::IP_MULTICAST_IF, &mreq)?;
        }
        let sa = sockaddr_in(dst);
        // SAFETY: packet and sa are live for the call, lengths match.
        let n = unsafe {
            libc::sendto(
                fd.0,
                packet.as_ptr() as *const libc::c_void,
                packet.len(),
                0,
                &sa as *const libc::sockaddr_in as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n as usize != packet.len() {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "short send"));
        }
        Ok(())
    })
    .join()
    .map_err(|_| io::Error::other("send thread panicked"))?
}

/// Receives IPv4 packets of protocol `proto` in namespace `ns` for `duration` (joining `group`
/// on `ifname` when given). The returned handle yields every packet, IP header included. The
/// socket is open and joined when this function returns, so packets sent after it are seen.
pub fn listen_raw_ipv4(
    ns: &str,
    ifname: &str,
    proto: u8,
    group: Option<Ipv4Addr>,
    duration: Duration,
) -> thread::JoinHandle<io::Result<Vec<Vec<u8>>>> {
    listen_in(ns, ifname, duration, move |idx| {
        let fd = raw_socket(libc::c_int::from(proto))?;
        if let Some(group) = group {
            let mreq = libc::ip_mreqn {
                imr_multiaddr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(group.octets()),
                },
                imr_address: libc::in_addr { s_addr: 0 },
                imr_ifindex: idx as libc::c_int,
            };
            setsockopt(&fd, libc::IPPROTO_IP, libc::IP_ADD_MEMBERSHIP, &mreq)?;
        }
        Ok(fd)
    })
}

/// On a thread in namespace `ns`: `open` makes a socket for `ifname` (given its index), which
/// gets a short receive timeout and collects what arrives for `duration`. The socket is ready
/// when this returns, so packets sent after it are seen.
fn listen_in(
    ns: &str,
    ifname: &str,
    duration: Duration,
    open: impl FnOnce(u32) -> io::Result<Fd> + Send + 'static,
) -> thread::JoinHandle<io::Result<Vec<Vec<u8>>>> {
    let ns = ns.to_owned();
    let ifname = ifname.to_owned();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let handle = thread::spawn(move || -> io::Result<Vec<Vec<u8>>> {
        let fd = (|| -> io::Result<Fd> {
            enter_netns(&ns)?;
            let fd = open(ifindex(&ifname)?)?;
            let tv = libc::timeval {
                tv_sec: 0,
                tv_usec: 20_000,
            };
            setsockopt(&fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv)?;
            Ok(fd)
        })();
        let _ = ready_tx.send(());
        Ok(collect(&fd?, duration))
    });
    let _ = ready_rx.recv();
    handle
}

/// Every datagram `fd` (with a short SO_RCVTIMEO) receives during `duration`.
fn collect(fd: &Fd, duration: Duration) -> Vec<Vec<u8>> {
    let mut packets = Vec::new();
    let mut buf = [0u8; 2048];
    let start = Instant::now();
    while start.elapsed() < duration {
        // SAFETY: buf is live and its length is passed.
        let n = unsafe { libc::recv(fd.0, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0) };
        if n > 0 {
            packets.push(buf[..n as usize].to_vec());
        }
    }
    packets
}

/// Captures the IPv4 Ethernet frames (header included) arriving on `ifname` in namespace `ns`
/// for `duration`, whatever their destination (an AF_PACKET socket). Ready when this returns.
pub fn capture_ipv4_frames(
    ns: &str,
    ifname: &str,
    duration: Duration,
) -> thread::JoinHandle<io::Result<Vec<Vec<u8>>>> {
    listen_in(ns, ifname, duration, |idx| {
        let proto = (libc::ETH_P_IP as u16).to_be();
        // SAFETY: plain socket(2) call.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::c_int::from(proto),
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = Fd(raw);
        // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
        let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sa.sll_family = libc::AF_PACKET as u16;
        sa.sll_protocol = proto;
        sa.sll_ifindex = idx as libc::c_int;
        // SAFETY: sa is live for the call and its size is passed.
        let rc = unsafe {
            libc::bind(
                fd.0,
                &sa as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(fd)
    })
}
