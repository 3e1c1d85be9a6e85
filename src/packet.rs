//! VRRPv2 (RFC 3768) and VRRPv3 (RFC 5798 / RFC 9568) advertisements: a zero-copy view over
//! received bytes, a plain representation, and the checksums. Pure: no I/O, no allocation.

/// VRRP protocol version of an instance or a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    V2 = 2,
    V3 = 3,
}

/// Address family of an instance (one family per instance, as in keepalived).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    V4,
    V6,
}

/// Which checksum a VRRPv3-over-IPv4 advert carries. VRRPv2 is always `MessageOnly`, IPv6
/// always `PseudoHeader`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChecksumForm {
    /// RFC 5798 as keepalived, FRR and Wireshark read it: an IPv4 pseudo-header whose
    /// destination is the packet's real destination (group or unicast peer).
    PseudoHeader,
    /// RFC 9568 (Cisco, Juniper, keepalived's `v3_checksum_as_v2`): the VRRP message only.
    MessageOnly,
}

use core::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IP protocol number (IPv4) / next header (IPv6) of VRRP.
pub const IPPROTO_VRRP: u8 = 112;
/// Multicast destination of IPv4 adverts (RFC 5798 §5.1.1.2).
pub const VRRP_GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// Multicast destination of IPv6 adverts (RFC 5798 §5.1.2.2).
pub const VRRP_GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// Fixed header: version/type, VRID, priority, count, auth type / max adver int, checksum.
pub const HEADER_LEN: usize = 8;
/// The v2 authentication data trailer (always present in v2, RFC 3768 §5.1).
pub const AUTH_DATA_LEN: usize = 8;
/// The only VRRP message type.
pub const TYPE_ADVERTISEMENT: u8 = 1;
/// Largest message any version/family can produce: header + 255 IPv6 addresses + auth. A
/// receive buffer of this size never truncates a VRRP message.
pub const MAX_PACKET_LEN: usize = HEADER_LEN + 255 * 16 + AUTH_DATA_LEN;
/// v3 Max Adver Int is 12 bits (RFC 5798 §5.2.7).
pub const MAX_V3_ADVER_INT_CS: u16 = 0x0fff;
/// v2 Adver Int is 8 bits of seconds (RFC 3768 §5.3.7).
pub const MAX_V2_ADVER_INT_CS: u16 = 255 * 100;

impl Version {
    /// The version nibble of a received packet, if it is one we speak.
    pub fn from_wire(nibble: u8) -> Option<Version> {
        match nibble {
            2 => Some(Version::V2),
            3 => Some(Version::V3),
            _ => None,
        }
    }
}

impl Family {
    /// Bytes per address in the address list.
    pub fn addr_len(self) -> usize {
        match self {
            Family::V4 => 4,
            Family::V6 => 16,
        }
    }

    /// The family of an address.
    pub fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
}

/// Why a received message was dropped, or why an advert could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketError {
    /// Shorter than the 8-byte fixed header.
    Truncated,
    /// Version nibble other than 2 or 3.
    BadVersion(u8),
    /// Type nibble other than 1 (ADVERTISEMENT).
    BadType(u8),
    /// VRID 0 (valid VRIDs are 1..=255).
    ZeroVrid,
    /// Advertisement interval 0.
    ZeroInterval,
    /// VRRPv3 with Count IPvX Addr 0 (RFC 5798 §5.2.5: the minimum is 1).
    NoAddresses,
    /// The message length is not the one the address count (and version) implies.
    LengthMismatch { expected: usize, actual: usize },
    /// No accepted checksum form verifies.
    BadChecksum,
    /// VRRPv2 is IPv4 only (RFC 3768).
    V2OverIpv6,
    /// An address (IP source/destination or a virtual address) of the other family.
    AddressFamily,
    /// VRRPv2 Auth Type other than 0 (none), 1 (simple text) or 2 (AH).
    BadAuthType(u8),
    /// Emit: the output buffer cannot hold the message.
    BufferTooSmall,
    /// Emit: more than 255 addresses.
    TooManyAddresses,
    /// Emit: interval above what the version's field can carry (v3 4095 cs, v2 255 s).
    IntervalOutOfRange(u16),
    /// Emit: VRRPv2 carries whole seconds; the interval in centiseconds is not a multiple of 100.
    IntervalNotWholeSeconds(u16),
}

impl PacketError {
    /// Stable snake_case name, used as a drop-counter name in `tinyvrrp status`.
    pub fn counter_name(&self) -> &'static str {
        match self {
            PacketError::Truncated => "truncated",
            PacketError::BadVersion(_) => "bad_version",
            PacketError::BadType(_) => "bad_type",
            PacketError::ZeroVrid => "zero_vrid",
            PacketError::ZeroInterval => "zero_interval",
            PacketError::NoAddresses => "no_addresses",
            PacketError::LengthMismatch { .. } => "length_mismatch",
            PacketError::BadChecksum => "bad_checksum",
            PacketError::V2OverIpv6 => "v2_over_ipv6",
            PacketError::AddressFamily => "address_family",
            PacketError::BadAuthType(_) => "bad_auth_type",
            PacketError::BufferTooSmall => "buffer_too_small",
            PacketError::TooManyAddresses => "too_many_addresses",
            PacketError::IntervalOutOfRange(_) => "interval_out_of_range",
            PacketError::IntervalNotWholeSeconds(_) => "interval_not_whole_seconds",
        }
    }
}

impl fmt::Display for PacketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PacketError::Truncated => write!(f, "shorter than the {HEADER_LEN}-byte VRRP header"),
            PacketError::BadVersion(v) => write!(f, "unsupported VRRP version {v}"),
            PacketError::BadType(t) => write!(f, "VRRP type {t} is not ADVERTISEMENT (1)"),
            PacketError::ZeroVrid => write!(f, "virtual router ID 0"),
            PacketError::ZeroInterval => write!(f, "advertisement interval 0"),
            PacketError::NoAddresses => write!(f, "VRRPv3 advert without addresses"),
            PacketError::LengthMismatch { expected, actual } => write!(
                f,
                "message length {actual} does not match the address count (expected {expected})"
            ),
            PacketError::BadChecksum => write!(f, "bad VRRP checksum"),
            PacketError::V2OverIpv6 => write!(f, "VRRPv2 over IPv6"),
            PacketError::AddressFamily => write!(f, "address of the wrong family"),
            PacketError::BadAuthType(t) => write!(f, "unknown VRRPv2 auth type {t}"),
            PacketError::BufferTooSmall => write!(f, "output buffer too small"),
            PacketError::TooManyAddresses => write!(f, "more than 255 addresses"),
            PacketError::IntervalOutOfRange(cs) => {
                write!(f, "advertisement interval {cs} cs out of range")
            }
            PacketError::IntervalNotWholeSeconds(cs) => {
                write!(
                    f,
                    "VRRPv2 interval {cs} cs is not a whole number of seconds"
                )
            }
        }
    }
}

impl std::error::Error for PacketError {}

/// Internet checksum (RFC 1071) pieces: sums are folded one's-complement 16-bit sums, combined
/// with [`checksum::combine`] and complemented once at the end.
pub mod checksum {
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn fold(mut sum: u64) -> u16 {
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        sum as u16
    }

    /// One's-complement sum of `data` as big-endian 16-bit words; an odd last byte is padded
    /// with a zero byte.
    pub fn data(data: &[u8]) -> u16 {
        let mut sum: u64 = 0;
        let mut words = data.chunks_exact(2);
        for w in &mut words {
            if let [hi, lo] = *w {
                sum += u64::from(u16::from_be_bytes([hi, lo]));
            }
        }
        if let [last] = *words.remainder() {
            sum += u64::from(u16::from_be_bytes([last, 0]));
        }
        fold(sum)
    }

    /// One's-complement sum of partial sums.
    pub fn combine(sums: &[u16]) -> u16 {
        fold(sums.iter().map(|&s| u64::from(s)).sum())
    }

    /// Sum of the IPv4 pseudo-header (source, destination, zero, protocol, length).
    pub fn ipv4_pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, len: u16) -> u16 {
        combine(&[
            data(&src.octets()),
            data(&dst.octets()),
            u16::from(protocol),
            len,
        ])
    }

    /// Sum of the IPv6 pseudo-header (RFC 8200 §8.1: source, destination, 32-bit upper-layer
    /// length, three zero bytes, next header).
    pub fn ipv6_pseudo_header(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, len: u32) -> u16 {
        let len = len.to_be_bytes();
        combine(&[
            data(&src.octets()),
            data(&dst.octets()),
            data(&len),
            u16::from(next_header),
        ])
    }

    /// The value to put in a zeroed checksum field: complement of pseudo-header + data sums.
    pub fn compute(pseudo: u16, message: &[u8]) -> u16 {
        !combine(&[pseudo, data(message)])
    }

    /// Whether `message` (checksum field included) verifies against the pseudo-header sum.
    pub fn verify(pseudo: u16, message: &[u8]) -> bool {
        combine(&[pseudo, data(message)]) == 0xffff
    }
}

mod field {
    use core::ops::Range;
    pub const VER_TYPE: usize = 0;
    pub const VRID: usize = 1;
    pub const PRIORITY: usize = 2;
    pub const COUNT: usize = 3;
    /// v2: Auth Type; v3: reserved nibble + high nibble of Max Adver Int.
    pub const AUTH_TYPE: usize = 4;
    /// v2: Adver Int (seconds).
    pub const ADVER_INT: usize = 5;
    /// v3: 4 reserved bits, then 12 bits of Max Adver Int (centiseconds).
    pub const MAX_ADVER_INT: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
    pub const ADDRS: usize = 8;
}

/// Length of a message of this version and family carrying `count` addresses.
pub fn message_len(version: Version, family: Family, count: usize) -> usize {
    let auth = match version {
        Version::V2 => AUTH_DATA_LEN,
        Version::V3 => 0,
    };
    HEADER_LEN + count * family.addr_len() + auth
}

/// Zero-copy view of a VRRP message (the IP payload). Built only through [`Packet::new_checked`]
/// (which checks the length against version, family and count) or [`Packet::new_for_emit`];
/// the accessors never panic even so: out-of-range reads yield zeros.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
    family: Family,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Check the structure of `buffer`: a full header, a known version, v2 only over IPv4,
    /// and a length that matches the address count exactly.
    ///
    /// Trailing bytes are rejected (`LengthMismatch`), as RFC 5798 §7.1 ("MUST verify that
    /// the received packet contains the complete VRRP packet") and keepalived read it:
    /// keepalived drops a packet whose length differs from the count's, except for what
    /// can only be Ethernet padding — and the kernel trims padding to the IP total length
    /// before a raw socket sees the payload, so the caller must pass exactly the IP payload.
    pub fn new_checked(buffer: T, family: Family) -> Result<Packet<T>, PacketError> {
        let packet = Packet { buffer, family };
        packet.check_len()?;
        Ok(packet)
    }

    fn check_len(&self) -> Result<(), PacketError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(PacketError::Truncated);
        }
        let version =
            Version::from_wire(self.version()).ok_or(PacketError::BadVersion(self.version()))?;
        if version == Version::V2 && self.family == Family::V6 {
            return Err(PacketError::V2OverIpv6);
        }
        let expected = message_len(version, self.family, usize::from(self.addr_count()));
        if len != expected {
            return Err(PacketError::LengthMismatch {
                expected,
                actual: len,
            });
        }
        Ok(())
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The family this view was built for (it decides the address width).
    pub fn family(&self) -> Family {
        self.family
    }

    fn byte(&self, index: usize) -> u8 {
        self.buffer.as_ref().get(index).copied().unwrap_or(0)
    }

    fn be16(&self, at: core::ops::Range<usize>) -> u16 {
        u16::from_be_bytes([self.byte(at.start), self.byte(at.start + 1)])
    }

    /// Version nibble as received.
    pub fn version(&self) -> u8 {
        self.byte(field::VER_TYPE) >> 4
    }

    /// Type nibble as received.
    pub fn msg_type(&self) -> u8 {
        self.byte(field::VER_TYPE) & 0x0f
    }

    pub fn vrid(&self) -> u8 {
        self.byte(field::VRID)
    }

    pub fn priority(&self) -> u8 {
        self.byte(field::PRIORITY)
    }

    /// Count IP Addrs / Count IPvX Addr.
    pub fn addr_count(&self) -> u8 {
        self.byte(field::COUNT)
    }

    /// v2 Auth Type (meaningless in v3).
    pub fn v2_auth_type(&self) -> u8 {
        self.byte(field::AUTH_TYPE)
    }

    /// v2 Adver Int in seconds (meaningless in v3).
    pub fn v2_adver_int(&self) -> u8 {
        self.byte(field::ADVER_INT)
    }

    /// v3 Max Adver Int in centiseconds, reserved bits masked off (meaningless in v2).
    pub fn v3_max_adver_int(&self) -> u16 {
        self.be16(field::MAX_ADVER_INT) & MAX_V3_ADVER_INT_CS
    }

    pub fn checksum(&self) -> u16 {
        self.be16(field::CHECKSUM)
    }

    /// The raw address list.
    pub fn addr_bytes(&self) -> &[u8] {
        let width = self.family.addr_len();
        let end = field::ADDRS + usize::from(self.addr_count()) * width;
        self.buffer.as_ref().get(field::ADDRS..end).unwrap_or(&[])
    }

    /// v2 Authentication Data: the 8 bytes after the addresses (zeros in v3).
    pub fn v2_auth_data(&self) -> [u8; AUTH_DATA_LEN] {
        let mut out = [0u8; AUTH_DATA_LEN];
        if self.version() == 2 {
            let start = field::ADDRS + self.addr_bytes().len();
            if let Some(src) = self.buffer.as_ref().get(start..start + AUTH_DATA_LEN) {
                out.copy_from_slice(src);
            }
        }
        out
    }

    /// Whether the checksum verifies in `form` with these IP addresses. False when the
    /// addresses are not of the view's family.
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr, form: ChecksumForm) -> bool {
        let buf = self.buffer.as_ref();
        match pseudo_header_sum(self.family, src, dst, form, buf.len()) {
            Ok(pseudo) => checksum::verify(pseudo, buf),
            Err(_) => false,
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// A view for writing a message of `len` bytes at the start of `buffer`; fails with
    /// `BufferTooSmall` when it does not fit. The length is not checked against the fields.
    pub fn new_for_emit(buffer: T, family: Family, len: usize) -> Result<Packet<T>, PacketError> {
        if buffer.as_ref().len() < len {
            return Err(PacketError::BufferTooSmall);
        }
        Ok(Packet { buffer, family })
    }

    fn set_byte(&mut self, index: usize, value: u8) {
        if let Some(b) = self.buffer.as_mut().get_mut(index) {
            *b = value;
        }
    }

    pub fn set_version_type(&mut self, version: Version, msg_type: u8) {
        self.set_byte(field::VER_TYPE, ((version as u8) << 4) | (msg_type & 0x0f));
    }

    pub fn set_vrid(&mut self, vrid: u8) {
        self.set_byte(field::VRID, vrid);
    }

    pub fn set_priority(&mut self, priority: u8) {
        self.set_byte(field::PRIORITY, priority);
    }

    pub fn set_addr_count(&mut self, count: u8) {
        self.set_byte(field::COUNT, count);
    }

    pub fn set_v2_auth_type(&mut self, auth_type: u8) {
        self.set_byte(field::AUTH_TYPE, auth_type);
    }

    pub fn set_v2_adver_int(&mut self, seconds: u8) {
        self.set_byte(field::ADVER_INT, seconds);
    }

    /// Writes the 12-bit interval with the reserved bits zero.
    pub fn set_v3_max_adver_int(&mut self, centiseconds: u16) {
        let [hi, lo] = (centiseconds & MAX_V3_ADVER_INT_CS).to_be_bytes();
        self.set_byte(field::MAX_ADVER_INT.start, hi);
        self.set_byte(field::MAX_ADVER_INT.start + 1, lo);
    }

    pub fn set_checksum(&mut self, value: u16) {
        let [hi, lo] = value.to_be_bytes();
        self.set_byte(field::CHECKSUM.start, hi);
        self.set_byte(field::CHECKSUM.start + 1, lo);
    }
}

/// Sum of the pseudo-header `form` calls for (0 for `MessageOnly`), checking the addresses'
/// family. `len` is the VRRP message length.
fn pseudo_header_sum(
    family: Family,
    src: IpAddr,
    dst: IpAddr,
    form: ChecksumForm,
    len: usize,
) -> Result<u16, PacketError> {
    match (family, src, dst) {
        (Family::V4, IpAddr::V4(s), IpAddr::V4(d)) => Ok(match form {
            ChecksumForm::PseudoHeader => {
                // MAX_PACKET_LEN keeps any message we accept well under 64 KiB.
                let len = u16::try_from(len).map_err(|_| PacketError::BufferTooSmall)?;
                checksum::ipv4_pseudo_header(s, d, IPPROTO_VRRP, len)
            }
            ChecksumForm::MessageOnly => 0,
        }),
        (Family::V6, IpAddr::V6(s), IpAddr::V6(d)) => {
            let len = u32::try_from(len).map_err(|_| PacketError::BufferTooSmall)?;
            Ok(checksum::ipv6_pseudo_header(s, d, IPPROTO_VRRP, len))
        }
        _ => Err(PacketError::AddressFamily),
    }
}

/// The checksum form a message of this version and family must carry, when fixed.
fn fixed_form(version: Version, family: Family) -> Option<ChecksumForm> {
    match (version, family) {
        (Version::V2, _) => Some(ChecksumForm::MessageOnly),
        (Version::V3, Family::V6) => Some(ChecksumForm::PseudoHeader),
        (Version::V3, Family::V4) => None,
    }
}

/// A decoded advert; addresses stay borrowed from the packet bytes. Its fields read through
/// (`advert.priority`): v2's seconds come as centiseconds (times 100); v3 has auth type 0 and
/// zero auth data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advert<'a> {
    pub fields: AdvertFields,
    pub family: Family,
    /// Raw address bytes, a whole number of `family.addr_len()` chunks.
    addrs: &'a [u8],
}

impl<'a> Advert<'a> {
    /// Decode a structurally checked view: type, checksum, then the field rules.
    ///
    /// v3 over IPv4 tries the pseudo-header form first (RFC 5798, keepalived's default), then
    /// the message-only form (RFC 9568); v2 must be message-only, IPv6 pseudo-header.
    pub fn parse(
        packet: &Packet<&'a [u8]>,
        src: IpAddr,
        dst: IpAddr,
    ) -> Result<(Advert<'a>, ChecksumForm), PacketError> {
        let version = Version::from_wire(packet.version())
            .ok_or(PacketError::BadVersion(packet.version()))?;
        if packet.msg_type() != TYPE_ADVERTISEMENT {
            return Err(PacketError::BadType(packet.msg_type()));
        }
        let family = packet.family();
        if Family::of(&src) != family || Family::of(&dst) != family {
            return Err(PacketError::AddressFamily);
        }
        let form = match fixed_form(version, family) {
            Some(form) if packet.verify_checksum(src, dst, form) => form,
            Some(_) => return Err(PacketError::BadChecksum),
            None => [ChecksumForm::PseudoHeader, ChecksumForm::MessageOnly]
                .into_iter()
                .find(|&form| packet.verify_checksum(src, dst, form))
                .ok_or(PacketError::BadChecksum)?,
        };
        if packet.vrid() == 0 {
            return Err(PacketError::ZeroVrid);
        }
        let (adver_int_cs, auth_type, auth_data) = match version {
            Version::V2 => (
                u16::from(packet.v2_adver_int()) * 100,
                packet.v2_auth_type(),
                packet.v2_auth_data(),
            ),
            Version::V3 => (packet.v3_max_adver_int(), 0, [0; AUTH_DATA_LEN]),
        };
        if version == Version::V3 && packet.addr_count() == 0 {
            return Err(PacketError::NoAddresses);
        }
        if adver_int_cs == 0 {
            return Err(PacketError::ZeroInterval);
        }
        if auth_type > 2 {
            return Err(PacketError::BadAuthType(auth_type));
        }
        let bytes: &'a [u8] = packet.buffer;
        let addrs = bytes
            .get(field::ADDRS..field::ADDRS + packet.addr_bytes().len())
            .unwrap_or(&[]);
        let fields = AdvertFields {
            version,
            vrid: packet.vrid(),
            priority: packet.priority(),
            adver_int_cs,
            auth_type,
            auth_data,
        };
        let advert = Advert {
            fields,
            family,
            addrs,
        };
        Ok((advert, form))
    }

    pub fn addr_count(&self) -> usize {
        self.addrs.len() / self.family.addr_len()
    }

    pub fn addrs(&self) -> impl Iterator<Item = IpAddr> + 'a {
        let family = self.family;
        self.addrs
            .chunks_exact(family.addr_len())
            .filter_map(move |chunk| addr_from_bytes(family, chunk))
    }

    /// The address list as on the wire.
    pub fn addr_bytes(&self) -> &'a [u8] {
        self.addrs
    }

    /// Re-encode this advert (same as [`emit`] with its fields and addresses), without
    /// collecting the addresses.
    pub fn emit(
        &self,
        src: IpAddr,
        dst: IpAddr,
        form: ChecksumForm,
        out: &mut [u8],
    ) -> Result<usize, PacketError> {
        let count = self.addr_count();
        write_message(
            &self.fields,
            self.family,
            count,
            src,
            dst,
            form,
            out,
            |list| {
                let dst = list
                    .get_mut(..self.addrs.len())
                    .ok_or(PacketError::BufferTooSmall)?;
                dst.copy_from_slice(self.addrs);
                Ok(())
            },
        )
    }
}

impl core::ops::Deref for Advert<'_> {
    type Target = AdvertFields;
    fn deref(&self) -> &AdvertFields {
        &self.fields
    }
}

fn addr_from_bytes(family: Family, bytes: &[u8]) -> Option<IpAddr> {
    match family {
        Family::V4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        Family::V6 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
    }
}

/// Decode one VRRP message (the IP payload, IP header already removed). `src`/`dst` are the
/// IP source and destination of the packet (needed for the pseudo-header checksums). Returns
/// which checksum form matched (v2 → MessageOnly, IPv6 → PseudoHeader, v3 IPv4 → whichever
/// matched, PseudoHeader tried first).
///
/// Checks, in order: header present, version, v2 not over IPv6, exact length for the count,
/// type, address families, checksum, VRID, v3 count ≥ 1, interval, v2 auth type. The v3
/// reserved bits are ignored.
pub fn parse(
    buf: &[u8],
    family: Family,
    src: IpAddr,
    dst: IpAddr,
) -> Result<(Advert<'_>, ChecksumForm), PacketError> {
    let packet = Packet::new_checked(buf, family)?;
    Advert::parse(&packet, src, dst)
}

/// The fields of an advert, sent or received (addresses apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdvertFields {
    pub version: Version,
    pub vrid: u8,
    pub priority: u8,
    /// Centiseconds: v3's 12-bit Max Adver Int as is, v2's 8-bit seconds times 100. To send
    /// v2 it must be a whole number of seconds (1..=255 s): anything else is an error rather
    /// than silently rounded, so a misconfigured v2 interval cannot turn into a different one
    /// on the wire.
    pub adver_int_cs: u16,
    /// v2 only (not on the wire in v3, 0 when received): 0 = none, 1 = simple text password
    /// (RFC 2338), 2 = AH.
    pub auth_type: u8,
    /// v2 only (not on the wire in v3, zeros when received): the 8 authentication bytes.
    pub auth_data: [u8; 8],
}

/// Encode into `out`, returns the length written. The family is the one of `src`; `dst` and
/// every address must share it. `form` only matters for v3 over IPv4 (v2 is always
/// message-only, IPv6 always pseudo-header); with `PseudoHeader`, `dst` must be the real
/// destination (group or unicast peer). v2: `adver_int_cs` must be a whole number of seconds.
pub fn emit(
    fields: &AdvertFields,
    addrs: &[IpAddr],
    src: IpAddr,
    dst: IpAddr,
    form: ChecksumForm,
    out: &mut [u8],
) -> Result<usize, PacketError> {
    let family = Family::of(&src);
    if addrs.iter().any(|a| Family::of(a) != family) {
        return Err(PacketError::AddressFamily);
    }
    write_message(fields, family, addrs.len(), src, dst, form, out, |list| {
        let width = family.addr_len();
        for (slot, addr) in list.chunks_exact_mut(width).zip(addrs) {
            match addr {
                IpAddr::V4(a) => slot.copy_from_slice(&a.octets()),
                IpAddr::V6(a) => slot.copy_from_slice(&a.octets()),
            }
        }
        Ok(())
    })
}

/// Validate the fields, write header, addresses (via `write_addrs`, given the address list
/// slice of `count * addr_len` bytes), v2 auth data, then the checksum.
#[allow(clippy::too_many_arguments)]
fn write_message(
    fields: &AdvertFields,
    family: Family,
    count: usize,
    src: IpAddr,
    dst: IpAddr,
    form: ChecksumForm,
    out: &mut [u8],
    write_addrs: impl FnOnce(&mut [u8]) -> Result<(), PacketError>,
) -> Result<usize, PacketError> {
    let version = fields.version;
    if version == Version::V2 && family == Family::V6 {
        return Err(PacketError::V2OverIpv6);
    }
    if Family::of(&src) != family || Family::of(&dst) != family {
        return Err(PacketError::AddressFamily);
    }
    if fields.vrid == 0 {
        return Err(PacketError::ZeroVrid);
    }
    let count_u8 = u8::try_from(count).map_err(|_| PacketError::TooManyAddresses)?;
    if version == Version::V3 && count == 0 {
        return Err(PacketError::NoAddresses);
    }
    if fields.adver_int_cs == 0 {
        return Err(PacketError::ZeroInterval);
    }
    let form = fixed_form(version, family).unwrap_or(form);
    let len = message_len(version, family, count);
    let message = out.get_mut(..len).ok_or(PacketError::BufferTooSmall)?;
    let mut packet = Packet::new_for_emit(&mut *message, family, len)?;
    packet.set_version_type(version, TYPE_ADVERTISEMENT);
    packet.set_vrid(fields.vrid);
    packet.set_priority(fields.priority);
    packet.set_addr_count(count_u8);
    packet.set_checksum(0);
    match version {
        Version::V2 => {
            let cs = fields.adver_int_cs;
            if cs > MAX_V2_ADVER_INT_CS {
                return Err(PacketError::IntervalOutOfRange(cs));
            }
            if cs % 100 != 0 {
                return Err(PacketError::IntervalNotWholeSeconds(cs));
            }
            if fields.auth_type > 2 {
                return Err(PacketError::BadAuthType(fields.auth_type));
            }
            packet.set_v2_auth_type(fields.auth_type);
            packet.set_v2_adver_int(u8::try_from(cs / 100).unwrap_or(u8::MAX));
        }
        Version::V3 => {
            if fields.adver_int_cs > MAX_V3_ADVER_INT_CS {
                return Err(PacketError::IntervalOutOfRange(fields.adver_int_cs));
            }
            packet.set_v3_max_adver_int(fields.adver_int_cs);
        }
    }
    let list_end = field::ADDRS + count * family.addr_len();
    let list = message
        .get_mut(field::ADDRS..list_end)
        .ok_or(PacketError::BufferTooSmall)?;
    write_addrs(list)?;
    if version == Version::V2 {
        let auth = message
            .get_mut(list_end..list_end + AUTH_DATA_LEN)
            .ok_or(PacketError::BufferTooSmall)?;
        auth.copy_from_slice(&fields.auth_data);
    }
    let pseudo = pseudo_header_sum(family, src, dst, form, len)?;
    let sum = checksum::compute(pseudo, message);
    if let Some(field) = message.get_mut(field::CHECKSUM) {
        field.copy_from_slice(&sum.to_be_bytes());
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
    const PEER4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 12));
    const GROUP4: IpAddr = IpAddr::V4(VRRP_GROUP_V4);
    const SRC6: IpAddr = IpAddr::V6(Ipv6Addr::new(
        0xfe80, 0, 0, 0, 0x78ca, 0x8dff, 0xfe30, 0x9ac8,
    ));
    const GROUP6: IpAddr = IpAddr::V6(VRRP_GROUP_V6);

    fn v4(d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, d))
    }

    fn v6(last: u16) -> IpAddr {
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last))
    }

    fn fields(version: Version, adver_int_cs: u16) -> AdvertFields {
        AdvertFields {
            version,
            vrid: 51,
            priority: 150,
            adver_int_cs,
            auth_type: 0,
            auth_data: [0; 8],
        }
    }

    fn encode(
        f: &AdvertFields,
        addrs: &[IpAddr],
        src: IpAddr,
        dst: IpAddr,
        form: ChecksumForm,
    ) -> Vec<u8> {
        let mut out = [0u8; MAX_PACKET_LEN];
        let len = emit(f, addrs, src, dst, form, &mut out).expect("valid advert encodes");
        out[..len].to_vec()
    }

    /// Recompute the checksum of a hand-edited message so that only the edit is wrong.
    fn refix(buf: &mut [u8], src: IpAddr, dst: IpAddr, form: ChecksumForm) {
        let family = Family::of(&src);
        buf[6] = 0;
        buf[7] = 0;
        let pseudo = pseudo_header_sum(family, src, dst, form, buf.len()).unwrap();
        let sum = checksum::compute(pseudo, buf);
        buf[6..8].copy_from_slice(&sum.to_be_bytes());
    }

    #[test]
    fn decodes_keepalived_v2_bytes() {
        // keepalived-v2-failover.pcap frame 1 (VRRP part of the hex dump in the README).
        let bytes = [
            0x21, 0x33, 0x96, 0x01, 0x00, 0x01, 0x86, 0xc8, 0xc0, 0x00, 0x02, 0x01, 0, 0, 0, 0, 0,
            0, 0, 0,
        ];
        let (advert, form) = parse(&bytes, Family::V4, SRC4, GROUP4).unwrap();
        assert_eq!(form, ChecksumForm::MessageOnly);
        assert_eq!(advert.version, Version::V2);
        assert_eq!(
            (advert.vrid, advert.priority, advert.adver_int_cs),
            (51, 150, 100)
        );
        assert_eq!(advert.addrs().collect::<Vec<_>>(), vec![v4(1)]);
        let again = encode(&advert.fields, &[v4(1)], SRC4, GROUP4, form);
        assert_eq!(again, bytes);
    }

    #[test]
    fn round_trip_v2() {
        let mut f = fields(Version::V2, 300);
        f.auth_type = 1;
        f.auth_data = *b"secret12";
        let addrs = [v4(1), v4(2)];
        let bytes = encode(&f, &addrs, SRC4, GROUP4, ChecksumForm::PseudoHeader);
        assert_eq!(bytes.len(), 8 + 8 + 8);
        assert_eq!(&bytes[16..], b"secret12");
        let (advert, form) = parse(&bytes, Family::V4, SRC4, GROUP4).unwrap();
        // v2 ignores the requested form: always message-only.
        assert_eq!(form, ChecksumForm::MessageOnly);
        assert_eq!(advert.fields, f);
        assert_eq!(advert.addr_count(), 2);
        assert_eq!(advert.addrs().collect::<Vec<_>>(), addrs);
        // The v2 checksum does not depend on the IP addresses.
        assert!(parse(&bytes, Family::V4, PEER4, v4(99)).is_ok());
    }

    #[test]
    fn round_trip_v3_ipv4_both_forms() {
        let f = fields(Version::V3, 100);
        let addrs = [v4(1), IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1))];
        let pseudo = encode(&f, &addrs, SRC4, GROUP4, ChecksumForm::PseudoHeader);
        let plain = encode(&f, &addrs, SRC4, GROUP4, ChecksumForm::MessageOnly);
        assert_eq!(pseudo.len(), 16);
        assert_ne!(pseudo[6..8], plain[6..8], "forms give different checksums");
        assert_eq!(pseudo[..6], plain[..6]);
        for (bytes, want) in [
            (&pseudo, ChecksumForm::PseudoHeader),
            (&plain, ChecksumForm::MessageOnly),
        ] {
            let (advert, form) = parse(bytes, Family::V4, SRC4, GROUP4).unwrap();
            assert_eq!(form, want);
            assert_eq!(advert.fields, f);
            assert_eq!(advert.addrs().collect::<Vec<_>>(), addrs);
            let mut out = [0u8; 64];
            let n = advert.emit(SRC4, GROUP4, form, &mut out).unwrap();
            assert_eq!(&out[..n], &bytes[..]);
        }
        // The pseudo-header form binds the destination; the message-only form does not.
        assert_eq!(
            parse(&pseudo, Family::V4, SRC4, PEER4),
            Err(PacketError::BadChecksum)
        );
        assert!(parse(&plain, Family::V4, SRC4, PEER4).is_ok());
    }

    #[test]
    fn round_trip_v3_ipv6() {
        let f = fields(Version::V3, 4095);
        let addrs = [v6(1), v6(2), v6(3)];
        let bytes = encode(&f, &addrs, SRC6, GROUP6, ChecksumForm::MessageOnly);
        assert_eq!(bytes.len(), 8 + 48);
        let (advert, form) = parse(&bytes, Family::V6, SRC6, GROUP6).unwrap();
        // IPv6 ignores the requested form: always the pseudo-header.
        assert_eq!(form, ChecksumForm::PseudoHeader);
        assert_eq!(advert.fields, f);
        assert_eq!(advert.family, Family::V6);
        assert_eq!(advert.addrs().collect::<Vec<_>>(), addrs);
        assert_eq!(
            parse(&bytes, Family::V6, v6(9), GROUP6),
            Err(PacketError::BadChecksum)
        );
    }

    #[test]
    fn v3_reserved_bits_ignored_and_sent_zero() {
        let f = fields(Version::V3, 100);
        let mut bytes = encode(&f, &[v4(1)], SRC4, GROUP4, ChecksumForm::PseudoHeader);
        bytes[4] |= 0xf0;
        refix(&mut bytes, SRC4, GROUP4, ChecksumForm::PseudoHeader);
        let (advert, form) = parse(&bytes, Family::V4, SRC4, GROUP4).unwrap();
        assert_eq!(advert.adver_int_cs, 100);
        let again = encode(&advert.fields, &[v4(1)], SRC4, GROUP4, form);
        assert_eq!(again[4] & 0xf0, 0);
    }

    fn parse_err(buf: &[u8], family: Family, src: IpAddr, dst: IpAddr) -> PacketError {
        parse(buf, family, src, dst).expect_err("crafted input must be rejected")
    }

    fn emit_err(f: &AdvertFields, addrs: &[IpAddr], src: IpAddr, dst: IpAddr) -> PacketError {
        let mut out = [0u8; MAX_PACKET_LEN];
        emit(f, addrs, src, dst, ChecksumForm::PseudoHeader, &mut out)
            .expect_err("invalid advert must not encode")
    }

    #[test]
    fn every_error_variant_from_crafted_input() {
        use PacketError::*;
        let pf = ChecksumForm::PseudoHeader;
        let v3 = encode(&fields(Version::V3, 100), &[v4(1)], SRC4, GROUP4, pf);
        let v2 = encode(&fields(Version::V2, 100), &[v4(1)], SRC4, GROUP4, pf);
        // Edit one byte and make the checksum right again, so that only the edit is wrong.
        let edit = |base: &[u8], at: usize, value: u8| {
            let mut b = base.to_vec();
            b[at] = value;
            let form = if b[0] >> 4 == 2 {
                ChecksumForm::MessageOnly
            } else {
                pf
            };
            refix(&mut b, SRC4, GROUP4, form);
            b
        };

        assert_eq!(parse_err(&v3[..7], Family::V4, SRC4, GROUP4), Truncated);
        assert_eq!(parse_err(&[], Family::V4, SRC4, GROUP4), Truncated);
        assert_eq!(
            parse_err(&edit(&v3, 0, 0x41), Family::V4, SRC4, GROUP4),
            BadVersion(4)
        );
        assert_eq!(
            parse_err(&edit(&v3, 0, 0x32), Family::V4, SRC4, GROUP4),
            BadType(2)
        );
        assert_eq!(
            parse_err(&edit(&v3, 1, 0), Family::V4, SRC4, GROUP4),
            ZeroVrid
        );
        assert_eq!(
            parse_err(&edit(&v3, 5, 0), Family::V4, SRC4, GROUP4),
            ZeroInterval
        );
        assert_eq!(
            parse_err(&edit(&v2, 5, 0), Family::V4, SRC4, GROUP4),
            ZeroInterval
        );
        let mut empty = v3[..8].to_vec();
        empty[3] = 0;
        refix(&mut empty, SRC4, GROUP4, pf);
        assert_eq!(parse_err(&empty, Family::V4, SRC4, GROUP4), NoAddresses);
        let mut long = v3.clone();
        long.push(0);
        assert_eq!(
            parse_err(&long, Family::V4, SRC4, GROUP4),
            LengthMismatch {
                expected: 12,
                actual: 13
            }
        );
        assert_eq!(
            parse_err(&edit(&v3, 3, 2), Family::V4, SRC4, GROUP4),
            LengthMismatch {
                expected: 16,
                actual: 12
            }
        );
        // v2 without its 8 auth bytes does not match its count either.
        assert_eq!(
            parse_err(&v2[..12], Family::V4, SRC4, GROUP4),
            LengthMismatch {
                expected: 20,
                actual: 12
            }
        );
        let mut bad_sum = v3.clone();
        bad_sum[7] ^= 1;
        assert_eq!(parse_err(&bad_sum, Family::V4, SRC4, GROUP4), BadChecksum);
        let mut bad_data = v2.clone();
        bad_data[19] ^= 0x80;
        assert_eq!(parse_err(&bad_data, Family::V4, SRC4, GROUP4), BadChecksum);
        assert_eq!(parse_err(&v2, Family::V6, SRC6, GROUP6), V2OverIpv6);
        assert_eq!(parse_err(&v3, Family::V4, SRC6, GROUP4), AddressFamily);
        assert_eq!(
            parse_err(&edit(&v2, 4, 3), Family::V4, SRC4, GROUP4),
            BadAuthType(3)
        );

        let f3 = fields(Version::V3, 100);
        let f2 = fields(Version::V2, 100);
        let mut out = [0u8; 11];
        assert_eq!(
            emit(&f3, &[v4(1)], SRC4, GROUP4, pf, &mut out),
            Err(BufferTooSmall)
        );
        let many: Vec<IpAddr> = (0..256).map(|i| v4(i as u8)).collect();
        assert_eq!(emit_err(&f3, &many, SRC4, GROUP4), TooManyAddresses);
        assert_eq!(emit_err(&f3, &[v6(1)], SRC4, GROUP4), AddressFamily);
        assert_eq!(emit_err(&f3, &[v4(1)], SRC4, GROUP6), AddressFamily);
        assert_eq!(emit_err(&f2, &[v6(1)], SRC6, GROUP6), V2OverIpv6);
        assert_eq!(emit_err(&f3, &[], SRC4, GROUP4), NoAddresses);
        assert_eq!(
            emit_err(&AdvertFields { vrid: 0, ..f3 }, &[v4(1)], SRC4, GROUP4),
            ZeroVrid
        );
        assert_eq!(
            emit_err(&fields(Version::V3, 0), &[v4(1)], SRC4, GROUP4),
            ZeroInterval
        );
        assert_eq!(
            emit_err(&fields(Version::V3, 4096), &[v4(1)], SRC4, GROUP4),
            IntervalOutOfRange(4096)
        );
        assert_eq!(
            emit_err(&fields(Version::V2, 25600), &[v4(1)], SRC4, GROUP4),
            IntervalOutOfRange(25600)
        );
        assert_eq!(
            emit_err(&fields(Version::V2, 150), &[v4(1)], SRC4, GROUP4),
            IntervalNotWholeSeconds(150)
        );
        assert_eq!(
            emit_err(&AdvertFields { auth_type: 3, ..f2 }, &[v4(1)], SRC4, GROUP4),
            BadAuthType(3)
        );
    }

    #[test]
    fn counter_names_are_distinct_snake_case() {
        use PacketError::*;
        let all = [
            Truncated,
            BadVersion(0),
            BadType(0),
            ZeroVrid,
            ZeroInterval,
            NoAddresses,
            LengthMismatch {
                expected: 0,
                actual: 0,
            },
            BadChecksum,
            V2OverIpv6,
            AddressFamily,
            BadAuthType(0),
            BufferTooSmall,
            TooManyAddresses,
            IntervalOutOfRange(0),
            IntervalNotWholeSeconds(0),
        ];
        let names: Vec<&str> = all.iter().map(|e| e.counter_name()).collect();
        for (i, name) in names.iter().enumerate() {
            assert!(name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
            assert!(!names[..i].contains(name), "duplicate counter name {name}");
            assert!(!all[i].to_string().is_empty());
        }
    }

    #[test]
    fn v2_and_v3_zero_address_rules_differ() {
        // RFC 3768 sets no minimum count for v2; RFC 5798 requires at least one.
        let bytes = encode(
            &fields(Version::V2, 100),
            &[],
            SRC4,
            GROUP4,
            ChecksumForm::MessageOnly,
        );
        assert_eq!(bytes.len(), 16);
        let (advert, _) = parse(&bytes, Family::V4, SRC4, GROUP4).unwrap();
        assert_eq!(advert.addr_count(), 0);
    }

    #[test]
    fn max_packet_fits_max_packet_len() {
        let addrs: Vec<IpAddr> = (0..255).map(v6).collect();
        let bytes = encode(
            &fields(Version::V3, 100),
            &addrs,
            SRC6,
            GROUP6,
            ChecksumForm::PseudoHeader,
        );
        assert!(bytes.len() <= MAX_PACKET_LEN);
        let (advert, _) = parse(&bytes, Family::V6, SRC6, GROUP6).unwrap();
        assert_eq!(advert.addr_count(), 255);
        assert_eq!(advert.addrs().last(), Some(v6(254)));
    }

    /// xorshift64*: enough randomness for a no-panic spray, no crates.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn byte(&mut self) -> u8 {
            self.next() as u8
        }
    }

    /// Whatever parses must re-encode to the same advert, and to the same bytes unless the
    /// v3 reserved bits were set or the checksum used the other zero (0xffff for 0x0000).
    fn check_reencode(buf: &[u8], family: Family, src: IpAddr, dst: IpAddr) -> bool {
        let Ok((advert, form)) = parse(buf, family, src, dst) else {
            return false;
        };
        let mut out = [0u8; MAX_PACKET_LEN];
        let n = advert
            .emit(src, dst, form, &mut out)
            .expect("parsed advert re-encodes");
        let again = &out[..n];
        let (re, re_form) = parse(again, family, src, dst).expect("re-encoded advert parses");
        assert_eq!((re, re_form), (advert, form));
        let reserved_set = advert.version == Version::V3 && buf[4] & 0xf0 != 0;
        let negative_zero = buf[6..8] == [0xff, 0xff];
        if !reserved_set && !negative_zero {
            assert_eq!(again, buf, "re-encoding changed the bytes");
        }
        let addrs: Vec<IpAddr> = advert.addrs().collect();
        let mut out2 = [0u8; MAX_PACKET_LEN];
        let n2 = emit(&advert.fields, &addrs, src, dst, form, &mut out2).unwrap();
        assert_eq!(&out2[..n2], again);
        true
    }

    #[test]
    fn random_and_mutated_input_never_panics() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let endpoints = [
            (Family::V4, SRC4, GROUP4),
            (Family::V4, SRC4, PEER4),
            (Family::V6, SRC6, GROUP6),
        ];
        let mut seeds: Vec<(Vec<u8>, usize)> = Vec::new();
        for (i, &(family, src, dst)) in endpoints.iter().enumerate() {
            let addrs: Vec<IpAddr> = match family {
                Family::V4 => vec![v4(1), v4(2), v4(3)],
                Family::V6 => vec![v6(1), v6(2)],
            };
            for form in [ChecksumForm::PseudoHeader, ChecksumForm::MessageOnly] {
                seeds.push((encode(&fields(Version::V3, 100), &addrs, src, dst, form), i));
            }
            if family == Family::V4 {
                let mut f = fields(Version::V2, 100);
                f.auth_type = 1;
                f.auth_data = *b"abc\0\0\0\0\0";
                seeds.push((encode(&f, &addrs, src, dst, ChecksumForm::MessageOnly), i));
            }
        }
        let mut parsed = 0usize;
        for round in 0..200_000u32 {
            let (mut buf, endpoint) = if round % 4 == 0 {
                let len = rng.below(80);
                (
                    (0..len).map(|_| rng.byte()).collect(),
                    rng.below(endpoints.len()),
                )
            } else {
                seeds[rng.below(seeds.len())].clone()
            };
            let (family, src, dst) = endpoints[endpoint];
            for _ in 0..=rng.below(3) {
                match rng.below(5) {
                    0 if !buf.is_empty() => {
                        let at = rng.below(buf.len());
                        buf[at] = rng.byte();
                    }
                    1 if !buf.is_empty() => {
                        let at = rng.below(buf.len());
                        buf[at] ^= 1 << rng.below(8);
                    }
                    2 => buf.truncate(rng.below(buf.len() + 1)),
                    3 => buf.push(rng.byte()),
                    _ => {}
                }
            }
            // Half the time make the checksum right again so the later checks get exercised.
            if buf.len() >= HEADER_LEN && rng.below(2) == 0 {
                let form = if rng.below(2) == 0 {
                    ChecksumForm::PseudoHeader
                } else {
                    ChecksumForm::MessageOnly
                };
                refix(&mut buf, src, dst, form);
            }
            // Parse with the wrong family too.
            let other = match family {
                Family::V4 => Family::V6,
                Family::V6 => Family::V4,
            };
            let _ = parse(&buf, other, src, dst);
            if check_reencode(&buf, family, src, dst) {
                parsed += 1;
            }
        }
        // The spray must reach the accepting path, or it proves little.
        assert!(parsed > 1000, "only {parsed} mutated inputs parsed");
        eprintln!("random spray: {parsed} of 200000 inputs parsed");
    }
}
