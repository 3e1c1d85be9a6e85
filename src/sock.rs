//! Raw IPPROTO_VRRP (112) sockets, IPv4 and IPv6, with batched I/O.
//!
//! One socket per address family serves every instance of that family: it joins the VRRP group
//! on each interface that has an instance, and every datagram carries its interface and source
//! address in a PKTINFO control message, so the socket is never bound to an interface or an
//! address. Adverts that are due together leave in one `sendmmsg` ([`SendBatch`]) and received
//! adverts are drained with `recvmmsg` ([`RecvBatch`]); both batches allocate their buffers
//! once, in `new`, so sending and receiving an advert allocate nothing.

mod cmsg;
mod mmsg;
mod recv;
mod send;

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;

use crate::packet::Family;

pub use recv::{DatagramError, Received, RecvBatch};
pub use send::{PushError, SendBatch, SendOutcome};

/// IP protocol number of VRRP.
pub const IPPROTO_VRRP: libc::c_int = 112;

/// The VRRP multicast groups.
pub use crate::packet::{VRRP_GROUP_V4 as GROUP_V4, VRRP_GROUP_V6 as GROUP_V6};

/// Size of every datagram buffer in the batches. The largest VRRP message is a v3 IPv6 advert
/// with 255 addresses (8 + 255 * 16 = 4088 bytes); an IPv4 advert with 255 addresses plus a
/// maximal IPv4 header (60) is far below. So nothing valid is ever truncated.
pub const MAX_DATAGRAM: usize = 4096;

/// TTL / hop limit VRRP sends with and requires on receive (RFC 9568 §5.1.1.3, §5.1.2.3).
const VRRP_TTL: libc::c_int = 255;

/// DSCP CS6 (internetwork control), the traffic class keepalived sends VRRP with.
const VRRP_TOS: libc::c_int = 0xc0;

/// `IPV6_MULTICAST_ALL` (linux/in6.h); libc only exports it for some targets.
const IPV6_MULTICAST_ALL: libc::c_int = 29;

/// Everything that differs between the IPv4 and the IPv6 socket but the address structs.
struct Proto {
    name: &'static str,
    domain: libc::c_int,
    /// Socket option and control message level.
    level: libc::c_int,
    pktinfo: libc::c_int,
    /// Control message kind of a per-datagram TTL / hop limit.
    hop_limit: libc::c_int,
    join: libc::c_int,
    leave: libc::c_int,
    /// Integer options set at open: name, value, its name in errors, and whether a kernel may
    /// lack it.
    options: &'static [(libc::c_int, libc::c_int, &'static str, bool)],
}

const V4: Proto = Proto {
    name: "IPv4",
    domain: libc::AF_INET,
    level: libc::IPPROTO_IP,
    pktinfo: libc::IP_PKTINFO,
    hop_limit: libc::IP_TTL,
    join: libc::IP_ADD_MEMBERSHIP,
    leave: libc::IP_DROP_MEMBERSHIP,
    // No IP_RECVTTL: a raw IPv4 socket hands over the IP header, whose TTL is checked; the
    // kernel would write a control message per datagram for nothing.
    options: &[
        (libc::IP_PKTINFO, 1, "IP_PKTINFO", false),
        (libc::IP_MULTICAST_TTL, VRRP_TTL, "IP_MULTICAST_TTL", false),
        (libc::IP_TTL, VRRP_TTL, "IP_TTL", false),
        (libc::IP_TOS, VRRP_TOS, "IP_TOS", false),
        (libc::IP_MULTICAST_LOOP, 0, "IP_MULTICAST_LOOP", false),
        (libc::IP_MULTICAST_ALL, 0, "IP_MULTICAST_ALL", true),
    ],
};

const V6: Proto = Proto {
    name: "IPv6",
    domain: libc::AF_INET6,
    level: libc::IPPROTO_IPV6,
    pktinfo: libc::IPV6_PKTINFO,
    hop_limit: libc::IPV6_HOPLIMIT,
    join: libc::IPV6_ADD_MEMBERSHIP,
    leave: libc::IPV6_DROP_MEMBERSHIP,
    options: &[
        (libc::IPV6_RECVPKTINFO, 1, "IPV6_RECVPKTINFO", false),
        (libc::IPV6_RECVHOPLIMIT, 1, "IPV6_RECVHOPLIMIT", false),
        (
            libc::IPV6_MULTICAST_HOPS,
            VRRP_TTL,
            "IPV6_MULTICAST_HOPS",
            false,
        ),
        (
            libc::IPV6_UNICAST_HOPS,
            VRRP_TTL,
            "IPV6_UNICAST_HOPS",
            false,
        ),
        (libc::IPV6_TCLASS, VRRP_TOS, "IPV6_TCLASS", false),
        (libc::IPV6_MULTICAST_LOOP, 0, "IPV6_MULTICAST_LOOP", false),
        // Kernels before 4.20 lack it; they deliver every group the host joined.
        (IPV6_MULTICAST_ALL, 0, "IPV6_MULTICAST_ALL", true),
    ],
};

fn proto(family: Family) -> &'static Proto {
    match family {
        Family::V4 => &V4,
        Family::V6 => &V6,
    }
}

/// What a socket operation failed to do, with the errno the kernel gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockError {
    /// `socket(AF_INET/AF_INET6, SOCK_RAW, 112)` failed (EPERM without CAP_NET_RAW).
    Open { family: Family, errno: Errno },
    /// A `setsockopt` in the socket's setup failed; `option` names it.
    SetOption { option: &'static str, errno: Errno },
    /// Joining the VRRP group on an interface failed.
    Join { ifindex: u32, errno: Errno },
    /// Leaving the VRRP group on an interface failed.
    Leave { ifindex: u32, errno: Errno },
    /// `recvmmsg` failed with something other than EAGAIN / EINTR.
    Recv(Errno),
    /// `sendmmsg` failed in a way that concerns the socket, not one datagram.
    Send(Errno),
}

impl SockError {
    /// The errno the kernel returned.
    pub fn errno(&self) -> Errno {
        match *self {
            SockError::Open { errno, .. }
            | SockError::SetOption { errno, .. }
            | SockError::Join { errno, .. }
            | SockError::Leave { errno, .. }
            | SockError::Recv(errno)
            | SockError::Send(errno) => errno,
        }
    }
}

impl fmt::Display for SockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Errno as std::io::Error prints it: nix's Display carries a 8 KiB table on MIPS.
        let errno = std::io::Error::from(self.errno());
        match self {
            SockError::Open { family, .. } => {
                let af = proto(*family).name;
                write!(f, "cannot open raw {af} VRRP socket: {errno}")
            }
            SockError::SetOption { option, .. } => {
                write!(f, "cannot set socket option {option}: {errno}")
            }
            SockError::Join { ifindex, .. } => {
                write!(
                    f,
                    "cannot join the VRRP group on interface #{ifindex}: {errno}"
                )
            }
            SockError::Leave { ifindex, .. } => {
                write!(
                    f,
                    "cannot leave the VRRP group on interface #{ifindex}: {errno}"
                )
            }
            SockError::Recv(_) => write!(f, "recvmmsg on the VRRP socket failed: {errno}"),
            SockError::Send(_) => write!(f, "sendmmsg on the VRRP socket failed: {errno}"),
        }
    }
}

impl std::error::Error for SockError {}

/// A raw VRRP socket of one address family.
#[derive(Debug)]
pub struct VrrpSocket {
    fd: OwnedFd,
    family: Family,
}

impl VrrpSocket {
    /// Raw socket, non-blocking, close-on-exec, with its family's options (`V4`, `V6` above):
    /// PKTINFO and the received TTL / hop limit on, TTL / hop limit 255, traffic class 0xc0,
    /// no multicast loop, only the groups this socket joined delivered (IPv6: where the kernel
    /// has IPV6_MULTICAST_ALL, 4.20+). IPV6_CHECKSUM stays unset: the caller computes VRRP
    /// checksums.
    ///
    /// Linux applies IPV6_MULTICAST_ALL only to raw sockets bound to an address; this one is
    /// unbound (it must also receive unicast adverts), so an IPv6 socket receives ff02::12 on
    /// every interface where anything on the host joined it. Callers must keep only adverts
    /// whose `ifindex` has an instance (which lookup by (ifindex, VRID) does anyway).
    pub fn open(family: Family) -> Result<Self, SockError> {
        let p = proto(family);
        let kind = libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
        // SAFETY: plain syscall; on success we take sole ownership of the returned descriptor.
        let raw = unsafe { libc::socket(p.domain, kind, IPPROTO_VRRP) };
        if raw < 0 {
            return Err(SockError::Open {
                family,
                errno: Errno::last(),
            });
        }
        // SAFETY: `raw` is a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let sock = VrrpSocket { fd, family };
        for &(name, value, option, may_lack) in p.options {
            let res = sock.set_int(p.level, name, value, option);
            if may_lack {
                multicast_all_fallback(res, &MULTICAST_ALL_WARNED)?;
            } else {
                res?;
            }
        }
        Ok(sock)
    }

    /// The socket's descriptor, for the poll loop.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The address family the socket was opened for.
    pub fn family(&self) -> Family {
        self.family
    }

    /// Join 224.0.0.18 (`ip_mreqn` with the interface index) or ff02::12 on `ifindex`.
    pub fn join(&self, ifindex: u32) -> Result<(), SockError> {
        self.membership(ifindex, true)
            .map_err(|errno| SockError::Join { ifindex, errno })
    }

    /// Leave the group joined with [`join`](Self::join).
    pub fn leave(&self, ifindex: u32) -> Result<(), SockError> {
        self.membership(ifindex, false)
            .map_err(|errno| SockError::Leave { ifindex, errno })
    }

    fn membership(&self, ifindex: u32, join: bool) -> Result<(), Errno> {
        let p = proto(self.family);
        let opt = if join { p.join } else { p.leave };
        match self.family {
            Family::V4 => {
                let index = libc::c_int::try_from(ifindex).map_err(|_| Errno::ENODEV)?;
                let mreq = libc::ip_mreqn {
                    imr_multiaddr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(GROUP_V4.octets()),
                    },
                    imr_address: libc::in_addr { s_addr: 0 },
                    imr_ifindex: index,
                };
                self.set_raw(p.level, opt, &mreq)
            }
            Family::V6 => {
                // SAFETY: ipv6_mreq is plain old data; all-zero is a valid value.
                let mut mreq: libc::ipv6_mreq = unsafe { std::mem::zeroed() };
                mreq.ipv6mr_multiaddr.s6_addr = GROUP_V6.octets();
                mreq.ipv6mr_interface = ifindex as _;
                self.set_raw(p.level, opt, &mreq)
            }
        }
    }

    fn set_int(
        &self,
        level: libc::c_int,
        name: libc::c_int,
        value: libc::c_int,
        option: &'static str,
    ) -> Result<(), SockError> {
        self.set_raw(level, name, &value)
            .map_err(|errno| SockError::SetOption { option, errno })
    }

    fn set_raw<T>(&self, level: libc::c_int, name: libc::c_int, value: &T) -> Result<(), Errno> {
        let len = std::mem::size_of::<T>() as libc::socklen_t;
        let ptr = (value as *const T).cast::<libc::c_void>();
        // SAFETY: `ptr` points to a live `T` of `len` bytes for the duration of the call.
        let rc = unsafe { libc::setsockopt(self.fd.as_raw_fd(), level, name, ptr, len) };
        if rc < 0 {
            Err(Errno::last())
        } else {
            Ok(())
        }
    }
}

/// Set once the missing IP_MULTICAST_ALL has been reported, so reopened sockets stay quiet.
static MULTICAST_ALL_WARNED: AtomicBool = AtomicBool::new(false);

/// Lets a socket work where IP(V6)_MULTICAST_ALL is unknown (ENOPROTOOPT: qemu-user, which
/// does not translate it; IPv4 before 2.6.31, IPv6 before 4.20): it then receives the VRRP
/// group from every interface where anything on the host joined it, and the lookup by
/// (ifindex, VRID) keeps only adverts for an instance's interface. Warns once per process.
fn multicast_all_fallback(
    res: Result<(), SockError>,
    warned: &AtomicBool,
) -> Result<(), SockError> {
    match res {
        Err(SockError::SetOption {
            errno: Errno::ENOPROTOOPT,
            ..
        }) => {
            if !warned.swap(true, Ordering::Relaxed) {
                log::warn!(
                    "multicast_all socket options are not supported here; VRRP adverts are \
                     filtered by interface instead"
                );
            }
            Ok(())
        }
        other => other,
    }
}

impl AsFd for VrrpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for VrrpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_what_failed_and_keep_the_errno() {
        let e = SockError::Join {
            ifindex: 3,
            errno: Errno::ENODEV,
        };
        assert_eq!(e.errno(), Errno::ENODEV);
        let text = e.to_string();
        assert!(text.contains("join") && text.contains("#3"), "{text}");
        let e = SockError::SetOption {
            option: "IP_TTL",
            errno: Errno::EINVAL,
        };
        assert!(e.to_string().contains("IP_TTL"));
    }

    #[test]
    fn missing_multicast_all_falls_back_with_one_warning() {
        let missing = || {
            Err(SockError::SetOption {
                option: "IP_MULTICAST_ALL",
                errno: Errno::ENOPROTOOPT,
            })
        };
        let warned = AtomicBool::new(false);
        assert!(multicast_all_fallback(missing(), &warned).is_ok());
        assert!(warned.load(Ordering::Relaxed), "the first fallback warns");
        assert!(multicast_all_fallback(missing(), &warned).is_ok());
        assert!(multicast_all_fallback(Ok(()), &warned).is_ok());
        // Any other failure of the option is still an error.
        let denied = Err(SockError::SetOption {
            option: "IP_MULTICAST_ALL",
            errno: Errno::EPERM,
        });
        assert!(matches!(
            multicast_all_fallback(denied, &warned),
            Err(SockError::SetOption {
                errno: Errno::EPERM,
                ..
            })
        ));
    }
}
