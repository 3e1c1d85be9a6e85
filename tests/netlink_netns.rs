//! Root tests of the netlink and frame-sender shells in throwaway network namespaces.
//! Each test body runs on its own thread that has joined the namespace with setns (network
//! namespaces are per thread), so every socket it opens lives there. Without root they print
//! why and return.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::process::Command;
use std::time::{Duration, Instant};

use tinyvrrp::arp::{self, FrameSender};
use tinyvrrp::netlink::{AddrInfo, LinkInfo, Monitor, NetEvent, Netlink, NetlinkError};

const VMAC: [u8; 6] = [0x00, 0x00, 0x5e, 0x00, 0x01, 0x33];
const IFA_F_NODAD: u32 = 0x02;

fn can_run() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping: needs root for network namespaces");
        return false;
    }
    true
}

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

/// A named network namespace, deleted on drop (also when the test panics).
struct Netns {
    name: String,
}

impl Netns {
    fn new(tag: &str) -> Netns {
        let name = format!("tvr-nl-{}-{tag}", std::process::id());
        ip(&["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    fn ip(&self, args: &[&str]) -> String {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        ip(&full)
    }

    fn sysctl(&self, key: &str, value: &str) {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name, "sysctl", "-qw"])
            .arg(format!("{key}={value}"))
            .output()
            .expect("run sysctl");
        assert!(out.status.success(), "sysctl {key}");
    }

    /// Runs `f` on a thread that has entered this namespace; a panic there fails the test.
    fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/var/run/netns/{}", self.name);
        let handle = std::thread::spawn(move || {
            let file = File::open(&path).expect("open netns");
            // SAFETY: setns on a namespace fd; affects only this thread.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            f()
        });
        match handle.join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
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
    if !can_run() {
        return;
    }
    let ns = Netns::new("addr");
    ns.ip(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "peer0",
    ]);
    ns.ip(&["link", "set", "peer0", "up"]);
    ns.ip(&["link", "set", "eth0", "up"]);
    let ns_name = ns.name.clone();

    ns.run(move || {
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
    if !can_run() {
        return;
    }
    let ns = Netns::new("mvl");
    ns.ip(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "peer0",
    ]);
    ns.ip(&["link", "set", "peer0", "up"]);
    ns.ip(&["link", "set", "eth0", "up"]);
    let ns_name = ns.name.clone();

    ns.run(move || {
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
    if !can_run() {
        return;
    }
    let ns = Netns::new("ovr");
    ns.ip(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "peer0",
    ]);
    ns.ip(&["link", "set", "eth0", "up"]);

    ns.run(move || {
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
                IpAddr::V4(Ipv4Addr::new(192, 0, 2, i)),
                24,
                None,
                false,
            )
            .expect("add");
        }
        assert_eq!(mon.drain(|_| {}), Err(NetlinkError::Overrun));
        // After the overrun the socket works again.
        nl.del_address(idx, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 24)
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

/// Three namespaces: a bridge, a sender "a" and an observer "b" on it.
struct Lab {
    a: Netns,
    b: Netns,
    _br: Netns,
}

impl Lab {
    fn new(tag: &str) -> Lab {
        let br = Netns::new(&format!("{tag}br"));
        let a = Netns::new(&format!("{tag}a"));
        let b = Netns::new(&format!("{tag}b"));
        br.ip(&[
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ]);
        br.ip(&["link", "set", "br0", "up"]);
        for (port, ns) in [("pa", &a), ("pb", &b)] {
            br.ip(&[
                "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", &ns.name,
            ]);
            br.ip(&["link", "set", port, "master", "br0", "up"]);
            ns.ip(&["link", "set", "eth0", "up"]);
        }
        a.ip(&["addr", "add", "192.0.2.1/24", "dev", "eth0"]);
        b.ip(&["addr", "add", "192.0.2.2/24", "dev", "eth0"]);
        b.ip(&["addr", "add", "2001:db8::2/64", "dev", "eth0", "nodad"]);
        Lab { a, b, _br: br }
    }

    /// b's neighbour entry for `addr`, as `ip neigh` prints it.
    fn b_neigh(&self, addr: &str) -> String {
        self.b.ip(&["neigh", "show", "to", addr, "dev", "eth0"])
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

fn fmt_mac(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Sends `build(mac)` from a's eth0 and returns a's MAC.
fn send_from_a(lab: &Lab, frame: fn([u8; 6]) -> Vec<u8>) -> [u8; 6] {
    lab.a.run(move || {
        let mut nl = Netlink::open().expect("open netlink");
        let eth0 = nl.link_by_name("eth0").expect("eth0");
        let sender = FrameSender::open().expect("open packet socket");
        sender.send(eth0.index, &frame(eth0.mac)).expect("send");
        eth0.mac
    })
}

fn garp(mac: [u8; 6]) -> Vec<u8> {
    let mut f = [0u8; arp::GARP_FRAME_LEN];
    arp::build_garp(&mut f, mac, Ipv4Addr::new(192, 0, 2, 100));
    f.to_vec()
}

fn una(mac: [u8; 6]) -> Vec<u8> {
    let mut f = [0u8; arp::UNA_FRAME_LEN];
    let ip: Ipv6Addr = "2001:db8::100".parse().unwrap();
    arp::build_unsolicited_na(&mut f, mac, ip, false);
    f.to_vec()
}

#[test]
fn garp_moves_existing_neighbour_entry() {
    if !can_run() {
        return;
    }
    let lab = Lab::new("garp");
    // Linux updates an existing entry from a gratuitous ARP (arp_accept=0 by default only
    // refuses to create one), so plant a stale entry pointing at the "old master".
    lab.b.ip(&[
        "neigh",
        "replace",
        "192.0.2.100",
        "lladdr",
        "02:00:00:00:00:aa",
        "dev",
        "eth0",
        "nud",
        "stale",
    ]);
    let mac = send_from_a(&lab, garp);
    let want = fmt_mac(mac);
    let shown = lab.wait_b_neigh("192.0.2.100", &want);
    assert!(
        shown.contains(&want),
        "b's entry did not move to {want}: {shown}"
    );
}

#[test]
fn garp_creates_entry_with_arp_accept() {
    if !can_run() {
        return;
    }
    let lab = Lab::new("gacc");
    lab.b.sysctl("net.ipv4.conf.eth0.arp_accept", "1");
    assert_eq!(lab.b_neigh("192.0.2.100").trim(), "");
    let mac = send_from_a(&lab, garp);
    let want = fmt_mac(mac);
    let shown = lab.wait_b_neigh("192.0.2.100", &want);
    assert!(
        shown.contains(&want),
        "no entry for 192.0.2.100 at {want}: {shown}"
    );
}

#[test]
fn unsolicited_na_overrides_existing_neighbour_entry() {
    if !can_run() {
        return;
    }
    let lab = Lab::new("una");
    lab.b.ip(&[
        "neigh",
        "replace",
        "2001:db8::100",
        "lladdr",
        "02:00:00:00:00:aa",
        "dev",
        "eth0",
        "nud",
        "stale",
    ]);
    let mac = send_from_a(&lab, una);
    let want = fmt_mac(mac);
    let shown = lab.wait_b_neigh("2001:db8::100", &want);
    assert!(
        shown.contains(&want),
        "b's entry did not move to {want}: {shown}"
    );
}
