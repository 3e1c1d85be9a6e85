//! Mixed clusters: keepalived (Debian's package) on node 1, tinyvrrp on node 2, in VRRPv2 and
//! VRRPv3, multicast and unicast. Each test walks one scenario through every handover:
//!
//! 1. keepalived 150 / tinyvrrp 100: keepalived is the one master.
//! 2. keepalived stops gracefully (priority 0) -> tinyvrrp takes over in about Skew_Time.
//! 3. keepalived comes back at priority 50: tinyvrrp stays the one master.
//! 4. tinyvrrp stops gracefully -> keepalived takes over.
//! 5. tinyvrrp comes back at 100: it preempts keepalived (50).
//! 6. tinyvrrp crashes (SIGKILL) -> keepalived takes over after Master_Down_Interval.
//! 7. tinyvrrp comes back at 40: keepalived stays the one master.
//! 8. keepalived crashes -> tinyvrrp takes over after Master_Down_Interval.
//!
//! After every step the cluster must settle with exactly one node holding the VIP (a crashed
//! process leaves its VIP on its interface, so a crashed node is left out of that count) and
//! stay so for two advert intervals. `keepalived_v2_auth_pass` checks VRRPv2 PASS
//! authentication both ways in a shorter scenario. Without root the tests skip; as root, a missing keepalived
//! is a failure (tests/run.sh installs it), never a skip.
//!
//! keepalived facts these tests rely on (checked against keepalived 2.2.7 and its source):
//! - A keepalived backup that outranks the master waits for its down timer (it does not
//!   preempt after Skew_Time as tinyvrrp does), so step 1 and the preemption by keepalived
//!   take up to Master_Down_Interval.
//! - In unicast mode keepalived checks neither the TTL of received adverts (`unicast_ttl` only
//!   sets the TTL it sends) nor, unless `vrrp_check_unicast_src` is set, that the source is a
//!   configured peer.
//! - VRRPv3 over IPv4: keepalived computes the checksum with the pseudo-header whose
//!   destination is the packet's real destination (the unicast peer in unicast mode).

use crate::lab;

use lab::{wait_until, DaemonHandle, Lab, Node};
use std::thread;
use std::time::{Duration, Instant};

const VIP: &str = "192.0.2.1";
const VRID: u8 = 51;
const POLL: Duration = Duration::from_millis(20);
/// advert_int, seconds (whole: VRRPv2 allows nothing else).
const ADVERT_INT: f64 = 1.0;

#[derive(Clone, Copy)]
struct Mode {
    version: u8,
    unicast: bool,
}

fn master_down(priority: u8) -> f64 {
    3.0 * ADVERT_INT + (256.0 - f64::from(priority)) / 256.0 * ADVERT_INT
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn keepalived_conf(mode: Mode, priority: u8, me: &Node, peer: &Node) -> String {
    let unicast = if mode.unicast {
        format!(
            "    unicast_src_ip {}\n    unicast_peer {{\n        {}\n    }}\n",
            me.ipv4, peer.ipv4
        )
    } else {
        String::new()
    };
    format!(
        "global_defs {{\n    router_id ka{}\n}}\n\
         vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    \
         virtual_router_id {VRID}\n    priority {priority}\n    advert_int {ADVERT_INT}\n    \
         version {}\n{unicast}    virtual_ipaddress {{\n        {VIP}/24\n    }}\n}}\n",
        me.index, mode.version
    )
}

fn tinyvrrp_conf(mode: Mode, priority: u8, me: &Node, peer: &Node) -> String {
    let unicast = if mode.unicast {
        format!(
            "unicast_src_ip = {}\nunicast_peer = {}\n",
            me.ipv4, peer.ipv4
        )
    } else {
        String::new()
    };
    format!(
        "[vrrp_instance VI_1]\ninterface = eth0\nstate = BACKUP\nvirtual_router_id = {VRID}\n\
         priority = {priority}\nadvert_int = {ADVERT_INT}\nversion = {}\n{unicast}\
         virtual_ipaddress = {VIP}/24\n",
        mode.version
    )
}

/// Who should hold the VIP, and which nodes count (a crashed node's leftover VIP does not).
struct Cluster<'a> {
    tag: &'a str,
    lab: &'a Lab,
}

impl Cluster<'_> {
    fn ka(&self) -> &Node {
        self.lab.node(1)
    }
    fn tv(&self) -> &Node {
        self.lab.node(2)
    }

    /// Waits until `master` (1 = keepalived, 2 = tinyvrrp) alone among the live nodes holds
    /// the VIP and the client's neighbour entry points to it, then checks it stays so for two
    /// advert intervals. Returns when it had settled. With a crashed node (`live` leaves it
    /// out) the client's entry is not flushed: the dead node's kernel still answers ARP for
    /// the VIP it kept, so only the new master's gratuitous ARP can move the entry.
    fn settle(&self, step: &str, master: usize, live: &[usize], timeout: Duration) -> Instant {
        let flush = live.len() == self.lab.nodes.len();
        let holders = || -> Vec<usize> {
            live.iter()
                .copied()
                .filter(|&i| self.lab.node(i).has_addr(VIP))
                .collect()
        };
        let mac = self.lab.node(master).mac();
        let took = wait_until(timeout, POLL, || {
            holders() == [master] && {
                if flush {
                    self.lab.client.neigh_flush(VIP);
                    self.lab.client.ping(VIP, Duration::from_secs(1));
                }
                self.lab.client.neigh_mac(VIP) == Some(mac)
            }
        })
        .unwrap_or_else(|| {
            panic!(
                "{}: {step}: node {master} never became the only master within {timeout:?}: \
                 VIP on {:?}",
                self.tag,
                holders()
            )
        });
        let settled = Instant::now();
        let end = settled + secs(2.0 * ADVERT_INT);
        while Instant::now() < end {
            assert_eq!(
                holders(),
                [master],
                "{}: {step}: the VIP moved after settling",
                self.tag
            );
            thread::sleep(Duration::from_millis(100));
        }
        eprintln!(
            "{}: {step}: settled in {:.3} s",
            self.tag,
            took.as_secs_f64()
        );
        settled
    }
}

fn tv_state(d: &DaemonHandle) -> String {
    d.state("VI_1").unwrap_or_default()
}

fn scenario(tag: &str, mode: Mode) {
    let Some(lab) = Lab::new(tag, 2) else {
        return;
    };
    if mode.unicast {
        lab.block_multicast();
    }
    let c = Cluster { tag, lab: &lab };
    let (ka_node, tv_node) = (c.ka(), c.tv());
    let ka_conf = |p| keepalived_conf(mode, p, ka_node, tv_node);
    let tv_conf = |p| tinyvrrp_conf(mode, p, tv_node, ka_node);

    // 1. keepalived outranks tinyvrrp.
    let ka = ka_node.spawn_keepalived(&ka_conf(150));
    let tv = tv_node.spawn_daemon(&tv_conf(100));
    c.settle(
        "1 keepalived 150 master",
        1,
        &[1, 2],
        secs(master_down(150) + 6.0),
    );
    ka.assert_running(tag);
    tv.assert_running(tag);
    assert_eq!(tv_state(&tv), "BACKUP", "{tag}: tinyvrrp state");

    // 2. keepalived stops gracefully: its priority-0 advert hands over in Skew_Time.
    let t0 = Instant::now();
    let exit = ka.terminate(secs(5.0));
    assert!(exit.is_some(), "{tag}: keepalived did not exit on SIGTERM");
    let at = c.settle(
        "2 keepalived SIGTERM",
        2,
        &[1, 2],
        secs(master_down(100) + 3.0),
    );
    let total = (at - t0).as_secs_f64();
    eprintln!("{tag}: keepalived SIGTERM -> tinyvrrp master: {total:.3} s");
    assert!(
        total < master_down(100) - ADVERT_INT,
        "{tag}: tinyvrrp waited for its down timer ({total:.3} s): the priority-0 advert was \
         not honoured"
    );
    assert_eq!(tv_state(&tv), "MASTER");
    drop(ka);

    // 3. keepalived back at a lower priority: tinyvrrp stays master.
    let ka = ka_node.spawn_keepalived(&ka_conf(50));
    thread::sleep(secs(master_down(50) + 0.5));
    c.settle("3 keepalived 50 joins", 2, &[1, 2], secs(2.0));
    ka.assert_running(tag);

    // 4. tinyvrrp stops gracefully: keepalived takes over.
    let t0 = Instant::now();
    tv.stop();
    let at = c.settle(
        "4 tinyvrrp SIGTERM",
        1,
        &[1, 2],
        secs(master_down(50) + 3.0),
    );
    eprintln!(
        "{tag}: tinyvrrp SIGTERM -> keepalived master: {:.3} s",
        (at - t0).as_secs_f64()
    );
    drop(tv);

    // 5. tinyvrrp back at 100: it preempts keepalived (50).
    let tv = tv_node.spawn_daemon(&tv_conf(100));
    c.settle(
        "5 tinyvrrp 100 preempts",
        2,
        &[1, 2],
        secs(master_down(100) + 3.0),
    );

    // 6. tinyvrrp crashes: keepalived takes over after its down timer.
    let t0 = Instant::now();
    assert!(tv.kill(libc::SIGKILL));
    let at = c.settle("6 tinyvrrp SIGKILL", 1, &[1], secs(master_down(50) + 3.0));
    eprintln!(
        "{tag}: tinyvrrp SIGKILL -> keepalived master: {:.3} s (Master_Down_Interval {:.3} s)",
        (at - t0).as_secs_f64(),
        master_down(50)
    );
    drop(tv);
    // The crashed daemon's VIP stays on its interface; a restarted one removes it.

    // 7. tinyvrrp back at 40: keepalived stays master, and the leftover VIP is gone.
    let tv = tv_node.spawn_daemon(&tv_conf(40));
    thread::sleep(secs(master_down(40) + 0.5));
    c.settle("7 tinyvrrp 40 joins", 1, &[1, 2], secs(2.0));
    assert_eq!(tv_state(&tv), "BACKUP");

    // 8. keepalived crashes: tinyvrrp takes over.
    let t0 = Instant::now();
    ka.crash();
    let at = c.settle("8 keepalived SIGKILL", 2, &[2], secs(master_down(40) + 3.0));
    eprintln!(
        "{tag}: keepalived SIGKILL -> tinyvrrp master: {:.3} s (Master_Down_Interval {:.3} s)",
        (at - t0).as_secs_f64(),
        master_down(40)
    );
    let s = tv.parsed_status();
    assert_eq!(s.counter("VI_1", "discard_auth_mismatch"), 0, "{s:?}");
    assert_eq!(s.drop_count("bad_checksum"), 0, "{s:?}");
    assert_eq!(s.drop_count("unknown_peer"), 0, "{s:?}");
}

#[test]
fn keepalived_v2_multicast() {
    scenario(
        "ka_v2_mcast",
        Mode {
            version: 2,
            unicast: false,
        },
    );
}

#[test]
fn keepalived_v3_multicast() {
    scenario(
        "ka_v3_mcast",
        Mode {
            version: 3,
            unicast: false,
        },
    );
}

#[test]
fn keepalived_v2_unicast() {
    scenario(
        "ka_v2_ucast",
        Mode {
            version: 2,
            unicast: true,
        },
    );
}

#[test]
fn keepalived_v3_unicast() {
    scenario(
        "ka_v3_ucast",
        Mode {
            version: 3,
            unicast: true,
        },
    );
}

/// As root the interop tests need keepalived: say so loudly instead of passing by skipping.
#[test]
fn keepalived_is_installed_when_root() {
    if !lab::is_root() {
        eprintln!("keepalived_is_installed_when_root: skipped: not root");
        return;
    }
    assert!(
        lab::keepalived_path().is_some(),
        "keepalived is missing: install Debian's keepalived (tests/run.sh does)"
    );
}

/// VRRPv2 PASS authentication against keepalived: the same password elects one master and
/// hands over; nothing is discarded for a password mismatch.
#[test]
fn keepalived_v2_auth_pass() {
    let tag = "ka_v2_auth";
    let Some(lab) = Lab::new(tag, 2) else {
        return;
    };
    let c = Cluster { tag, lab: &lab };
    let mode = Mode {
        version: 2,
        unicast: false,
    };
    let auth_ka = "    authentication {\n        auth_type PASS\n        auth_pass s3cret\n    }\n";
    let ka_conf = keepalived_conf(mode, 150, c.ka(), c.tv()).replace(
        "    virtual_ipaddress",
        &format!("{auth_ka}    virtual_ipaddress"),
    );
    let tv_conf = tinyvrrp_conf(mode, 100, c.tv(), c.ka()).replace(
        "virtual_ipaddress",
        "auth_type = PASS\nauth_pass = s3cret\nvirtual_ipaddress",
    );
    let ka = c.ka().spawn_keepalived(&ka_conf);
    let tv = c.tv().spawn_daemon(&tv_conf);
    c.settle(
        "keepalived 150 master",
        1,
        &[1, 2],
        secs(master_down(150) + 6.0),
    );
    ka.assert_running(tag);
    assert_eq!(tv_state(&tv), "BACKUP");
    let s = tv.parsed_status();
    assert_eq!(s.counter("VI_1", "discard_auth_mismatch"), 0, "{s:?}");
    assert!(s.counter("VI_1", "rx_adverts") >= 2, "{s:?}");
    let t0 = Instant::now();
    assert!(ka.terminate(secs(5.0)).is_some());
    let at = c.settle("keepalived SIGTERM", 2, &[1, 2], secs(master_down(100)));
    eprintln!(
        "{tag}: keepalived SIGTERM -> tinyvrrp master: {:.3} s",
        (at - t0).as_secs_f64()
    );
}
