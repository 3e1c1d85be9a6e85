//! Tracking results turned into effective priorities and FAULT, and each instance's interface
//! followed (up, down, re-created, new source address).

use log::{info, warn};

use super::{FaultCause, Op, Phase, Router, Slot};
use crate::config::{Config, InstanceConfig};
use crate::instance::{Event, State, Time, PRIORITY_LEAVING};
use crate::links::Usable;
use crate::packet::Family;
use crate::track::{self, Effect, Health};

/// One tracking result from the shell, by the name of its config section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrackResult<'a> {
    Script(&'a str, Health),
    Process(&'a str, Health),
    /// The number a `vrrp_track_file` holds (0 when missing or unreadable).
    File(&'a str, i64),
}

/// The last result of every tracked thing, in the order of the config's sections.
#[derive(Debug, Default)]
pub(super) struct TrackTable {
    scripts: Vec<Health>,
    processes: Vec<Health>,
    files: Vec<i64>,
}

impl TrackTable {
    pub(super) fn new(config: &Config) -> Self {
        TrackTable {
            scripts: vec![Health::Unknown; config.scripts.len()],
            processes: vec![Health::Unknown; config.track_processes.len()],
            files: vec![0; config.track_files.len()],
        }
    }

    /// The table for a new config, keeping the results of sections whose name stayed.
    pub(super) fn carried_over(&self, old: &Config, new: &Config) -> Self {
        let mut t = TrackTable::new(new);
        for (i, s) in new.scripts.iter().enumerate() {
            if let Some(j) = old.scripts.iter().position(|o| o.name == s.name) {
                t.scripts[i] = self.scripts[j];
            }
        }
        for (i, p) in new.track_processes.iter().enumerate() {
            if let Some(j) = old.track_processes.iter().position(|o| o.name == p.name) {
                t.processes[i] = self.processes[j];
            }
        }
        for (i, f) in new.track_files.iter().enumerate() {
            if let Some(j) = old.track_files.iter().position(|o| o.name == f.name) {
                t.files[i] = self.files[j];
            }
        }
        t
    }
}

impl Router {
    /// Records tracking results; then priorities and faults follow (once running).
    pub fn handle_track<'a>(
        &mut self,
        now: Time,
        results: impl IntoIterator<Item = TrackResult<'a>>,
    ) {
        let c = &self.config;
        let t = &mut self.track;
        for r in results {
            match r {
                TrackResult::Script(name, h) => {
                    if let Some(i) = c.scripts.iter().position(|s| s.name == name) {
                        t.scripts[i] = h;
                    }
                }
                TrackResult::Process(name, h) => {
                    if let Some(i) = c.track_processes.iter().position(|p| p.name == name) {
                        t.processes[i] = h;
                    }
                }
                TrackResult::File(name, v) => {
                    if let Some(i) = c.track_files.iter().position(|f| f.name == name) {
                        t.files[i] = v;
                    }
                }
            }
        }
        self.refresh(now);
        self.settle(now);
    }

    /// What each tracked thing of an instance does to it (keepalived's weights).
    fn effects<'a>(&'a self, cfg: &'a InstanceConfig) -> impl Iterator<Item = Effect> + 'a {
        let c = &self.config;
        let t = &self.track;
        let scripts = cfg.track_scripts.iter().map(move |r| {
            let i = c.scripts.iter().position(|s| s.name == r.name);
            let weight = r.weight.or(i.map(|i| c.scripts[i].weight)).unwrap_or(0);
            track::script_effect(i.map_or(Health::Unknown, |i| t.scripts[i]), weight)
        });
        let interfaces = cfg.track_interfaces.iter().map(move |r| {
            let up = self.links.by_name(&r.name).is_some_and(|l| l.up);
            track::interface_effect(up, r.weight)
        });
        let processes = cfg.track_processes.iter().map(move |r| {
            let i = c.track_processes.iter().position(|p| p.name == r.name);
            let weight = r.weight.or(i.map(|i| c.track_processes[i].weight));
            let health = i.map_or(Health::Unknown, |i| t.processes[i]);
            track::script_effect(health, weight.unwrap_or(0))
        });
        let files = cfg.track_files.iter().map(move |r| {
            let i = c.track_files.iter().position(|f| f.name == r.name);
            let weight = r.weight.or(i.map(|i| c.track_files[i].weight)).unwrap_or(1);
            track::file_effect(i.map_or(0, |i| t.files[i]), weight)
        });
        scripts.chain(interfaces).chain(files).chain(processes)
    }

    /// The instance's interface and source address, when usable (not counting tracking).
    pub(super) fn link_usable(&self, slot: &Slot) -> Option<Usable> {
        let ipv6 = slot.family() == Family::V6;
        let cfg = &slot.cfg;
        let is_vip = |a| {
            self.slots.iter().any(|s| {
                s.vip_addrs.contains(&a) || s.cfg.vips_excluded.iter().any(|v| v.addr == a)
            })
        };
        let down_ok = cfg.dont_track_primary;
        self.links
            .usable(&cfg.interface, ipv6, cfg.unicast_src_ip, down_ok, is_vip)
    }

    /// Recomputes every instance's effective priority and tracked FAULT; a member with a
    /// fault of its own (tracking or link) holds every member of its sync group in FAULT, so
    /// the whole group fails over together. No allocation.
    pub(super) fn apply_tracking(&mut self, now: Time) {
        for i in 0..self.slots.len() {
            let s = &self.slots[i];
            let tracked = track::any_fault(self.effects(&s.cfg));
            let own = tracked || self.link_usable(s).is_none();
            let priority =
                track::effective_priority(s.inst.params().priority, self.effects(&s.cfg));
            let s = &mut self.slots[i];
            s.own_fault = own;
            s.tracking_failed = tracked;
            let old = s.inst.effective_priority();
            if priority != old {
                info!("{}: effective priority {old} -> {priority}", s.cfg.name);
                self.feed(i, now, Event::PriorityChanged(priority));
            }
        }
        for i in 0..self.slots.len() {
            let s = &self.slots[i];
            let held = s.group.is_some_and(|g| {
                self.slots
                    .iter()
                    .enumerate()
                    .any(|(j, o)| j != i && o.own_fault && o.group == Some(g))
            });
            let fault = s.tracking_failed || held;
            if fault != s.tracked_fault {
                let name = &s.cfg.name;
                if fault {
                    info!("{name}: a tracked script, file, process or interface, or its sync group, is failing: FAULT");
                } else {
                    info!("{name}: tracking and sync group are good again");
                }
            }
            self.slots[i].tracked_fault = fault;
        }
    }

    /// Re-checks every instance's interface and feeds link up/down to those that changed.
    pub(super) fn reevaluate(&mut self, now: Time) {
        for i in 0..self.slots.len() {
            let s = &self.slots[i];
            let usable = if s.tracked_fault {
                None
            } else {
                self.link_usable(s)
            };
            let startable = s.inst.state() == State::Init && self.phase == Phase::Running;
            match (s.usable, usable) {
                (_, Some(u)) if startable => {
                    self.bring_up(i, u);
                    self.feed(i, now, Event::Startup);
                }
                (None, Some(u)) => {
                    self.bring_up(i, u);
                    self.feed(i, now, Event::LinkUp);
                    self.slots[i].fault_cause = None;
                }
                (Some(o), Some(u)) if o.ifindex != u.ifindex => {
                    // The interface was re-created: start again on the new one.
                    self.fault(i, now, FaultCause::Link);
                    self.bring_up(i, u);
                    self.feed(i, now, Event::LinkUp);
                    self.slots[i].fault_cause = None;
                }
                (Some(o), Some(u)) => {
                    if o != u {
                        self.slots[i].usable = Some(u);
                        self.slots[i].inst.set_primary_ip(u.source);
                    }
                }
                (Some(_), None) => {
                    let cause = if s.tracked_fault {
                        FaultCause::Tracking
                    } else {
                        FaultCause::Link
                    };
                    self.fault(i, now, cause);
                }
                (None, None) if startable => {
                    warn!(
                        "{}: interface {} is missing, down or has no {} address yet; FAULT until it is usable",
                        s.cfg.name,
                        s.cfg.interface,
                        if s.family() == Family::V6 { "link-local IPv6" } else { "IPv4" }
                    );
                    let cause = if s.tracked_fault {
                        FaultCause::Tracking
                    } else {
                        FaultCause::Link
                    };
                    self.slots[i].fault_cause = Some(cause);
                    self.feed(i, now, Event::LinkDown);
                }
                (None, None) => {}
            }
        }
    }

    /// The instance goes to FAULT on the link it had.
    fn fault(&mut self, i: usize, now: Time, cause: FaultCause) {
        // A master that gives up because of tracking still has a working link: it says so
        // with a priority-0 advert (as keepalived does) so a backup takes over after
        // Skew_Time, not Master_Down_Interval.
        if cause == FaultCause::Tracking && self.slots[i].inst.state() == State::Master {
            self.emit(
                i,
                Op::SendAdvert {
                    priority: PRIORITY_LEAVING,
                },
            );
        }
        self.slots[i].fault_cause = Some(cause);
        // The VIPs come off the interface we knew (the actions carry it); IPv4 addresses
        // stay on a link that went down, so they must be removed before we forget it.
        self.feed(i, now, Event::LinkDown);
        self.slots[i].usable = None;
    }

    fn bring_up(&mut self, i: usize, u: Usable) {
        let s = &mut self.slots[i];
        s.usable = Some(u);
        s.inst.set_primary_ip(u.source);
        if !s.is_unicast() {
            self.emit(i, Op::JoinGroup);
        }
    }
}
