//! The VRRP sockets on a real (namespaced) network: two hosts, A and B, each in its own
//! network namespace with a veth into a bridge namespace. Needs root; skipped otherwise.
//!
//! A socket belongs to the network namespace of the thread that created it, so each side's
//! sockets are opened (and its interface index looked up) on a thread that first `setns`es
//! into that side's namespace; the sockets are then driven from the test thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags};
use tinyvrrp::packet::Family;

use crate::lab;
use tinyvrrp::sock::{RecvBatch, SendBatch, SendOutcome, VrrpSocket, GROUP_V4, GROUP_V6};

const A_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 11);
const B_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 12);
const A_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x11);
const B_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x12);
const A_LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x11);
const B_LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x12);

/// How long to wait for datagrams that should arrive.
const ARRIVE: Duration = Duration::from_secs(5);
/// How long to watch for datagrams that must not arrive (after a control saw its copy).
const ABSENT: Duration = Duration::from_millis(300);

thread_local! {
    /// Heap allocations made by the current thread (tests run on several threads at once).
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

/// The system allocator, counting allocations per thread.
struct Counting;

fn count_one() {
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: forwards every call to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(|c| c.get())
}

/// Two hosts of the project's netns lab (tests/netns/lab): node 1 is A (192.0.2.11, 2001:db8::11),
/// node 2 is B (.12, ::12), each also given a fixed link-local address (fe80::11 / fe80::12,
/// without DAD) beside the generated one, so the IPv6 tests know their sources. Dropping it
/// tears the lab down, also on panic.
struct Hosts {
    a: String,
    b: String,
    _lab: lab::Lab,
}

fn lab_or_none() -> Option<Hosts> {
    let lab = lab::Lab::new("sock", 2)?;
    for (i, ll) in [(1, "fe80::11/64"), (2, "fe80::12/64")] {
        let out = lab
            .node(i)
            .exec(&["ip", "addr", "add", ll, "dev", "eth0", "nodad"]);
        assert!(
            out.status.success(),
            "{ll}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Some(Hosts {
        a: lab.node(1).name.clone(),
        b: lab.node(2).name.clone(),
        _lab: lab,
    })
}

macro_rules! lab_or_skip {
    () => {
        match lab_or_none() {
            Some(lab) => lab,
            None => return,
        }
    };
}

use lab::in_netns as in_ns;

/// A socket opened in a host's namespace, and that host's eth0 index.
struct Host {
    sock: VrrpSocket,
    ifindex: u32,
}

fn host(ns: &str, family: Family, join: bool) -> Host {
    in_ns(ns, || {
        let sock = VrrpSocket::open(family).expect("open VRRP socket");
        let ifindex = nix::net::if_::if_nametoindex("eth0").expect("eth0 index");
        if join {
            sock.join(ifindex).expect("join group");
        }
        Host { sock, ifindex }
    })
}

/// An owned copy of a received datagram.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Got {
    ifindex: u32,
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    payload: Vec<u8>,
    truncated: bool,
}

/// Receives until `want` datagrams arrived or `wait` passed, waiting in poll().
fn drain(sock: &VrrpSocket, batch: &mut RecvBatch, want: usize, wait: Duration) -> Vec<Got> {
    let deadline = Instant::now() + wait;
    let mut got = Vec::new();
    while got.len() < want {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX).max(1);
        let mut fds = [PollFd::new(sock.fd(), PollFlags::POLLIN)];
        if poll(&mut fds, ms).expect("poll") == 0 {
            continue;
        }
        let n = batch.recv(sock).expect("recvmmsg");
        for i in 0..n {
            let r = batch
                .get(i)
                .expect("in range")
                .expect("well-formed datagram");
            got.push(Got {
                ifindex: r.ifindex,
                src: r.src,
                dst: r.dst,
                ttl: r.ttl,
                payload: r.payload.to_vec(),
                truncated: r.truncated,
            });
        }
    }
    got
}

/// A recognisable payload (not a real advert: the kernel does not look inside).
fn payload(tag: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| tag ^ (i as u8).wrapping_mul(31)).collect()
}

fn queue(batch: &mut SendBatch, from: &Host, src: IpAddr, dst: IpAddr, bytes: &[u8]) -> usize {
    batch
        .push(from.ifindex, src, dst, |buf| {
            buf.get_mut(..bytes.len())?.copy_from_slice(bytes);
            Some(bytes.len())
        })
        .expect("push")
}

/// Sends one datagram from `a` and checks `b` receives exactly it, as expected.
fn one_datagram(family: Family, src: IpAddr, dst: IpAddr, b_dst_join: bool, tag: u8) {
    let lab = lab_or_skip!();
    let b = host(&lab.b, family, b_dst_join);
    let a = host(&lab.a, family, false);
    let bytes = payload(tag, 40);
    let mut out = SendBatch::new(4);
    let slot = queue(&mut out, &a, src, dst, &bytes);
    assert_eq!(out.send(&a.sock), Ok(1));
    assert_eq!(out.outcome(slot), Some(SendOutcome::Sent));
    assert_eq!(out.failed(), 0);

    let mut inb = RecvBatch::new(4);
    let got = drain(&b.sock, &mut inb, 2, ABSENT.max(Duration::from_secs(1)));
    let want = Got {
        ifindex: b.ifindex,
        src,
        dst,
        ttl: 255,
        payload: bytes,
        truncated: false,
    };
    assert_eq!(got, vec![want]);
}

#[test]
fn ipv4_multicast_arrives_with_ifindex_addresses_ttl_and_payload() {
    one_datagram(Family::V4, A_V4.into(), GROUP_V4.into(), true, 1);
}

#[test]
fn ipv6_multicast_from_link_local_arrives_with_hop_limit_255() {
    one_datagram(Family::V6, A_LL.into(), GROUP_V6.into(), true, 2);
}

#[test]
fn ipv4_unicast_reaches_the_peer_address() {
    one_datagram(Family::V4, A_V4.into(), B_V4.into(), false, 3);
}

#[test]
fn ipv6_unicast_reaches_the_peer_address() {
    one_datagram(Family::V6, A_V6.into(), B_V6.into(), false, 4);
}

#[test]
fn ipv6_link_local_unicast_reaches_the_peer() {
    one_datagram(Family::V6, A_LL.into(), B_LL.into(), false, 5);
}

fn batch_of_50(family: Family, src: IpAddr, group: IpAddr) {
    let lab = lab_or_skip!();
    let b = host(&lab.b, family, true);
    let a = host(&lab.a, family, false);
    let mut out = SendBatch::new(64);
    let mut sent = Vec::new();
    for i in 0..50u8 {
        let bytes = payload(i, 20 + usize::from(i));
        queue(&mut out, &a, src, group, &bytes);
        sent.push(bytes);
    }
    assert_eq!(out.send(&a.sock), Ok(50));
    assert_eq!(out.failed(), 0);
    assert!((0..50).all(|i| out.outcome(i) == Some(SendOutcome::Sent)));

    // Fewer slots than datagrams: the drain has to call recvmmsg several times.
    let mut inb = RecvBatch::new(8);
    let got = drain(&b.sock, &mut inb, 50, ARRIVE);
    assert_eq!(got.len(), 50, "received {} of 50", got.len());
    assert!(got
        .iter()
        .all(|g| g.src == src && g.dst == group && g.ttl == 255 && g.ifindex == b.ifindex));
    let mut received: Vec<Vec<u8>> = got.into_iter().map(|g| g.payload).collect();
    received.sort();
    sent.sort();
    assert_eq!(received, sent);
}

#[test]
fn ipv4_batch_of_50_arrives_whole() {
    batch_of_50(Family::V4, A_V4.into(), GROUP_V4.into());
}

#[test]
fn ipv6_batch_of_50_arrives_whole() {
    batch_of_50(Family::V6, A_LL.into(), GROUP_V6.into());
}

/// A joins the group too, sends to it; B (the control) sees the datagram, A must not.
fn no_loopback(family: Family, src: IpAddr, group: IpAddr) {
    let lab = lab_or_skip!();
    let b = host(&lab.b, family, true);
    let a = host(&lab.a, family, true);
    let mut out = SendBatch::new(1);
    queue(&mut out, &a, src, group, &payload(9, 30));
    assert_eq!(out.send(&a.sock), Ok(1));
    let mut inb = RecvBatch::new(4);
    assert_eq!(drain(&b.sock, &mut inb, 1, ARRIVE).len(), 1, "control copy");
    let own = drain(&a.sock, &mut inb, 1, ABSENT);
    assert!(own.is_empty(), "sender received its own multicast: {own:?}");
}

#[test]
fn ipv4_own_multicast_is_not_looped_back() {
    no_loopback(Family::V4, A_V4.into(), GROUP_V4.into());
}

#[test]
fn ipv6_own_multicast_is_not_looped_back() {
    no_loopback(Family::V6, A_LL.into(), GROUP_V6.into());
}

/// B has two sockets; only one joined the group. The other must not see group traffic even
/// though the interface is a member (MULTICAST_ALL off), but still sees unicast.
fn only_joined_sockets_get_group_traffic(
    family: Family,
    src: IpAddr,
    group: IpAddr,
    unicast: IpAddr,
) {
    let lab = lab_or_skip!();
    let joined = host(&lab.b, family, true);
    let bystander = host(&lab.b, family, false);
    let a = host(&lab.a, family, false);
    let mut out = SendBatch::new(2);
    queue(&mut out, &a, src, group, &payload(7, 30));
    assert_eq!(out.send(&a.sock), Ok(1));
    let mut inb = RecvBatch::new(4);
    assert_eq!(
        drain(&joined.sock, &mut inb, 1, ARRIVE).len(),
        1,
        "joined socket"
    );
    let stray = drain(&bystander.sock, &mut inb, 1, ABSENT);
    assert!(stray.is_empty(), "socket that did not join got {stray:?}");

    // The bystander is not deaf: unicast VRRP reaches it.
    out.clear();
    queue(&mut out, &a, src, unicast, &payload(8, 30));
    assert_eq!(out.send(&a.sock), Ok(1));
    let got = drain(&bystander.sock, &mut inb, 1, ARRIVE);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].dst, unicast);
}

#[test]
fn ipv4_socket_that_did_not_join_gets_no_group_traffic() {
    only_joined_sockets_get_group_traffic(Family::V4, A_V4.into(), GROUP_V4.into(), B_V4.into());
}

/// Linux does not apply IPV6_MULTICAST_ALL to raw sockets that are not bound to an address
/// (raw_v6_match accepts any destination for an unbound socket before it looks at the
/// membership list), so unlike IPv4 an IPv6 VRRP socket sees every group the host joined. This
/// pins that behaviour: the daemon must keep only adverts whose ifindex has an instance, and
/// the ifindex it is given is the right one.
#[test]
fn ipv6_socket_that_did_not_join_still_sees_group_traffic_with_its_ifindex() {
    let lab = lab_or_skip!();
    let joined = host(&lab.b, Family::V6, true);
    let bystander = host(&lab.b, Family::V6, false);
    let a = host(&lab.a, Family::V6, false);
    let mut out = SendBatch::new(1);
    queue(&mut out, &a, A_LL.into(), GROUP_V6.into(), &payload(7, 30));
    assert_eq!(out.send(&a.sock), Ok(1));
    let mut inb = RecvBatch::new(4);
    assert_eq!(
        drain(&joined.sock, &mut inb, 1, ARRIVE).len(),
        1,
        "joined socket"
    );
    let stray = drain(&bystander.sock, &mut inb, 1, ARRIVE);
    assert_eq!(
        stray.len(),
        1,
        "kernel behaviour changed: update the docs of VrrpSocket"
    );
    assert_eq!(stray[0].ifindex, bystander.ifindex);
    assert_eq!(stray[0].dst, IpAddr::from(GROUP_V6));
}

#[test]
fn leaving_the_group_stops_delivery() {
    let lab = lab_or_skip!();
    let b = host(&lab.b, Family::V4, true);
    let a = host(&lab.a, Family::V4, false);
    b.sock.leave(b.ifindex).expect("leave");
    assert!(b.sock.leave(b.ifindex).is_err(), "second leave must fail");
    let mut out = SendBatch::new(1);
    queue(&mut out, &a, A_V4.into(), GROUP_V4.into(), &payload(6, 30));
    assert_eq!(out.send(&a.sock), Ok(1));
    let mut inb = RecvBatch::new(4);
    assert!(drain(&b.sock, &mut inb, 1, ABSENT).is_empty());
}

#[test]
fn a_bad_datagram_fails_alone_and_the_rest_still_go() {
    let lab = lab_or_skip!();
    let b = host(&lab.b, Family::V4, true);
    let a = host(&lab.a, Family::V4, false);
    let mut out = SendBatch::new(4);
    queue(&mut out, &a, A_V4.into(), GROUP_V4.into(), &payload(1, 30));
    // A source address A does not have: the kernel refuses this one datagram.
    let bad = queue(
        &mut out,
        &a,
        Ipv4Addr::new(203, 0, 113, 99).into(),
        B_V4.into(),
        &payload(2, 30),
    );
    queue(&mut out, &a, A_V4.into(), GROUP_V4.into(), &payload(3, 30));
    assert_eq!(out.send(&a.sock), Ok(2));
    assert_eq!(out.failed(), 1);
    assert!(
        matches!(out.outcome(bad), Some(SendOutcome::Failed(_))),
        "{:?}",
        out.outcome(bad)
    );
    assert_eq!(out.outcome(0), Some(SendOutcome::Sent));
    assert_eq!(out.outcome(2), Some(SendOutcome::Sent));
    let mut inb = RecvBatch::new(4);
    let got = drain(&b.sock, &mut inb, 2, ARRIVE);
    let tags: Vec<_> = got.iter().map(|g| g.payload[0]).collect();
    assert_eq!(got.len(), 2);
    assert!(tags.contains(&payload(1, 1)[0]) && tags.contains(&payload(3, 1)[0]));
}

/// Rounds of queue / sendmmsg / poll / recvmmsg / get, after a warm-up round, must not touch
/// the heap.
fn steady_state_allocates_nothing(family: Family, src: IpAddr, group: IpAddr) {
    let lab = lab_or_skip!();
    let b = host(&lab.b, family, true);
    let a = host(&lab.a, family, false);
    let mut out = SendBatch::new(8);
    let mut inb = RecvBatch::new(8);
    let round = |out: &mut SendBatch, inb: &mut RecvBatch, seq: u8| {
        out.clear();
        for i in 0..5u8 {
            let tag = [seq, i, 0xab, 0xcd];
            out.push(a.ifindex, src, group, |buf| {
                buf.get_mut(..4)?.copy_from_slice(&tag);
                Some(4)
            })
            .expect("push");
        }
        assert_eq!(out.send(&a.sock), Ok(5));
        let mut seen = 0;
        while seen < 5 {
            let mut fds = [PollFd::new(b.sock.fd(), PollFlags::POLLIN)];
            assert_eq!(
                poll(&mut fds, 5000u16),
                Ok(1),
                "timed out after {seen} datagrams"
            );
            let n = inb.recv(&b.sock).expect("recvmmsg");
            for r in inb.iter() {
                let r = r.expect("well-formed");
                assert_eq!(r.payload.len(), 4);
                assert_eq!((r.payload[0], r.payload[2], r.ttl), (seq, 0xab, 255));
            }
            seen += n;
        }
        assert_eq!(seen, 5);
    };
    round(&mut out, &mut inb, 0);
    let before = allocations();
    for seq in 1..=20 {
        round(&mut out, &mut inb, seq);
    }
    assert_eq!(
        allocations() - before,
        0,
        "heap allocations in the steady state"
    );
}

#[test]
fn ipv4_steady_state_allocates_nothing() {
    steady_state_allocates_nothing(Family::V4, A_V4.into(), GROUP_V4.into());
}

#[test]
fn ipv6_steady_state_allocates_nothing() {
    steady_state_allocates_nothing(Family::V6, A_LL.into(), GROUP_V6.into());
}

/// keepalived's unicast_ttl: one datagram of a batch leaves with its own TTL / hop limit, the
/// others with the socket's 255.
fn hop_limit_per_datagram(family: Family, src: IpAddr, dst: IpAddr) {
    let lab = lab_or_skip!();
    let b = host(&lab.b, family, false);
    let a = host(&lab.a, family, false);
    let mut out = SendBatch::new(4);
    let first = queue(&mut out, &a, src, dst, &payload(7, 30));
    let second = queue(&mut out, &a, src, dst, &payload(8, 30));
    out.set_hop_limit(second, 5).expect("set hop limit");
    assert!(out.set_hop_limit(3, 5).is_err(), "an empty slot");
    assert_eq!(out.send(&a.sock), Ok(2));
    assert_eq!(out.outcome(first), Some(SendOutcome::Sent));
    let mut inb = RecvBatch::new(4);
    let mut got = drain(&b.sock, &mut inb, 2, ARRIVE);
    got.sort_by_key(|g| g.payload[0]);
    let ttls: Vec<(u8, u8)> = got.iter().map(|g| (g.payload[0], g.ttl)).collect();
    assert_eq!(ttls, vec![(7, 255), (8, 5)]);
}

#[test]
fn ipv4_unicast_ttl_is_set_per_datagram() {
    hop_limit_per_datagram(Family::V4, A_V4.into(), B_V4.into());
}

#[test]
fn ipv6_unicast_hop_limit_is_set_per_datagram() {
    hop_limit_per_datagram(Family::V6, A_V6.into(), B_V6.into());
}
