//! Sending: adverts encoded straight into preallocated buffers, then one `sendmmsg`.

use std::fmt;
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::ptr;

use nix::errno::Errno;

use super::cmsg::{self, ControlBuf};
use super::mmsg::{Mmsg, Parts, Zeroed};
use super::{Proto, SockError, VrrpSocket, MAX_DATAGRAM, V4, V6};

/// Why a datagram could not be queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushError {
    /// Every slot is taken; send and clear first.
    Full,
    /// Source and destination are of different address families.
    FamilyMismatch,
    /// The interface index does not fit the kernel's `int`.
    BadIfindex(u32),
    /// The fill closure gave up (returned None).
    Fill,
    /// The fill closure claimed more bytes than the buffer holds.
    TooLong(usize),
    /// No datagram is queued at this index.
    NotQueued(usize),
    /// The control messages do not fit their buffer.
    ControlFull,
}

impl fmt::Display for PushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PushError::Full => write!(f, "send batch is full"),
            PushError::FamilyMismatch => {
                write!(f, "source and destination address families differ")
            }
            PushError::BadIfindex(i) => write!(f, "interface index {i} out of range"),
            PushError::Fill => write!(f, "the datagram could not be encoded"),
            PushError::TooLong(n) => {
                write!(f, "datagram of {n} bytes exceeds {MAX_DATAGRAM} bytes")
            }
            PushError::NotQueued(i) => write!(f, "no datagram queued at slot {i}"),
            PushError::ControlFull => write!(f, "no room for another control message"),
        }
    }
}

impl std::error::Error for PushError {}

/// What happened to one queued datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
// u8 tag, Queued first: all-zero bytes are `Queued` (see `Zeroed for SendSlot`).
#[repr(u8)]
pub enum SendOutcome {
    /// Not sent yet.
    Queued,
    /// Handed to the kernel.
    Sent,
    /// The kernel refused this datagram (e.g. ENETUNREACH, EADDRNOTAVAIL, ENOBUFS, EAGAIN).
    Failed(Errno),
}

#[derive(Clone, Copy)]
struct SendSlot {
    /// Where the datagram starts in the batch's `data`.
    offset: usize,
    len: usize,
    name: libc::sockaddr_storage,
    namelen: libc::socklen_t,
    control: ControlBuf,
    controllen: usize,
    outcome: SendOutcome,
}

// SAFETY: plain C data and integers, and `outcome` a repr(u8) enum whose zero tag is `Queued`.
unsafe impl Zeroed for SendSlot {}

/// Preallocated `sendmmsg` batch of `slots` datagrams of up to [`MAX_DATAGRAM`] bytes.
///
/// Each datagram leaves on its own interface with its own source address, chosen by a PKTINFO
/// control message (IPv4: `ipi_ifindex` + `ipi_spec_dst`; IPv6: `ipi6_ifindex` + `ipi6_addr`),
/// so one socket serves every instance. A datagram whose family differs from the socket's is
/// refused by the kernel and reported as that datagram's failure.
pub struct SendBatch {
    m: Mmsg<SendSlot>,
    /// The queued datagrams, one after the other (8-byte aligned): room for `slots` of
    /// MAX_DATAGRAM, but a round of small adverts writes (and maps) only its first pages.
    data: Box<[u8]>,
    /// Bytes of `data` in use.
    used: usize,
    queued: usize,
    failed: usize,
}

impl SendBatch {
    /// Allocates `slots` (at least 1) send slots; the only allocation the batch makes.
    pub fn new(slots: usize) -> Self {
        let m = Mmsg::new(slots);
        SendBatch {
            data: super::mmsg::zeroed_slice(m.slots.len() * MAX_DATAGRAM),
            m,
            used: 0,
            queued: 0,
            failed: 0,
        }
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.m.slots.len()
    }

    /// Datagrams queued since the last [`clear`](Self::clear).
    pub fn len(&self) -> usize {
        self.queued
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.queued == 0
    }

    /// Forgets every queued datagram and outcome.
    pub fn clear(&mut self) {
        self.queued = 0;
        self.used = 0;
        self.failed = 0;
    }

    /// Queues one datagram to `dst`, leaving on `ifindex` with source `src`. `fill` encodes
    /// the VRRP message straight into the slot's buffer ([`MAX_DATAGRAM`] bytes) and returns
    /// its length. Returns the slot index, which [`outcome`](Self::outcome) takes after `send`.
    /// For a link-local (or ff02::/16) IPv6 destination, the scope is `ifindex`.
    pub fn push(
        &mut self,
        ifindex: u32,
        src: IpAddr,
        dst: IpAddr,
        fill: impl FnOnce(&mut [u8]) -> Option<usize>,
    ) -> Result<usize, PushError> {
        let index = self.queued;
        let slot = self.m.slots.get_mut(index).ok_or(PushError::Full)?;
        match (src, dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => address_v4(slot, ifindex, src, dst)?,
            (IpAddr::V6(src), IpAddr::V6(dst)) => address_v6(slot, ifindex, src, dst)?,
            _ => return Err(PushError::FamilyMismatch),
        }
        // At most `index` datagrams of at most MAX_DATAGRAM precede this one: room is left.
        let offset = self.used;
        let buf = self.data.get_mut(offset..offset + MAX_DATAGRAM);
        let len = fill(buf.ok_or(PushError::Full)?).ok_or(PushError::Fill)?;
        if len > MAX_DATAGRAM {
            return Err(PushError::TooLong(len));
        }
        self.used = offset + len.next_multiple_of(8);
        slot.offset = offset;
        slot.len = len;
        slot.outcome = SendOutcome::Queued;
        self.queued += 1;
        Ok(index)
    }

    /// Gives the datagram queued at `index` its own TTL (IPv4) or hop limit (IPv6) instead of
    /// the socket's 255: keepalived's `unicast_ttl`. A control message beside the PKTINFO one.
    pub fn set_hop_limit(&mut self, index: usize, hops: u8) -> Result<(), PushError> {
        if index >= self.queued {
            return Err(PushError::NotQueued(index));
        }
        let slot = self
            .m
            .slots
            .get_mut(index)
            .ok_or(PushError::NotQueued(index))?;
        let p = if libc::c_int::from(slot.name.ss_family) == libc::AF_INET {
            &V4
        } else {
            &V6
        };
        let value = libc::c_int::from(hops);
        let rest = slot
            .control
            .0
            .get_mut(slot.controllen..)
            .ok_or(PushError::ControlFull)?;
        let used = cmsg::write(rest, p.level, p.hop_limit, cmsg::bytes_of(&value))
            .ok_or(PushError::ControlFull)?;
        slot.controllen += used;
        Ok(())
    }

    /// Sends everything queued with `sendmmsg`, looping over partial sends. A datagram the
    /// kernel refuses is marked [`SendOutcome::Failed`] and counted, and the rest still go.
    /// Returns how many were sent. `Err` only for errors of the socket itself (EBADF,
    /// ENOTSOCK, EFAULT); datagrams not reached then stay [`SendOutcome::Queued`].
    /// The queue is kept: call [`clear`](Self::clear) before queuing the next round.
    pub fn send(&mut self, sock: &VrrpSocket) -> Result<usize, SockError> {
        let queued = self.queued;
        self.failed = 0;
        let data = self.data.as_mut_ptr();
        self.m.arm(queued, |slot| Parts {
            // Within `data`: push kept offset + len inside it.
            data: data.wrapping_add(slot.offset),
            len: slot.len,
            name: ptr::addr_of_mut!(slot.name),
            namelen: slot.namelen,
            control: slot.control.0.as_mut_ptr(),
            controllen: slot.controllen,
        });
        let mut next = 0;
        let mut sent = 0;
        while next < queued {
            let Some(rest) = self.m.hdrs.get_mut(next..queued) else {
                break;
            };
            // SAFETY: `rest` holds initialised mmsghdrs whose pointers `arm` just set to live
            // buffers of the stated lengths (see Mmsg's invariant).
            let n = unsafe {
                libc::sendmmsg(
                    sock.as_raw_fd(),
                    rest.as_mut_ptr(),
                    rest.len() as libc::c_uint,
                    libc::MSG_DONTWAIT as _,
                )
            };
            if n > 0 {
                let n = (n as usize).min(rest.len());
                for slot in self.m.slots.iter_mut().skip(next).take(n) {
                    slot.outcome = SendOutcome::Sent;
                }
                next += n;
                sent += n;
                continue;
            }
            // sendmmsg reports an error only when the first datagram fails; it belongs to
            // `next`. A 0 return (nothing sent, no error) is treated the same way so the loop
            // always advances.
            let errno = if n == 0 { Errno::EIO } else { Errno::last() };
            match errno {
                Errno::EINTR => continue,
                Errno::EBADF | Errno::ENOTSOCK | Errno::EFAULT => {
                    return Err(SockError::Send(errno))
                }
                _ => {
                    if let Some(slot) = self.m.slots.get_mut(next) {
                        slot.outcome = SendOutcome::Failed(errno);
                    }
                    self.failed += 1;
                    next += 1;
                }
            }
        }
        Ok(sent)
    }

    /// What happened to the datagram queued at `index`; None if nothing is queued there.
    pub fn outcome(&self, index: usize) -> Option<SendOutcome> {
        if index >= self.queued {
            return None;
        }
        self.m.slots.get(index).map(|s| s.outcome)
    }

    /// Datagrams the last `send` could not send.
    pub fn failed(&self) -> usize {
        self.failed
    }
}

fn address_v4(
    slot: &mut SendSlot,
    ifindex: u32,
    src: Ipv4Addr,
    dst: Ipv4Addr,
) -> Result<(), PushError> {
    let index = libc::c_int::try_from(ifindex).map_err(|_| PushError::BadIfindex(ifindex))?;
    // SAFETY: sockaddr_in / in_pktinfo are plain C data; all-zero is valid.
    let (mut sin, mut info) = unsafe {
        (
            std::mem::zeroed::<libc::sockaddr_in>(),
            std::mem::zeroed::<libc::in_pktinfo>(),
        )
    };
    sin.sin_family = libc::AF_INET as libc::sa_family_t;
    sin.sin_addr.s_addr = u32::from_ne_bytes(dst.octets());
    info.ipi_ifindex = index;
    info.ipi_spec_dst.s_addr = u32::from_ne_bytes(src.octets());
    address(slot, &V4, sin, &info);
    Ok(())
}

fn address_v6(
    slot: &mut SendSlot,
    ifindex: u32,
    src: Ipv6Addr,
    dst: Ipv6Addr,
) -> Result<(), PushError> {
    // SAFETY: sockaddr_in6 / in6_pktinfo are plain C data; all-zero is valid.
    let (mut sin6, mut info) = unsafe {
        (
            std::mem::zeroed::<libc::sockaddr_in6>(),
            std::mem::zeroed::<libc::in6_pktinfo>(),
        )
    };
    sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    sin6.sin6_addr.s6_addr = dst.octets();
    if link_scoped(dst) {
        sin6.sin6_scope_id = ifindex;
    }
    info.ipi6_ifindex = ifindex as _;
    info.ipi6_addr.s6_addr = src.octets();
    address(slot, &V6, sin6, &info);
    Ok(())
}

/// fe80::/10 unicast or a link-local-scope multicast group (ffx2::/16).
fn link_scoped(a: Ipv6Addr) -> bool {
    let s = a.segments();
    (s[0] & 0xffc0) == 0xfe80 || (s[0] & 0xff0f) == 0xff02
}

/// Stores the destination `addr` (a sockaddr_in / sockaddr_in6) and the PKTINFO control
/// message `info` (in_pktinfo / in6_pktinfo) in `slot`.
fn address<A: Copy, I: Copy>(slot: &mut SendSlot, p: &Proto, addr: A, info: &I) {
    debug_assert!(size_of::<A>() <= size_of::<libc::sockaddr_storage>());
    // SAFETY: sockaddr_storage is at least as large and as aligned as any sockaddr type;
    // the write stays inside `slot.name`.
    unsafe { ptr::write(ptr::addr_of_mut!(slot.name).cast::<A>(), addr) };
    slot.namelen = size_of::<A>() as libc::socklen_t;
    let data = cmsg::bytes_of(info);
    slot.controllen = cmsg::write(&mut slot.control.0, p.level, p.pktinfo, data).unwrap_or(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    const A4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const G4: IpAddr = IpAddr::V4(super::super::GROUP_V4);
    const G6: IpAddr = IpAddr::V6(super::super::GROUP_V6);

    #[test]
    fn push_fills_slots_in_order_until_full() {
        let mut b = SendBatch::new(2);
        assert_eq!(b.push(1, A4, G4, |buf| Some(buf.len())), Ok(0));
        assert_eq!(
            b.push(1, A4, G4, |buf| {
                buf[..3].copy_from_slice(b"abc");
                Some(3)
            }),
            Ok(1)
        );
        assert_eq!(b.push(1, A4, G4, |_| Some(1)), Err(PushError::Full));
        assert_eq!(b.len(), 2);
        assert_eq!(b.outcome(1), Some(SendOutcome::Queued));
        assert_eq!(b.outcome(2), None);
        b.clear();
        assert!(b.is_empty());
        assert_eq!(b.outcome(0), None);
    }

    #[test]
    fn push_rejects_bad_requests_without_queuing() {
        let mut b = SendBatch::new(4);
        assert_eq!(
            b.push(1, A4, G6, |_| Some(1)),
            Err(PushError::FamilyMismatch)
        );
        assert_eq!(b.push(1, A4, G4, |_| None), Err(PushError::Fill));
        assert_eq!(
            b.push(1, A4, G4, |_| Some(MAX_DATAGRAM + 1)),
            Err(PushError::TooLong(MAX_DATAGRAM + 1))
        );
        assert_eq!(
            b.push(u32::MAX, A4, G4, |_| Some(1)),
            Err(PushError::BadIfindex(u32::MAX))
        );
        assert!(b.is_empty());
    }

    #[test]
    fn link_scope_detection() {
        assert!(link_scoped("fe80::1".parse().unwrap()));
        assert!(link_scoped(super::super::GROUP_V6));
        assert!(!link_scoped("2001:db8::1".parse().unwrap()));
        assert!(!link_scoped("ff05::2".parse().unwrap()));
    }
}
