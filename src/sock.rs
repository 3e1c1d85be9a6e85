//! Raw IPPROTO_VRRP (112) sockets, IPv4 and IPv6, with batched I/O.
//!
//! One socket per address family serves every instance of that family: it joins the VRRP group
//! on each interface that has an instance, and every datagram carries its interface and source
//! address in a PKTINFO control message, so the socket is never bound to an interface or an
//! address. Adverts that are due together leave in one `sendmmsg` ([`SendBatch`]) and received
//! adverts are drained with `recvmmsg` ([`RecvBatch`]); both batches allocate their buffers
//! once, in `new`, so sending and receiving an advert allocate nothing.

mod cmsg;
mod recv;
mod send;

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;

use crate::packet::Family;

pub use recv::{DatagramError, Received, RecvBatch};
pub use send::{PushError, SendBatch, SendOutcome};

/// IP protocol number of VRRP.
pub const IPPROTO_VRRP: libc::c_int = 112;

/// The VRRP IPv4 multicast group.
pub const GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);

/// The VRRP IPv6 multicast group.
pub const GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);

/// Size of every datagram buffer in the batches. The largest VRRP message is a v3 IPv6 advert
/// with 255 addresses (8 + 255 * 16 = 4088 bytes); an IPv4 advert with 255 addresses plus a
/// maximal IPv4 header (60) is far below. So nothing valid is ever truncated.
pub const MAX_DATAGRAM: usize = 4096;

/// TTL / hop limit VRRP sends with and requires on receive (RFC 9568 §5.1.1.3, §5.1.2.3).
const VRRP_TTL: libc::c_int = 255;

/// DSCP CS6 (internetwork control), the traffic class keepalived sends VRRP with.
const VRRP_TOS: libc::c_int = 0xc0;

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
                let af = match family {
                    Family::V4 => "IPv4",
                    Family::V6 => "IPv6",
                };
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
    /// Raw socket, non-blocking, close-on-exec, set up as described in the module docs:
    /// IPv4: IP_PKTINFO and IP_RECVTTL on, IP_MULTICAST_TTL and IP_TTL 255, IP_TOS 0xc0,
    /// IP_MULTICAST_LOOP off, IP_MULTICAST_ALL off (only groups this socket joined are
    /// delivered; where the kernel or emulator lacks it, see [`multicast_all_fallback`]). IPv6: IPV6_RECVPKTINFO, IPV6_RECVHOPLIMIT, IPV6_MULTICAST_HOPS and
    /// IPV6_UNICAST_HOPS 255, IPV6_TCLASS 0xc0, IPV6_MULTICAST_LOOP off, IPV6_MULTICAST_ALL off
    /// where the kernel has it (4.20+). IPV6_CHECKSUM stays unset: the caller computes VRRP
    /// checksums.
    ///
    /// Linux applies IPV6_MULTICAST_ALL only to raw sockets bound to an address; this one is
    /// unbound (it must also receive unicast adverts), so an IPv6 socket receives ff02::12 on
    /// every interface where anything on the host joined it. Callers must keep only adverts
    /// whose `ifindex` has an instance (which lookup by (ifindex, VRID) does anyway).
    pub fn open(family: Family) -> Result<Self, SockError> {
        let domain = match family {
            Family::V4 => libc::AF_INET,
            Family::V6 => libc::AF_INET6,
        };
        let kind = libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
        // SAFETY: plain syscall; on success we take sole ownership of the returned descriptor.
        let raw = unsafe { libc::socket(domain, kind, IPPROTO_VRRP) };
        if raw < 0 {
            return Err(SockError::Open {
                family,
                errno: Errno::last(),
            });
        }
        // SAFETY: `raw` is a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let sock = VrrpSocket { fd, family };
        match family {
            Family::V4 => sock.setup_v4()?,
            Family::V6 => sock.setup_v6()?,
        }
        Ok(sock)
    }

    fn setup_v4(&self) -> Result<(), SockError> {
        use libc::IPPROTO_IP as IP;
        self.set_int(IP, libc::IP_PKTINFO, 1, "IP_PKTINFO")?;
        self.set_int(IP, libc::IP_RECVTTL, 1, "IP_RECVTTL")?;
        self.set_int(IP, libc::IP_MULTICAST_TTL, VRRP_TTL, "IP_MULTICAST_TTL")?;
        self.set_int(IP, libc::IP_TTL, VRRP_TTL, "IP_TTL")?;
        self.set_int(IP, libc::IP_TOS, VRRP_TOS, "IP_TOS")?;
        self.set_int(IP, libc::IP_MULTICAST_LOOP, 0, "IP_MULTICAST_LOOP")?;
        let res = self.set_int(IP, libc::IP_MULTICAST_ALL, 0, "IP_MULTICAST_ALL");
        multicast_all_fallback(res, &MULTICAST_ALL_WARNED)
    }

    fn setup_v6(&self) -> Result<(), SockError> {
        use libc::IPPROTO_IPV6 as IP6;
        self.set_int(IP6, libc::IPV6_RECVPKTINFO, 1, "IPV6_RECVPKTINFO")?;
        self.set_int(IP6, libc::IPV6_RECVHOPLIMIT, 1, "IPV6_RECVHOPLIMIT")?;
        self.set_int(
            IP6,
            libc::IPV6_MULTICAST_HOPS,
            VRRP_TTL,
            "IPV6_MULTICAST_HOPS",
        )?;
        self.set_int(IP6, libc::IPV6_UNICAST_HOPS, VRRP_TTL, "IPV6_UNICAST_HOPS")?;
        self.set_int(IP6, libc::IPV6_TCLASS, VRRP_TOS, "IPV6_TCLASS")?;
        self.set_int(IP6, libc::IPV6_MULTICAST_LOOP, 0, "IPV6_MULTICAST_LOOP")?;
        match self.set_int(IP6, IPV6_MULTICAST_ALL, 0, "IPV6_MULTICAST_ALL") {
            // Kernels before 4.20 lack the option; they deliver every group the host joined.
            Err(SockError::SetOption {
                errno: Errno::ENOPROTOOPT,
                ..
            }) => Ok(()),
            other => other,
        }
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
                let opt = if join {
                    libc::IP_ADD_MEMBERSHIP
                } else {
                    libc::IP_DROP_MEMBERSHIP
                };
                self.set_raw(libc::IPPROTO_IP, opt, &mreq)
            }
            Family::V6 => {
                // SAFETY: ipv6_mreq is plain old data; all-zero is a valid value.
                let mut mreq: libc::ipv6_mreq = unsafe { std::mem::zeroed() };
                mreq.ipv6mr_multiaddr.s6_addr = GROUP_V6.octets();
                mreq.ipv6mr_interface = ifindex as _;
                let opt = if join {
                    libc::IPV6_ADD_MEMBERSHIP
                } else {
                    libc::IPV6_DROP_MEMBERSHIP
                };
                self.set_raw(libc::IPPROTO_IPV6, opt, &mreq)
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

/// Lets the IPv4 socket work where IP_MULTICAST_ALL is unknown (ENOPROTOOPT: qemu-user, which
/// does not translate it; kernels before 2.6.31): it then receives 224.0.0.18 from every
/// interface where anything on the host joined it, as the IPv6 socket always does, and the
/// same filter keeps only adverts whose `ifindex` has an instance. Warns once per process.
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
                    "IP_MULTICAST_ALL is not supported here; VRRP adverts are filtered by interface instead"
                );
            }
            Ok(())
        }
        other => other,
    }
}

/// `IPV6_MULTICAST_ALL` (linux/in6.h); libc only exports it for some targets.
const IPV6_MULTICAST_ALL: libc::c_int = 29;

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
