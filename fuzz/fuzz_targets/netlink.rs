//! The netlink parser takes whatever the kernel (or a process that got a message to the socket)
//! sends. Each input is used twice:
//! 1. as one received datagram: framing and parsing never panic, every message and attribute
//!    lies inside the buffer, the walk ends, and what parses agrees with the bytes it came from;
//! 2. as arguments for the request builders: a built request frames as exactly one message,
//!    its attributes all parse, an address or link request parses back to what was built, and
//!    a too-small buffer gives an error, never a panic or a different message.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use tinyvrrp::netlink::wire::{self, AttrIter, Message, MessageIter};
use tinyvrrp::netlink::{AddrInfo, LinkInfo, NetEvent, NetlinkError};
use tinyvrrp::netlink::{AddrOptions, RouteSpec, RuleSpec};

fuzz_target!(|data: &[u8]| {
    check_datagram(data);
    let _ = check_builders(&mut Unstructured::new(data));
});

fn ne32(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn ne16(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

/// `inner` is a sub-slice of `outer` (same memory, not a copy).
fn inside(outer: &[u8], inner: &[u8]) -> bool {
    let (o, i) = (outer.as_ptr() as usize, inner.as_ptr() as usize);
    i >= o && i + inner.len() <= o + outer.len()
}

fn check_datagram(data: &[u8]) {
    let mut items = 0;
    let mut ended = false;
    let mut at = 0;
    for m in MessageIter::new(data) {
        assert!(!ended, "the walk goes on after an error");
        items += 1;
        assert!(
            items <= data.len() / wire::NLMSG_HDRLEN + 1,
            "too many messages"
        );
        match m {
            Ok(m) => {
                check_message(&data[at..], &m);
                at += wire::align(wire::NLMSG_HDRLEN + m.payload.len());
            }
            Err(e) => {
                assert!(matches!(e, NetlinkError::Malformed(_)), "{e:?}");
                ended = true;
            }
        }
    }
}

/// `m` was framed from the start of `rest`.
fn check_message(rest: &[u8], m: &Message<'_>) {
    assert!(inside(rest, m.payload));
    assert_eq!(ne32(rest, 0) as usize, wire::NLMSG_HDRLEN + m.payload.len());
    assert_eq!((m.ty, m.flags), (ne16(rest, 4), ne16(rest, 6)));
    assert_eq!((m.seq, m.pid), (ne32(rest, 8), ne32(rest, 12)));
    assert_eq!(m.payload.as_ptr(), rest[wire::NLMSG_HDRLEN..].as_ptr());
    for fixed in [wire::IFADDRMSG_LEN, wire::IFINFOMSG_LEN] {
        check_attrs(m.payload.get(fixed..).unwrap_or(&[]));
    }
    if let Ok(errno) = wire::parse_error(m.payload) {
        assert_eq!(errno == 0, ne32(m.payload, 0) == 0);
    }
    let _ = wire::error_request_seq(m.payload);
    match wire::parse_event(m) {
        Ok(Some(NetEvent::LinkChanged(link))) => check_link(m.payload, &link),
        Ok(Some(NetEvent::LinkRemoved { index, name })) => {
            assert_eq!(index, ne32(m.payload, 4));
            check_name(name.as_str());
        }
        Ok(Some(NetEvent::AddrAdded(a) | NetEvent::AddrRemoved(a))) => check_addr(m.payload, &a),
        Ok(None) => {}
        Err(e) => assert!(matches!(e, NetlinkError::Malformed(_)), "{e:?}"),
    }
}

fn check_attrs(buf: &[u8]) {
    let mut count = 0;
    let mut ended = false;
    for attr in AttrIter::new(buf) {
        assert!(!ended, "the attribute walk goes on after an error");
        count += 1;
        assert!(count <= buf.len() / 4 + 1, "too many attributes");
        match attr {
            Ok((ty, payload)) => {
                assert!(ty <= 0x3fff, "flag bits left in type {ty:#x}");
                assert!(inside(buf, payload));
            }
            Err(_) => ended = true,
        }
    }
}

fn check_name(name: &str) {
    assert!(
        (1..=15).contains(&name.len()) && !name.contains('\0'),
        "{name:?}"
    );
}

fn check_link(payload: &[u8], link: &LinkInfo) {
    assert_eq!(link.index, ne32(payload, 4));
    assert_eq!(link.flags, ne32(payload, 8));
    assert_eq!(link.up, link.flags & 0x41 == 0x41);
    check_name(link.name.as_str());
}

fn check_addr(payload: &[u8], a: &AddrInfo) {
    let v4 = match payload[0] {
        wire::AF_INET => true,
        wire::AF_INET6 => false,
        f => panic!("address of family {f} parsed"),
    };
    assert_eq!(a.addr.is_ipv4(), v4);
    assert_eq!((a.prefix_len, a.scope), (payload[1], payload[3]));
    assert_eq!(a.index, ne32(payload, 4));
    if let Some(label) = a.label {
        check_name(label.as_str());
    }
}

fn ip(u: &mut Unstructured<'_>, v6: bool) -> Result<IpAddr> {
    Ok(if v6 {
        IpAddr::V6(Ipv6Addr::from(u.arbitrary::<[u8; 16]>()?))
    } else {
        IpAddr::V4(Ipv4Addr::from(u.arbitrary::<[u8; 4]>()?))
    })
}

/// A short string, valid or not as an interface name.
fn name<'a>(u: &mut Unstructured<'a>) -> Result<&'a str> {
    let len = u.int_in_range(0..=17)?;
    Ok(std::str::from_utf8(u.bytes(len)?).unwrap_or("eth0"))
}

fn check_builders(u: &mut Unstructured<'_>) -> Result<()> {
    let seq = u.arbitrary()?;
    let index = u.arbitrary()?;
    let v6 = u.arbitrary()?;
    let addr = ip(u, v6)?;
    let plen = u.int_in_range(0..=130)?;
    let label = u.arbitrary::<bool>()?.then(|| name(u)).transpose()?;
    let nodad = u.arbitrary()?;
    let short = u.int_in_range(0..=200)?;
    let build = |buf: &mut [u8]| {
        wire::build_new_address(buf, seq, index, addr, plen, label, nodad).map(<[u8]>::to_vec)
    };
    if let Some(msg) = built(build, short, wire::RTM_NEWADDR, seq) {
        let a = addr_of(&msg);
        assert_eq!((a.addr, a.prefix_len, a.index), (addr, plen, index));
        assert_eq!(
            a.label.map(|l| l.to_string()),
            label.filter(|_| !v6).map(str::to_string)
        );
        assert_eq!(a.flags & 2 != 0, nodad && v6, "NODAD");
    }
    let build =
        |buf: &mut [u8]| wire::build_del_address(buf, seq, index, addr, plen).map(<[u8]>::to_vec);
    if let Some(msg) = built(build, short, wire::RTM_DELADDR, seq) {
        let a = addr_of(&msg);
        assert_eq!((a.addr, a.prefix_len, a.index), (addr, plen, index));
    }
    let (ifname, mac) = (name(u)?, u.arbitrary::<[u8; 6]>()?);
    let build =
        |buf: &mut [u8]| wire::build_new_macvlan(buf, seq, index, ifname, mac).map(<[u8]>::to_vec);
    if let Some(msg) = built(build, short, wire::RTM_NEWLINK, seq) {
        let link = wire::parse_link(&msg[wire::NLMSG_HDRLEN..]).expect("own macvlan request");
        assert_eq!((link.name.as_str(), link.mac, link.index), (ifname, mac, 0));
    }
    let build = |buf: &mut [u8]| wire::build_get_link_by_name(buf, seq, ifname).map(<[u8]>::to_vec);
    if let Some(msg) = built(build, short, wire::RTM_GETLINK, seq) {
        let link = wire::parse_link(&msg[wire::NLMSG_HDRLEN..]).expect("own getlink request");
        assert_eq!(link.name.as_str(), ifname);
    }
    check_route_and_rule(u, seq, short)
}

/// Builds a request into a big buffer and into one of `short` bytes; checks the framing and
/// that the short buffer either fails or holds the same message.
fn built(
    build: impl Fn(&mut [u8]) -> std::result::Result<Vec<u8>, NetlinkError>,
    short: usize,
    ty: u16,
    seq: u32,
) -> Option<Vec<u8>> {
    let mut big = [0u8; 512];
    let mut small = [0u8; 200];
    let full = build(&mut big);
    match build(&mut small[..short]) {
        Ok(msg) => assert_eq!(
            Ok(&msg),
            full.as_ref(),
            "short buffer built another message"
        ),
        Err(e) => assert!(
            full.is_err() || e == NetlinkError::BufferTooSmall,
            "short buffer: {e:?}"
        ),
    }
    let msg = full.ok()?;
    let mut it = MessageIter::new(&msg);
    let m = it.next().expect("one message").expect("own request frames");
    assert!(it.next().is_none(), "one request, one message");
    assert_eq!((m.ty, m.seq, m.pid), (ty, seq, 0));
    assert_eq!(wire::NLMSG_HDRLEN + m.payload.len(), msg.len());
    Some(msg)
}

fn addr_of(msg: &[u8]) -> AddrInfo {
    wire::parse_addr(&msg[wire::NLMSG_HDRLEN..]).expect("own address request parses")
}

/// Attributes after the 12-byte rtmsg / fib_rule_hdr, all well formed.
fn attrs_ok(msg: &[u8]) {
    for attr in AttrIter::new(&msg[wire::NLMSG_HDRLEN + 12..]) {
        attr.expect("own request's attributes parse");
    }
}

fn check_route_and_rule(u: &mut Unstructured<'_>, seq: u32, short: usize) -> Result<()> {
    let v6 = u.arbitrary()?;
    let route = RouteSpec {
        dst: ip(u, v6)?,
        dst_len: u.int_in_range(0..=130)?,
        pref_src: u.arbitrary::<bool>()?.then(|| ip(u, v6)).transpose()?,
        gateway: u.arbitrary::<bool>()?.then(|| ip(u, !v6)).transpose()?,
        oif: u.arbitrary()?,
        table: u.arbitrary()?,
        metric: u.arbitrary()?,
        scope: u.arbitrary()?,
        protocol: u.arbitrary()?,
        kind: u.arbitrary()?,
        onlink: u.arbitrary()?,
    };
    let add = u.arbitrary()?;
    let ty = if add { 24 } else { 25 };
    let build =
        |buf: &mut [u8]| wire::routes::build_route(buf, seq, add, &route).map(<[u8]>::to_vec);
    if let Some(msg) = built(build, short, ty, seq) {
        attrs_ok(&msg);
    }
    let (iif, oif) = (name(u)?, name(u)?);
    let rule = RuleSpec {
        v6,
        from: u.arbitrary::<bool>()?.then(|| prefix(u, v6)).transpose()?,
        to: u.arbitrary::<bool>()?.then(|| prefix(u, v6)).transpose()?,
        action: u.arbitrary()?,
        table: u.arbitrary()?,
        priority: u.arbitrary()?,
        iif: u.arbitrary::<bool>()?.then_some(iif),
        oif: u.arbitrary::<bool>()?.then_some(oif),
        fwmark: u.arbitrary()?,
        fwmask: u.arbitrary()?,
        invert: u.arbitrary()?,
        protocol: u.arbitrary()?,
    };
    let ty = if add { 32 } else { 33 };
    let build = |buf: &mut [u8]| wire::routes::build_rule(buf, seq, add, &rule).map(<[u8]>::to_vec);
    if let Some(msg) = built(build, short, ty, seq) {
        attrs_ok(&msg);
    }
    let opts = AddrOptions {
        label: u.arbitrary::<bool>()?.then_some(iif),
        broadcast: u.arbitrary::<Option<[u8; 4]>>()?.map(Ipv4Addr::from),
        scope: u.arbitrary()?,
        nodad: u.arbitrary()?,
    };
    let (addr, plen, index) = (ip(u, v6)?, u.int_in_range(0..=130)?, u.arbitrary()?);
    let build = |buf: &mut [u8]| {
        wire::routes::build_new_address_with(buf, seq, index, addr, plen, &opts).map(<[u8]>::to_vec)
    };
    if let Some(msg) = built(build, short, wire::RTM_NEWADDR, seq) {
        let a = addr_of(&msg);
        assert_eq!(
            (a.addr, a.prefix_len, a.index, a.scope),
            (addr, plen, index, opts.scope)
        );
    }
    Ok(())
}

fn prefix(u: &mut Unstructured<'_>, v6: bool) -> Result<(IpAddr, u8)> {
    let family_v6 = (u.arbitrary::<u8>()? < 16) != v6;
    Ok((ip(u, family_v6)?, u.int_in_range(0..=130)?))
}
