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
