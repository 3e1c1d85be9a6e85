//! Parse arbitrary bytes as a VRRP message of both families; whatever parses must re-encode
//! (with the checksum form it was accepted in) and parse again to the same advert.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use tinyvrrp::packet::{self, Family, Version, MAX_PACKET_LEN, VRRP_GROUP_V4, VRRP_GROUP_V6};

const ENDPOINTS: [(Family, IpAddr, IpAddr); 3] = [
    (
        Family::V4,
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11)),
        IpAddr::V4(VRRP_GROUP_V4),
    ),
    (
        Family::V4,
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11)),
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 12)),
    ),
    (
        Family::V6,
        IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
        IpAddr::V6(VRRP_GROUP_V6),
    ),
];

fuzz_target!(|data: &[u8]| {
    for (family, src, dst) in ENDPOINTS {
        let Ok((advert, form)) = packet::parse(data, family, src, dst) else {
            continue;
        };
        let mut out = [0u8; MAX_PACKET_LEN];
        let len = advert
            .emit(src, dst, form, &mut out)
            .expect("a parsed advert re-encodes");
        let again = &out[..len];
        let reparsed = packet::parse(again, family, src, dst).expect("re-encoded advert parses");
        assert_eq!(reparsed, (advert, form));
        // Byte-identical unless the v3 reserved bits were set (sent as zero) or the checksum
        // was the other one's-complement zero (0xffff where 0x0000 is computed).
        let reserved_set = advert.version == Version::V3 && data[4] & 0xf0 != 0;
        if !reserved_set && data[6..8] != [0xff, 0xff] {
            assert_eq!(again, data);
        }
    }
});
