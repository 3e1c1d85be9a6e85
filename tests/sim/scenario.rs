//! Random scenarios: a seed gives a topology, a chaotic phase of faults and a stable phase in
//! which the RFC's election outcome is checked at every step.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use tinyvrrp::instance::{GarpSchedule, Params, Reason, State, Time};
use tinyvrrp::packet::Version;

use crate::rng::Rng;
use crate::world::{max_master_down_interval, secs, Fault, NodeCfg, Violation, World};

/// Delivery delay of an advert: 0–5 ms.
pub const MAX_DELAY_US: u64 = 5_000;

pub struct Scenario {
    pub cfg: Vec<NodeCfg>,
    pub faults: Vec<(Time, Fault)>,
    pub chaos_end: Time,
    /// Applied at `chaos_end`, after the partitions heal and the loss drops to zero.
    pub recover: Vec<Fault>,
    pub net_seed: u64,
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn node_ip(v6: bool, host: u8) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(host)))
    } else {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, host))
    }
}

fn random_priority(rng: &mut Rng, shared: &[u8]) -> u8 {
    match rng.below(10) {
        0 => 255,
        1..=3 => rng.pick(shared),
        _ => rng.range(1, 254) as u8,
    }
}

fn random_garp(rng: &mut Rng) -> GarpSchedule {
    if rng.percent(50) {
        return GarpSchedule::default();
    }
    GarpSchedule {
        repeat: rng.range(0, 5) as u32,
        delay: ms(rng.pick(&[0, 0, 300, 5_000])),
        refresh: ms(rng.pick(&[0, 0, 700, 10_000])),
        refresh_repeat: rng.range(0, 3) as u32,
    }
}

impl Scenario {
    pub fn generate(seed: u64) -> Scenario {
        let mut rng = Rng::new(seed);
        let n = rng.range(2, 5) as usize;
        let slots = rng.range(1, 2) as usize;
        let v6 = rng.percent(25);
        let mut hosts: Vec<u8> = Vec::new();
        while hosts.len() < n {
            let h = rng.range(1, 254) as u8;
            if !hosts.contains(&h) {
                hosts.push(h);
            }
        }
        let mut cfg: Vec<NodeCfg> = hosts
            .iter()
            .map(|&h| NodeCfg {
                ip: node_ip(v6, h),
                slots: vec![None; slots],
            })
            .collect();
        let shared = [rng.range(1, 254) as u8, rng.range(1, 254) as u8];
        for slot in 0..slots {
            let vrid = (slot as u8) * 100 + rng.range(1, 99) as u8;
            let version = if rng.percent(40) {
                Version::V2
            } else {
                Version::V3
            };
            let auth = (version == Version::V2 && rng.percent(50)).then(|| {
                let mut a = [0u8; 8];
                for b in a.iter_mut() {
                    *b = rng.range(b'a'.into(), b'z'.into()) as u8;
                }
                a
            });
            let base_int = match version {
                Version::V2 => rng.pick(&[100, 100, 200]),
                Version::V3 => {
                    let any = rng.range(10, 200) as u16;
                    rng.pick(&[10, 25, 50, 100, 100, 200, any])
                }
            };
            let mixed = version == Version::V3 && rng.percent(30);
            // Every node is in slot 0; in slot 1 at least two are.
            let members: Vec<usize> = loop {
                let m: Vec<usize> = (0..n).filter(|_| slot == 0 || rng.percent(70)).collect();
                if m.len() >= 2 {
                    break m;
                }
            };
            for &node in &members {
                let advert_int_cs = if mixed {
                    rng.range(10, 200) as u16
                } else {
                    base_int
                };
                let preempt_delay = if rng.percent(30) {
                    ms(rng.range(0, 4 * u64::from(advert_int_cs) * 10))
                } else {
                    Duration::ZERO
                };
                cfg[node].slots[slot] = Some(Params {
                    vrid,
                    version,
                    priority: random_priority(&mut rng, &shared),
                    advert_int_cs,
                    preempt: rng.percent(70),
                    preempt_delay,
                    primary_ip: cfg[node].ip,
                    auth,
                    garp: random_garp(&mut rng),
                });
            }
        }

        let mut faults = Vec::new();
        let simultaneous = rng.percent(20);
        for node in 0..n {
            let at = if simultaneous {
                Duration::ZERO
            } else {
                ms(rng.range(0, 1_000))
            };
            faults.push((at, Fault::Start(node)));
        }
        let lossy = rng.percent(70);
        let loss = |rng: &mut Rng| -> Vec<u32> {
            (0..n * n)
                .map(|_| {
                    if lossy {
                        rng.range(0, 300_000) as u32
                    } else {
                        0
                    }
                })
                .collect()
        };
        faults.push((Duration::ZERO, Fault::Loss(loss(&mut rng))));
        let chaos_end = ms(rng.range(1_000, 6_000));
        let mean_gap = rng.pick(&[50, 200, 600]);
        let mut t = Duration::ZERO;
        loop {
            t += ms(rng.range(1, 2 * mean_gap));
            if t >= chaos_end {
                break;
            }
            let node = rng.below(n as u64) as usize;
            let fault = match rng.below(100) {
                0..=9 => Fault::Crash(node),
                10..=17 => Fault::Shutdown(node),
                18..=37 => Fault::Start(node),
                38..=45 => Fault::LinkDown(node),
                46..=55 => Fault::LinkUp(node),
                56..=72 => {
                    let slot = rng.below(slots as u64) as usize;
                    let configured = cfg[node].slots[slot].as_ref().map_or(100, |p| p.priority);
                    let priority = if rng.percent(30) {
                        configured
                    } else {
                        random_priority(&mut rng, &shared)
                    };
                    Fault::Priority {
                        node,
                        slot,
                        priority,
                    }
                }
                73..=84 => Fault::Partition((0..n).map(|_| rng.below(3) as u8).collect()),
                85..=94 => Fault::Heal,
                _ => Fault::Loss(loss(&mut rng)),
            };
            faults.push((t, fault));
        }
        let mut recover = vec![Fault::Heal, Fault::Loss(vec![0; n * n])];
        for node in 0..n {
            if rng.percent(75) {
                recover.push(Fault::LinkUp(node));
            }
            if rng.percent(75) {
                recover.push(Fault::Start(node));
            }
        }
        Scenario {
            cfg,
            faults,
            chaos_end,
            recover,
            net_seed: rng.next_u64(),
        }
    }

    pub fn describe(&self) -> String {
        let mut s = String::new();
        for (i, c) in self.cfg.iter().enumerate() {
            let _ = write!(s, "  node {i} {}:", c.ip);
            for (slot, p) in c.slots.iter().enumerate() {
                if let Some(p) = p {
                    let _ = write!(
                        s,
                        " [slot {slot} vrid {} {:?} prio {} int {}cs {} delay {:?} auth {}]",
                        p.vrid,
                        p.version,
                        p.priority,
                        p.advert_int_cs,
                        if p.preempt { "preempt" } else { "nopreempt" },
                        p.preempt_delay,
                        p.auth.is_some()
                    );
                }
            }
            s.push('\n');
        }
        let _ = writeln!(
            s,
            "  {} faults, chaos until {}, recover {:?}",
            self.faults.len(),
            secs(self.chaos_end),
            self.recover
        );
        s
    }
}

/// Which masters the RFC allows for one VRID once the network is stable, from the state at
/// the moment it became so.
///
/// Participants P: live instances in Backup or Master (Init/Fault ones stay there, no more
/// faults come). Once stable, a master only steps down for an advert with a higher
/// (priority, address), so the best master at that moment, M*, is never replaced by anything
/// lower. A backup that preempts (preempt on, preempt_delay over) takes over from any master
/// of lower priority; one that does not, or has equal priority, accepts it. Any backup may
/// still time out once just after the heal (its timer was running while partitioned), so:
///   acceptable = { x in P : prio(x) >= every preempting participant's prio,
///                           (prio, addr)(x) >= (prio, addr)(M*) if there was a master }
pub struct Expectation {
    pub participants: Vec<usize>,
    pub acceptable: Vec<usize>,
}

pub fn expectation(world: &World, slot: usize) -> Expectation {
    let key = |n: usize| {
        let l = world.live(n, slot).map(|l| l.inst.effective_priority());
        (l.unwrap_or(0), world.cfg[n].ip)
    };
    let participants: Vec<usize> = (0..world.nodes.len())
        .filter(|&n| matches!(world.state(n, slot), Some(State::Backup | State::Master)))
        .collect();
    let best_master = participants
        .iter()
        .copied()
        .filter(|&n| world.state(n, slot) == Some(State::Master))
        .map(key)
        .max();
    let preempt_floor = participants
        .iter()
        .copied()
        .filter(|&n| world.live(n, slot).is_some_and(|l| l.inst.params().preempt))
        .map(|n| key(n).0)
        .max()
        .unwrap_or(0);
    let acceptable = participants
        .iter()
        .copied()
        .filter(|&n| key(n).0 >= preempt_floor && best_master.map_or(true, |m| key(n) >= m))
        .collect();
    Expectation {
        participants,
        acceptable,
    }
}

/// What a finished scenario saw, for the coverage check.
#[derive(Default, Clone, Copy, Debug)]
pub struct Coverage {
    pub scenarios: u64,
    pub master_down: u64,
    pub master_left: u64,
    pub preempt: u64,
    pub higher_priority: u64,
    pub equal_priority_higher_address: u64,
    pub owner: u64,
    /// Stable phases that ended with a master below the highest participant priority
    /// (nopreempt or preempt_delay at work).
    pub lower_master_kept: u64,
    pub empty_vrid: u64,
}

impl Coverage {
    pub fn add(&mut self, o: &Coverage) {
        self.scenarios += o.scenarios;
        self.master_down += o.master_down;
        self.master_left += o.master_left;
        self.preempt += o.preempt;
        self.higher_priority += o.higher_priority;
        self.equal_priority_higher_address += o.equal_priority_higher_address;
        self.owner += o.owner;
        self.lower_master_kept += o.lower_master_kept;
        self.empty_vrid += o.empty_vrid;
    }
}

pub struct Failure {
    pub violation: Violation,
    pub world: Option<World>,
}

/// Runs one scenario; with `trace`, the world keeps its last events for the report.
pub fn run(sc: &Scenario, trace: bool) -> Result<Coverage, Box<Failure>> {
    let mut world = World::new(sc.cfg.clone(), sc.net_seed, (0, MAX_DELAY_US));
    if trace {
        world.trace = Some(Default::default());
    }
    match run_world(sc, &mut world) {
        Ok(c) => Ok(c),
        Err(violation) => Err(Box::new(Failure {
            violation,
            world: Some(world),
        })),
    }
}

fn run_world(sc: &Scenario, world: &mut World) -> Result<Coverage, Violation> {
    for (at, f) in &sc.faults {
        world.schedule(*at, f.clone());
    }
    world.run_until(sc.chaos_end, |_| Ok(()))?;
    for f in &sc.recover {
        world.apply(f.clone())?;
    }
    let stable_from = world.now;
    let slots = world.slot_count();
    let expected: Vec<Expectation> = (0..slots).map(|s| expectation(world, s)).collect();
    let preempt_wait = (0..world.nodes.len())
        .flat_map(|n| (0..slots).map(move |s| (n, s)))
        .filter_map(|(n, s)| world.live(n, s))
        .filter(|l| l.inst.params().preempt && l.started_at.is_some())
        // preempt_delay after a start, the flap hold-down after a link came back.
        .map(|l| l.inst.preempt_allowed_at().saturating_sub(stable_from))
        .max()
        .unwrap_or_default();
    let mdi = max_master_down_interval(&world.cfg);
    let settled = stable_from + preempt_wait + 3 * mdi;
    let end = settled + 5 * mdi;
    world.run_until(settled, |_| Ok(()))?;
    world.frozen_from = Some(settled);
    let check = |w: &World| check_settled(w, &expected);
    check(world)?;
    world.run_until(end, check)?;

    let mut cov = Coverage {
        scenarios: 1,
        ..Coverage::default()
    };
    for t in &world.transitions {
        match t.reason {
            Reason::MasterDown { .. } => cov.master_down += 1,
            Reason::MasterLeft { .. } => cov.master_left += 1,
            Reason::Preempt { .. } => cov.preempt += 1,
            Reason::HigherPriority { .. } => cov.higher_priority += 1,
            Reason::EqualPriorityHigherAddress { .. } => cov.equal_priority_higher_address += 1,
            Reason::AddressOwner => cov.owner += 1,
            _ => {}
        }
    }
    for (slot, e) in expected.iter().enumerate() {
        if e.participants.is_empty() {
            cov.empty_vrid += 1;
            continue;
        }
        let top = e
            .participants
            .iter()
            .filter_map(|&n| world.live(n, slot))
            .map(|l| l.inst.effective_priority())
            .max();
        let master = world.masters(slot);
        let got = master
            .first()
            .and_then(|&n| world.live(n, slot))
            .map(|l| l.inst.effective_priority());
        if got < top {
            cov.lower_master_kept += 1;
        }
    }
    Ok(cov)
}

fn check_settled(world: &World, expected: &[Expectation]) -> Result<(), Violation> {
    for (slot, e) in expected.iter().enumerate() {
        let masters = world.masters(slot);
        let want = usize::from(!e.participants.is_empty());
        let fail = |what: String| Violation {
            at: world.now,
            what: format!(
                "slot {slot}: {what} (participants {:?}, acceptable {:?})",
                e.participants, e.acceptable
            ),
        };
        if masters.len() != want {
            return Err(fail(format!("{} masters {masters:?}", masters.len())));
        }
        if let Some(m) = masters.first() {
            if !e.acceptable.contains(m) {
                return Err(fail(format!("master is node {m}, not an acceptable one")));
            }
        }
        for n in 0..world.nodes.len() {
            let holds = world.live(n, slot).is_some_and(|l| l.holds_vips);
            if holds && !masters.contains(&n) {
                return Err(fail(format!("node {n} holds the VIPs but is not master")));
            }
        }
    }
    Ok(())
}
