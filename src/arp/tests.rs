use super::*;

#[path = "../../tests/common/pcap.rs"]
mod pcap;
use pcap::{load as capture, pcap_frames};

#[test]
fn garp_matches_keepalived_capture() {
    let file = capture("keepalived-v2-failover.pcap");
    let frames = pcap_frames(&file);
    let captured = frames
        .iter()
        .find(|f| f.len() >= 14 && f[12..14] == [0x08, 0x06])
        .expect("a GARP in the capture");
    // The sender's MAC and the VIP are read from the capture; everything else is built.
    let mac: [u8; 6] = captured[6..12].try_into().unwrap();
    let ip = Ipv4Addr::new(192, 0, 2, 1);
    let mut out = [0u8; GARP_FRAME_LEN];
    build_garp(&mut out, mac, ip);
    assert_eq!(&out[..], &captured[..GARP_FRAME_LEN]);
    // Padding aside: anything past 42 bytes in a capture is Ethernet padding.
    assert!(captured[GARP_FRAME_LEN..].iter().all(|&b| b == 0));
    // Spelled out: request, sender = target = VIP, target MAC broadcast.
    assert_eq!(&out[20..22], &[0, 1]);
    assert_eq!(&out[28..32], &[192, 0, 2, 1]);
    assert_eq!(&out[32..38], &[0xff; 6]);
    assert_eq!(&out[38..42], &[192, 0, 2, 1]);
}

#[test]
fn unsolicited_na_matches_keepalived_capture() {
    let file = capture("keepalived-v3-ipv6.pcap");
    let frames = pcap_frames(&file);
    let captured = frames
        .iter()
        .find(|f| f.len() >= 55 && f[12..14] == [0x86, 0xdd] && f[20] == 58 && f[54] == 136)
        .expect("an NA in the capture");
    let mac: [u8; 6] = captured[6..12].try_into().unwrap();
    let ip: Ipv6Addr = "2001:db8::1".parse().unwrap();
    let mut out = [0u8; UNA_FRAME_LEN];
    build_unsolicited_na(&mut out, mac, ip, false);
    assert_eq!(&out[..], &captured[..UNA_FRAME_LEN]);
    assert_eq!(&out[56..58], &[0x3c, 0x93], "checksum as captured");
}

#[test]
fn router_flag_and_checksum_verifies() {
    let ip: Ipv6Addr = "2001:db8::7".parse().unwrap();
    let mac = [0x00, 0x00, 0x5e, 0x00, 0x02, 0x07];
    let mut out = [0u8; UNA_FRAME_LEN];
    build_unsolicited_na(&mut out, mac, ip, true);
    assert_eq!(out[58], 0xa0, "Router and Override");
    // A correct checksum sums (with the pseudo-header) to zero.
    let icmp = &out[54..];
    assert_eq!(icmpv6_checksum(&ip, &ALL_NODES, icmp), 0);
    // And it changes with the content: a different VIP is a different checksum.
    let mut other = [0u8; UNA_FRAME_LEN];
    build_unsolicited_na(&mut other, mac, "2001:db8::8".parse().unwrap(), true);
    assert_ne!(out[56..58], other[56..58]);
}

#[test]
fn send_rejects_short_frames() {
    // Needs no privileges to reach the length check only if the socket opens; without
    // CAP_NET_RAW there is nothing to test here.
    match FrameSender::open() {
        Ok(s) => assert_eq!(s.send(1, &[0u8; 10]), Err(ArpError::FrameTooShort)),
        Err(e) => eprintln!("skipping: cannot open AF_PACKET socket: {e}"),
    }
}

#[test]
fn ipv6_forwarding_refuses_names_that_leave_the_directory() {
    for bad in ["", ".", "..", "a/b", "../../../../etc/passwd"] {
        assert!(!ipv6_forwarding(bad), "{bad:?}");
    }
    // A name too long for the buffer is "not a router", not a panic.
    assert!(!ipv6_forwarding(&"x".repeat(100)));
    // `all` exists wherever IPv6 does; its value is whatever the host has, read without error.
    let all = std::fs::read_to_string("/proc/sys/net/ipv6/conf/all/forwarding");
    if let Ok(v) = all {
        assert_eq!(ipv6_forwarding("all"), v.trim() == "1");
    }
}
