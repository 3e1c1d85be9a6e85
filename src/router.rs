//! The router: every configured instance and what ties them together — which instance a
//! received advert is for (and every packet-level check), tracking results turned into an
//! effective priority or FAULT, sync-group holds, the reload diff and its effects.
//!
//! Pure, like `instance.rs`: the shell feeds events stamped with a monotonic time through the
//! `handle_*` methods and drains [`Action`]s with [`Router::poll_action`] after each call;
//! nothing here reads a clock, a file or a socket. Tracking results (scripts, processes, files)
//! come in as [`TrackResult`]s, interfaces and addresses as rtnetlink [`NetEvent`]s. Deadlines
//! are read with [`Router::next_deadline`].
//!
//! Actions name their instance by a [`SlotId`] that stays valid until the actions of the call
//! that emitted them are drained, even when a reload retired the instance meanwhile.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use log::info;

use crate::config::{Config, InstanceConfig, Vip};
use crate::instance::{self, Event, GarpSchedule, Instance, Params, Reason, State, Time};
use crate::links::{Links, Usable};
use crate::netlink::NetEvent;
use crate::packet::{AdvertFields, ChecksumForm, Family};
use crate::status::{Counters, PeerForms};
use crate::timestamp::Secs;

mod classify;
mod groups;
mod reconfig;
#[cfg(test)]
mod tests;
mod tracking;

pub use classify::Datagram;
pub use reconfig::ReloadSummary;
pub use tracking::TrackResult;

/// A stable name for an instance, valid across reloads that keep it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SlotId(u32);

/// What the shell does for one instance. `link` in [`Action::Instance`] is the interface the
/// instance used when the action was decided (it may be gone from the slot by the time the
/// action is drained, e.g. VIPs removed from a link that just went down).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Queue one advert with this priority (0 when leaving).
    SendAdvert {
        priority: u8,
    },
    /// Every VIP (and the VMAC first, with `use_vmac`), then what follows the master.
    AddVips,
    /// What follows the master, then every VIP (and the VMAC last).
    RemoveVips,
    /// Reload in place while master: one VIP added / removed.
    AddVip(Vip),
    RemoveVip(Vip),
    /// `count` gratuitous ARPs / unsolicited NAs for every VIP and excluded VIP.
    SendGarp {
        count: u32,
    },
    /// `count` gratuitous announcements for one address only (a VIP added by a reload).
    SendGarpFor {
        addr: IpAddr,
        count: u32,
    },
    /// Reload while master: swap the routes, rules and excluded VIPs (the old config given).
    ChangeFollowers(Box<InstanceConfig>),
    /// Someone removed this VIP (or excluded VIP) from `ifindex` while we are master: put it
    /// back if it is ours there, and announce it.
    RestoreVip {
        ifindex: u32,
        addr: IpAddr,
    },
    /// Before the instance first runs: remove its VIPs, routes and rules left on the machine
    /// (by a crash), and its VMAC when `vmac`.
    RemoveLeftovers {
        vmac: bool,
    },
    /// Join the VRRP multicast group on `link`.
    JoinGroup,
    /// The state changed (already logged): run the notify scripts.
    Transition {
        from: State,
        to: State,
        priority: u8,
    },
    /// keepalived's MASTER_RX_LOWER_PRI, for the notify FIFOs.
    MasterRxLowerPri {
        priority: u8,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Instance {
        slot: SlotId,
        link: Option<Usable>,
        op: Op,
    },
    /// Every member of `config().sync_groups[group]` reached `state`.
    GroupTransition { group: usize, state: State },
}

/// Where the router is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Built; tracking results are recorded but nothing runs before [`Router::start`].
    Idle,
    Running,
    /// Asked to stop: masters that hand over still hold their VIPs until their successor
    /// is heard or their bound passes (make before break); nothing (re)starts.
    Stopping,
    /// Every instance has stopped: the shell may exit once the actions are out.
    Stopped,
}

/// Why an instance is in FAULT, so the log says the right thing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FaultCause {
    Link,
    Tracking,
}

/// One configured instance and what the router keeps beside its state machine.
#[derive(Debug)]
// A backup with many instances touches a different slot for every advert, after a context
// switch: a cache and TLB miss each time, most of its own CPU with 100 instances when slots
// were 2 KiB (the compiler's field order put an advert's fields lines apart). So what an
// advert reads comes first, next to each other (repr(C)), and what it never reads (the
// config, the discard counters) is boxed: 100 slots now span a few pages, not 52.
#[repr(C)]
pub struct Slot {
    usable: Option<Usable>,
    vips_held: bool,
    id: SlotId,
    /// The VIP addresses, in order, as they go into adverts.
    vip_addrs: Vec<IpAddr>,
    /// Peers whose adverts list other VIPs than ours (logged once per peer).
    vip_mismatch: Vec<IpAddr>,
    inst: Instance,
    forms: PeerForms,
    cfg: Box<InstanceConfig>,
    discards: Box<Counters>,
    last_transition: Option<Time>,
    /// The last transition's reason and the transitions counted by reason (both by
    /// `Reason::index`).
    last_reason: Option<u8>,
    transitions: [u32; Reason::WORDS.len()],
    /// Tracking (or its sync group) puts the instance in FAULT.
    tracked_fault: bool,
    /// Its own tracking fails (not counting its sync group).
    tracking_failed: bool,
    /// A fault of its own (tracking or its link): what holds the rest of its sync group.
    own_fault: bool,
    fault_cause: Option<FaultCause>,
    /// The index of its vrrp_sync_group in the config.
    group: Option<usize>,
}

/// The state machine's parameters from an instance's configuration.
pub fn params_of(cfg: &InstanceConfig) -> Params {
    let unspecified = match cfg.family {
        Family::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    Params {
        vrid: cfg.vrid,
        version: cfg.version,
        priority: cfg.priority,
        advert_int_cs: cfg.advert_int_cs,
        preempt: cfg.preempt,
        preempt_delay: Duration::from_millis(u64::from(cfg.preempt_delay_cs) * 10),
        primary_ip: cfg.unicast_src_ip.unwrap_or(unspecified),
        auth: cfg.auth,
        garp: GarpSchedule {
            repeat: cfg.garp_master_repeat,
            delay: Duration::from_secs(u64::from(cfg.garp_master_delay_s)),
            refresh: Duration::from_secs(u64::from(cfg.garp_master_refresh_s)),
            refresh_repeat: cfg.garp_master_refresh_repeat,
        },
    }
}

impl Slot {
    fn new(id: SlotId, cfg: InstanceConfig) -> Self {
        Slot {
            id,
            vip_addrs: cfg.vips.iter().map(|v| v.addr).collect(),
            inst: Instance::new(params_of(&cfg)),
            cfg: Box::new(cfg),
            usable: None,
            vips_held: false,
            discards: Box::default(),
            forms: PeerForms::default(),
            last_transition: None,
            last_reason: None,
            transitions: [0; Reason::WORDS.len()],
            tracked_fault: false,
            tracking_failed: false,
            own_fault: false,
            fault_cause: None,
            group: None,
            vip_mismatch: Vec::new(),
        }
    }

    pub fn id(&self) -> SlotId {
        self.id
    }
    /// With use_vmac: whether `ifindex` is this instance's macvlan.
    pub fn has_vmac(&self, links: &Links, ifindex: u32) -> bool {
        if !self.cfg.use_vmac {
            return false;
        }
        let named = |name: &str| links.by_name(name).is_some_and(|l| l.index == ifindex);
        match &self.cfg.vmac_name {
            Some(name) => named(name),
            None => crate::vmac::vmac_name(self.cfg.vrid, self.family())
                .is_ok_and(|n| named(n.as_str())),
        }
    }
    pub fn cfg(&self) -> &InstanceConfig {
        &self.cfg
    }
    pub fn instance(&self) -> &Instance {
        &self.inst
    }
    pub fn family(&self) -> Family {
        self.cfg.family
    }
    pub fn is_unicast(&self) -> bool {
        !self.cfg.unicast_peers.is_empty()
    }
    /// The VIP addresses as they go into adverts.
    pub fn vip_addrs(&self) -> &[IpAddr] {
        &self.vip_addrs
    }
    /// The interface and source address the instance runs on, while usable.
    pub fn usable(&self) -> Option<Usable> {
        self.usable
    }
    /// Whether the router told the shell to put the VIPs on (and not yet to take them off).
    pub fn vips_held(&self) -> bool {
        self.vips_held
    }
    pub fn discards(&self) -> &Counters {
        &self.discards
    }
    pub fn forms(&self) -> &PeerForms {
        &self.forms
    }
    pub fn last_transition(&self) -> Option<Time> {
        self.last_transition
    }
    /// The last transition's reason (`Reason::WORDS`), empty before the first.
    pub fn last_reason(&self) -> &'static str {
        self.last_reason
            .map_or("", |i| Reason::WORDS[usize::from(i)])
    }
    /// Transitions by reason, in the order of `Reason::WORDS`.
    pub fn transitions(&self) -> &[u32; Reason::WORDS.len()] {
        &self.transitions
    }
    pub fn tracked_fault(&self) -> bool {
        self.tracked_fault
    }
    /// The index of its sync group in `config().sync_groups`.
    pub fn group(&self) -> Option<usize> {
        self.group
    }

    /// The non-address fields of an advert with this priority.
    pub fn advert_fields(&self, priority: u8) -> AdvertFields {
        let p = self.inst.params();
        AdvertFields {
            version: p.version,
            vrid: p.vrid,
            priority,
            adver_int_cs: p.advert_int_cs,
            auth_type: u8::from(p.auth.is_some()),
            auth_data: p.auth.unwrap_or([0; 8]),
        }
    }

    /// The v3-over-IPv4 checksum form this instance sends.
    pub fn checksum_form(&self) -> ChecksumForm {
        if self.cfg.v3_checksum_as_v2 && self.family() == Family::V4 {
            ChecksumForm::MessageOnly
        } else {
            ChecksumForm::PseudoHeader
        }
    }
}

pub struct Router {
    config: Config,
    slots: Vec<Slot>,
    /// Each slot's (family, VRID, unicast) as `slot_key`, in slot order: the receive path
    /// scans these few contiguous bytes, not the slots themselves (kilobytes apart), for
    /// every advert.
    slot_keys: Vec<u16>,
    /// Each slot's id, in slot order: the shell looks a slot up for every action it drains.
    slot_ids: Vec<SlotId>,
    /// Each slot's next deadline, in slot order, kept current after every change to its
    /// instance: the timer checks read these contiguous bytes instead of every instance.
    slot_deadlines: Vec<Option<Time>>,
    /// Slots a reload took out, kept until the actions naming them are drained.
    retired: Vec<Slot>,
    next_id: u32,
    links: Links,
    track: tracking::TrackTable,
    drops: Counters,
    /// The state each sync group's notify scripts were last run for, by group index.
    group_states: Vec<Option<State>>,
    phase: Phase,
    /// This process's offset on the advert grid (the shell draws it; zero in simulations).
    tick_phase: Duration,
    actions: VecDeque<Action>,
    scratch: Vec<instance::Action>,
}

impl Router {
    pub fn new(config: Config) -> Self {
        let mut router = Router {
            slots: Vec::new(),
            slot_keys: Vec::new(),
            slot_ids: Vec::new(),
            slot_deadlines: Vec::new(),
            retired: Vec::new(),
            next_id: 0,
            links: Links::default(),
            track: tracking::TrackTable::new(&config),
            drops: Counters::default(),
            group_states: vec![None; config.sync_groups.len()],
            phase: Phase::Idle,
            tick_phase: Duration::ZERO,
            actions: VecDeque::with_capacity(32),
            scratch: Vec::with_capacity(16),
            config,
        };
        let instances = router.config.instances.clone();
        router.slots = instances.into_iter().map(|c| router.new_slot(c)).collect();
        router.index_slots();
        router.assign_groups();
        router
    }

    /// Rebuilds `slot_keys`, `slot_ids` and `slot_deadlines`; called whenever `slots` is
    /// replaced.
    fn index_slots(&mut self) {
        self.slot_ids.clear();
        self.slot_ids.extend(self.slots.iter().map(|s| s.id));
        self.slot_keys.clear();
        let keys = self
            .slots
            .iter()
            .map(|s| slot_key(s.family(), s.cfg.vrid, s.is_unicast()));
        self.slot_keys.extend(keys);
        self.refresh_deadlines();
    }

    /// Re-reads every slot's deadline (after changes that do not go through `feed`).
    fn refresh_deadlines(&mut self) {
        self.slot_deadlines.clear();
        let deadlines = self.slots.iter().map(|s| s.inst.next_deadline());
        self.slot_deadlines.extend(deadlines);
    }

    /// Gives every instance, present and future, this offset on its advert grid.
    pub fn with_tick_phase(mut self, phase: Duration) -> Self {
        self.tick_phase = phase;
        for i in 0..self.slots.len() {
            let s = &mut self.slots[i];
            crate::resilience::configure(&mut s.inst, &s.cfg, &self.config, phase);
        }
        self.refresh_deadlines();
        self
    }

    fn new_slot(&mut self, cfg: InstanceConfig) -> Slot {
        self.next_id += 1;
        let mut slot = Slot::new(SlotId(self.next_id), cfg);
        crate::resilience::configure(&mut slot.inst, &slot.cfg, &self.config, self.tick_phase);
        slot
    }

    pub fn config(&self) -> &Config {
        &self.config
    }
    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }
    /// A running slot, or one retired by the last call (for draining its actions).
    pub fn slot(&self, id: SlotId) -> Option<&Slot> {
        debug_assert!(self.slot_ids.iter().eq(self.slots.iter().map(|s| &s.id)));
        match self.slot_ids.iter().position(|&s| s == id) {
            Some(i) => self.slots.get(i),
            None => self.retired.iter().find(|s| s.id == id),
        }
    }
    /// The advert of `SendAdvert` could not be queued: count only adverts that left.
    pub fn advert_not_sent(&mut self, id: SlotId, priority: u8) {
        if let Some(s) = self.slots.iter_mut().find(|s| s.id == id) {
            s.inst.advert_not_sent(priority);
        }
    }
    pub fn links(&self) -> &Links {
        &self.links
    }
    /// Packet-level drops by reason; the shell adds its own (send failures).
    pub fn drops(&self) -> &Counters {
        &self.drops
    }
    pub fn drops_mut(&mut self) -> &mut Counters {
        &mut self.drops
    }
    pub fn phase(&self) -> Phase {
        self.phase
    }
    /// Whether an instance of this family is configured (the shell opens its socket).
    pub fn uses(&self, family: Family) -> bool {
        self.slots.iter().any(|s| s.family() == family)
    }

    /// The earliest time at which the router wants [`Router::handle_timeout`].
    pub fn next_deadline(&self) -> Option<Time> {
        debug_assert!(
            self.slot_deadlines
                .iter()
                .copied()
                .eq(self.slots.iter().map(|s| s.inst.next_deadline())),
            "slot_deadlines is stale"
        );
        self.slot_deadlines.iter().flatten().min().copied()
    }

    /// The next thing for the shell to do. Drain them all after each `handle_*` call.
    pub fn poll_action(&mut self) -> Option<Action> {
        let action = self.actions.pop_front();
        if action.is_none() {
            self.retired.clear();
        }
        action
    }

    /// Starts every instance that can start: leftovers first, then the sync groups'
    /// announcements, tracking and interfaces.
    pub fn start(&mut self, now: Time) {
        if self.phase != Phase::Idle {
            return;
        }
        self.phase = Phase::Running;
        for i in 0..self.slots.len() {
            self.emit(i, Op::RemoveLeftovers { vmac: true });
        }
        self.apply_tracking(now);
        self.announce_sync_groups(now);
        self.reevaluate(now);
        self.settle(now);
    }

    /// Graceful stop: every instance gets `Event::Stop`. A master that hands over sends
    /// priority 0 and keeps its VIPs until its successor is heard or its bound passes, so
    /// the router stays `Stopping` until then; a second call ends that wait at once.
    pub fn begin_stop(&mut self, now: Time) {
        if self.phase == Phase::Stopped {
            return;
        }
        self.phase = Phase::Stopping;
        for i in 0..self.slots.len() {
            self.feed(i, now, Event::Stop);
        }
        self.settle(now);
    }

    /// Deadlines may have passed.
    pub fn handle_timeout(&mut self, now: Time) {
        for i in 0..self.slots.len() {
            if self
                .slot_deadlines
                .get(i)
                .copied()
                .flatten()
                .is_some_and(|t| t <= now)
            {
                self.feed(i, now, Event::Timer);
            }
        }
        self.settle(now);
    }

    /// Forget every link and address before the shell feeds a full dump again.
    pub fn reset_links(&mut self) {
        self.links.clear();
    }

    /// Links and addresses changed (from a dump or the monitor): VIPs removed by someone
    /// else come back, instances follow their interfaces and tracked interfaces.
    pub fn handle_net_events(&mut self, now: Time, events: &[NetEvent]) {
        for e in events {
            self.links.apply(e);
        }
        for e in events {
            if let NetEvent::AddrRemoved(a) = e {
                self.restore_vip(a.index, a.addr);
            }
        }
        self.refresh(now);
        self.settle(now);
    }

    /// A datagram from the raw socket that could not even be read as IP.
    pub fn handle_bad_datagram(&mut self) {
        self.drops.bump("bad_ip_header");
    }

    fn restore_vip(&mut self, ifindex: u32, addr: IpAddr) {
        for i in 0..self.slots.len() {
            let s = &self.slots[i];
            if s.inst.state() != State::Master || !s.vips_held {
                continue;
            }
            let ours = s.cfg.vips.iter().chain(&s.cfg.vips_excluded);
            if ours.into_iter().any(|v| v.addr == addr) {
                self.emit(i, Op::RestoreVip { ifindex, addr });
            }
        }
    }

    /// Re-checks tracking, then interfaces (what changes a priority or usability).
    fn refresh(&mut self, now: Time) {
        if self.phase != Phase::Running {
            return;
        }
        self.apply_tracking(now);
        self.reevaluate(now);
    }

    /// After every event: sync-group holds and announcements.
    fn settle(&mut self, now: Time) {
        self.apply_sync_groups(now);
        if self.phase == Phase::Stopping && !self.slots.iter().any(|s| s.inst.leaving()) {
            self.phase = Phase::Stopped;
        }
    }

    fn emit(&mut self, i: usize, op: Op) {
        let s = &self.slots[i];
        self.actions.push_back(Action::Instance {
            slot: s.id,
            link: s.usable,
            op,
        });
    }

    /// Feeds one event to one instance and turns what it asks for into actions.
    fn feed(&mut self, i: usize, now: Time, event: Event) {
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        if let Err(d) = self.slots[i].inst.handle(now, event, &mut out) {
            self.slots[i].discards.bump(d.counter_name());
            crate::resilience::log_discard(&self.slots[i].cfg.name, d, &event, now);
        }
        if let Some(d) = self.slot_deadlines.get_mut(i) {
            *d = self.slots[i].inst.next_deadline();
        }
        for a in &out {
            self.translate(i, now, a);
        }
        out.clear();
        self.scratch = out;
    }

    fn translate(&mut self, i: usize, now: Time, action: &instance::Action) {
        let op = match *action {
            instance::Action::SendAdvert { priority } => Op::SendAdvert { priority },
            instance::Action::AddVips => {
                self.slots[i].vips_held = true;
                Op::AddVips
            }
            instance::Action::RemoveVips => {
                self.slots[i].vips_held = false;
                Op::RemoveVips
            }
            instance::Action::SendGarp { count } => Op::SendGarp { count },
            instance::Action::MasterRxLowerPri => Op::MasterRxLowerPri {
                priority: self.slots[i].inst.effective_priority(),
            },
            instance::Action::Transition {
                from, to, reason, ..
            } => {
                let s = &mut self.slots[i];
                s.last_transition = Some(now);
                s.last_reason = Some(reason.index() as u8);
                s.transitions[reason.index()] += 1;
                info!(
                    "{} {from} -> {to}: {}",
                    s.cfg.name,
                    Describe {
                        slot: s,
                        reason: &reason,
                        now
                    }
                );
                Op::Transition {
                    from,
                    to,
                    priority: s.inst.effective_priority(),
                }
            }
        };
        self.emit(i, op);
    }
}

/// Why a transition happened, written straight into the log line (no `String` per arm).
struct Describe<'a> {
    slot: &'a Slot,
    reason: &'a Reason,
    now: Time,
}

impl std::fmt::Display for Describe<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ago = |t: Time| Secs(self.now.saturating_sub(t), 2);
        let tracking = self.slot.fault_cause == Some(FaultCause::Tracking);
        let text = match self.reason {
            Reason::Startup => "start-up",
            Reason::AddressOwner => "address owner (priority 255)",
            Reason::MasterDown {
                last: Some((ip, t)),
            } => {
                return write!(
                    f,
                    "master down timer expired (last advert from {ip} {} s ago)",
                    ago(*t)
                )
            }
            Reason::MasterDown { last: None } => "master down timer expired (no advert heard)",
            Reason::MasterLeft { from } => {
                return write!(f, "{from} left (priority 0), skew time passed")
            }
            Reason::Preempt { from, priority } => {
                return write!(
                    f,
                    "preempting lower-priority master {from} (priority {priority})"
                )
            }
            Reason::HigherPriority { from, priority } => {
                return write!(
                    f,
                    "higher-priority advert from {from} (priority {priority})"
                )
            }
            Reason::EqualPriorityHigherAddress { from } => {
                return write!(f, "equal-priority advert from higher address {from}")
            }
            Reason::LinkDown if tracking => {
                "a tracked script, file, process or interface, or its sync group, is failing"
            }
            Reason::LinkDown => "interface unusable (down, missing or without address)",
            Reason::LinkUp if tracking => "tracking and sync group good again",
            Reason::LinkUp => "interface usable again",
            Reason::Shutdown => "shutting down",
            Reason::HandedOver { to: Some(ip) } => {
                return write!(f, "stopped: new master {ip} heard")
            }
            Reason::HandedOver { to: None } => "stopped: no new master heard within the bound",
            Reason::SyncGroup => {
                "another member of its sync group is backup to a higher-priority master"
            }
        };
        f.write_str(text)
    }
}

/// A slot's family, VRID and whether it is unicast in one number, for `Router::slot_keys`.
fn slot_key(family: Family, vrid: u8, unicast: bool) -> u16 {
    u16::from(unicast) << 9 | u16::from(family == Family::V6) << 8 | u16::from(vrid)
}

/// `slot_key`'s unicast bit.
const SLOT_KEY_UNICAST: u16 = 1 << 9;
