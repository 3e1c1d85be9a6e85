//! Receiving: `recvmmsg` into buffers allocated once, and the per-datagram view.

use std::fmt;
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::ptr;

use nix::errno::Errno;

use super::cmsg::{self, CmsgIter, ControlBuf, CONTROL_LEN};
use super::mmsg::{Mmsg, Parts, Zeroed};
use super::{SockError, VrrpSocket, MAX_DATAGRAM};
use crate::packet::Family;

/// Why one received datagram cannot be used. The caller counts these; the rest of the batch
/// is unaffected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatagramError {
    /// IPv4: fewer bytes than a minimal IPv4 header.
    ShortIpHeader { len: usize },
    /// IPv4: the header's version field is not 4.
    NotIpv4 { version: u8 },
    /// IPv4: IHL below 5 or the header longer than the datagram.
    BadHeaderLength { ihl: u8, len: usize },
    /// IPv4: total length shorter than the header or longer than what was received.
    BadTotalLength { total: usize, len: usize },
    /// No IP_PKTINFO / IPV6_PKTINFO control message, so the interface is unknown.
    NoPktinfo,
    /// IPv6: no IPV6_HOPLIMIT control message.
    NoHopLimit,
    /// IPv6: the sender address (msg_name) is missing or not IPv6.
    NoSource,
}

impl fmt::Display for DatagramError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DatagramError::ShortIpHeader { len } => {
                write!(f, "datagram of {len} bytes is shorter than an IPv4 header")
            }
            DatagramError::NotIpv4 { version } => write!(f, "IP version {version}, expected 4"),
            DatagramError::BadHeaderLength { ihl, len } => {
                write!(
                    f,
                    "IPv4 header length {ihl} words does not fit a {len}-byte datagram"
                )
            }
            DatagramError::BadTotalLength { total, len } => {
                write!(
                    f,
                    "IPv4 total length {total} does not fit a {len}-byte datagram"
                )
            }
            DatagramError::NoPktinfo => write!(f, "no packet-info control message"),
            DatagramError::NoHopLimit => write!(f, "no hop-limit control message"),
            DatagramError::NoSource => write!(f, "no IPv6 source address"),
        }
    }
}

impl std::error::Error for DatagramError {}

/// One received VRRP datagram, borrowed from the batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received<'a> {
    /// Interface it arrived on (IP_PKTINFO / IPV6_PKTINFO).
    pub ifindex: u32,
    /// Sender: the IPv4 header's source / the IPv6 msg_name.
    pub src: IpAddr,
    /// Destination: the IPv4 header's / IPV6_PKTINFO's address (group or our unicast address).
    pub dst: IpAddr,
    /// IPv4 TTL from the header / IPv6 hop limit from IPV6_HOPLIMIT.
    pub ttl: u8,
    /// The VRRP message, with the IPv4 header stripped.
    pub payload: &'a [u8],
    /// The kernel cut the datagram to fit the buffer (MSG_TRUNC).
    pub truncated: bool,
}

/// A datagram's address and control messages; its bytes are in the batch's `data`.
#[derive(Clone, Copy)]
struct RecvSlot {
    /// Where its buffer starts in `data`.
    offset: usize,
    name: libc::sockaddr_storage,
    control: ControlBuf,
}

// SAFETY: plain C data (byte arrays and integers).
unsafe impl Zeroed for RecvSlot {}

/// Preallocated `recvmmsg` state: `slots` datagram buffers of [`MAX_DATAGRAM`] bytes, each with
/// its own address and control buffer.
///
/// The addresses and control buffers are packed apart from the datagram buffers: a datagram
/// then touches one page of `data` and a shared page of slots, not two pages of its own
/// (a backup with 100 instances reads ~100 datagrams per wake-up, and each page first touched
/// after a context switch costs a TLB miss, on small routers a software refill).
pub struct RecvBatch {
    m: Mmsg<RecvSlot>,
    data: Box<[u8]>,
    /// Datagrams the last `recv` filled.
    filled: usize,
    /// Family of the socket the last `recv` read from.
    family: Family,
    /// Headers the next `recv` re-arms: the kernel rewrote the lengths and flags of the
    /// datagrams it filled and no others, so a burst of a few adverts does not cost
    /// rewriting all the headers each time (all of them at first and after an error).
    stale: usize,
}

impl RecvBatch {
    /// Allocates `slots` (at least 1) receive slots; the only allocation the batch makes.
    pub fn new(slots: usize) -> Self {
        let mut m: Mmsg<RecvSlot> = Mmsg::new(slots);
        for (i, slot) in m.slots.iter_mut().enumerate() {
            slot.offset = i * MAX_DATAGRAM;
        }
        RecvBatch {
            data: super::mmsg::zeroed_slice(m.slots.len() * MAX_DATAGRAM),
            m,
            filled: 0,
            family: Family::V4,
            stale: usize::MAX,
        }
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.m.slots.len()
    }

    /// Datagrams the last [`recv`](Self::recv) read.
    pub fn len(&self) -> usize {
        self.filled
    }

    /// True when the last `recv` read nothing.
    pub fn is_empty(&self) -> bool {
        self.filled == 0
    }

    /// One `recvmmsg(MSG_DONTWAIT)`: returns how many datagrams were read, 0 when none was
    /// waiting (EAGAIN). Retries on EINTR. Previously received datagrams are overwritten.
    pub fn recv(&mut self, sock: &VrrpSocket) -> Result<usize, SockError> {
        self.filled = 0;
        self.family = sock.family();
        let stale = std::mem::replace(&mut self.stale, usize::MAX);
        let data = self.data.as_mut_ptr();
        self.m.arm(stale, |slot| Parts {
            // Within `data`: `new` set offsets of whole buffers inside it.
            data: data.wrapping_add(slot.offset),
            len: MAX_DATAGRAM,
            name: ptr::addr_of_mut!(slot.name),
            namelen: size_of::<libc::sockaddr_storage>() as libc::socklen_t,
            control: slot.control.0.as_mut_ptr(),
            controllen: CONTROL_LEN,
        });
        let hdrs = &mut self.m.hdrs;
        loop {
            // SAFETY: `hdrs` holds `hdrs.len()` initialised mmsghdrs whose pointers `arm` just
            // set to live buffers of the stated lengths (see Mmsg's invariant).
            let n = unsafe {
                libc::recvmmsg(
                    sock.as_raw_fd(),
                    hdrs.as_mut_ptr(),
                    hdrs.len() as libc::c_uint,
                    libc::MSG_DONTWAIT as _,
                    ptr::null_mut(),
                )
            };
            if n >= 0 {
                self.filled = (n as usize).min(hdrs.len());
                self.stale = self.filled;
                return Ok(self.filled);
            }
            match Errno::last() {
                Errno::EINTR => continue,
                Errno::EAGAIN => {
                    self.stale = 0;
                    return Ok(0);
                }
                errno => return Err(SockError::Recv(errno)),
            }
        }
    }

    /// The `i`th datagram of the last `recv`: None past the end, `Err` when it is malformed
    /// (count it and go on).
    pub fn get(&self, i: usize) -> Option<Result<Received<'_>, DatagramError>> {
        if i >= self.filled {
            return None;
        }
        let hdr = self.m.hdrs.get(i)?;
        let slot = self.m.slots.get(i)?;
        let len = (hdr.msg_len as usize).min(MAX_DATAGRAM);
        let data = self.data.get(slot.offset..slot.offset + len)?;
        let truncated = hdr.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
        // size_t on glibc, socklen_t on musl.
        #[allow(clippy::unnecessary_cast)]
        let control_len = (hdr.msg_hdr.msg_controllen as usize).min(CONTROL_LEN);
        let control = slot.control.0.get(..control_len)?;
        let namelen = hdr.msg_hdr.msg_namelen as usize;
        Some(match self.family {
            Family::V4 => parse_v4(data, control, truncated),
            Family::V6 => parse_v6(data, control, &slot.name, namelen, truncated),
        })
    }

    /// Iterates over the datagrams of the last `recv`.
    pub fn iter(&self) -> impl Iterator<Item = Result<Received<'_>, DatagramError>> + '_ {
        (0..self.filled).filter_map(move |i| self.get(i))
    }
}

/// The parts of an IPv4 header the daemon needs, and the payload it covers.
#[derive(Debug, PartialEq, Eq)]
struct Ipv4View<'a> {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ttl: u8,
    payload: &'a [u8],
}

/// Strips the IPv4 header a raw socket delivers, checking it is sane. When the datagram was
/// truncated, the total length may exceed what we have; the payload is then what we have.
fn strip_ipv4(data: &[u8], truncated: bool) -> Result<Ipv4View<'_>, DatagramError> {
    let len = data.len();
    let fixed = data.get(..20).ok_or(DatagramError::ShortIpHeader { len })?;
    let octet = |i: usize| fixed.get(i).copied().unwrap_or(0);
    let version = octet(0) >> 4;
    if version != 4 {
        return Err(DatagramError::NotIpv4 { version });
    }
    let ihl = octet(0) & 0x0f;
    let header_len = usize::from(ihl) * 4;
    if ihl < 5 || header_len > len {
        return Err(DatagramError::BadHeaderLength { ihl, len });
    }
    let total = usize::from(u16::from_be_bytes([octet(2), octet(3)]));
    let end = if truncated && total > len { len } else { total };
    let payload = data
        .get(header_len..end)
        .ok_or(DatagramError::BadTotalLength { total, len })?;
    Ok(Ipv4View {
        src: Ipv4Addr::new(octet(12), octet(13), octet(14), octet(15)),
        dst: Ipv4Addr::new(octet(16), octet(17), octet(18), octet(19)),
        ttl: octet(8),
        payload,
    })
}

fn parse_v4<'a>(
    data: &'a [u8],
    control: &[u8],
    truncated: bool,
) -> Result<Received<'a>, DatagramError> {
    let ip = strip_ipv4(data, truncated)?;
    let ifindex = CmsgIter::new(control)
        .filter(|c| c.level == libc::IPPROTO_IP && c.kind == libc::IP_PKTINFO)
        .find_map(|c| cmsg::read::<libc::in_pktinfo>(c.data))
        .and_then(|info| u32::try_from(info.ipi_ifindex).ok())
        .ok_or(DatagramError::NoPktinfo)?;
    Ok(Received {
        ifindex,
        src: IpAddr::V4(ip.src),
        dst: IpAddr::V4(ip.dst),
        ttl: ip.ttl,
        payload: ip.payload,
        truncated,
    })
}

fn parse_v6<'a>(
    data: &'a [u8],
    control: &[u8],
    name: &libc::sockaddr_storage,
    namelen: usize,
    truncated: bool,
) -> Result<Received<'a>, DatagramError> {
    let mut pktinfo = None;
    let mut hop_limit = None;
    for c in CmsgIter::new(control) {
        if c.level != libc::IPPROTO_IPV6 {
            continue;
        }
        if c.kind == libc::IPV6_PKTINFO {
            pktinfo = cmsg::read::<libc::in6_pktinfo>(c.data);
        } else if c.kind == libc::IPV6_HOPLIMIT {
            hop_limit = cmsg::read::<libc::c_int>(c.data);
        }
    }
    let info = pktinfo.ok_or(DatagramError::NoPktinfo)?;
    let ttl = hop_limit
        .and_then(|h| u8::try_from(h).ok())
        .ok_or(DatagramError::NoHopLimit)?;
    if namelen < size_of::<libc::sockaddr_in6>() || i32::from(name.ss_family) != libc::AF_INET6 {
        return Err(DatagramError::NoSource);
    }
    // SAFETY: sockaddr_storage is at least as large and as aligned as sockaddr_in6, and the
    // kernel wrote an AF_INET6 address of full length (checked above).
    let sin6 = unsafe { &*(name as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
    Ok(Received {
        ifindex: info.ipi6_ifindex,
        src: IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)),
        dst: IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr)),
        ttl,
        payload: data,
        truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4(ihl: u8, total: u16, payload: &[u8]) -> Vec<u8> {
        let mut h = vec![0u8; usize::from(ihl.max(5)) * 4];
        h[0] = 0x40 | ihl;
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h[8] = 255;
        h[9] = 112;
        h[12..16].copy_from_slice(&[192, 0, 2, 1]);
        h[16..20].copy_from_slice(&[224, 0, 0, 18]);
        h.extend_from_slice(payload);
        h
    }

    #[test]
    fn strips_a_plain_header() {
        let d = ipv4(5, 24, &[1, 2, 3, 4]);
        let v = strip_ipv4(&d, false).unwrap();
        assert_eq!(v.payload, &[1, 2, 3, 4]);
        assert_eq!(v.src, Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(v.dst, Ipv4Addr::new(224, 0, 0, 18));
        assert_eq!(v.ttl, 255);
    }

    #[test]
    fn strips_options_and_trailing_bytes_beyond_total_length() {
        let mut d = ipv4(6, 26, &[9, 9]);
        d.extend_from_slice(&[0xee; 3]);
        assert_eq!(strip_ipv4(&d, false).unwrap().payload, &[9, 9]);
    }

    #[test]
    fn rejects_malformed_headers() {
        assert_eq!(
            strip_ipv4(&[0x45; 19], false),
            Err(DatagramError::ShortIpHeader { len: 19 })
        );
        let mut d = ipv4(5, 20, &[]);
        d[0] = 0x65;
        assert_eq!(
            strip_ipv4(&d, false),
            Err(DatagramError::NotIpv4 { version: 6 })
        );
        let d = ipv4(4, 20, &[]);
        assert_eq!(
            strip_ipv4(&d, false),
            Err(DatagramError::BadHeaderLength { ihl: 4, len: 20 })
        );
        let mut d = ipv4(5, 20, &[]);
        d[0] = 0x4f;
        assert_eq!(
            strip_ipv4(&d, false),
            Err(DatagramError::BadHeaderLength { ihl: 15, len: 20 })
        );
        let d = ipv4(5, 30, &[1, 2]);
        assert_eq!(
            strip_ipv4(&d, false),
            Err(DatagramError::BadTotalLength { total: 30, len: 22 })
        );
        let d = ipv4(6, 22, &[1, 2]);
        assert_eq!(
            strip_ipv4(&d, false),
            Err(DatagramError::BadTotalLength { total: 22, len: 26 })
        );
    }

    #[test]
    fn truncated_datagram_keeps_what_arrived() {
        let d = ipv4(5, 1000, &[7; 10]);
        assert_eq!(strip_ipv4(&d, true).unwrap().payload, &[7; 10]);
    }

    #[test]
    fn v4_needs_pktinfo() {
        let d = ipv4(5, 21, &[5]);
        assert_eq!(parse_v4(&d, &[], false), Err(DatagramError::NoPktinfo));
        let mut info: libc::in_pktinfo = unsafe { std::mem::zeroed() };
        info.ipi_ifindex = 7;
        let mut ctl = ControlBuf::ZERO;
        let n = cmsg::write(
            &mut ctl.0,
            libc::IPPROTO_IP,
            libc::IP_PKTINFO,
            cmsg::bytes_of(&info),
        )
        .unwrap();
        let r = parse_v4(&d, &ctl.0[..n], false).unwrap();
        assert_eq!((r.ifindex, r.payload), (7, &[5u8][..]));
    }

    #[test]
    fn get_past_the_end_is_none() {
        let b = RecvBatch::new(4);
        assert_eq!(b.capacity(), 4);
        assert!(b.get(0).is_none());
        assert!(b.is_empty());
    }
}
