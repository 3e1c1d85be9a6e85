//! VRRP adverts built by hand, independent of the daemon's own packet code.

use std::net::Ipv4Addr;

/// VRRP's IP protocol number and IPv4 group.
pub const IPPROTO_VRRP: u8 = 112;
pub const VRRP_GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);

/// RFC 1071 internet checksum of `data` (odd length padded with a zero byte).
pub fn internet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(u16::from_be_bytes([*last, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// One VRRP advertisement, v2 (RFC 3768, no authentication) or v3 (RFC 5798 / 9568).
#[derive(Clone, Debug)]
pub struct Advert {
    pub version: u8,
    pub vrid: u8,
    pub priority: u8,
    /// v2: seconds; v3: centiseconds (12 bits).
    pub interval: u16,
    pub addrs: Vec<Ipv4Addr>,
}

impl Advert {
    /// The VRRP message. v2's checksum covers the message only; v3's (as keepalived and
    /// RFC 5798 do) an IPv4 pseudo-header with `src` and `dst` too.
    pub fn vrrp_bytes(&self, src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
        let mut m = vec![
            (self.version << 4) | 1,
            self.vrid,
            self.priority,
            self.addrs.len() as u8,
        ];
        if self.version == 2 {
            m.push(0); // auth type: none
            m.push(self.interval as u8);
        } else {
            m.extend_from_slice(&(self.interval & 0x0fff).to_be_bytes());
        }
        m.extend_from_slice(&[0, 0]); // checksum, filled below
        for a in &self.addrs {
            m.extend_from_slice(&a.octets());
        }
        if self.version == 2 {
            m.extend_from_slice(&[0; 8]); // authentication data
        }
        let sum = if self.version == 2 {
            internet_checksum(&m)
        } else {
            let mut pseudo = Vec::with_capacity(12 + m.len());
            pseudo.extend_from_slice(&src.octets());
            pseudo.extend_from_slice(&dst.octets());
            pseudo.extend_from_slice(&[0, IPPROTO_VRRP]);
            pseudo.extend_from_slice(&(m.len() as u16).to_be_bytes());
            pseudo.extend_from_slice(&m);
            internet_checksum(&pseudo)
        };
        m[6..8].copy_from_slice(&sum.to_be_bytes());
        m
    }

    /// The whole IPv4 packet from `src` to 224.0.0.18 with `ttl`, TOS 0xc0 like keepalived.
    pub fn ipv4_packet(&self, src: Ipv4Addr, ttl: u8) -> Vec<u8> {
        ipv4_packet(
            src,
            VRRP_GROUP_V4,
            ttl,
            IPPROTO_VRRP,
            &self.vrrp_bytes(src, VRRP_GROUP_V4),
        )
    }
}

/// Offset of the VRRP checksum in a packet built by `Advert::ipv4_packet`.
pub const VRRP_CHECKSUM_OFFSET: usize = 20 + 6;

/// A 20-byte IPv4 header (with its checksum) followed by `payload`.
pub fn ipv4_packet(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, proto: u8, payload: &[u8]) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let mut p = vec![0x45, 0xc0];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0]); // id, flags, fragment offset
    p.extend_from_slice(&[ttl, proto, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let sum = internet_checksum(&p);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(payload);
    p
}
