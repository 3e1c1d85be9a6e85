//! Decode every VRRP advert in the keepalived captures (tests/data/captures, described in
//! shared/captures/README.md), re-encode it byte for byte, and check the facts the README lists.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use tinyvrrp::packet::{
    self, Advert, ChecksumForm, Family, PacketError, Version, IPPROTO_VRRP, MAX_PACKET_LEN,
    VRRP_GROUP_V4, VRRP_GROUP_V6,
};

#[path = "common/pcap.rs"]
mod pcap;
use pcap::{captures_dir, load, pcap_frames, read_u32};

/// The same file with every header field byte-swapped (to read it in the other byte order).
fn swap_byte_order(file: &[u8]) -> Vec<u8> {
    let mut out = file.to_vec();
    let swap32 = |b: &mut [u8], at: usize| b[at..at + 4].reverse();
    let swap16 = |b: &mut [u8], at: usize| b[at..at + 2].reverse();
    let big_endian = file[0] == 0xa1;
    swap32(&mut out, 0);
    swap16(&mut out, 4);
    swap16(&mut out, 6);
    for field in [8, 12, 16, 20] {
        swap32(&mut out, field);
    }
    let mut at = 24;
    while at < file.len() {
        let incl_len = read_u32(file, at + 8, big_endian) as usize;
        for field in 0..4 {
            swap32(&mut out, at + field * 4);
        }
        at += 16 + incl_len;
    }
    out
}

/// A VRRP message found in a frame, with what the IP header said.
struct VrrpFrame<'a> {
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    payload: &'a [u8],
}

/// The IP payload of an IPv4/IPv6 frame carrying protocol 112, else None.
fn vrrp_in_frame(frame: &[u8]) -> Option<VrrpFrame<'_>> {
    let mut ethertype = u16::from_be_bytes([frame[12], frame[13]]);
    let mut l3 = 14;
    if ethertype == 0x8100 {
        ethertype = u16::from_be_bytes([frame[16], frame[17]]);
        l3 = 18;
    }
    let ip = &frame[l3..];
    match ethertype {
        0x0800 => {
            assert_eq!(ip[0] >> 4, 4, "IPv4 version");
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
            if ip[9] != IPPROTO_VRRP {
                return None;
            }
            let src: [u8; 4] = ip[12..16].try_into().expect("4 bytes");
            let dst: [u8; 4] = ip[16..20].try_into().expect("4 bytes");
            Some(VrrpFrame {
                src: IpAddr::from(src),
                dst: IpAddr::from(dst),
                ttl: ip[8],
                // Slice by the IP total length, as the kernel does before a raw socket sees it.
                payload: &ip[ihl..total],
            })
        }
        0x86dd => {
            assert_eq!(ip[0] >> 4, 6, "IPv6 version");
            let payload_len = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
            if ip[6] != IPPROTO_VRRP {
                return None;
            }
            let src: [u8; 16] = ip[8..24].try_into().expect("16 bytes");
            let dst: [u8; 16] = ip[24..40].try_into().expect("16 bytes");
            Some(VrrpFrame {
                src: IpAddr::from(src),
                dst: IpAddr::from(dst),
                ttl: ip[7],
                payload: &ip[40..40 + payload_len],
            })
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------

/// One decoded advert and its context.
#[derive(Debug, Clone)]
struct Seen {
    version: Version,
    vrid: u8,
    priority: u8,
    adver_int_cs: u16,
    auth_type: u8,
    auth_data: [u8; 8],
    addrs: Vec<IpAddr>,
    checksum: u16,
    form: ChecksumForm,
    len: usize,
    src: IpAddr,
    dst: IpAddr,
}

/// Decode and re-encode every VRRP frame of a capture; panics on any VRRP frame that does not
/// decode or does not re-encode to its own bytes.
fn decode_file(file: &[u8], name: &str) -> Vec<Seen> {
    let mut seen = Vec::new();
    for (index, frame) in pcap_frames(file).into_iter().enumerate() {
        let Some(vrrp) = vrrp_in_frame(frame) else {
            continue;
        };
        let where_ = format!("{name} frame {}", index + 1);
        let family = Family::of(&vrrp.src);
        assert_eq!(vrrp.ttl, 255, "{where_}: TTL / hop limit");
        let (advert, form) = packet::parse(vrrp.payload, family, vrrp.src, vrrp.dst)
            .unwrap_or_else(|e| panic!("{where_}: {e}"));
        check_round_trip(&advert, form, &vrrp, &where_);
        seen.push(Seen {
            version: advert.version,
            vrid: advert.vrid,
            priority: advert.priority,
            adver_int_cs: advert.adver_int_cs,
            auth_type: advert.auth_type,
            auth_data: advert.auth_data,
            addrs: advert.addrs().collect(),
            checksum: u16::from_be_bytes([vrrp.payload[6], vrrp.payload[7]]),
            form,
            len: vrrp.payload.len(),
            src: vrrp.src,
            dst: vrrp.dst,
        });
    }
    seen
}

fn check_round_trip(advert: &Advert<'_>, form: ChecksumForm, vrrp: &VrrpFrame<'_>, at: &str) {
    let addrs: Vec<IpAddr> = advert.addrs().collect();
    assert_eq!(addrs.len(), advert.addr_count(), "{at}: address count");
    let mut out = [0u8; MAX_PACKET_LEN];
    let len = packet::emit(&advert.fields, &addrs, vrrp.src, vrrp.dst, form, &mut out)
        .unwrap_or_else(|e| panic!("{at}: re-encode: {e}"));
    assert_eq!(&out[..len], vrrp.payload, "{at}: encode(decode(x)) != x");
}

fn decode(name: &str) -> Vec<Seen> {
    let file = load(name);
    let seen = decode_file(&file, name);
    assert!(!seen.is_empty(), "{name}: no VRRP advert decoded");
    seen
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

const NODE1: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
const NODE2: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 12));
const GROUP4: IpAddr = IpAddr::V4(VRRP_GROUP_V4);

/// checksum per priority, and the set of priorities seen.
fn checksums_by_priority(seen: &[Seen]) -> BTreeMap<u8, u16> {
    let mut map = BTreeMap::new();
    for s in seen {
        let prev = map.insert(s.priority, s.checksum);
        if let Some(prev) = prev {
            assert_eq!(
                prev, s.checksum,
                "same fields, same checksum (vrid {})",
                s.vrid
            );
        }
    }
    map
}

/// v2 is message-only; keepalived 2.2.7 sends every v3 advert (IPv4 multicast, IPv4
/// unicast, IPv6) with a pseudo-header.
fn assert_form(seen: &[Seen]) {
    for s in seen {
        let want = match s.version {
            Version::V2 => ChecksumForm::MessageOnly,
            Version::V3 => ChecksumForm::PseudoHeader,
        };
        assert_eq!(s.form, want, "{s:?}");
    }
}

#[test]
fn every_capture_decodes_and_reencodes() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(captures_dir())
        .expect("tests/data/captures exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 7, "the seven keepalived captures");
    for path in files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_owned();
        let file = std::fs::read(&path).expect("readable capture");
        let frames_112 = pcap_frames(&file)
            .into_iter()
            .filter(|f| vrrp_in_frame(f).is_some())
            .count();
        let seen = decode_file(&file, &name);
        assert!(!seen.is_empty(), "{name}: no advert decoded");
        assert_eq!(seen.len(), frames_112, "{name}: every VRRP frame decoded");
        assert_form(&seen);
        // The reader gives the same result in the other byte order.
        let swapped = swap_byte_order(&file);
        assert_ne!(swapped[..4], file[..4]);
        assert_eq!(
            decode_file(&swapped, &name).len(),
            seen.len(),
            "{name} byte-swapped"
        );
    }
}

#[test]
fn v2_failover() {
    let seen = decode("keepalived-v2-failover.pcap");
    // The README says "VRRP length 28"; the bytes say 20 (8 header + 4 address + 8 auth):
    // 0x28 = 40 is the IPv4 total length. The 8 auth bytes are there even with auth type 0.
    for s in &seen {
        assert_eq!(s.version, Version::V2);
        assert_eq!((s.vrid, s.adver_int_cs, s.len), (51, 100, 20));
        assert_eq!((s.auth_type, s.auth_data), (0, [0; 8]));
        assert_eq!(s.addrs, vec![v4(192, 0, 2, 1)]);
        assert_eq!(s.form, ChecksumForm::MessageOnly);
        assert_eq!(s.dst, GROUP4);
    }
    let sums = checksums_by_priority(&seen);
    assert_eq!(sums.get(&150), Some(&0x86c8));
    assert_eq!(sums.get(&100), Some(&0xb8c8));
    assert_eq!(sums.len(), 2);
}

#[test]
fn v3_failover() {
    let seen = decode("keepalived-v3-failover.pcap");
    for s in &seen {
        assert_eq!(s.version, Version::V3);
        assert_eq!((s.vrid, s.adver_int_cs, s.len), (51, 10, 12));
        assert_eq!((s.auth_type, s.auth_data), (0, [0; 8]));
        assert_eq!(s.addrs, vec![v4(192, 0, 2, 1)]);
        assert_eq!((s.dst, s.form), (GROUP4, ChecksumForm::PseudoHeader));
    }
    let sums = checksums_by_priority(&seen);
    assert_eq!(sums.get(&150), Some(&0xd424));
    assert_eq!(sums.get(&100), Some(&0x0624));
}

#[test]
fn v3_ipv6() {
    let seen = decode("keepalived-v3-ipv6.pcap");
    let vip = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
    for s in &seen {
        assert_eq!(s.version, Version::V3);
        assert_eq!((s.vrid, s.adver_int_cs, s.len), (52, 100, 24));
        assert_eq!(s.addrs, vec![vip]);
        assert_eq!(s.dst, IpAddr::V6(VRRP_GROUP_V6));
        assert!(
            matches!(s.src, IpAddr::V6(a) if a.segments()[0] == 0xfe80),
            "link-local src"
        );
        assert_eq!(s.form, ChecksumForm::PseudoHeader);
    }
    let sums = checksums_by_priority(&seen);
    assert_eq!(sums.get(&150), Some(&0x6cca));
    assert_eq!(sums.get(&100), Some(&0x82f5));
}

#[test]
fn v2_auth_pass() {
    let seen = decode("keepalived-v2-auth-pass.pcap");
    let mut vrids = Vec::new();
    for s in &seen {
        assert_eq!((s.version, s.auth_type, s.len), (Version::V2, 1, 20));
        let (pass, sum, vip): (&[u8; 8], u16, IpAddr) = match s.vrid {
            61 => (b"secret12", 0x1804, v4(192, 0, 2, 61)),
            62 => (b"abc\0\0\0\0\0", 0xc11d, v4(192, 0, 2, 62)),
            other => panic!("unexpected VRID {other}"),
        };
        assert_eq!(&s.auth_data, pass);
        assert_eq!(s.checksum, sum);
        assert_eq!(s.addrs, vec![vip]);
        vrids.push(s.vrid);
    }
    assert!(vrids.contains(&61) && vrids.contains(&62));
}

#[test]
fn v3_unicast_pseudo_header_uses_the_peer() {
    let file = load("keepalived-v3-unicast.pcap");
    let seen = decode_file(&file, "keepalived-v3-unicast.pcap");
    assert!(!seen.is_empty());
    for s in &seen {
        assert_eq!((s.version, s.vrid, s.adver_int_cs), (Version::V3, 53, 100));
        assert_eq!(s.addrs, vec![v4(192, 0, 2, 53)]);
        assert_eq!(s.form, ChecksumForm::PseudoHeader);
        let (peer, sum) = match s.priority {
            150 => (NODE2, 0xf19a),
            100 => (NODE1, 0x239b),
            other => panic!("unexpected priority {other}"),
        };
        assert_eq!(s.dst, peer);
        assert_ne!(s.src, peer);
        assert_eq!(s.checksum, sum);
    }
    assert_eq!(
        checksums_by_priority(&seen).len(),
        2,
        "both directions captured"
    );
    // With the group address in the pseudo-header (or no pseudo-header) nothing verifies.
    for frame in pcap_frames(&file) {
        let Some(vrrp) = vrrp_in_frame(frame) else {
            continue;
        };
        let view = packet::Packet::new_checked(vrrp.payload, Family::V4).expect("well formed");
        assert!(view.verify_checksum(vrrp.src, vrrp.dst, ChecksumForm::PseudoHeader));
        assert!(!view.verify_checksum(vrrp.src, GROUP4, ChecksumForm::PseudoHeader));
        assert!(!view.verify_checksum(vrrp.src, vrrp.dst, ChecksumForm::MessageOnly));
        assert_eq!(
            packet::parse(vrrp.payload, Family::V4, vrrp.src, GROUP4),
            Err(PacketError::BadChecksum)
        );
    }
}

#[test]
fn shutdown_sends_priority_zero() {
    let seen = decode("keepalived-shutdown-prio0.pcap");
    let zero: Vec<&Seen> = seen.iter().filter(|s| s.priority == 0).collect();
    assert!(
        zero.iter().all(|s| s.src == NODE1),
        "the stopping master sends priority 0"
    );
    let v2_zero = zero
        .iter()
        .find(|s| s.version == Version::V2)
        .expect("v2 prio 0");
    let v3_zero = zero
        .iter()
        .find(|s| s.version == Version::V3)
        .expect("v3 prio 0");
    assert_eq!((v2_zero.vrid, v2_zero.checksum), (71, 0x1c6f));
    assert_eq!((v3_zero.vrid, v3_zero.checksum), (72, 0x696f));
    for s in &seen {
        let expected_vrid = match s.version {
            Version::V2 => 71,
            Version::V3 => 72,
        };
        assert_eq!(s.vrid, expected_vrid);
        assert_eq!(s.adver_int_cs, 100);
        assert_eq!(s.priority == 100, s.src == NODE2, "{s:?}");
    }
    // The backup takes over after the priority-0 adverts.
    let first_zero = seen.iter().position(|s| s.priority == 0).expect("prio 0");
    let first_backup = seen
        .iter()
        .position(|s| s.src == NODE2)
        .expect("backup adverts");
    assert!(first_zero < first_backup);
}

#[test]
fn multi_vip() {
    let seen = decode("keepalived-multi-vip.pcap");
    for s in &seen {
        let (last, sum, len) = match s.version {
            Version::V2 => (81, 0x1f81, 8 + 12 + 8),
            Version::V3 => (82, 0x6c77, 8 + 12),
        };
        assert_eq!(s.vrid, last);
        assert_eq!((s.checksum, s.len), (sum, len));
        assert_eq!(s.addrs.len(), 3);
        assert_eq!(
            s.addrs,
            vec![
                v4(192, 0, 2, last),
                v4(198, 51, 100, last),
                v4(203, 0, 113, last)
            ]
        );
    }
    assert!(seen.iter().any(|s| s.version == Version::V2));
    assert!(seen.iter().any(|s| s.version == Version::V3));
}
