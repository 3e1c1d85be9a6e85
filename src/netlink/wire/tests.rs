use super::*;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Concatenates pieces; expected bytes are spelled out with `to_ne_bytes` so the tests hold on
/// big-endian hosts too.
fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.iter().flat_map(|p| p.iter().copied()).collect()
}

fn nlhdr(len: u32, ty: u16, flags: u16, seq: u32, pid: u32) -> Vec<u8> {
    cat(&[
        &len.to_ne_bytes(),
        &ty.to_ne_bytes(),
        &flags.to_ne_bytes(),
        &seq.to_ne_bytes(),
        &pid.to_ne_bytes(),
    ])
}

fn rta(ty: u16, payload: &[u8]) -> Vec<u8> {
    let len = 4 + payload.len();
    let mut v = cat(&[&(len as u16).to_ne_bytes(), &ty.to_ne_bytes(), payload]);
    v.resize(align(len), 0);
    v
}

fn msg(ty: u16, flags: u16, seq: u32, pid: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = nlhdr((NLMSG_HDRLEN + payload.len()) as u32, ty, flags, seq, pid);
    v.extend_from_slice(payload);
    v.resize(align(v.len()), 0);
    v
}

fn ifinfomsg(index: u32, flags: u32) -> Vec<u8> {
    cat(&[
        &[AF_UNSPEC, 0],
        &1u16.to_ne_bytes(), // ARPHRD_ETHER
        &index.to_ne_bytes(),
        &flags.to_ne_bytes(),
        &0u32.to_ne_bytes(),
    ])
}

fn ifaddrmsg(family: u8, plen: u8, flags: u8, scope: u8, index: u32) -> Vec<u8> {
    cat(&[&[family, plen, flags, scope], &index.to_ne_bytes()])
}

#[test]
fn new_address_v4_with_label_exact_bytes() {
    let mut buf = [0u8; 256];
    let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let got = build_new_address(&mut buf, 42, 7, ip, 24, Some("eth0:vip"), true).unwrap();
    let expected = cat(&[
        &nlhdr(56, RTM_NEWADDR, 0x0605, 42, 0),
        &ifaddrmsg(AF_INET, 24, 0, 0, 7),
        &rta(IFA_LOCAL, &[192, 0, 2, 1]),
        &rta(IFA_ADDRESS, &[192, 0, 2, 1]),
        &rta(IFA_LABEL, b"eth0:vip\0"),
    ]);
    assert_eq!(got, &expected[..]);
    // The label attribute is 13 bytes long and padded to 16.
    assert_eq!(&got[40..42], &13u16.to_ne_bytes());
    assert_eq!(&got[53..56], &[0, 0, 0]);
}

#[test]
fn new_address_v6_nodad_exact_bytes() {
    let mut buf = [0u8; 256];
    let v6: Ipv6Addr = "2001:db8::1".parse().unwrap();
    let got = build_new_address(&mut buf, 9, 3, IpAddr::V6(v6), 64, Some("ignored"), true).unwrap();
    let expected = cat(&[
        &nlhdr(72, RTM_NEWADDR, 0x0605, 9, 0),
        &ifaddrmsg(AF_INET6, 64, 0x02, 0, 3),
        &rta(IFA_LOCAL, &v6.octets()),
        &rta(IFA_ADDRESS, &v6.octets()),
        &rta(IFA_FLAGS, &IFA_F_NODAD.to_ne_bytes()),
    ]);
    assert_eq!(got, &expected[..]);

    let plain = build_new_address(&mut buf, 9, 3, IpAddr::V6(v6), 64, None, false)
        .unwrap()
        .to_vec();
    assert_eq!(plain.len(), 64, "no IFA_FLAGS without nodad");
    assert_eq!(plain[16 + 2], 0, "ifa_flags");
}

#[test]
fn new_address_rejects_bad_arguments_and_small_buffers() {
    let mut buf = [0u8; 256];
    let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    assert!(matches!(
        build_new_address(&mut buf, 1, 1, ip, 33, None, false),
        Err(NetlinkError::InvalidArgument(_))
    ));
    assert!(matches!(
        build_new_address(&mut buf, 1, 1, ip, 24, Some("sixteen-bytes-xx"), false),
        Err(NetlinkError::InvalidArgument(_))
    ));
    // Found by fuzz/fuzz_targets/netlink.rs: the kernel would keep "eth0" only.
    assert_eq!(
        build_new_address(&mut buf, 1, 1, ip, 24, Some("eth0\0vip"), false),
        Err(NetlinkError::InvalidArgument(
            "label must be 1..15 bytes, no NUL"
        ))
    );
    let mut small = [0u8; 40];
    assert_eq!(
        build_new_address(&mut small, 1, 1, ip, 24, Some("eth0"), false),
        Err(NetlinkError::BufferTooSmall)
    );
}

#[test]
fn del_address_and_link_requests() {
    let mut buf = [0u8; 256];
    let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9));
    let got = build_del_address(&mut buf, 5, 4, ip, 32).unwrap();
    let expected = cat(&[
        &nlhdr(40, RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK, 5, 0),
        &ifaddrmsg(AF_INET, 32, 0, 0, 4),
        &rta(IFA_LOCAL, &[192, 0, 2, 9]),
        &rta(IFA_ADDRESS, &[192, 0, 2, 9]),
    ]);
    assert_eq!(got, &expected[..]);

    let got = build_set_link_up(&mut buf, 6, 11, false).unwrap();
    let mut info = ifinfomsg(11, 0);
    info[2..4].copy_from_slice(&0u16.to_ne_bytes());
    info[12..16].copy_from_slice(&IFF_UP.to_ne_bytes());
    let expected = cat(&[&nlhdr(32, RTM_SETLINK, 0x5, 6, 0), &info]);
    assert_eq!(got, &expected[..]);

    let got = build_dump(&mut buf, 8, RTM_GETADDR).unwrap();
    let expected = cat(&[
        &nlhdr(24, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, 8, 0),
        &ifaddrmsg(AF_UNSPEC, 0, 0, 0, 0),
    ]);
    assert_eq!(got, &expected[..]);
}

#[test]
fn macvlan_request_nests_linkinfo() {
    let mut buf = [0u8; 256];
    let mac = [0x00, 0x00, 0x5e, 0x00, 0x01, 0x33];
    let got = build_new_macvlan(&mut buf, 1, 2, "vrrp.51", mac)
        .unwrap()
        .to_vec();
    let data = rta(IFLA_MACVLAN_MODE, &MACVLAN_MODE_PRIVATE.to_ne_bytes());
    let info = cat(&[
        &rta(IFLA_INFO_KIND, b"macvlan\0"),
        &rta(IFLA_INFO_DATA, &data),
    ]);
    let mut hdr_info = ifinfomsg(0, 0);
    hdr_info[2..4].copy_from_slice(&0u16.to_ne_bytes());
    let body = cat(&[
        &hdr_info,
        &rta(IFLA_IFNAME, b"vrrp.51\0"),
        &rta(IFLA_LINK, &2u32.to_ne_bytes()),
        &rta(IFLA_ADDRESS, &mac),
        &rta(IFLA_LINKINFO, &info),
    ]);
    let expected = cat(&[
        &nlhdr(
            (16 + body.len()) as u32,
            RTM_NEWLINK,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            1,
            0,
        ),
        &body,
    ]);
    assert_eq!(got, expected);
    assert!(matches!(
        build_new_macvlan(&mut buf, 1, 2, "much-too-long-name", mac),
        Err(NetlinkError::InvalidArgument(_))
    ));
}

/// A datagram as the kernel could send it: NEWLINK, NEWADDR (v6), DONE, and an ERROR.
fn sample_datagram() -> Vec<u8> {
    sample_messages().concat()
}

fn sample_messages() -> Vec<Vec<u8>> {
    let link = cat(&[
        &ifinfomsg(3, IFF_UP | IFF_RUNNING | 0x1000),
        &rta(IFLA_IFNAME, b"eth0\0"),
        &rta(IFLA_ADDRESS, &[2, 0, 0, 0, 0, 9]),
        &rta(0x8000 | 99, &[1, 2, 3]), // nested flag on an unknown type: skipped
    ]);
    let v6: Ipv6Addr = "2001:db8::5".parse().unwrap();
    let addr = cat(&[
        &ifaddrmsg(AF_INET6, 64, 0x80, 0, 3),
        &rta(IFA_ADDRESS, &v6.octets()),
        &rta(IFA_FLAGS, &0x282u32.to_ne_bytes()),
    ]);
    let err = cat(&[&(-17i32).to_ne_bytes(), &nlhdr(32, RTM_NEWADDR, 5, 77, 0)]);
    vec![
        msg(RTM_NEWLINK, NLM_F_MULTI, 77, 1234, &link),
        msg(RTM_NEWADDR, NLM_F_MULTI, 77, 1234, &addr),
        msg(NLMSG_DONE, NLM_F_MULTI, 77, 1234, &0i32.to_ne_bytes()),
        msg(NLMSG_ERROR, 0, 77, 1234, &err),
    ]
}

#[test]
fn parses_multi_message_datagram() {
    let buf = sample_datagram();
    let msgs: Vec<_> = MessageIter::new(&buf).collect::<Result<_, _>>().unwrap();
    assert_eq!(
        msgs.iter().map(|m| m.ty).collect::<Vec<_>>(),
        [RTM_NEWLINK, RTM_NEWADDR, NLMSG_DONE, NLMSG_ERROR]
    );
    assert!(msgs.iter().all(|m| m.seq == 77 && m.pid == 1234));

    match parse_event(&msgs[0]).unwrap() {
        Some(NetEvent::LinkChanged(l)) => {
            assert_eq!(l.index, 3);
            assert_eq!(l.name.as_str(), "eth0");
            assert_eq!(l.mac, [2, 0, 0, 0, 0, 9]);
            assert!(l.up);
            assert_eq!(l.flags, IFF_UP | IFF_RUNNING | 0x1000);
        }
        other => panic!("{other:?}"),
    }
    match parse_event(&msgs[1]).unwrap() {
        Some(NetEvent::AddrAdded(a)) => {
            assert_eq!(a.index, 3);
            assert_eq!(a.addr, "2001:db8::5".parse::<IpAddr>().unwrap());
            assert_eq!(a.prefix_len, 64);
            assert_eq!(a.flags, 0x282, "IFA_FLAGS wins over ifa_flags");
            assert_eq!(a.label, None);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(parse_event(&msgs[2]).unwrap(), None);
    assert_eq!(parse_error(msgs[3].payload).unwrap(), 17);
    assert_eq!(error_request_seq(msgs[3].payload), Some(77));
}

#[test]
fn ack_is_error_zero() {
    let ack = msg(
        NLMSG_ERROR,
        0,
        1,
        1,
        &cat(&[&0i32.to_ne_bytes(), &nlhdr(16, 20, 5, 1, 0)]),
    );
    let m = MessageIter::new(&ack).next().unwrap().unwrap();
    assert_eq!(parse_error(m.payload), Ok(0));
    assert!(parse_error(&[0, 0]).is_err());
}

#[test]
fn link_down_and_ipv4_label_and_dellink() {
    let link = cat(&[&ifinfomsg(4, IFF_UP), &rta(IFLA_IFNAME, b"veth1\0")]);
    let l = parse_link(&link).unwrap();
    assert!(!l.up, "up without running is not up");
    assert_eq!(l.mac, [0; 6], "no IFLA_ADDRESS");
    let m = msg(RTM_DELLINK, 0, 0, 0, &link);
    let m = MessageIter::new(&m).next().unwrap().unwrap();
    assert_eq!(
        parse_event(&m).unwrap(),
        Some(NetEvent::LinkRemoved {
            index: 4,
            name: IfName::new("veth1").unwrap()
        })
    );

    let addr = cat(&[
        &ifaddrmsg(AF_INET, 24, 0, 0, 4),
        &rta(IFA_ADDRESS, &[198, 51, 100, 7]),
        &rta(IFA_LOCAL, &[192, 0, 2, 7]),
        &rta(IFA_LABEL, b"veth1:v\0"),
    ]);
    let a = parse_addr(&addr).unwrap();
    assert_eq!(
        a.addr,
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)),
        "IFA_LOCAL wins"
    );
    assert_eq!(a.label.unwrap().as_str(), "veth1:v");
}

#[test]
fn lying_lengths_are_malformed() {
    // nlmsg_len past the end of the buffer.
    let mut buf = sample_datagram();
    buf[0..4].copy_from_slice(&4096u32.to_ne_bytes());
    let first = MessageIter::new(&buf).next().unwrap();
    assert!(matches!(first, Err(NetlinkError::Malformed(_))));
    assert_eq!(
        MessageIter::new(&buf).count(),
        1,
        "iteration stops after the error"
    );

    // nlmsg_len below the header size (0 would otherwise loop forever).
    buf[0..4].copy_from_slice(&0u32.to_ne_bytes());
    assert!(matches!(
        MessageIter::new(&buf).next(),
        Some(Err(NetlinkError::Malformed(_)))
    ));

    // Attribute length past the end of the message.
    let mut link = cat(&[&ifinfomsg(4, 0), &rta(IFLA_IFNAME, b"eth0\0")]);
    link[16..18].copy_from_slice(&200u16.to_ne_bytes());
    assert!(matches!(parse_link(&link), Err(NetlinkError::Malformed(_))));
    // Attribute length below the attribute header.
    link[16..18].copy_from_slice(&2u16.to_ne_bytes());
    assert!(matches!(parse_link(&link), Err(NetlinkError::Malformed(_))));

    // Address of the wrong size for the family.
    let addr = cat(&[
        &ifaddrmsg(AF_INET6, 64, 0, 0, 1),
        &rta(IFA_ADDRESS, &[1, 2, 3, 4]),
    ]);
    assert!(matches!(parse_addr(&addr), Err(NetlinkError::Malformed(_))));
    // Interface name of 16 bytes without room for the NUL.
    let link = cat(&[&ifinfomsg(4, 0), &rta(IFLA_IFNAME, b"0123456789abcdef")]);
    assert!(matches!(parse_link(&link), Err(NetlinkError::Malformed(_))));
    // Link without a name.
    assert!(matches!(
        parse_link(&ifinfomsg(4, 0)),
        Err(NetlinkError::Malformed(_))
    ));
}

#[test]
fn every_truncation_is_an_error_or_a_prefix() {
    let buf = sample_datagram();
    let boundaries: Vec<usize> = sample_messages()
        .iter()
        .scan(0, |end, m| {
            *end += m.len();
            Some(*end)
        })
        .collect();
    for cut in 0..buf.len() {
        let part = &buf[..cut];
        let mut ok = 0;
        let mut errs = 0;
        for m in MessageIter::new(part) {
            match m {
                Ok(m) => {
                    ok += 1;
                    let _ = parse_event(&m);
                    let _ = parse_error(m.payload);
                }
                Err(_) => errs += 1,
            }
        }
        // A cut that falls on a message boundary yields only whole messages.
        let boundary = cut == 0 || boundaries.contains(&cut);
        assert_eq!(errs, usize::from(!boundary), "cut at {cut}");
        assert!(ok <= 4);
    }
    // And the payload parsers on every prefix of a payload.
    let link = &buf[16..64];
    for cut in 0..link.len() {
        let _ = parse_link(&link[..cut]);
        let _ = parse_addr(&link[..cut]);
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let template = sample_datagram();
    for round in 0..20_000 {
        let len = (next() % 160) as usize;
        let mut buf: Vec<u8> = if round % 2 == 0 {
            (0..len).map(|_| next() as u8).collect()
        } else {
            // Mutations of a valid datagram reach deeper into the attribute parsers.
            let mut b = template.clone();
            for _ in 0..(1 + next() % 4) {
                let i = (next() as usize) % b.len();
                b[i] = next() as u8;
            }
            b
        };
        if round % 7 == 0 {
            buf.truncate(len);
        }
        for m in MessageIter::new(&buf).flatten() {
            let _ = parse_event(&m);
            let _ = parse_link(m.payload);
            let _ = parse_addr(m.payload);
            let _ = parse_error(m.payload);
        }
    }
}

#[test]
fn bridge_port_link_messages_are_not_link_events() {
    const AF_BRIDGE: u8 = 7;
    let mut info = ifinfomsg(4, IFF_UP | IFF_RUNNING);
    info[0] = AF_BRIDGE;
    let link = cat(&[&info, &rta(IFLA_IFNAME, b"eth0\0")]);
    for ty in [RTM_NEWLINK, RTM_DELLINK] {
        let m = msg(ty, 0, 0, 0, &link);
        let m = MessageIter::new(&m).next().unwrap().unwrap();
        assert_eq!(parse_event(&m), Ok(None));
    }
    info[0] = AF_UNSPEC;
    let link = cat(&[&info, &rta(IFLA_IFNAME, b"eth0\0")]);
    let m = msg(RTM_DELLINK, 0, 0, 0, &link);
    let m = MessageIter::new(&m).next().unwrap().unwrap();
    assert!(matches!(
        parse_event(&m),
        Ok(Some(NetEvent::LinkRemoved { index: 4, .. }))
    ));
}
