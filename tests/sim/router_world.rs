//! The router simulation's world: nodes each running a whole `tinyvrrp::router::Router`
//! (several instances, sync groups, tracking, reloads) on a virtual clock; adverts are real
//! encoded packets delivered to the other nodes (multicast) or to the unicast peers, after a
//! small random delay, and go through the router's packet checks.
//!
//! Checked after every step: a node holds a VIP exactly while the instance that has it is
//! MASTER (from the address actions the router asks for).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use tinyvrrp::config::parse_str;
use tinyvrrp::instance::{State, Time};
use tinyvrrp::netlink::{AddrInfo, IfName, LinkInfo, NetEvent};
use tinyvrrp::packet::{self, Family};
use tinyvrrp::router::{Action, Datagram, Op, Router, TrackResult};
use tinyvrrp::track::Health;

use crate::rng::Rng;

pub const ETH0: u32 = 2;
pub const ETH1: u32 = 3;
const GROUP: IpAddr = IpAddr::V4(packet::VRRP_GROUP_V4);

pub fn node_ip(n: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10 + n as u8))
}

/// Something that happens to one node at a time.
#[derive(Clone, Debug)]
pub enum Ev {
    Start(usize),
    Script(usize, Health),
    Eth1(usize, bool),
    /// The node reloads this config text.
    Reload(usize, String),
    /// An advert arrives.
    Deliver {
        to: usize,
        src: IpAddr,
        dst: IpAddr,
        payload: Vec<u8>,
    },
}

pub struct SimNode {
    pub router: Router,
    pub running: bool,
    /// The addresses the router asked to be on the machine.
    pub held: Vec<IpAddr>,
}

/// A state change seen in the actions: (time, node, instance name, to).
pub type Seen = (Time, usize, String, State);

pub struct RWorld {
    pub now: Time,
    pub nodes: Vec<SimNode>,
    queue: BinaryHeap<Reverse<(Time, u64, usize)>>,
    events: Vec<Option<Ev>>,
    seq: u64,
    rng: Rng,
    pub transitions: Vec<Seen>,
    pub delivered: u64,
}

fn link(index: u32, name: &str, up: bool) -> NetEvent {
    NetEvent::LinkChanged(LinkInfo {
        index,
        name: IfName::new(name).unwrap_or_else(|e| panic!("{e}")),
        mac: [2, 0, 0, 0, 0, index as u8],
        up,
        flags: 0,
    })
}

pub fn config(text: &str) -> tinyvrrp::config::Config {
    parse_str(text, "sim.conf")
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
        .config
}

impl RWorld {
    pub fn new(texts: &[String], net_seed: u64) -> Self {
        let nodes = texts
            .iter()
            .enumerate()
            .map(|(n, text)| {
                let mut router = Router::new(config(text));
                let own = NetEvent::AddrAdded(AddrInfo {
                    index: ETH0,
                    addr: node_ip(n),
                    prefix_len: 24,
                    scope: 0,
                    flags: 0,
                    label: None,
                });
                let events = [link(ETH0, "eth0", true), link(ETH1, "eth1", true), own];
                router.handle_net_events(Duration::ZERO, &events);
                SimNode {
                    router,
                    running: false,
                    held: Vec::new(),
                }
            })
            .collect();
        RWorld {
            now: Duration::ZERO,
            nodes,
            queue: BinaryHeap::new(),
            events: Vec::new(),
            seq: 0,
            rng: Rng::new(net_seed),
            transitions: Vec::new(),
            delivered: 0,
        }
    }

    pub fn schedule(&mut self, at: Time, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq, self.events.len())));
        self.events.push(Some(ev));
    }

    /// Runs everything due up to `until`; checks the per-step invariant after each step.
    pub fn run_until(&mut self, until: Time) -> Result<(), String> {
        loop {
            let next_ev = self.queue.peek().map(|r| r.0 .0);
            let next_timer = self
                .nodes
                .iter()
                .filter(|n| n.running)
                .filter_map(|n| n.router.next_deadline())
                .min();
            let Some(t) = next_ev.into_iter().chain(next_timer).min() else {
                self.now = until;
                return Ok(());
            };
            if t > until {
                self.now = until;
                return Ok(());
            }
            self.now = self.now.max(t);
            if next_ev == Some(t) {
                let Reverse((_, _, i)) = self.queue.pop().expect("peeked");
                let ev = self.events[i].take().expect("each event runs once");
                self.apply(ev);
            } else {
                for n in 0..self.nodes.len() {
                    let due = self.nodes[n].router.next_deadline();
                    if self.nodes[n].running && due.is_some_and(|d| d <= self.now) {
                        self.nodes[n].router.handle_timeout(self.now);
                        self.drain(n);
                    }
                }
            }
            self.check_vips()?;
        }
    }

    fn apply(&mut self, ev: Ev) {
        let now = self.now;
        let n = match ev {
            Ev::Start(n) => {
                self.nodes[n].running = true;
                self.nodes[n].router.start(now);
                n
            }
            Ev::Script(n, h) => {
                let r = &mut self.nodes[n].router;
                r.handle_track(now, [TrackResult::Script("chk", h)]);
                n
            }
            Ev::Eth1(n, up) => {
                let r = &mut self.nodes[n].router;
                r.handle_net_events(now, &[link(ETH1, "eth1", up)]);
                n
            }
            Ev::Reload(n, text) => {
                self.nodes[n].router.reload(now, config(&text));
                n
            }
            Ev::Deliver {
                to,
                src,
                dst,
                payload,
            } => {
                if !self.nodes[to].running {
                    return;
                }
                self.delivered += 1;
                let d = Datagram {
                    ifindex: ETH0,
                    src,
                    dst,
                    ttl: 255,
                    payload: &payload,
                    truncated: false,
                };
                self.nodes[to].router.handle_datagram(now, Family::V4, &d);
                to
            }
        };
        self.drain(n);
    }

    /// Carries out node `n`'s actions: adverts onto the network, VIPs into `held`.
    fn drain(&mut self, n: usize) {
        while let Some(action) = self.nodes[n].router.poll_action() {
            let Action::Instance { slot, link, op } = action else {
                continue;
            };
            let node = &mut self.nodes[n];
            let Some(s) = node.router.slot(slot) else {
                panic!("action for an unknown slot: {op:?}");
            };
            let vips: Vec<IpAddr> = s.cfg().vips.iter().map(|v| v.addr).collect();
            match op {
                Op::SendAdvert { priority } => {
                    let Some(u) = link else { continue };
                    let fields = s.advert_fields(priority);
                    let form = s.checksum_form();
                    let dsts: Vec<IpAddr> = if s.is_unicast() {
                        s.cfg().unicast_peers.clone()
                    } else {
                        vec![GROUP]
                    };
                    let addrs = s.vip_addrs().to_vec();
                    for dst in dsts {
                        let mut buf = [0u8; 512];
                        let len = packet::emit(&fields, &addrs, u.source, dst, form, &mut buf)
                            .unwrap_or_else(|e| panic!("emit: {e}"));
                        self.send(n, u.source, dst, buf[..len].to_vec());
                    }
                }
                Op::AddVips => node.held.extend(vips),
                Op::RemoveVips => node.held.retain(|a| !vips.contains(a)),
                Op::AddVip(v) => node.held.push(v.addr),
                Op::RemoveVip(v) => node.held.retain(|a| *a != v.addr),
                Op::Transition { to, .. } => {
                    let name = s.cfg().name.clone();
                    self.transitions.push((self.now, n, name, to));
                }
                _ => {}
            }
        }
    }

    fn send(&mut self, from: usize, src: IpAddr, dst: IpAddr, payload: Vec<u8>) {
        for to in 0..self.nodes.len() {
            if to == from || (dst != GROUP && dst != node_ip(to)) {
                continue;
            }
            let delay = Duration::from_micros(self.rng.range(100, 3_000));
            let ev = Ev::Deliver {
                to,
                src,
                dst,
                payload: payload.clone(),
            };
            self.schedule(self.now + delay, ev);
        }
    }

    /// Every instance's state and effective priority, for reports.
    pub fn states(&self) -> String {
        let mut out = String::new();
        for (n, node) in self.nodes.iter().enumerate() {
            for s in node.router.slots() {
                let i = s.instance();
                let p = i.effective_priority();
                let m = i.master();
                out += &format!("n{n} {} {} p{p} master {m:?}; ", s.cfg().name, i.state());
            }
        }
        out
    }

    /// A node holds a VIP exactly while the instance that has it is MASTER.
    pub fn check_vips(&self) -> Result<(), String> {
        for (n, node) in self.nodes.iter().enumerate() {
            let slots = node.router.slots();
            for a in &node.held {
                let owner = slots.iter().find(|s| s.vip_addrs().contains(a));
                match owner.map(|s| s.instance().state()) {
                    Some(State::Master) => {}
                    other => {
                        return Err(format!(
                            "node {n} holds {a} while its instance is {other:?}"
                        ))
                    }
                }
                if node.held.iter().filter(|b| *b == a).count() > 1 {
                    return Err(format!("node {n} added {a} twice"));
                }
            }
            for s in slots
                .iter()
                .filter(|s| s.instance().state() == State::Master)
            {
                if let Some(a) = s.vip_addrs().iter().find(|a| !node.held.contains(a)) {
                    let name = &s.cfg().name;
                    return Err(format!("node {n}: {name} is MASTER without {a}"));
                }
            }
        }
        Ok(())
    }
}
