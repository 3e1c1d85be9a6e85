//! Gratuitous ARP (IPv4) and unsolicited neighbour advertisements (IPv6) that tell a segment
//! where a VIP lives after a takeover: pure frame builders, and one AF_PACKET socket that
//! sends them on any interface.

use std::fmt;
use std::mem;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

pub const GARP_FRAME_LEN: usize = 42;
pub const UNA_FRAME_LEN: usize = 86;

const ETHERTYPE_ARP: u16 = 0x0806;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const BROADCAST: [u8; 6] = [0xff; 6];
/// 33:33 + the low 32 bits of ff02::1.
const ALL_NODES_MAC: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

const ICMPV6_NEIGHBOR_ADVERT: u8 = 136;
const NA_FLAG_ROUTER: u32 = 0x8000_0000;
const NA_FLAG_OVERRIDE: u32 = 0x2000_0000;
const ND_OPT_TARGET_LL_ADDR: u8 = 2;
const IPPROTO_ICMPV6: u8 = 58;
/// ICMPv6 NA: 4 header + 4 flags + 16 target + 8 option.
const NA_LEN: usize = 32;

/// Ethernet broadcast + an ARP request for `ip` from `ip` (sender = target), with target
/// hardware address ff:ff:ff:ff:ff:ff. That is what keepalived 2.2.7 sends (request, not
/// reply; broadcast, not zero, target MAC), matched byte for byte against the capture.
pub fn build_garp(out: &mut [u8; GARP_FRAME_LEN], mac: [u8; 6], ip: Ipv4Addr) {
    let (eth, arp) = out.split_at_mut(14);
    eth[0..6].copy_from_slice(&BROADCAST);
    eth[6..12].copy_from_slice(&mac);
    eth[12..14].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
    arp[0..2].copy_from_slice(&1u16.to_be_bytes()); // hardware: Ethernet
    arp[2..4].copy_from_slice(&0x0800u16.to_be_bytes()); // protocol: IPv4
    arp[4] = 6;
    arp[5] = 4;
    arp[6..8].copy_from_slice(&1u16.to_be_bytes()); // request
    arp[8..14].copy_from_slice(&mac);
    arp[14..18].copy_from_slice(&ip.octets());
    arp[18..24].copy_from_slice(&BROADCAST);
    arp[24..28].copy_from_slice(&ip.octets());
}

/// An unsolicited neighbour advertisement (RFC 4861 §7.2.6) for `ip` with link-layer address
/// `mac`, sent from the VIP itself (as keepalived does) to ff02::1 with hop limit 255; flags
/// Override, plus Router when `router`.
pub fn build_unsolicited_na(
    out: &mut [u8; UNA_FRAME_LEN],
    mac: [u8; 6],
    ip: Ipv6Addr,
    router: bool,
) {
    let (eth, rest) = out.split_at_mut(14);
    eth[0..6].copy_from_slice(&ALL_NODES_MAC);
    eth[6..12].copy_from_slice(&mac);
    eth[12..14].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());

    let (ip6, icmp) = rest.split_at_mut(40);
    ip6[0..4].copy_from_slice(&0x6000_0000u32.to_be_bytes()); // version 6, class 0, flow 0
    ip6[4..6].copy_from_slice(&(NA_LEN as u16).to_be_bytes());
    ip6[6] = IPPROTO_ICMPV6;
    ip6[7] = 255;
    ip6[8..24].copy_from_slice(&ip.octets());
    ip6[24..40].copy_from_slice(&ALL_NODES.octets());

    icmp[0] = ICMPV6_NEIGHBOR_ADVERT;
    icmp[1] = 0;
    icmp[2..4].copy_from_slice(&[0, 0]);
    let flags = NA_FLAG_OVERRIDE | if router { NA_FLAG_ROUTER } else { 0 };
    icmp[4..8].copy_from_slice(&flags.to_be_bytes());
    icmp[8..24].copy_from_slice(&ip.octets());
    icmp[24] = ND_OPT_TARGET_LL_ADDR;
    icmp[25] = 1; // length in units of 8 bytes
    icmp[26..32].copy_from_slice(&mac);

    let sum = icmpv6_checksum(&ip, &ALL_NODES, icmp);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
}

/// Whether IPv6 forwarding is on for `ifname` (`/proc/sys/net/ipv6/conf/IF/forwarding` is
/// `1`): the node is then a router and its unsolicited NAs carry the Router flag, so hosts
/// keep using it as a default router after the takeover (RFC 4861 §7.2.6; keepalived does
/// the same). Any error reading it means "not a router". No heap allocation: the path is built
/// in a stack buffer.
pub fn ipv6_forwarding(ifname: &str) -> bool {
    const PREFIX: &[u8] = b"/proc/sys/net/ipv6/conf/";
    const SUFFIX: &[u8] = b"/forwarding";
    let name = ifname.as_bytes();
    if name.is_empty() || name.contains(&b'/') || ifname == "." || ifname == ".." {
        return false;
    }
    let mut buf = [0u8; 64];
    let len = PREFIX.len() + name.len() + SUFFIX.len();
    let Some(path) = buf.get_mut(..len) else {
        return false;
    };
    let (head, tail) = path.split_at_mut(PREFIX.len());
    head.copy_from_slice(PREFIX);
    let (mid, end) = tail.split_at_mut(name.len());
    mid.copy_from_slice(name);
    end.copy_from_slice(SUFFIX);
    let Ok(path) = std::str::from_utf8(path) else {
        return false;
    };
    let mut value = [0u8; 4];
    let read = std::fs::File::open(path).and_then(|mut f| std::io::Read::read(&mut f, &mut value));
    matches!(read, Ok(n) if n >= 1 && value[0] == b'1')
}

/// Internet checksum of an ICMPv6 message with the IPv6 pseudo-header (RFC 8200 §8.1).
fn icmpv6_checksum(src: &Ipv6Addr, dst: &Ipv6Addr, msg: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut add = |bytes: &[u8]| {
        for pair in bytes.chunks(2) {
            let hi = u32::from(pair[0]) << 8;
            let lo = pair.get(1).copied().map_or(0, u32::from);
            sum += hi | lo;
        }
    };
    add(&src.octets());
    add(&dst.octets());
    add(&(msg.len() as u32).to_be_bytes());
    add(&[0, 0, 0, IPPROTO_ICMPV6]);
    add(msg);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Why a frame could not be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArpError {
    Io(Errno),
    /// Shorter than an Ethernet header.
    FrameTooShort,
    /// The kernel took only part of the frame.
    ShortSend {
        sent: usize,
        len: usize,
    },
}

impl fmt::Display for ArpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArpError::Io(e) => write!(f, "packet socket: {}", std::io::Error::from(*e)),
            ArpError::FrameTooShort => write!(f, "frame shorter than an Ethernet header"),
            ArpError::ShortSend { sent, len } => write!(f, "sent {sent} of {len} bytes"),
        }
    }
}

impl std::error::Error for ArpError {}

/// One AF_PACKET raw socket for every interface. Bound to protocol 0, so it receives nothing
/// and never wakes the poll loop; non-blocking, so a full device queue drops a frame (an
/// error to count) instead of stalling the daemon.
pub struct FrameSender {
    fd: OwnedFd,
}

impl FrameSender {
    pub fn open() -> Result<Self, ArpError> {
        // SAFETY: plain socket(2); the descriptor is owned by OwnedFd right away.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                0,
            )
        };
        if raw < 0 {
            return Err(ArpError::Io(Errno::last()));
        }
        // SAFETY: `raw` is a fresh descriptor nobody else owns.
        Ok(FrameSender {
            fd: unsafe { OwnedFd::from_raw_fd(raw) },
        })
    }

    /// Sends a complete Ethernet frame out of `ifindex`, to the frame's destination MAC.
    pub fn send(&self, ifindex: u32, frame: &[u8]) -> Result<(), ArpError> {
        let (dst, ethertype) = match (frame.get(0..6), frame.get(12..14)) {
            (Some(d), Some(t)) => (d, [t[0], t[1]]),
            _ => return Err(ArpError::FrameTooShort),
        };
        // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
        let mut sa: libc::sockaddr_ll = unsafe { mem::zeroed() };
        sa.sll_family = libc::AF_PACKET as u16;
        // The frame's own EtherType, in network order, as the kernel's skb->protocol.
        sa.sll_protocol = u16::from_ne_bytes(ethertype);
        sa.sll_ifindex = i32::try_from(ifindex).map_err(|_| ArpError::Io(Errno::ENODEV))?;
        sa.sll_halen = 6;
        sa.sll_addr[..6].copy_from_slice(dst);
        loop {
            // SAFETY: `frame` and `sa` are valid for the lengths passed.
            let n = unsafe {
                libc::sendto(
                    self.fd.as_raw_fd(),
                    frame.as_ptr() as *const libc::c_void,
                    frame.len(),
                    0,
                    &sa as *const libc::sockaddr_ll as *const libc::sockaddr,
                    mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
                )
            };
            if n < 0 {
                match Errno::last() {
                    Errno::EINTR => continue,
                    e => return Err(ArpError::Io(e)),
                }
            }
            let sent = n as usize;
            if sent != frame.len() {
                return Err(ArpError::ShortSend {
                    sent,
                    len: frame.len(),
                });
            }
            return Ok(());
        }
    }
}

/// One address to announce, and where: out of `ifindex` (named `ifname`) from `mac`.
#[derive(Clone, Copy, Debug)]
pub struct GarpTarget<'a> {
    pub addr: IpAddr,
    pub ifindex: u32,
    pub ifname: Option<&'a str>,
    pub mac: [u8; 6],
}

/// Sends `count` gratuitous ARPs (IPv4) or unsolicited NAs (IPv6) for every target, as FRR's
/// `vrrp_garp_send_all`. IPv6 NAs carry the Router flag where the interface forwards.
/// Returns how many frames could not be sent (each logged at debug level).
pub fn garp_send_all<'a>(
    frames: &FrameSender,
    targets: impl IntoIterator<Item = GarpTarget<'a>>,
    count: u32,
) -> u32 {
    let mut failed = 0;
    for t in targets {
        let router = t.addr.is_ipv6() && t.ifname.is_some_and(ipv6_forwarding);
        for _ in 0..count {
            let result = match t.addr {
                IpAddr::V4(ip) => {
                    let mut frame = [0u8; GARP_FRAME_LEN];
                    build_garp(&mut frame, t.mac, ip);
                    frames.send(t.ifindex, &frame)
                }
                IpAddr::V6(ip) => {
                    let mut frame = [0u8; UNA_FRAME_LEN];
                    build_unsolicited_na(&mut frame, t.mac, ip, router);
                    frames.send(t.ifindex, &frame)
                }
            };
            if let Err(e) = result {
                log::debug!("gratuitous announcement for {}: {e}", t.addr);
                failed += 1;
            }
        }
    }
    failed
}

impl AsRawFd for FrameSender {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests;
