//! The netlink sockets: `Netlink` sends requests and waits for their ACKs or dumps, `Monitor`
//! follows the kernel's multicast notifications. Buffers are allocated once, at open.

use std::mem;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

use super::wire::routes::{AddrOptions, RouteSpec, RuleSpec};
use super::wire::{self, Message, MessageIter};
use super::{AddrInfo, LinkInfo, NetEvent, NetlinkError};

/// Dumps come in datagrams of at most 32 KiB (the kernel caps its dump skbs there), and a
/// datagram larger than the buffer would be truncated.
const RECV_BUF_LEN: usize = 32 * 1024;
/// Room for the largest request we build (a macvlan RTM_NEWLINK is ~100 bytes).
const REQ_BUF_LEN: usize = 256;
/// A request socket must not hang the daemon if the kernel never answers.
const REPLY_TIMEOUT_SECS: u8 = 2;
/// Kernel socket receive buffer for the monitor: notifications for hundreds of VIPs and
/// VMACs can arrive in one burst (a failover of every instance at once).
pub const MONITOR_RCVBUF: usize = 4 * 1024 * 1024;

const RTMGRP_LINK: u32 = 0x1;
const RTMGRP_IPV4_IFADDR: u32 = 0x10;
const RTMGRP_IPV6_IFADDR: u32 = 0x100;

fn last_err() -> NetlinkError {
    NetlinkError::Io(Errno::last())
}

fn open_socket(nonblocking: bool, groups: u32) -> Result<OwnedFd, NetlinkError> {
    let mut ty = libc::SOCK_RAW | libc::SOCK_CLOEXEC;
    if nonblocking {
        ty |= libc::SOCK_NONBLOCK;
    }
    // SAFETY: plain socket(2); the returned descriptor is owned by OwnedFd right away.
    let raw = unsafe { libc::socket(libc::AF_NETLINK, ty, libc::NETLINK_ROUTE) };
    if raw < 0 {
        return Err(last_err());
    }
    // SAFETY: `raw` is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: sockaddr_nl is plain data; all-zero is a valid value.
    let mut sa: libc::sockaddr_nl = unsafe { mem::zeroed() };
    sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    sa.nl_groups = groups;
    // SAFETY: `sa` is a valid sockaddr_nl and the length matches it.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            &sa as *const libc::sockaddr_nl as *const libc::sockaddr,
            mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(last_err());
    }
    Ok(fd)
}

fn setsockopt_raw<T>(fd: RawFd, level: i32, name: i32, value: &T) -> Result<(), Errno> {
    // SAFETY: `value` points to a live T of the given size for the call's duration.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            value as *const T as *const libc::c_void,
            mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// The port id the kernel assigned at bind.
fn local_port(fd: RawFd) -> Result<u32, NetlinkError> {
    // SAFETY: sockaddr_nl is plain data; getsockname writes at most `len` bytes into it.
    let mut sa: libc::sockaddr_nl = unsafe { mem::zeroed() };
    let mut len = mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
    let rc = unsafe {
        libc::getsockname(
            fd,
            &mut sa as *mut libc::sockaddr_nl as *mut libc::sockaddr,
            &mut len,
        )
    };
    if rc < 0 {
        return Err(last_err());
    }
    Ok(sa.nl_pid)
}

/// One datagram from the kernel. `Ok(None)` for datagrams from anyone else (other processes
/// may send to our port) — they are dropped unread. A truncated datagram is `Malformed`.
fn recv_from_kernel(fd: RawFd, buf: &mut [u8], flags: i32) -> Result<Option<usize>, NetlinkError> {
    loop {
        // SAFETY: sockaddr_nl is plain data; recvfrom writes at most `alen` bytes into `sa`
        // and at most `buf.len()` bytes into `buf`.
        let mut sa: libc::sockaddr_nl = unsafe { mem::zeroed() };
        let mut alen = mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
        let n = unsafe {
            libc::recvfrom(
                fd,
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                flags | libc::MSG_TRUNC,
                &mut sa as *mut libc::sockaddr_nl as *mut libc::sockaddr,
                &mut alen,
            )
        };
        if n < 0 {
            match Errno::last() {
                Errno::EINTR => continue,
                Errno::ENOBUFS => return Err(NetlinkError::Overrun),
                e => return Err(NetlinkError::Io(e)),
            }
        }
        let n = n as usize;
        if sa.nl_pid != 0 {
            return Ok(None);
        }
        if n > buf.len() {
            return Err(NetlinkError::Malformed(
                "datagram larger than receive buffer",
            ));
        }
        return Ok(Some(n));
    }
}

/// Request socket: every command asks for an ACK and checks it.
pub struct Netlink {
    fd: OwnedFd,
    port: u32,
    seq: u32,
    buf: Box<[u8]>,
}

impl Netlink {
    pub fn open() -> Result<Self, NetlinkError> {
        let fd = open_socket(false, 0)?;
        let tv = libc::timeval {
            tv_sec: REPLY_TIMEOUT_SECS.into(),
            tv_usec: 0,
        };
        setsockopt_raw(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv)
            .map_err(NetlinkError::Io)?;
        let port = local_port(fd.as_raw_fd())?;
        Ok(Netlink {
            fd,
            port,
            // Start away from 0 so a stray reply to an earlier socket cannot match.
            seq: std::process::id().wrapping_mul(7919),
            buf: vec![0u8; RECV_BUF_LEN].into_boxed_slice(),
        })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    fn send(&self, msg: &[u8]) -> Result<(), NetlinkError> {
        // SAFETY: sockaddr_nl is plain data; zero pid/groups addresses the kernel.
        let mut sa: libc::sockaddr_nl = unsafe { mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        loop {
            // SAFETY: `msg` and `sa` are valid for the lengths passed.
            let n = unsafe {
                libc::sendto(
                    self.fd.as_raw_fd(),
                    msg.as_ptr() as *const libc::c_void,
                    msg.len(),
                    0,
                    &sa as *const libc::sockaddr_nl as *const libc::sockaddr,
                    mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
                )
            };
            if n < 0 {
                match Errno::last() {
                    Errno::EINTR => continue,
                    e => return Err(NetlinkError::Io(e)),
                }
            }
            if n as usize != msg.len() {
                return Err(NetlinkError::Io(Errno::EMSGSIZE));
            }
            return Ok(());
        }
    }

    /// Sends `msg` (built with sequence `seq`) and reads replies until its ACK / NACK, or for
    /// a dump until NLMSG_DONE. Replies to other sequence numbers or ports (left over from a
    /// request that timed out) are skipped. Data messages go to `on_msg`; a parse error there
    /// or a framing error is remembered and returned once the exchange has ended, so the
    /// socket stays in step with the kernel.
    fn exchange(
        &mut self,
        req: &[u8],
        seq: u32,
        what: &'static str,
        dump: bool,
        mut on_msg: impl FnMut(&Message<'_>) -> Result<(), NetlinkError>,
    ) -> Result<(), NetlinkError> {
        self.send(req)?;
        let mut first_err: Option<NetlinkError> = None;
        let mut interrupted = false;
        loop {
            let n = match recv_from_kernel(self.fd.as_raw_fd(), &mut self.buf, 0) {
                Ok(Some(n)) => n,
                Ok(None) => continue,
                Err(NetlinkError::Malformed(why)) => {
                    first_err.get_or_insert(NetlinkError::Malformed(why));
                    continue;
                }
                Err(e) => return Err(e),
            };
            let data = self.buf.get(..n).unwrap_or(&[]);
            for m in MessageIter::new(data) {
                let m = match m {
                    Ok(m) => m,
                    Err(e) => {
                        first_err.get_or_insert(e);
                        break;
                    }
                };
                if m.seq != seq || m.pid != self.port {
                    continue;
                }
                if m.flags & wire::NLM_F_DUMP_INTR != 0 {
                    interrupted = true;
                }
                match m.ty {
                    wire::NLMSG_ERROR => {
                        let errno = wire::parse_error(m.payload)?;
                        if errno != 0 {
                            return Err(NetlinkError::Nack { errno, what });
                        }
                        if !dump {
                            return first_err.map_or(Ok(()), Err);
                        }
                    }
                    wire::NLMSG_DONE if dump => {
                        // The kernel may put a dump's error code in NLMSG_DONE.
                        let errno = wire::parse_error(m.payload).unwrap_or(0);
                        if errno != 0 {
                            return Err(NetlinkError::Nack { errno, what });
                        }
                        if let Some(e) = first_err {
                            return Err(e);
                        }
                        return if interrupted {
                            Err(NetlinkError::DumpInterrupted)
                        } else {
                            Ok(())
                        };
                    }
                    wire::NLMSG_NOOP | wire::NLMSG_DONE => {}
                    wire::NLMSG_OVERRUN => {
                        first_err.get_or_insert(NetlinkError::Malformed("NLMSG_OVERRUN"));
                    }
                    _ => {
                        if let Err(e) = on_msg(&m) {
                            first_err.get_or_insert(e);
                        }
                    }
                }
            }
        }
    }

    fn command(
        &mut self,
        what: &'static str,
        build: impl FnOnce(&mut [u8], u32) -> Result<usize, NetlinkError>,
    ) -> Result<(), NetlinkError> {
        let seq = self.next_seq();
        let mut req = [0u8; REQ_BUF_LEN];
        let len = build(&mut req, seq)?;
        let msg = req.get(..len).ok_or(NetlinkError::BufferTooSmall)?;
        self.ack(msg, seq, what)
    }

    /// One copy of the request/ACK exchange for every command (binary size: `command` is
    /// generic and would otherwise carry its own).
    #[inline(never)]
    fn ack(&mut self, msg: &[u8], seq: u32, what: &'static str) -> Result<(), NetlinkError> {
        self.exchange(msg, seq, what, false, |_| Ok(()))
    }

    /// Adds `addr/prefix_len` to `ifindex`. An address already there is a NACK with EEXIST
    /// (`NetlinkError::is_exists`). `label` is used for IPv4 only; `nodad` sets IFA_F_NODAD on
    /// IPv6 so a VIP is usable at once instead of after duplicate address detection.
    pub fn add_address(
        &mut self,
        ifindex: u32,
        addr: IpAddr,
        prefix_len: u8,
        label: Option<&str>,
        nodad: bool,
    ) -> Result<(), NetlinkError> {
        self.command("RTM_NEWADDR", |buf, seq| {
            wire::build_new_address(buf, seq, ifindex, addr, prefix_len, label, nodad)
                .map(<[u8]>::len)
        })
    }

    /// `add_address` with a broadcast address and scope (`ip addr add ... brd B scope S`).
    pub fn add_address_with(
        &mut self,
        ifindex: u32,
        addr: IpAddr,
        prefix_len: u8,
        opts: &AddrOptions<'_>,
    ) -> Result<(), NetlinkError> {
        self.command("RTM_NEWADDR", |buf, seq| {
            wire::routes::build_new_address_with(buf, seq, ifindex, addr, prefix_len, opts)
                .map(<[u8]>::len)
        })
    }

    /// Adds (`add`) or deletes a route. An identical route is EEXIST on add; a missing one
    /// ESRCH on delete.
    pub fn route(&mut self, add: bool, r: &RouteSpec) -> Result<(), NetlinkError> {
        let what = if add { "RTM_NEWROUTE" } else { "RTM_DELROUTE" };
        self.command(what, |buf, seq| {
            wire::routes::build_route(buf, seq, add, r).map(<[u8]>::len)
        })
    }

    /// Adds (`add`) or deletes a policy rule. An identical rule is EEXIST on add; a missing
    /// one ENOENT on delete.
    pub fn rule(&mut self, add: bool, r: &RuleSpec<'_>) -> Result<(), NetlinkError> {
        let what = if add { "RTM_NEWRULE" } else { "RTM_DELRULE" };
        self.command(what, |buf, seq| {
            wire::routes::build_rule(buf, seq, add, r).map(<[u8]>::len)
        })
    }

    /// Removes `addr/prefix_len` from `ifindex`; an absent address is a NACK with
    /// EADDRNOTAVAIL (`NetlinkError::is_addr_not_avail`).
    pub fn del_address(
        &mut self,
        ifindex: u32,
        addr: IpAddr,
        prefix_len: u8,
    ) -> Result<(), NetlinkError> {
        self.command("RTM_DELADDR", |buf, seq| {
            wire::build_del_address(buf, seq, ifindex, addr, prefix_len).map(<[u8]>::len)
        })
    }

    fn dump(
        &mut self,
        ty: u16,
        what: &'static str,
        on_msg: impl FnMut(&Message<'_>) -> Result<(), NetlinkError>,
    ) -> Result<(), NetlinkError> {
        let seq = self.next_seq();
        let mut req = [0u8; REQ_BUF_LEN];
        let msg = wire::build_dump(&mut req, seq, ty)?;
        self.exchange(msg, seq, what, true, on_msg)
    }

    /// Every interface (RTM_GETLINK dump).
    pub fn links(&mut self, mut f: impl FnMut(&LinkInfo)) -> Result<(), NetlinkError> {
        self.dump(wire::RTM_GETLINK, "RTM_GETLINK dump", |m| {
            if m.ty == wire::RTM_NEWLINK {
                f(&wire::parse_link(m.payload)?);
            }
            Ok(())
        })
    }

    /// Every address of both families (RTM_GETADDR dump).
    pub fn addresses(&mut self, mut f: impl FnMut(&AddrInfo)) -> Result<(), NetlinkError> {
        self.dump(wire::RTM_GETADDR, "RTM_GETADDR dump", |m| {
            if m.ty == wire::RTM_NEWADDR {
                f(&wire::parse_addr(m.payload)?);
            }
            Ok(())
        })
    }

    /// One interface by name; `NoSuchLink` when there is none.
    pub fn link_by_name(&mut self, name: &str) -> Result<LinkInfo, NetlinkError> {
        let seq = self.next_seq();
        let mut req = [0u8; REQ_BUF_LEN];
        let msg = wire::build_get_link_by_name(&mut req, seq, name)?;
        let mut found = None;
        let r = self.exchange(msg, seq, "RTM_GETLINK", false, |m| {
            if m.ty == wire::RTM_NEWLINK {
                found = Some(wire::parse_link(m.payload)?);
            }
            Ok(())
        });
        match r {
            Err(NetlinkError::Nack { errno, .. }) if errno == libc::ENODEV => {
                Err(NetlinkError::NoSuchLink)
            }
            Err(e) => Err(e),
            Ok(()) => found.ok_or(NetlinkError::NoSuchLink),
        }
    }

    /// Creates a private-mode macvlan `name` on `parent` with address `mac`, brings it up
    /// and returns its index. If bringing it up fails the new link is deleted again.
    pub fn create_macvlan(
        &mut self,
        parent: u32,
        name: &str,
        mac: [u8; 6],
    ) -> Result<u32, NetlinkError> {
        self.command("RTM_NEWLINK macvlan", |buf, seq| {
            wire::build_new_macvlan(buf, seq, parent, name, mac).map(<[u8]>::len)
        })?;
        // The ACK does not carry the new index (NLM_F_ECHO for links is too recent for the
        // kernels we target), so look it up by name.
        let index = self.link_by_name(name)?.index;
        if let Err(e) = self.set_link_up(index, true) {
            let _ = self.delete_link(index);
            return Err(e);
        }
        Ok(index)
    }

    pub fn delete_link(&mut self, ifindex: u32) -> Result<(), NetlinkError> {
        self.command("RTM_DELLINK", |buf, seq| {
            wire::build_del_link(buf, seq, ifindex).map(<[u8]>::len)
        })
    }

    pub fn set_link_up(&mut self, ifindex: u32, up: bool) -> Result<(), NetlinkError> {
        self.command("RTM_SETLINK", |buf, seq| {
            wire::build_set_link_up(buf, seq, ifindex, up).map(<[u8]>::len)
        })
    }
}

/// Multicast subscription to link and IPv4/IPv6 address changes. Non-blocking: register
/// `fd()` with the poller and call `drain` when it is readable.
pub struct Monitor {
    fd: OwnedFd,
    buf: Box<[u8]>,
    malformed: u64,
}

impl Monitor {
    pub fn open() -> Result<Self, NetlinkError> {
        let fd = open_socket(true, RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR)?;
        let size = MONITOR_RCVBUF as libc::c_int;
        // SO_RCVBUFFORCE passes rmem_max but needs CAP_NET_ADMIN; without it take what
        // SO_RCVBUF allows.
        if setsockopt_raw(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            &size,
        )
        .is_err()
        {
            setsockopt_raw(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, &size)
                .map_err(NetlinkError::Io)?;
        }
        Ok(Monitor {
            fd,
            buf: vec![0u8; RECV_BUF_LEN].into_boxed_slice(),
            malformed: 0,
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Messages that did not parse and were skipped, since open.
    pub fn malformed_count(&self) -> u64 {
        self.malformed
    }

    /// Reads every pending notification and hands each event to `f`, until the socket has no
    /// more. Unparsable messages are skipped and counted. `Err(Overrun)` when the kernel
    /// dropped notifications (ENOBUFS): the caller must re-read state with dumps; the socket
    /// stays usable.
    pub fn drain(&mut self, mut f: impl FnMut(NetEvent)) -> Result<(), NetlinkError> {
        loop {
            let n = match recv_from_kernel(self.fd.as_raw_fd(), &mut self.buf, libc::MSG_DONTWAIT) {
                Ok(Some(n)) => n,
                Ok(None) => continue,
                Err(NetlinkError::Io(Errno::EAGAIN)) => return Ok(()),
                Err(NetlinkError::Malformed(why)) => {
                    log::warn!("netlink monitor: {why}");
                    self.malformed += 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let data = self.buf.get(..n).unwrap_or(&[]);
            for m in MessageIter::new(data) {
                match m.and_then(|m| wire::parse_event(&m)) {
                    Ok(Some(ev)) => f(ev),
                    Ok(None) => {}
                    Err(e) => {
                        log::warn!("netlink monitor: {e}");
                        self.malformed += 1;
                    }
                }
            }
        }
    }
}

impl AsFd for Monitor {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Monitor {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
