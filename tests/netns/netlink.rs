//! Root tests of the netlink and frame-sender shells in throwaway network namespaces.
//! Each test body runs on its own thread that has joined the namespace with setns (network
//! namespaces are per thread), so every socket it opens lives there. Without root they print
//! why and return.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::process::Command;
use std::time::{Duration, Instant};

use tinyvrrp::arp::{self, FrameSender};

use crate::lab;
use tinyvrrp::netlink::{AddrInfo, LinkInfo, Monitor, NetEvent, Netlink, NetlinkError};

const VMAC: [u8; 6] = [0x00, 0x00, 0x5e, 0x00, 0x01, 0x33];
const IFA_F_NODAD: u32 = 0x02;

fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A node of the project's netns lab (tests/netns/lab): a namespace whose eth0 (192.0.2.11/24,
/// 2001:db8::11/64, up) is on the lab's bridge; the lab goes when this is dropped.
struct Node {
    name: String,
    _lab: lab::Lab,
}

impl Node {
    fn new(tag: &str) -> Option<Node> {
        let lab = lab::Lab::new(tag, 1)?;
        Some(Node {
            name: lab.node(1).name.clone(),
            _lab: lab,
        })
    }

    /// Runs `f` on a thread inside this namespace; a panic there fails the test.
    fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        lab::in_netns(&self.name, f)
    }
}

fn poll_readable(fd: BorrowedFd<'_>, timeout: Duration) {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut pfd, 1, timeout.as_millis() as libc::c_int) };
}

/// Drains the monitor until `pred` matches an event or two seconds pass.
fn wait_event(mon: &mut Monitor, what: &str, mut pred: impl FnMut(&NetEvent) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        let mut hit = false;
        mon.drain(|ev| {
            hit |= pred(&ev);
            seen.push(ev);
        })
        .expect("drain");
        if hit {
            return;
        }
        poll_readable(mon.fd(), Duration::from_millis(100));
    }
    panic!("no event {what}; saw {seen:?}");
}

fn find_link(nl: &mut Netlink, name: &str) -> Option<LinkInfo> {
    let mut found = None;
    nl.links(|l| {
        if l.name.as_str() == name {
            found = Some(*l);
        }
    })
    .expect("links dump");
    found
}

fn find_addr(nl: &mut Netlink, addr: IpAddr) -> Option<AddrInfo> {
    let mut found = None;
    nl.addresses(|a| {
        if a.addr == addr {
            found = Some(*a);
        }
    })
    .expect("address dump");
    found
}

#[test]
fn addresses_links_and_events() {
    let Some(ns) = Node::new("nladdr") else {
        return;
    };
    let ns_name = ns.name.clone();

    ns.run(|| {
        let mut nl = Netlink::open().expect("open netlink");
        let mut mon = Monitor::open().expect("open monitor");
        let eth0 = find_link(&mut nl, "eth0").expect("eth0 in dump");
        assert!(eth0.up);
        assert_eq!(nl.link_by_name("eth0").expect("by name").index, eth0.index);
        assert_eq!(nl.link_by_name("nosuch0"), Err(NetlinkError::NoSuchLink));
        let idx = eth0.index;

        // IPv4 VIP with a label.
        let v4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
        nl.add_address(idx, v4, 24, Some("eth0:vip"), false)
            .expect("add v4");
        wait_event(&mut mon, "v4 added", |ev| {
            matches!(ev, NetEvent::AddrAdded(a) if a.addr == v4 && a.index == idx && a.prefix_len == 24)
        });
        let a = find_addr(&mut nl, v4).expect("v4 in dump");
        assert_eq!(a.label.map(|l| l.to_string()), Some("eth0:vip".to_string()));
        let shown = ip(&["-n", &ns_name, "-4", "addr", "show", "dev", "eth0"]);
        assert!(shown.contains("192.0.2.10/24"), "{shown}");
        assert!(shown.contains("eth0:vip"), "{shown}");
        let again = nl.add_address(idx, v4, 24, None, false).unwrap_err();
        assert!(again.is_exists(), "{again}");

        // IPv6 VIP without DAD.
        let v6: IpAddr = "2001:db8::10".parse().unwrap();
        nl.add_address(idx, v6, 64, None, true).expect("add v6");
        wait_event(&mut mon, "v6 added", |ev| {
            matches!(ev, NetEvent::AddrAdded(a) if a.addr == v6 && a.flags & IFA_F_NODAD != 0)
        });
        assert_eq!(find_addr(&mut nl, v6).map(|a| a.prefix_len), Some(64));
        let shown = ip(&["-n", &ns_name, "-6", "addr", "show", "dev", "eth0"]);
        let vip_line = shown
            .lines()
            .find(|l| l.contains("2001:db8::10/64"))
            .unwrap_or_else(|| panic!("no VIP in {shown}"));
        assert!(vip_line.contains("nodad"), "{vip_line}");
        assert!(!vip_line.contains("tentative"), "{vip_line}");

        // Removal, then removal of what is gone.
        for (addr, plen) in [(v4, 24), (v6, 64)] {
            nl.del_address(idx, addr, plen).expect("del");
            wait_event(&mut mon, "removed", |ev| {
                matches!(ev, NetEvent::AddrRemoved(a) if a.addr == addr)
            });
            assert_eq!(find_addr(&mut nl, addr), None);
            let gone = nl.del_address(idx, addr, plen).unwrap_err();
            assert!(gone.is_addr_not_avail(), "{gone}");
        }
        let shown = ip(&["-n", &ns_name, "addr", "show", "dev", "eth0"]);
        assert!(!shown.contains("192.0.2.10") && !shown.contains("2001:db8::10"), "{shown}");

        // Link down and up.
        nl.set_link_up(idx, false).expect("down");
        wait_event(&mut mon, "eth0 down", |ev| {
            matches!(ev, NetEvent::LinkChanged(l) if l.index == idx && !l.up)
        });
        assert!(!find_link(&mut nl, "eth0").unwrap().up);
        nl.set_link_up(idx, true).expect("up");
        wait_event(&mut mon, "eth0 up", |ev| {
            matches!(ev, NetEvent::LinkChanged(l) if l.index == idx && l.up)
        });
        assert_eq!(mon.malformed_count(), 0);
    });
}

#[test]
fn macvlan_create_and_delete() {
    let Some(ns) = Node::new("nlmvl") else { return };
    let ns_name = ns.name.clone();

    ns.run(|| {
        let mut nl = Netlink::open().expect("open netlink");
        let mut mon = Monitor::open().expect("open monitor");
        let parent = nl.link_by_name("eth0").expect("eth0").index;
        let idx = nl.create_macvlan(parent, "vrrp.51", VMAC).expect("create");
        let link = find_link(&mut nl, "vrrp.51").expect("macvlan in dump");
        assert_eq!(link.index, idx);
        assert_eq!(link.mac, VMAC);
        assert!(link.up, "flags {:#x}", link.flags);
        wait_event(&mut mon, "macvlan up", |ev| {
            matches!(ev, NetEvent::LinkChanged(l) if l.index == idx && l.up && l.mac == VMAC)
        });
        let shown = ip(&["-n", &ns_name, "-d", "link", "show", "vrrp.51"]);
        assert!(shown.contains("macvlan mode private"), "{shown}");
        assert!(shown.contains("00:00:5e:00:01:33"), "{shown}");
        assert!(shown.contains("vrrp.51@eth0"), "{shown}");

        let dup = nl.create_macvlan(parent, "vrrp.51", VMAC).unwrap_err();
        assert!(dup.is_exists(), "{dup}");

        nl.delete_link(idx).expect("delete");
        wait_event(&mut mon, "macvlan removed", |ev| {
            matches!(ev, NetEvent::LinkRemoved { index, name } if *index == idx && name.as_str() == "vrrp.51")
        });
        assert!(find_link(&mut nl, "vrrp.51").is_none());
        assert_eq!(
            nl.delete_link(idx).unwrap_err().nack_errno(),
            Some(libc::ENODEV)
        );
    });
}

#[test]
fn monitor_overrun_is_reported_and_recovers() {
    let Some(ns) = Node::new("nlovr") else { return };

    ns.run(|| {
        let mut nl = Netlink::open().expect("open netlink");
        let mut mon = Monitor::open().expect("open monitor");
        // Shrink the monitor's buffer far below what the burst needs.
        let tiny: libc::c_int = 1;
        // SAFETY: setsockopt with a live int of the right size.
        let rc = unsafe {
            libc::setsockopt(
                mon.fd().as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                &tiny as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0);
        let idx = nl.link_by_name("eth0").expect("eth0").index;
        for i in 1..=100u8 {
            nl.add_address(
                idx,
                IpAddr::V4(Ipv4Addr::new(198, 51, 100, i)),
                24,
                None,
                false,
            )
            .expect("add");
        }
        assert_eq!(mon.drain(|_| {}), Err(NetlinkError::Overrun));
        // After the overrun the socket works again.
        nl.del_address(idx, IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)), 24)
            .expect("del");
        let mut events = 0;
        let deadline = Instant::now() + Duration::from_secs(2);
        while events == 0 && Instant::now() < deadline {
            poll_readable(mon.fd(), Duration::from_millis(100));
            mon.drain(|_| events += 1).expect("drain after overrun");
        }
        assert!(events > 0);
    });
}

/// Two nodes of the project's netns lab: a sender "a" (node 1) and an observer "b" (node 2).
struct Lab {
    a: String,
    b: String,
    _lab: lab::Lab,
}

impl Lab {
    fn new(tag: &str) -> Option<Lab> {
        let lab = lab::Lab::new(tag, 2)?;
        Some(Lab {
            a: lab.node(1).name.clone(),
            b: lab.node(2).name.clone(),
            _lab: lab,
        })
    }

    fn b_ip(&self, args: &[&str]) -> String {
        let mut full = vec!["-n", self.b.as_str()];
        full.extend_from_slice(args);
        ip(&full)
    }

    /// b's neighbour entry for `addr`, as `ip neigh` prints it.
    fn b_neigh(&self, addr: &str) -> String {
        self.b_ip(&["neigh", "show", "to", addr, "dev", "eth0"])
    }

    fn wait_b_neigh(&self, addr: &str, want: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let shown = self.b_neigh(addr);
            if shown.contains(want) || Instant::now() > deadline {
                return shown;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Sends `build(mac)` from a's eth0 and returns a's MAC.
fn send_from_a(lab: &Lab, frame: fn([u8; 6]) -> Vec<u8>) -> [u8; 6] {
    lab::in_netns(&lab.a, || {
        let mut nl = Netlink::open().expect("open netlink");
        let eth0 = nl.link_by_name("eth0").expect("eth0");
        let sender = FrameSender::open().expect("open packet socket");
        sender.send(eth0.index, &frame(eth0.mac)).expect("send");
        eth0.mac
    })
}

fn garp(mac: [u8; 6]) -> Vec<u8> {
    let mut f = [0u8; arp::GARP_FRAME_LEN];
    arp::build_garp(&mut f, mac, Ipv4Addr::new(192, 0, 2, 200));
    f.to_vec()
}

fn una(mac: [u8; 6]) -> Vec<u8> {
    let mut f = [0u8; arp::UNA_FRAME_LEN];
    let ip: Ipv6Addr = "2001:db8::200".parse().unwrap();
    arp::build_unsolicited_na(&mut f, mac, ip, false);
    f.to_vec()
}

/// Plants a stale entry for `addr` on b pointing at an "old master", sends `frame` from a and
/// checks b's entry moved to a's MAC. Linux updates an existing entry from a gratuitous ARP or
/// an unsolicited NA with the override flag (arp_accept=0 only refuses to create one).
fn entry_moves_to_sender(tag: &str, addr: &str, frame: fn([u8; 6]) -> Vec<u8>) {
    let Some(lab) = Lab::new(tag) else { return };
    lab.b_ip(&[
        "neigh",
        "replace",
        addr,
        "lladdr",
        "02:00:00:00:00:aa",
        "dev",
        "eth0",
        "nud",
        "stale",
    ]);
    let want = lab::fmt_mac(&send_from_a(&lab, frame));
    let shown = lab.wait_b_neigh(addr, &want);
    assert!(
        shown.contains(&want),
        "b's entry did not move to {want}: {shown}"
    );
}

#[test]
fn garp_moves_existing_neighbour_entry() {
    entry_moves_to_sender("nlgarp", "192.0.2.200", garp);
}

#[test]
fn unsolicited_na_overrides_existing_neighbour_entry() {
    entry_moves_to_sender("nluna", "2001:db8::200", una);
}

#[test]
fn garp_creates_entry_with_arp_accept() {
    let Some(lab) = Lab::new("nlgacc") else {
        return;
    };
    ip(&[
        "netns",
        "exec",
        &lab.b,
        "sysctl",
        "-qw",
        "net.ipv4.conf.eth0.arp_accept=1",
    ]);
    assert_eq!(lab.b_neigh("192.0.2.200").trim(), "");
    let mac = send_from_a(&lab, garp);
    let want = lab::fmt_mac(&mac);
    let shown = lab.wait_b_neigh("192.0.2.200", &want);
    assert!(
        shown.contains(&want),
        "no entry for 192.0.2.200 at {want}: {shown}"
    );
}
