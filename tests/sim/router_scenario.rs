//! Random router scenarios: 2–4 nodes with 1–4 VRIDs (a sync group of 2–4 of them, or none),
//! multicast or unicast, a tracked script and a tracked interface per node; a chaotic phase of
//! tracking flips and rolling reloads (priority, VIP list, advert_int, tracking; one node
//! before the others), then a calm phase, then a rolling reload that changes neither the
//! priority order nor any identity.
//!
//! Checked after every step (`router_world.rs`): a VIP is held exactly while its instance is
//! MASTER. Checked once settled: exactly one master per VRID, the highest-priority node; the
//! members of a sync group on one node in one state; no transition in the last stretch. After
//! the quiet reload: no transition at all.

use std::fmt::Write as _;
use std::time::Duration;

use tinyvrrp::instance::{State, Time};
use tinyvrrp::track::Health;

use crate::rng::Rng;
use crate::router_world::{node_ip, Ev, RWorld};

#[derive(Clone, Debug)]
pub struct Vrid {
    pub id: u8,
    /// Last octets of its VIPs in 203.0.113.0/24.
    pub vips: Vec<u8>,
    pub int_cs: u16,
}

/// The cluster's configuration; each node's file is `text(n)`.
#[derive(Clone, Debug)]
pub struct Spec {
    pub vrids: Vec<Vrid>,
    /// Indexes into `vrids` of the sync group's members (empty: no group).
    pub group: Vec<usize>,
    pub unicast: bool,
    /// Per node: the priority of all its instances.
    pub base: Vec<u8>,
    /// Per node: the weight of the tracked script `chk` (≤ 0), if tracked.
    pub script: Vec<Option<i32>>,
    /// Per node: the weight of the tracked `eth1` (≤ 0), if tracked.
    pub eth1: Vec<Option<i32>>,
}

impl Spec {
    pub fn text(&self, n: usize) -> String {
        let mut t = String::new();
        if let Some(w) = self.script[n] {
            let _ = write!(t, "[vrrp_script chk]\nscript = /bin/true\nweight = {w}\n");
        }
        for v in &self.vrids {
            let (id, cs) = (v.id, v.int_cs);
            let _ = write!(
                t,
                "[vrrp_instance VI_{id}]\ninterface = eth0\nvirtual_router_id = {id}\n\
                 version = 3\npriority = {}\nadvert_int = {}.{:02}\n",
                self.base[n],
                cs / 100,
                cs % 100
            );
            for x in &v.vips {
                let _ = writeln!(t, "virtual_ipaddress = 203.0.113.{x}/24");
            }
            if self.unicast {
                let _ = writeln!(t, "unicast_src_ip = {}", node_ip(n));
                for p in (0..self.base.len()).filter(|p| *p != n) {
                    let _ = writeln!(t, "unicast_peer = {}", node_ip(p));
                }
            }
            if self.script[n].is_some() {
                t.push_str("track_script = chk\n");
            }
            match self.eth1[n] {
                Some(0) => t.push_str("track_interface = eth1\n"),
                Some(w) => {
                    let _ = writeln!(t, "track_interface = eth1 weight {w}");
                }
                None => {}
            }
        }
        if !self.group.is_empty() {
            t.push_str("[vrrp_sync_group G]\n");
            for &g in &self.group {
                let _ = writeln!(t, "group = VI_{}", self.vrids[g].id);
            }
        }
        t
    }

    /// The nodes from the highest priority down (ties: the higher address first).
    fn expected_order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.base.len()).collect();
        order.sort_by_key(|&n| std::cmp::Reverse((self.base[n], n)));
        order
    }

    fn max_int(&self) -> Time {
        let cs = self.vrids.iter().map(|v| v.int_cs).max().unwrap_or(100);
        Duration::from_millis(u64::from(cs) * 10)
    }

    /// The node every VRID should elect once tracking is good: the highest priority (ties
    /// by the higher address, which is the higher node index).
    fn expected_master(&self) -> usize {
        let best = (0..self.base.len()).max_by_key(|&n| (self.base[n], n));
        best.unwrap_or(0)
    }
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// Distinct priorities in order-keeping gaps: room for a quiet change of ±5.
fn random_bases(rng: &mut Rng, nodes: usize) -> Vec<u8> {
    let mut ranks: Vec<u64> = (0..nodes as u64).collect();
    for i in (1..ranks.len()).rev() {
        ranks.swap(i, rng.below(i as u64 + 1) as usize);
    }
    ranks
        .iter()
        .map(|r| (30 + r * 50 + rng.range(0, 10)) as u8)
        .collect()
}

pub fn generate_spec(rng: &mut Rng) -> Spec {
    let nodes = rng.range(2, 4) as usize;
    let count = rng.range(1, 4) as usize;
    let vrids = (0..count)
        .map(|i| Vrid {
            id: 1 + i as u8,
            vips: vec![10 * (1 + i as u8)],
            int_cs: rng.pick(&[20, 50, 100]),
        })
        .collect();
    let group = if count >= 2 && rng.percent(70) {
        let members = rng.range(2, count as u64) as usize;
        (0..members).collect()
    } else {
        Vec::new()
    };
    Spec {
        vrids,
        group,
        unicast: rng.percent(40),
        base: random_bases(rng, nodes),
        script: (0..nodes)
            .map(|_| rng.percent(60).then(|| rng.pick(&[0, -10, -60, -120])))
            .collect(),
        eth1: (0..nodes)
            .map(|_| rng.percent(40).then(|| rng.pick(&[0, -30, -100])))
            .collect(),
    }
}

/// A change as a config tool makes it; `quiet` keeps the priority order (and identities).
pub fn mutate(rng: &mut Rng, spec: &Spec, quiet: bool) -> Spec {
    let mut s = spec.clone();
    let v = rng.below(s.vrids.len() as u64) as usize;
    let n = rng.below(s.base.len() as u64) as usize;
    match rng.below(if quiet { 4 } else { 5 }) {
        0 => {
            let vips = &mut s.vrids[v].vips;
            if vips.len() > 1 && rng.percent(50) {
                vips.remove(rng.below(vips.len() as u64) as usize);
            } else if vips.len() < 4 {
                let next = vips.iter().max().copied().unwrap_or(0) + 1;
                vips.push(next);
            }
        }
        1 => s.vrids[v].int_cs = rng.pick(&[20, 50, 100]),
        2 => {
            let moved = i32::from(s.base[n]) + rng.range(0, 10) as i32 - 5;
            s.base[n] = moved.clamp(1, 254) as u8;
            if quiet && s.expected_order() != spec.expected_order() {
                s.base[n] = spec.base[n];
            }
        }
        3 => {
            s.script[n] = match s.script[n] {
                Some(_) => None,
                None => Some(rng.pick(&[0, -10, -60])),
            }
        }
        _ => s.base = random_bases(rng, s.base.len()),
    }
    s
}

pub struct RScenario {
    pub spec: Spec,
    pub start: Vec<Time>,
    pub chaos: Vec<(Time, Ev)>,
    pub chaos_end: Time,
    /// The spec in force after the chaos (the last reload's), and the quiet reload's.
    pub calm: Spec,
    pub quiet: Spec,
    pub quiet_order: Vec<(usize, Time)>,
    pub net_seed: u64,
}

/// A rolling reload to `spec`: one node first, the others 0.2–1.5 s apart.
fn rolling(rng: &mut Rng, spec: &Spec, at: Time) -> Vec<(usize, Time)> {
    let mut order: Vec<usize> = (0..spec.base.len()).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut t = at;
    order
        .into_iter()
        .map(|n| {
            let this = t;
            t += ms(rng.range(200, 1_500));
            (n, this)
        })
        .collect()
}

impl RScenario {
    pub fn generate(seed: u64) -> Self {
        let mut rng = Rng::new(seed ^ 0x0005_eed0_f0c0_ffee);
        let spec = generate_spec(&mut rng);
        let nodes = spec.base.len();
        let start = (0..nodes).map(|_| ms(rng.range(0, 1_000))).collect();
        let chaos_end = ms(rng.range(3_000, 7_000));
        let mut chaos = Vec::new();
        let mut current = spec.clone();
        // A node takes the reloads in the order they were made, though they overlap.
        let mut last_reload = vec![Duration::ZERO; nodes];
        for _ in 0..rng.range(2, 8) {
            let at = ms(rng.range(1_000, chaos_end.as_millis() as u64));
            let n = rng.below(nodes as u64) as usize;
            match rng.below(3) {
                0 => chaos.push((at, Ev::Script(n, rng.pick(&[Health::Up, Health::Down])))),
                1 => chaos.push((at, Ev::Eth1(n, rng.percent(50)))),
                _ => {
                    let next = mutate(&mut rng, &current, false);
                    for (n, t) in rolling(&mut rng, &next, at) {
                        let t = t.max(last_reload[n] + ms(1));
                        last_reload[n] = t;
                        chaos.push((t, Ev::Reload(n, next.text(n))));
                    }
                    current = next;
                }
            }
        }
        chaos.sort_by_key(|c| c.0); // stable: same-time events keep their order
        let last = chaos.last().map_or(chaos_end, |c| c.0.max(chaos_end));
        let quiet = mutate(&mut rng, &current, true);
        let quiet_order = rolling(&mut rng, &quiet, ms(0));
        RScenario {
            spec,
            start,
            chaos,
            chaos_end: last,
            calm: current,
            quiet,
            quiet_order,
            net_seed: rng.next_u64(),
        }
    }

    pub fn describe(&self) -> String {
        let mut out = format!("{:?}\nstarts {:?}\n", self.spec, self.start);
        for (t, ev) in &self.chaos {
            let ev = match ev {
                Ev::Reload(n, _) => format!("Reload({n})"),
                other => format!("{other:?}"),
            };
            let _ = writeln!(out, "  {:?} {ev}", t);
        }
        let _ = writeln!(out, "calm {:?}\nquiet {:?}", self.calm, self.quiet);
        out
    }
}

/// What the runs reached, so a test can insist the generator keeps reaching it.
#[derive(Clone, Copy, Debug, Default)]
pub struct RCoverage {
    pub scenarios: u64,
    pub transitions: u64,
    pub faults: u64,
    pub groups: u64,
    pub unicast: u64,
    pub delivered: u64,
}

impl RCoverage {
    pub fn add(&mut self, o: &RCoverage) {
        self.scenarios += o.scenarios;
        self.transitions += o.transitions;
        self.faults += o.faults;
        self.groups += o.groups;
        self.unicast += o.unicast;
        self.delivered += o.delivered;
    }
}

/// Exactly one master per VRID, the expected node; a group's members agree on each node.
fn check_settled(w: &RWorld, spec: &Spec, what: &str) -> Result<(), String> {
    let want = spec.expected_master();
    for v in &spec.vrids {
        let name = format!("VI_{}", v.id);
        let masters: Vec<usize> = (0..w.nodes.len())
            .filter(|&n| {
                let slots = w.nodes[n].router.slots();
                let s = slots.iter().find(|s| s.cfg().name == name);
                s.is_some_and(|s| s.instance().state() == State::Master)
            })
            .collect();
        if masters != [want] {
            let states = w.states();
            return Err(format!(
                "{what}: {name} masters {masters:?}, want [{want}]; {states}"
            ));
        }
    }
    for (n, node) in w.nodes.iter().enumerate() {
        let members = node.router.slots().iter().filter(|s| s.group().is_some());
        let mut states = members.map(|s| s.instance().state());
        if let Some(first) = states.next() {
            if !states.all(|s| s == first) {
                return Err(format!("{what}: node {n}'s sync group members disagree"));
            }
        }
    }
    Ok(())
}

pub fn run(sc: &RScenario) -> Result<RCoverage, String> {
    let texts: Vec<String> = (0..sc.spec.base.len()).map(|n| sc.spec.text(n)).collect();
    let mut w = RWorld::new(&texts, sc.net_seed);
    for (n, &t) in sc.start.iter().enumerate() {
        w.schedule(t, Ev::Start(n));
    }
    for (t, ev) in &sc.chaos {
        w.schedule(*t, ev.clone());
    }
    w.run_until(sc.chaos_end)?;
    // Calm: every tracked thing good again.
    for n in 0..sc.calm.base.len() {
        w.schedule(w.now, Ev::Script(n, Health::Up));
        w.schedule(w.now, Ev::Eth1(n, true));
    }
    let settle = ms(3_000) + sc.calm.max_int().max(sc.quiet.max_int()) * 4;
    // The flap hold-down (issue 13) holds back a preemption after FAULT -> BACKUP for up
    // to 8 Master_Down_Intervals: the calm phase lasts until every hold-down has passed.
    w.run_until(sc.chaos_end + ms(1))?;
    let hold_down = (w.nodes.iter())
        .flat_map(|n| n.router.slots())
        .map(|s| s.instance().preempt_allowed_at().saturating_sub(w.now))
        .max()
        .unwrap_or_default();
    w.run_until(sc.chaos_end + hold_down + settle)?;
    check_settled(&w, &sc.calm, "after the calm phase")?;
    let stable_from = w.now;
    w.run_until(stable_from + ms(1_500))?;
    if let Some(t) = w.transitions.iter().find(|t| t.0 > stable_from) {
        return Err(format!("not stable after the calm phase: {t:?}"));
    }
    // A rolling reload that keeps the priority order: no transition at all.
    let t0 = w.now;
    for &(n, t) in &sc.quiet_order {
        w.schedule(t0 + t, Ev::Reload(n, sc.quiet.text(n)));
    }
    let end = t0 + ms(6_000) + settle;
    w.run_until(end)?;
    if let Some(t) = w.transitions.iter().find(|t| t.0 > t0) {
        return Err(format!("the quiet reload made a transition: {t:?}"));
    }
    check_settled(&w, &sc.quiet, "after the quiet reload")?;
    let faults = w.transitions.iter().filter(|t| t.3 == State::Fault).count();
    Ok(RCoverage {
        scenarios: 1,
        transitions: w.transitions.len() as u64,
        faults: faults as u64,
        groups: u64::from(!sc.spec.group.is_empty()),
        unicast: u64::from(sc.spec.unicast),
        delivered: w.delivered,
    })
}
