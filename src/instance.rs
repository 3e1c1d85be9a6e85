//! One VRRP instance's state machine (RFC 5798 §6.4 as updated by RFC 9568, RFC 3768 for v2).
//!
//! Pure ("sans-IO"): the caller feeds events stamped with a monotonic time and gets back a list of
//! actions; nothing here reads a clock or touches a socket. Deadlines are plain values the caller
//! reads with [`Instance::next_deadline`] — the daemon keeps one timerfd armed to the earliest
//! deadline of all instances and delivers [`Event::Timer`] when it fires (early firings are
//! harmless: nothing that is not due happens).
//!
//! Actions go into a caller-owned `Vec` that the daemon clears and reuses, so the steady state
//! (send an advert, receive one, move a deadline) allocates nothing.

use std::net::IpAddr;
use std::time::Duration;

use crate::packet::{AdvertFields, Version};

#[cfg(test)]
mod tests;

/// Monotonic time since an arbitrary epoch (the daemon's start, or a simulation's zero).
pub type Time = Duration;

/// The earliest of `times`. A plain loop: `into_iter().flatten().min()` costs several times
/// the code on the router targets.
pub fn earliest<const N: usize>(times: [Option<Time>; N]) -> Option<Time> {
    let mut min: Option<Time> = None;
    for t in times {
        match (min, t) {
            (_, None) => {}
            (Some(m), Some(t)) if m <= t => {}
            _ => min = t,
        }
    }
    min
}

pub const PRIORITY_OWNER: u8 = 255;
pub const PRIORITY_LEAVING: u8 = 0;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Not running: before start-up and after shutdown.
    Init,
    Backup,
    Master,
    /// The interface is unusable (down, missing, no address): no adverts, no VIPs.
    Fault,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Init => "INIT",
            State::Backup => "BACKUP",
            State::Master => "MASTER",
            State::Fault => "FAULT",
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// keepalived's gratuitous-ARP schedule for a new master, as data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GarpSchedule {
    /// GARPs (per VIP) sent at once on becoming master, and again in each later burst.
    pub repeat: u32,
    /// Delay of the second burst after becoming master; zero: no second burst.
    pub delay: Duration,
    /// Period of refresh bursts while master; zero: none.
    pub refresh: Duration,
    /// GARPs per VIP in each refresh burst.
    pub refresh_repeat: u32,
}

impl Default for GarpSchedule {
    /// keepalived's defaults: garp_master_delay 5, garp_master_repeat 5, no refresh.
    fn default() -> Self {
        GarpSchedule {
            repeat: 5,
            delay: Duration::from_secs(5),
            refresh: Duration::ZERO,
            refresh_repeat: 1,
        }
    }
}

/// What an instance is configured with (the daemon builds it from the config).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    pub vrid: u8,
    pub version: Version,
    /// Configured priority, 1–255 (255: address owner).
    pub priority: u8,
    /// Our Advertisement_Interval, in centiseconds (v2: a whole number of seconds).
    pub advert_int_cs: u16,
    pub preempt: bool,
    /// After start-up, lower-priority masters are not preempted until this has passed.
    pub preempt_delay: Duration,
    /// Our primary address (or unicast source): the tie-break on equal priority.
    pub primary_ip: IpAddr,
    /// v2 simple-password authentication (auth type 1) with these 8 bytes.
    pub auth: Option<[u8; 8]>,
    pub garp: GarpSchedule,
}

/// A received advert that already passed the packet checks (length, checksum, TTL, VRID), and
/// its sender. Its fields read through (`advert.priority`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxAdvert {
    pub src: IpAddr,
    pub fields: AdvertFields,
}

impl std::ops::Deref for RxAdvert {
    type Target = AdvertFields;
    fn deref(&self) -> &AdvertFields {
        &self.fields
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Start (or restart after `Init`): the interface is usable.
    Startup,
    /// A deadline may have passed.
    Timer,
    Advert(RxAdvert),
    /// The effective priority (configured priority plus tracking weights) changed.
    PriorityChanged(u8),
    /// The interface became unusable.
    LinkDown,
    /// The interface became usable again.
    LinkUp,
    /// Immediate stop (reload, or keepalived's way): a master sends priority 0 and drops its
    /// VIPs at once.
    Shutdown,
    /// Maintenance stop, make before break: a master sends priority 0 but keeps its VIPs
    /// until the new master is heard or [`Instance::stop_bound`] passes (see
    /// [`Instance::leaving`]); without handover (or not master) it is [`Event::Shutdown`].
    Stop,
    /// vrrp_sync_group: whether another member of the group is a backup to a master that
    /// outranks it. While held, a master steps down and a backup does not take over; a
    /// takeover that came due while held happens when the hold ends.
    GroupHold(bool),
}

/// Why an advert was not acted upon; the daemon counts these per reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Discard {
    VersionMismatch,
    /// v2 only: RFC 3768 §7.1 says discard when the interval differs (keepalived does too).
    IntervalMismatch,
    AuthMismatch,
    /// The advert claims our own primary address as its source.
    OwnAddress,
    /// The instance is stopped or in FAULT.
    NotListening,
    /// The source is not in the instance's `allowed_sources`.
    SourceNotAllowed,
    /// A preempting backup ignores a lower-priority master (RFC 5798 §6.4.2).
    LowerPriority,
}

impl Discard {
    pub fn counter_name(self) -> &'static str {
        match self {
            Discard::VersionMismatch => "version_mismatch",
            Discard::IntervalMismatch => "interval_mismatch",
            Discard::AuthMismatch => "auth_mismatch",
            Discard::OwnAddress => "own_address",
            Discard::NotListening => "not_listening",
            Discard::SourceNotAllowed => "source_not_allowed",
            Discard::LowerPriority => "lower_priority",
        }
    }
}

/// Why the state changed: logged on one line with the transition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Startup,
    AddressOwner,
    /// No advert for Master_Down_Interval (`last` = the last accepted advert's source and time).
    MasterDown {
        last: Option<(IpAddr, Time)>,
    },
    /// The master sent priority 0 and Skew_Time has passed.
    MasterLeft {
        from: IpAddr,
    },
    /// A lower-priority master was heard and we preempt it.
    Preempt {
        from: IpAddr,
        priority: u8,
    },
    HigherPriority {
        from: IpAddr,
        priority: u8,
    },
    /// Equal priority and the sender's primary address is higher (RFC 5798 §6.4.3).
    EqualPriorityHigherAddress {
        from: IpAddr,
    },
    LinkDown,
    LinkUp,
    Shutdown,
    /// A stopping master handed over: the new master `to` was heard, or (`None`) the bound
    /// passed without one.
    HandedOver {
        to: Option<IpAddr>,
    },
    /// Another member of the sync group became backup to a higher-priority master.
    SyncGroup,
}

impl Reason {
    /// The words of `index`, for status lines and metric labels.
    pub const WORDS: [&'static str; 12] = [
        "startup",
        "address_owner",
        "master_down",
        "master_left",
        "preempt",
        "higher_priority",
        "equal_priority_higher_address",
        "fault",
        "fault_cleared",
        "shutdown",
        "handed_over",
        "sync_group",
    ];

    /// This reason's place in `WORDS`.
    pub fn index(&self) -> usize {
        match self {
            Reason::Startup => 0,
            Reason::AddressOwner => 1,
            Reason::MasterDown { .. } => 2,
            Reason::MasterLeft { .. } => 3,
            Reason::Preempt { .. } => 4,
            Reason::HigherPriority { .. } => 5,
            Reason::EqualPriorityHigherAddress { .. } => 6,
            Reason::LinkDown => 7,
            Reason::LinkUp => 8,
            Reason::Shutdown => 9,
            Reason::HandedOver { .. } => 10,
            Reason::SyncGroup => 11,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send one advert with this priority (0 when leaving).
    SendAdvert {
        priority: u8,
    },
    AddVips,
    RemoveVips,
    /// Send `count` gratuitous ARPs / unsolicited NAs for every VIP.
    SendGarp {
        count: u32,
    },
    /// keepalived's MASTER_RX_LOWER_PRI event: as master, an advert from a lower-priority
    /// master came in (a split brain ending); written to the notify FIFOs.
    MasterRxLowerPri,
    /// The state changed; the daemon logs it and runs the notify scripts.
    Transition {
        from: State,
        to: State,
        reason: Reason,
        at: Time,
    },
}

/// Counters kept by the state machine itself (packet-level drops are counted by the daemon).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub rx_adverts: u64,
    pub tx_adverts: u64,
    pub rx_priority_zero: u64,
    pub tx_priority_zero: u64,
    pub become_master: u64,
    pub release_master: u64,
    pub discarded: u64,
}

#[derive(Clone, Debug)]
pub struct Instance {
    params: Params,
    state: State,
    effective_priority: u8,
    /// Master_Adver_Interval: the master's interval (v3 learns it from adverts).
    master_adver_int_cs: u16,
    /// Backup: when the master is declared down.
    master_down_at: Option<Time>,
    /// Master: when the next advert is due.
    advert_at: Option<Time>,
    /// Master: when the delayed GARP burst is due.
    garp_burst_at: Option<Time>,
    /// Master: when the next refresh burst is due.
    garp_refresh_at: Option<Time>,
    /// Lower-priority masters are not preempted before this.
    preempt_allowed_at: Time,
    /// The last accepted advert's source, priority and time.
    last_master: Option<(IpAddr, u8, Time)>,
    /// Backup: the down timer was brought forward to preempt a lower-priority master.
    preempting: bool,
    /// Held back by the sync group (see [`Event::GroupHold`]).
    held: bool,
    /// Backup: the down timer ran out while held.
    due_while_held: bool,
    /// Master after [`Event::Stop`]: VIPs kept, priority 0 sent, until this deadline.
    leaving_until: Option<Time>,
    /// Whether [`Event::Stop`] hands over (true) or behaves as [`Event::Shutdown`].
    handover: bool,
    /// Flap damping: how many times the hold-down after link-up has doubled.
    flap_level: u8,
    /// When the link last came back (FAULT -> BACKUP).
    link_up_at: Option<Time>,
    /// This process's offset on the advert grid.
    tick_phase: Duration,
    /// Empty: adverts from any source (RFC); else only from these.
    allowed_sources: Vec<IpAddr>,
    stats: Stats,
}

/// The hold-down after link-up doubles at most this many times (8 x Master_Down_Interval).
const MAX_FLAP_LEVEL: u8 = 3;

fn cs(centiseconds: u64) -> Duration {
    Duration::from_millis(centiseconds * 10)
}

impl Instance {
    pub fn new(params: Params) -> Self {
        let effective_priority = params.priority;
        let master_adver_int_cs = params.advert_int_cs;
        Instance {
            params,
            state: State::Init,
            effective_priority,
            master_adver_int_cs,
            master_down_at: None,
            advert_at: None,
            garp_burst_at: None,
            garp_refresh_at: None,
            preempt_allowed_at: Duration::ZERO,
            last_master: None,
            preempting: false,
            held: false,
            due_while_held: false,
            leaving_until: None,
            handover: true,
            flap_level: 0,
            link_up_at: None,
            tick_phase: Duration::ZERO,
            allowed_sources: Vec::new(),
            stats: Stats::default(),
        }
    }

    /// The daemon's random offset on the advert grid, so that daemons (routers, or
    /// namespaces on one host) do not all send at the same instant of the monotonic clock.
    /// Instances of one daemon share it and still tick together.
    pub fn set_tick_phase(&mut self, phase: Duration) {
        self.tick_phase = phase;
    }
    /// Adverts from other sources are discarded ([`Discard::SourceNotAllowed`]); empty: any.
    pub fn set_allowed_sources(&mut self, sources: Vec<IpAddr>) {
        self.allowed_sources = sources;
    }
    /// false: [`Event::Stop`] drops the VIPs at once, as keepalived does.
    pub fn set_handover(&mut self, handover: bool) {
        self.handover = handover;
    }
    /// A master that is stopping and waits for its successor (VIPs still held).
    pub fn leaving(&self) -> bool {
        self.leaving_until.is_some()
    }

    pub fn state(&self) -> State {
        self.state
    }
    pub fn params(&self) -> &Params {
        &self.params
    }
    pub fn effective_priority(&self) -> u8 {
        self.effective_priority
    }
    pub fn stats(&self) -> &Stats {
        &self.stats
    }
    /// The advert of the last `SendAdvert` could not be queued: the counters count only
    /// adverts that left.
    pub fn advert_not_sent(&mut self, priority: u8) {
        self.stats.tx_adverts = self.stats.tx_adverts.saturating_sub(1);
        if priority == PRIORITY_LEAVING {
            self.stats.tx_priority_zero = self.stats.tx_priority_zero.saturating_sub(1);
        }
    }
    pub fn held(&self) -> bool {
        self.held
    }
    /// A backup whose current master outranks it (higher priority, or equal priority and a
    /// higher address): in a sync group, such a member holds the others back.
    pub fn outranked(&self) -> bool {
        self.state == State::Backup
            && self.last_master.is_some_and(|(ip, prio, _)| {
                prio > self.effective_priority
                    || (prio == self.effective_priority && ip > self.params.primary_ip)
            })
    }
    /// The master we last accepted an advert from: (address, priority).
    pub fn master(&self) -> Option<(IpAddr, u8)> {
        match self.state {
            State::Master => Some((self.params.primary_ip, self.effective_priority)),
            State::Backup => self.last_master.map(|(ip, prio, _)| (ip, prio)),
            _ => None,
        }
    }
    /// The shell learns our source address from the interface, and it may change while
    /// the instance runs (DHCP, an operator): the tie-break and the own-advert check follow.
    pub fn set_primary_ip(&mut self, ip: IpAddr) {
        self.params.primary_ip = ip;
    }
    /// A reload changed the configured priority; the caller follows with
    /// [`Event::PriorityChanged`] carrying the new effective priority.
    pub fn set_configured_priority(&mut self, priority: u8) {
        self.params.priority = priority;
    }
    /// A reload changed what the instance is configured with, not its identity: the state,
    /// its timers and the learned source address stay. A master with a new advert interval
    /// advertises it at once, so v3 backups learn it before their down timers (still on the
    /// old interval) run out. The caller follows with [`Event::PriorityChanged`] when the
    /// effective priority changes.
    pub fn reconfigure(&mut self, now: Time, params: Params) {
        let primary_ip = self.params.primary_ip;
        let new_interval = params.advert_int_cs != self.params.advert_int_cs;
        self.params = Params {
            primary_ip,
            ..params
        };
        if self.params.version == Version::V2 || self.state == State::Master {
            self.master_adver_int_cs = self.params.advert_int_cs;
        }
        if self.state == State::Master {
            if new_interval {
                self.advert_at = Some(now);
            }
            let refresh = self.params.garp.refresh;
            self.garp_refresh_at = match self.garp_refresh_at {
                _ if refresh.is_zero() => None,
                Some(t) => Some(t.min(now + refresh)),
                None => Some(now + refresh),
            };
        }
    }
    /// Lower-priority masters are not preempted before this (preempt_delay after start-up,
    /// the flap hold-down after FAULT -> BACKUP).
    pub fn preempt_allowed_at(&self) -> Time {
        self.preempt_allowed_at
    }
    pub fn master_adver_int_cs(&self) -> u16 {
        self.master_adver_int_cs
    }

    /// Skew_Time: v2 (256 - Priority) / 256 s; v3 ((256 - Priority) * Master_Adver_Interval) / 256.
    pub fn skew_time(&self) -> Duration {
        let weight = 256 - u64::from(self.effective_priority);
        match self.params.version {
            Version::V2 => Duration::from_micros(weight * 1_000_000 / 256),
            Version::V3 => {
                Duration::from_micros(weight * u64::from(self.master_adver_int_cs) * 10_000 / 256)
            }
        }
    }

    /// Master_Down_Interval = 3 * Master_Adver_Interval + Skew_Time.
    pub fn master_down_interval(&self) -> Duration {
        cs(3 * u64::from(self.master_adver_int_cs)) + self.skew_time()
    }

    fn advert_interval(&self) -> Duration {
        cs(u64::from(self.params.advert_int_cs))
    }

    /// The earliest time at which this instance wants an [`Event::Timer`].
    pub fn next_deadline(&self) -> Option<Time> {
        earliest([
            self.master_down_at,
            self.advert_at,
            self.garp_burst_at,
            self.garp_refresh_at,
            self.leaving_until,
        ])
    }

    pub fn handle(
        &mut self,
        now: Time,
        event: Event,
        out: &mut Vec<Action>,
    ) -> Result<(), Discard> {
        if self.leaving_until.is_some() {
            return self.while_leaving(now, event, out);
        }
        match event {
            Event::Startup => {
                if self.state == State::Init {
                    self.start(now, Reason::Startup, out);
                }
            }
            Event::Timer => self.on_timer(now, out),
            Event::Advert(advert) => return self.on_advert(now, &advert, out),
            Event::PriorityChanged(priority) => self.on_priority(now, priority, out),
            Event::LinkDown => {
                if matches!(self.state, State::Backup | State::Master | State::Init) {
                    if self.state == State::Master {
                        out.push(Action::RemoveVips);
                        self.stats.release_master += 1;
                    }
                    self.enter(now, State::Fault, Reason::LinkDown, out);
                    self.note_link_down(now);
                }
            }
            Event::LinkUp => {
                if self.state == State::Fault {
                    self.start(now, Reason::LinkUp, out);
                    self.hold_down_after_link_up(now);
                }
            }
            Event::Shutdown => self.shutdown(now, out),
            Event::Stop if self.state == State::Master && self.handover => {
                self.leaving_until = Some(now + self.stop_bound());
                self.garp_burst_at = None;
                self.garp_refresh_at = None;
                self.send_leaving(now, out);
            }
            Event::Stop => self.shutdown(now, out),
            Event::GroupHold(held) => self.on_group_hold(now, held, out),
        }
        Ok(())
    }

    fn shutdown(&mut self, now: Time, out: &mut Vec<Action>) {
        if self.state == State::Master {
            self.leave_master(out);
        }
        if self.state != State::Init {
            self.enter(now, State::Init, Reason::Shutdown, out);
        }
    }

    /// How long a stopping master keeps its VIPs at most: the Skew_Time of the slowest
    /// possible backup (priority 1: backups never advertise, so their priorities are unknown)
    /// plus one advert interval for its first advert to arrive. A v3 backup has learned our
    /// interval, a v2 one has the same; unicast or multicast alike. v2 at 1 s: 1.996 s; v3 at
    /// 0.1 s: 0.1996 s.
    pub fn stop_bound(&self) -> Duration {
        let interval_us = u64::from(self.params.advert_int_cs) * 10_000;
        let skew_us = match self.params.version {
            Version::V2 => 255 * 1_000_000 / 256,
            Version::V3 => 255 * interval_us / 256,
        };
        Duration::from_micros(skew_us + interval_us)
    }

    /// Make before break (the stopping master of [`Event::Stop`]). keepalived drops the VIPs
    /// with its priority-0 advert, so nobody answers for them until the backup's Skew_Time
    /// has passed (~0.37 s of pings lost at 1 s adverts). We keep answering until the new
    /// master's first advert says it holds them; priority 0 is repeated on our advert grid
    /// in case one is lost (a backup only ever brings its timer forward on it).
    fn while_leaving(
        &mut self,
        now: Time,
        event: Event,
        out: &mut Vec<Action>,
    ) -> Result<(), Discard> {
        match event {
            Event::Timer if self.leaving_until.is_some_and(|t| t <= now) => {
                self.finish_leaving(now, Reason::HandedOver { to: None }, out);
            }
            Event::Timer if self.advert_at.is_some_and(|t| t <= now) => self.send_leaving(now, out),
            Event::Advert(advert) => {
                if let Err(discard) = self.check(&advert) {
                    self.stats.discarded += 1;
                    return Err(discard);
                }
                self.stats.rx_adverts += 1;
                if advert.priority == PRIORITY_LEAVING {
                    self.stats.rx_priority_zero += 1;
                } else {
                    // Only a master advertises: whatever its priority, it holds the VIPs now.
                    let to = Some(advert.src);
                    self.finish_leaving(now, Reason::HandedOver { to }, out);
                }
            }
            Event::LinkDown => self.finish_leaving(now, Reason::LinkDown, out),
            Event::Shutdown | Event::Stop => self.finish_leaving(now, Reason::Shutdown, out),
            Event::Timer
            | Event::Startup
            | Event::LinkUp
            | Event::PriorityChanged(_)
            | Event::GroupHold(_) => {}
        }
        Ok(())
    }

    fn send_leaving(&mut self, now: Time, out: &mut Vec<Action>) {
        out.push(Action::SendAdvert {
            priority: PRIORITY_LEAVING,
        });
        self.stats.tx_adverts += 1;
        self.stats.tx_priority_zero += 1;
        self.advert_at = Some(self.next_advert_slot(now));
    }

    fn finish_leaving(&mut self, now: Time, reason: Reason, out: &mut Vec<Action>) {
        self.leaving_until = None;
        out.push(Action::RemoveVips);
        self.stats.release_master += 1;
        self.enter(now, State::Init, reason, out);
    }

    /// Flap damping. Our fast preemption (a lower-priority master is taken over after
    /// Skew_Time, see `backup_rx`) turns a flapping link into a flapping master: up, preempt
    /// within ~50 ms, down again while the other node needs Master_Down_Interval to take
    /// back. keepalived never preempts faster than Master_Down_Interval after FAULT ->
    /// BACKUP (it ignores lower-priority adverts and lets its down timer run out), which
    /// damps by accident. We wait at least that long after the link comes back, and the
    /// wait doubles (up to 8 times) each time the link went down again within twice the
    /// previous wait; a link that stayed up that long resets it. A hold-down that grows with
    /// flaps, like route flap damping, because a link that flaps slower than one
    /// Master_Down_Interval would otherwise still move the master on every flap.
    fn hold_down(&self) -> Duration {
        self.master_down_interval() * (1u32 << self.flap_level)
    }

    fn hold_down_after_link_up(&mut self, now: Time) {
        self.link_up_at = Some(now);
        self.preempt_allowed_at = self.preempt_allowed_at.max(now + self.hold_down());
    }

    fn note_link_down(&mut self, now: Time) {
        if let Some(up) = self.link_up_at.take() {
            self.flap_level = if now.saturating_sub(up) < self.hold_down() * 2 {
                (self.flap_level + 1).min(MAX_FLAP_LEVEL)
            } else {
                0
            };
        }
    }

    /// RFC 5798 §6.4.3: a leaving master sends priority 0 so a backup takes over after
    /// Skew_Time instead of Master_Down_Interval, then drops the VIPs.
    fn leave_master(&mut self, out: &mut Vec<Action>) {
        out.push(Action::SendAdvert {
            priority: PRIORITY_LEAVING,
        });
        self.stats.tx_adverts += 1;
        self.stats.tx_priority_zero += 1;
        out.push(Action::RemoveVips);
        self.stats.release_master += 1;
    }

    fn on_group_hold(&mut self, now: Time, held: bool, out: &mut Vec<Action>) {
        if held == self.held {
            return;
        }
        self.held = held;
        match self.state {
            State::Master if held => self.yield_to_group(now, out),
            State::Backup if !held && self.due_while_held => {
                self.due_while_held = false;
                self.master_down_at = Some(now);
                self.on_timer(now, out);
            }
            _ => {}
        }
    }

    /// Leave as on shutdown, so the peer's member of the group takes over after Skew_Time and
    /// the group moves together.
    fn yield_to_group(&mut self, now: Time, out: &mut Vec<Action>) {
        self.leave_master(out);
        self.master_down_at = Some(now + self.master_down_interval());
        self.enter(now, State::Backup, Reason::SyncGroup, out);
    }

    /// Initialize state (RFC 5798 §6.4.1): the owner becomes master at once, everyone else
    /// listens for Master_Down_Interval as a backup.
    fn start(&mut self, now: Time, reason: Reason, out: &mut Vec<Action>) {
        self.master_adver_int_cs = self.params.advert_int_cs;
        self.preempt_allowed_at = now + self.params.preempt_delay;
        self.last_master = None;
        self.preempting = false;
        if self.effective_priority == PRIORITY_OWNER {
            self.become_master(now, Reason::AddressOwner, out);
        } else {
            self.master_down_at = Some(now + self.master_down_interval());
            self.enter(now, State::Backup, reason, out);
        }
    }

    fn enter(&mut self, now: Time, to: State, reason: Reason, out: &mut Vec<Action>) {
        let from = self.state;
        self.state = to;
        if to != State::Master {
            self.advert_at = None;
            self.garp_burst_at = None;
            self.garp_refresh_at = None;
        }
        if to != State::Backup {
            self.master_down_at = None;
            self.preempting = false;
        }
        self.due_while_held = false;
        out.push(Action::Transition {
            from,
            to,
            reason,
            at: now,
        });
    }

    fn become_master(&mut self, now: Time, reason: Reason, out: &mut Vec<Action>) {
        // The advert goes first so that the old master drops the VIPs before our GARPs land
        // (keepalived does the same).
        self.send_advert(now, out);
        out.push(Action::AddVips);
        let garp = self.params.garp;
        if garp.repeat > 0 {
            out.push(Action::SendGarp { count: garp.repeat });
        }
        self.stats.become_master += 1;
        // A master has no master of its own: a stale one would later make it look outranked.
        self.last_master = None;
        self.enter(now, State::Master, reason, out);
        self.garp_burst_at = (garp.repeat > 0 && !garp.delay.is_zero()).then(|| now + garp.delay);
        self.garp_refresh_at = (!garp.refresh.is_zero()).then(|| now + garp.refresh);
    }

    fn send_advert(&mut self, now: Time, out: &mut Vec<Action>) {
        out.push(Action::SendAdvert {
            priority: self.effective_priority,
        });
        self.stats.tx_adverts += 1;
        self.advert_at = Some(self.next_advert_slot(now));
    }

    /// The next advert is due at the next point of a grid of the advert interval, shifted by
    /// the process's tick phase. Every instance with the same interval then ticks at the same
    /// instants, so one wake-up serves all of them and their adverts leave in one `sendmmsg`.
    /// The gap is never longer than one interval; a short first gap only sends one advert
    /// early, which backups accept.
    fn next_advert_slot(&self, now: Time) -> Time {
        // u64, not the u128 of as_micros: 128-bit division is 2 KiB of code on MIPS.
        let micros = |d: Duration| {
            d.as_secs()
                .saturating_mul(1_000_000)
                .saturating_add(u64::from(d.subsec_micros()))
        };
        let interval = micros(self.advert_interval()).max(1);
        let phase = micros(self.tick_phase) % interval;
        // The first point k * interval + phase after now (phase < interval, so no underflow).
        let k = (micros(now).saturating_add(interval) - phase) / interval;
        Duration::from_micros(k.saturating_mul(interval).saturating_add(phase))
    }

    fn on_timer(&mut self, now: Time, out: &mut Vec<Action>) {
        match self.state {
            State::Backup => {
                if self.master_down_at.is_some_and(|t| t <= now) {
                    if self.held {
                        // The group waits: take over when the hold ends, unless a master
                        // is heard again first.
                        self.master_down_at = None;
                        self.due_while_held = true;
                        return;
                    }
                    let reason = match self.last_master {
                        Some((from, PRIORITY_LEAVING, _)) => Reason::MasterLeft { from },
                        Some((from, priority, _)) if self.preempting => {
                            Reason::Preempt { from, priority }
                        }
                        other => Reason::MasterDown {
                            last: other.map(|(ip, _, t)| (ip, t)),
                        },
                    };
                    self.become_master(now, reason, out);
                }
            }
            State::Master => {
                if self.advert_at.is_some_and(|t| t <= now) {
                    self.send_advert(now, out);
                }
                if self.garp_burst_at.is_some_and(|t| t <= now) {
                    self.garp_burst_at = None;
                    out.push(Action::SendGarp {
                        count: self.params.garp.repeat,
                    });
                }
                if let Some(t) = self.garp_refresh_at.filter(|t| *t <= now) {
                    let period = self.params.garp.refresh;
                    let mut next = t + period;
                    if next <= now {
                        next = now + period;
                    }
                    self.garp_refresh_at = Some(next);
                    out.push(Action::SendGarp {
                        count: self.params.garp.refresh_repeat.max(1),
                    });
                }
            }
            State::Init | State::Fault => {}
        }
    }

    fn check(&self, advert: &RxAdvert) -> Result<(), Discard> {
        if !matches!(self.state, State::Backup | State::Master) {
            return Err(Discard::NotListening);
        }
        if advert.version != self.params.version {
            return Err(Discard::VersionMismatch);
        }
        if advert.src == self.params.primary_ip {
            return Err(Discard::OwnAddress);
        }
        if !self.allowed_sources.is_empty() && !self.allowed_sources.contains(&advert.src) {
            return Err(Discard::SourceNotAllowed);
        }
        if self.params.version == Version::V2 {
            if advert.adver_int_cs != self.params.advert_int_cs {
                return Err(Discard::IntervalMismatch);
            }
            let auth_ok = match self.params.auth {
                None => advert.auth_type == 0,
                Some(pass) => advert.auth_type == 1 && advert.auth_data == pass,
            };
            if !auth_ok {
                return Err(Discard::AuthMismatch);
            }
        }
        Ok(())
    }

    fn on_advert(
        &mut self,
        now: Time,
        advert: &RxAdvert,
        out: &mut Vec<Action>,
    ) -> Result<(), Discard> {
        if let Err(discard) = self.check(advert) {
            self.stats.discarded += 1;
            return Err(discard);
        }
        self.stats.rx_adverts += 1;
        if advert.priority == PRIORITY_LEAVING {
            self.stats.rx_priority_zero += 1;
        }
        match self.state {
            State::Backup => self.backup_rx(now, advert),
            State::Master => {
                self.master_rx(now, advert, out);
                Ok(())
            }
            State::Init | State::Fault => Ok(()),
        }
    }

    /// RFC 5798 §6.4.2, Backup receiving an ADVERTISEMENT.
    fn backup_rx(&mut self, now: Time, advert: &RxAdvert) -> Result<(), Discard> {
        if advert.priority == PRIORITY_LEAVING {
            self.last_master = Some((advert.src, PRIORITY_LEAVING, now));
            self.preempting = false;
            let at = now + self.skew_time();
            self.master_down_at = Some(self.master_down_at.map_or(at, |t| t.min(at)));
            return Ok(());
        }
        let may_preempt = self.params.preempt && now >= self.preempt_allowed_at;
        if !may_preempt || advert.priority >= self.effective_priority {
            if self.params.version == Version::V3 {
                // v3 backups learn the master's interval (RFC 5798 §6.4.2).
                self.master_adver_int_cs = advert.adver_int_cs;
            }
            self.last_master = Some((advert.src, advert.priority, now));
            self.preempting = false;
            self.due_while_held = false;
            self.master_down_at = Some(now + self.master_down_interval());
            return Ok(());
        }
        // A lower-priority master and we may preempt. The RFC discards the advert and lets
        // Master_Down_Interval run out (keepalived too: ~3.6 s at 1 s adverts). We also
        // bring the down timer forward to Skew_Time, the same fast takeover the RFC uses for
        // priority 0: when several backups outrank the master, the highest has the shortest
        // skew, becomes master first, and its advert resets the others' timers. So a
        // restarted high-priority node takes its VIP back within one advert interval plus
        // skew, and still never makes a second master while the first one is heard.
        if self.params.version == Version::V3 {
            // Needed if our priority drops again and we fall back to waiting for it.
            self.master_adver_int_cs = advert.adver_int_cs;
        }
        self.last_master = Some((advert.src, advert.priority, now));
        self.preempting = true;
        let at = now + self.skew_time();
        self.master_down_at = Some(self.master_down_at.map_or(at, |t| t.min(at)));
        Err(Discard::LowerPriority)
    }

    /// RFC 5798 §6.4.3 (and RFC 9568), Master receiving an ADVERTISEMENT.
    fn master_rx(&mut self, now: Time, advert: &RxAdvert, out: &mut Vec<Action>) {
        if advert.priority == PRIORITY_LEAVING {
            self.send_advert(now, out);
            return;
        }
        let ours = self.effective_priority;
        let higher = advert.priority > ours;
        let tie_lost = advert.priority == ours && advert.src > self.params.primary_ip;
        if higher || tie_lost {
            if self.params.version == Version::V3 {
                self.master_adver_int_cs = advert.adver_int_cs;
            }
            self.last_master = Some((advert.src, advert.priority, now));
            // A parting advert at our own priority: when a split brain ends and we hear the
            // winner first, the winner has not heard us and keeps the clients that followed
            // our GARPs. This lower-priority advert makes it answer with its advert and
            // GARPs at once (below; keepalived's winner does the same with its default
            // garp_lower_prio_repeat). keepalived's own loser leaves silently.
            out.push(Action::SendAdvert { priority: ours });
            self.stats.tx_adverts += 1;
            out.push(Action::RemoveVips);
            self.stats.release_master += 1;
            let reason = if higher {
                Reason::HigherPriority {
                    from: advert.src,
                    priority: advert.priority,
                }
            } else {
                Reason::EqualPriorityHigherAddress { from: advert.src }
            };
            self.master_down_at = Some(now + self.master_down_interval());
            self.enter(now, State::Backup, reason, out);
            return;
        }
        // A lower-priority (or equal, lower-address) master: RFC 9568 §6.4.3 answers at once
        // so it steps down now rather than after its own timer; keepalived also re-sends its
        // GARPs so that switches and hosts that followed the other master come back.
        self.send_advert(now, out);
        let count = self.params.garp.repeat.max(1);
        out.push(Action::SendGarp { count });
        out.push(Action::MasterRxLowerPri);
    }

    fn on_priority(&mut self, now: Time, priority: u8, out: &mut Vec<Action>) {
        let priority = priority.max(1);
        if priority == self.effective_priority {
            return;
        }
        self.effective_priority = priority;
        match self.state {
            // Tell the backups at once: one that now outranks us preempts after its skew
            // rather than waiting for our next scheduled advert.
            // An address owner became master while held (owners do not wait); no longer
            // the owner, it yields to the group as any held master (found by fuzzing).
            State::Master if self.held && priority != PRIORITY_OWNER => {
                self.yield_to_group(now, out)
            }
            State::Master => self.send_advert(now, out),
            State::Backup => {
                if priority == PRIORITY_OWNER {
                    self.become_master(now, Reason::AddressOwner, out);
                } else if let Some((_, master_priority, heard)) =
                    self.last_master.filter(|_| self.preempting)
                {
                    // No longer above the master we were about to preempt: treat its last
                    // advert as accepted instead of taking over from it (found by the
                    // simulation: a takeover here made two masters for one interval).
                    if priority <= master_priority {
                        self.preempting = false;
                        // Long past if the sync group held us meanwhile: due now, never
                        // earlier (found by fuzzing).
                        let down_at = heard + self.master_down_interval();
                        self.master_down_at = Some(down_at.max(now));
                    }
                }
            }
            State::Init | State::Fault => {}
        }
    }
}
