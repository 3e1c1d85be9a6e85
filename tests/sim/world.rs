//! The simulated world: nodes running one `Instance` per VRID slot, a virtual clock, and a
//! network that delivers each `Action::SendAdvert` to the other members of the VRID after a
//! small random delay, unless the link loses it, a partition separates the two nodes, or
//! either link is down.
//!
//! Time only advances to the next thing that happens: the earliest queued event (advert
//! delivery, fault) or the earliest instance deadline. The per-step invariants that hold in
//! every phase are checked here; the phase-dependent ones live in the scenario code.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use tinyvrrp::instance::{Action, Discard, Event, Instance, Params, Reason, RxAdvert, State, Time};
use tinyvrrp::packet::AdvertFields;

use crate::rng::Rng;

/// A node: its primary address and, per VRID slot of the world, its instance's parameters
/// (`None`: the node is not a member of that VRID).
#[derive(Clone, Debug)]
pub struct NodeCfg {
    pub ip: IpAddr,
    pub slots: Vec<Option<Params>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The daemon (re)starts: fresh instances, `Startup` (or `LinkDown` if the link is down).
    Start(usize),
    /// The process dies: instances dropped, nothing sent, VIPs gone with the box.
    Crash(usize),
    /// Graceful stop: `Shutdown` to every instance (a master's priority-0 advert goes out).
    Shutdown(usize),
    /// Maintenance stop: `Stop` to every instance; a master hands over (make before break)
    /// and reaches `Init` later, on its own.
    Stop(usize),
    LinkDown(usize),
    LinkUp(usize),
    Priority {
        node: usize,
        slot: usize,
        priority: u8,
    },
    /// Partition group per node: only nodes of the same group hear each other.
    Partition(Vec<u8>),
    Heal,
    /// Loss probability per directed link, in parts per million, indexed `from * n + to`.
    Loss(Vec<u32>),
}

#[derive(Debug)]
enum Pending {
    Deliver {
        from: usize,
        to: usize,
        slot: usize,
        advert: RxAdvert,
    },
    Fault(Fault),
}

struct Queued {
    at: Time,
    seq: u64,
    what: Pending,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// A running instance and what the simulation tracks about it.
pub struct Live {
    pub inst: Instance,
    /// Whether the VIPs are configured on the node (from `AddVips` / `RemoveVips`).
    pub holds_vips: bool,
    pub last_advert: Option<Time>,
    /// When the instance last left `Init`/`Fault` (start of its preempt delay).
    pub started_at: Option<Time>,
}

pub struct Node {
    pub alive: bool,
    pub link_up: bool,
    pub group: u8,
    pub slots: Vec<Option<Live>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransitionRec {
    pub at: Time,
    pub node: usize,
    pub slot: usize,
    pub from: State,
    pub to: State,
    pub reason: Reason,
}

#[derive(Debug)]
pub struct Violation {
    pub at: Time,
    pub what: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at {}: {}", secs(self.at), self.what)
    }
}

pub fn secs(t: Time) -> String {
    format!("{}.{:06}s", t.as_secs(), t.subsec_micros())
}

pub fn interval(p: &Params) -> Duration {
    Duration::from_millis(u64::from(p.advert_int_cs) * 10)
}

/// Upper bound of any Master_Down_Interval in the world: 3 * interval + Skew_Time, and
/// Skew_Time is below one interval (v3) or one second (v2, whose interval is at least 1 s).
pub fn max_master_down_interval(cfg: &[NodeCfg]) -> Duration {
    let max_int = cfg
        .iter()
        .flat_map(|n| n.slots.iter().flatten())
        .map(interval)
        .max()
        .unwrap_or_default();
    4 * max_int
}

/// Steps at one instant before we call it a livelock.
const MAX_STEPS_PER_INSTANT: u32 = 10_000;

pub struct World {
    pub now: Time,
    pub cfg: Vec<NodeCfg>,
    pub nodes: Vec<Node>,
    queue: BinaryHeap<Reverse<Queued>>,
    seq: u64,
    rng: Rng,
    loss_ppm: Vec<u32>,
    /// Delivery delay range, microseconds.
    pub delay_us: (u64, u64),
    pub transitions: Vec<TransitionRec>,
    /// Any transition at or after this time is a violation (the network is settled).
    pub frozen_from: Option<Time>,
    pub trace: Option<VecDeque<String>>,
    pub trace_len: usize,
    steps_at_now: u32,
    out: Vec<Action>,
}

impl World {
    pub fn new(cfg: Vec<NodeCfg>, seed: u64, delay_us: (u64, u64)) -> Self {
        let n = cfg.len();
        let nodes = cfg
            .iter()
            .map(|c| Node {
                alive: false,
                link_up: true,
                group: 0,
                slots: c.slots.iter().map(|_| None).collect(),
            })
            .collect();
        World {
            now: Duration::ZERO,
            cfg,
            nodes,
            queue: BinaryHeap::new(),
            seq: 0,
            rng: Rng::new(seed),
            loss_ppm: vec![0; n * n],
            delay_us,
            transitions: Vec::new(),
            frozen_from: None,
            trace: None,
            trace_len: 80,
            steps_at_now: 0,
            out: Vec::new(),
        }
    }

    pub fn slot_count(&self) -> usize {
        self.cfg.first().map_or(0, |c| c.slots.len())
    }

    pub fn live(&self, node: usize, slot: usize) -> Option<&Live> {
        self.nodes[node].slots[slot].as_ref()
    }

    pub fn state(&self, node: usize, slot: usize) -> Option<State> {
        self.live(node, slot).map(|l| l.inst.state())
    }

    /// Nodes whose instance of `slot` is in Master state.
    pub fn masters(&self, slot: usize) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&n| self.state(n, slot) == Some(State::Master))
            .collect()
    }

    pub fn schedule(&mut self, at: Time, fault: Fault) {
        self.push(at, Pending::Fault(fault));
    }

    fn push(&mut self, at: Time, what: Pending) {
        self.seq += 1;
        self.queue.push(Reverse(Queued {
            at,
            seq: self.seq,
            what,
        }));
    }

    fn note(&mut self, line: impl FnOnce() -> String) {
        if let Some(trace) = self.trace.as_mut() {
            if trace.len() == self.trace_len {
                trace.pop_front();
            }
            trace.push_back(format!("{} {}", secs(self.now), line()));
        }
    }

    fn violation(&self, what: String) -> Violation {
        Violation { at: self.now, what }
    }

    fn connected(&self, a: usize, b: usize) -> bool {
        let (na, nb) = (&self.nodes[a], &self.nodes[b]);
        na.alive && nb.alive && na.link_up && nb.link_up && na.group == nb.group
    }

    /// Applies a fault now.
    pub fn apply(&mut self, fault: Fault) -> Result<(), Violation> {
        self.note(|| format!("FAULT {fault:?}"));
        match fault {
            Fault::Start(n) => {
                if self.nodes[n].alive {
                    return Ok(());
                }
                self.nodes[n].alive = true;
                for slot in 0..self.slot_count() {
                    if let Some(p) = self.cfg[n].slots[slot].clone() {
                        self.nodes[n].slots[slot] = Some(Live {
                            inst: Instance::new(p),
                            holds_vips: false,
                            last_advert: None,
                            started_at: None,
                        });
                        let ev = if self.nodes[n].link_up {
                            Event::Startup
                        } else {
                            Event::LinkDown
                        };
                        self.deliver(n, slot, ev)?;
                    }
                }
            }
            Fault::Crash(n) => {
                self.nodes[n].alive = false;
                for s in self.nodes[n].slots.iter_mut() {
                    *s = None;
                }
            }
            Fault::Shutdown(n) => {
                if !self.nodes[n].alive {
                    return Ok(());
                }
                for slot in 0..self.slot_count() {
                    self.deliver(n, slot, Event::Shutdown)?;
                    if let Some(l) = self.live(n, slot) {
                        if l.inst.state() != State::Init || l.holds_vips {
                            return Err(self.violation(format!(
                                "node {n} slot {slot}: after Shutdown state {} holds_vips {}",
                                l.inst.state(),
                                l.holds_vips
                            )));
                        }
                    }
                }
                self.nodes[n].alive = false;
                for s in self.nodes[n].slots.iter_mut() {
                    *s = None;
                }
            }
            Fault::Stop(n) => {
                for slot in 0..self.slot_count() {
                    self.deliver(n, slot, Event::Stop)?;
                }
            }
            Fault::LinkDown(n) => {
                if !self.nodes[n].link_up {
                    return Ok(());
                }
                self.nodes[n].link_up = false;
                for slot in 0..self.slot_count() {
                    self.deliver(n, slot, Event::LinkDown)?;
                }
            }
            Fault::LinkUp(n) => {
                if self.nodes[n].link_up {
                    return Ok(());
                }
                self.nodes[n].link_up = true;
                for slot in 0..self.slot_count() {
                    self.deliver(n, slot, Event::LinkUp)?;
                }
            }
            Fault::Priority {
                node,
                slot,
                priority,
            } => self.deliver(node, slot, Event::PriorityChanged(priority))?,
            Fault::Partition(groups) => {
                for (node, g) in self.nodes.iter_mut().zip(groups) {
                    node.group = g;
                }
            }
            Fault::Heal => {
                for node in self.nodes.iter_mut() {
                    node.group = 0;
                }
            }
            Fault::Loss(ppm) => self.loss_ppm = ppm,
        }
        Ok(())
    }

    /// Hands one event to one instance (if it exists) and checks what it did.
    fn deliver(&mut self, node: usize, slot: usize, ev: Event) -> Result<(), Violation> {
        let now = self.now;
        let Some(live) = self.nodes[node].slots[slot].as_mut() else {
            return Ok(());
        };
        let before = live.inst.state();
        self.out.clear();
        let result = live.inst.handle(now, ev, &mut self.out);
        let after = live.inst.state();
        let mut running = before;
        let mut bad: Option<String> = None;
        for action in &self.out {
            match *action {
                Action::SendAdvert { .. } => live.last_advert = Some(now),
                Action::AddVips => live.holds_vips = true,
                Action::RemoveVips => live.holds_vips = false,
                Action::SendGarp { .. } | Action::MasterRxLowerPri => {}
                Action::Transition {
                    from,
                    to,
                    reason,
                    at,
                } => {
                    if from != running || at != now {
                        bad = Some(format!(
                            "Transition {from}->{to} at {} but state was {running}",
                            secs(at)
                        ));
                    }
                    running = to;
                    // Master_Down_Interval is at least 3 * the master's Advertisement_Interval
                    // after the last advert accepted (or after start-up if none was).
                    if let Reason::MasterDown { last } = reason {
                        let since = match last {
                            Some((src, t)) => self
                                .cfg
                                .iter()
                                .find(|c| c.ip == src)
                                .and_then(|c| c.slots[slot].as_ref())
                                .map(|p| (t, 3 * interval(p))),
                            None => live
                                .started_at
                                .map(|t| (t, 3 * interval(live.inst.params()))),
                        };
                        if let Some((t, min)) = since.filter(|(t, min)| now < *t + *min) {
                            bad = Some(format!(
                                "MasterDown at {} only {:?} after {} (< {min:?})",
                                secs(now),
                                now - t,
                                secs(t)
                            ));
                        }
                    }
                    if matches!(from, State::Init | State::Fault)
                        && matches!(to, State::Backup | State::Master)
                    {
                        live.started_at = Some(now);
                    }
                    self.transitions.push(TransitionRec {
                        at: now,
                        node,
                        slot,
                        from,
                        to,
                        reason,
                    });
                    if self.frozen_from.is_some_and(|f| now >= f) {
                        bad = Some(format!(
                            "transition {from}->{to} ({reason:?}) after the network settled"
                        ));
                    }
                }
            }
        }
        if running != after {
            bad = Some(format!(
                "transitions end in {running} but state() is {after}"
            ));
        }
        if live.holds_vips != (after == State::Master) {
            bad = Some(format!(
                "state {after} but holds_vips = {} (actions {:?})",
                live.holds_vips, self.out
            ));
        }
        if let Some(d) = live.inst.next_deadline() {
            if d < now || (ev == Event::Timer && d == now) {
                bad = Some(format!(
                    "next_deadline {} is not in the future after {ev:?}",
                    secs(d)
                ));
            }
        }
        if after == State::Master && live.inst.next_deadline().is_none() {
            bad = Some("master without a deadline (no next advert)".into());
        }
        // Only a preempting backup past its preempt_delay may ignore a lower-priority master.
        if result == Err(Discard::LowerPriority) {
            let p = live.inst.params();
            let allowed = live.started_at.map(|t| t + p.preempt_delay);
            let lower =
                matches!(ev, Event::Advert(a) if a.priority < live.inst.effective_priority());
            if !p.preempt || !lower || allowed.map_or(true, |t| now < t) {
                bad = Some(format!(
                    "{ev:?} discarded as LowerPriority (preempt {}, own priority {}, preempt allowed from {:?})",
                    p.preempt,
                    live.inst.effective_priority(),
                    allowed.map(secs)
                ));
            }
        }
        let prio = live.inst.effective_priority();
        if self.trace.is_some() && (ev != Event::Timer || !self.out.is_empty()) {
            let out = self.out.clone();
            self.note(|| {
                format!("node {node} slot {slot} prio {prio} {ev:?} -> {result:?} {before}->{after} {out:?}")
            });
        }
        if let Some(what) = bad {
            return Err(self.violation(format!("node {node} slot {slot}: {what}")));
        }
        for i in 0..self.out.len() {
            if let Action::SendAdvert { priority } = self.out[i] {
                self.broadcast(node, slot, priority);
            }
        }
        Ok(())
    }

    fn broadcast(&mut self, from: usize, slot: usize, priority: u8) {
        let Some(p) = self.cfg[from].slots[slot].as_ref() else {
            return;
        };
        let fields = AdvertFields {
            version: p.version,
            vrid: p.vrid,
            priority,
            adver_int_cs: p.advert_int_cs,
            auth_type: u8::from(p.auth.is_some()),
            auth_data: p.auth.unwrap_or([0; 8]),
        };
        let advert = RxAdvert {
            src: p.primary_ip,
            fields,
        };
        let n = self.nodes.len();
        for to in 0..n {
            if to == from || self.cfg[to].slots[slot].is_none() {
                continue;
            }
            let lost = self.rng.below(1_000_000) < u64::from(self.loss_ppm[from * n + to]);
            let delay = Duration::from_micros(self.rng.range(self.delay_us.0, self.delay_us.1));
            if lost || !self.connected(from, to) {
                continue;
            }
            self.push(
                self.now + delay,
                Pending::Deliver {
                    from,
                    to,
                    slot,
                    advert,
                },
            );
        }
    }

    fn next_deadline(&self) -> Option<Time> {
        self.nodes
            .iter()
            .flat_map(|n| n.slots.iter().flatten())
            .filter_map(|l| l.inst.next_deadline())
            .min()
    }

    pub fn next_time(&self) -> Option<Time> {
        let queued = self.queue.peek().map(|q| q.0.at);
        match (queued, self.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A master must send an advert at least every Advertisement_Interval: checked whenever
    /// the clock moves to `t`.
    fn check_advert_gaps(&self, t: Time) -> Result<(), Violation> {
        for (n, node) in self.nodes.iter().enumerate() {
            for (s, live) in node.slots.iter().enumerate() {
                let Some(live) = live else { continue };
                if live.inst.state() != State::Master {
                    continue;
                }
                let limit = live.last_advert.map(|l| l + interval(live.inst.params()));
                if limit.map_or(true, |l| t > l) {
                    return Err(self.violation(format!(
                        "node {n} slot {s}: master sent no advert since {:?} (interval {:?}), now {}",
                        live.last_advert.map(secs),
                        interval(live.inst.params()),
                        secs(t)
                    )));
                }
            }
        }
        Ok(())
    }

    /// Processes the next queued event or due timers. `Ok(false)`: nothing left to do.
    pub fn step(&mut self) -> Result<bool, Violation> {
        let Some(t) = self.next_time() else {
            return Ok(false);
        };
        if t < self.now {
            return Err(self.violation(format!("time went back to {}", secs(t))));
        }
        self.check_advert_gaps(t)?;
        if t == self.now {
            self.steps_at_now += 1;
            if self.steps_at_now > MAX_STEPS_PER_INSTANT {
                return Err(self.violation("livelock: too many steps at one instant".into()));
            }
        } else {
            self.steps_at_now = 0;
        }
        self.now = t;
        if self.queue.peek().is_some_and(|q| q.0.at == t) {
            let Some(Reverse(q)) = self.queue.pop() else {
                return Ok(false);
            };
            match q.what {
                Pending::Fault(f) => self.apply(f)?,
                Pending::Deliver {
                    from,
                    to,
                    slot,
                    advert,
                } => {
                    // Already on the wire: the sender may be gone since, but the receiver
                    // must still be reachable.
                    let rx = &self.nodes[to];
                    if rx.alive && rx.link_up && rx.group == self.nodes[from].group {
                        self.deliver(to, slot, Event::Advert(advert))?;
                    }
                }
            }
        } else {
            for n in 0..self.nodes.len() {
                for s in 0..self.slot_count() {
                    let due = self
                        .live(n, s)
                        .and_then(|l| l.inst.next_deadline())
                        .is_some_and(|d| d <= t);
                    if due {
                        self.deliver(n, s, Event::Timer)?;
                    }
                }
            }
        }
        Ok(true)
    }

    /// Runs until the clock would pass `end`, calling `check` after every step; the clock is
    /// left at `end`.
    pub fn run_until(
        &mut self,
        end: Time,
        mut check: impl FnMut(&World) -> Result<(), Violation>,
    ) -> Result<(), Violation> {
        while self.next_time().is_some_and(|t| t <= end) {
            self.step()?;
            check(self)?;
        }
        self.check_advert_gaps(end)?;
        self.now = self.now.max(end);
        Ok(())
    }

    pub fn trace_text(&self) -> String {
        self.trace
            .as_ref()
            .map(|t| t.iter().map(|l| format!("  {l}\n")).collect())
            .unwrap_or_default()
    }
}
