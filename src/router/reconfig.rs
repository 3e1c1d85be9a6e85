//! Reload: the new instance table diffed against the running one (`crate::reload::plan`)
//! and applied. Unchanged instances keep their state and VIPs; an instance whose identity
//! stays takes its new priority, VIPs, interval, tracking and routes in place, with no
//! transition and no VIP gap; only a change of how it is on the wire restarts it.

use log::info;

use super::{params_of, Op, Phase, Router, Slot};
use crate::config::{Config, InstanceConfig};
use crate::instance::{Event, Time};
use crate::reload::{self, Change};

/// What a reload did, for the log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReloadSummary {
    pub kept: usize,
    pub changed: usize,
    pub restarted: usize,
    pub removed: usize,
    pub added: usize,
}

impl Router {
    /// Applies a new (already validated) configuration; ignored once stopping.
    pub fn reload(&mut self, now: Time, config: Config) -> ReloadSummary {
        if matches!(self.phase, Phase::Stopping | Phase::Stopped) {
            return ReloadSummary::default();
        }
        let running: Vec<InstanceConfig> = self.slots.iter().map(|s| (*s.cfg).clone()).collect();
        let plan = reload::plan(&running, &config.instances);
        let restarted = self.stop_for_reload(now, &plan);
        let mut sum = ReloadSummary {
            removed: plan.removed.len(),
            added: plan.added.len(),
            restarted,
            ..ReloadSummary::default()
        };
        let mut old: Vec<Option<Slot>> = std::mem::take(&mut self.slots)
            .into_iter()
            .map(Some)
            .collect();
        let mut new: Vec<Option<Slot>> = Vec::new();
        new.resize_with(config.instances.len(), || None);
        let mut in_place = Vec::new();
        for &(oi, ni, change) in &plan.kept {
            let slot = old[oi].take();
            new[ni] = match (change, slot) {
                (Change::Keep, slot) => slot,
                (Change::InPlace, Some(mut s)) => {
                    let cfg = config.instances[ni].clone();
                    in_place.push((ni, *std::mem::replace(&mut s.cfg, Box::new(cfg))));
                    Some(s)
                }
                (_, slot) => {
                    self.retired.extend(slot);
                    Some(self.new_slot(config.instances[ni].clone()))
                }
            };
        }
        for &ni in &plan.added {
            new[ni] = Some(self.new_slot(config.instances[ni].clone()));
        }
        self.retired.extend(old.into_iter().flatten());
        self.slots = new.into_iter().flatten().collect();
        self.index_slots();
        self.adopt(config);
        sum.kept = plan.kept.len() - sum.restarted - in_place.len();
        sum.changed = in_place.len();
        for (i, old_cfg) in in_place {
            self.change_in_place(i, now, old_cfg);
        }
        self.refresh_deadlines();
        // A new instance's addresses may be on the machine already; a restarted one's were
        // just removed by its own stop.
        for &i in &plan.added {
            if self.phase == Phase::Running {
                self.emit(i, Op::RemoveLeftovers { vmac: false });
            }
        }
        // Priority and tracking changes reach the instances here.
        self.refresh(now);
        self.settle(now);
        sum
    }

    /// Stops the instances that go away or restart; returns how many restart.
    fn stop_for_reload(&mut self, now: Time, plan: &reload::Plan) -> usize {
        let restarted = plan.kept.iter().filter(|k| k.2 == Change::Restart);
        let restarted: Vec<usize> = restarted.map(|k| k.0).collect();
        for &oi in plan.removed.iter().chain(&restarted) {
            self.feed(oi, now, Event::Shutdown);
        }
        restarted.len()
    }

    /// The new config replaces the old: tracking results and sync-group states carry over
    /// by name.
    fn adopt(&mut self, config: Config) {
        self.track = self.track.carried_over(&self.config, &config);
        let states: Vec<Option<crate::instance::State>> = config
            .sync_groups
            .iter()
            .map(|g| {
                let old = self
                    .config
                    .sync_groups
                    .iter()
                    .position(|o| o.name == g.name);
                old.and_then(|j| self.group_states[j])
            })
            .collect();
        self.group_states = states;
        self.config = config;
        self.assign_groups();
    }

    /// The slot at `i` has its new config; the state machine and, on a master, the VIPs and
    /// what follows them catch up. New VIPs are announced; nothing else is.
    fn change_in_place(&mut self, i: usize, now: Time, old: InstanceConfig) {
        let s = &mut self.slots[i];
        s.inst.reconfigure(now, params_of(&s.cfg));
        crate::resilience::configure(&mut s.inst, &s.cfg, &self.config, self.tick_phase);
        s.vip_addrs = s.cfg.vips.iter().map(|v| v.addr).collect();
        s.vip_mismatch.clear();
        if s.cfg.vips != old.vips {
            info!("{}: virtual addresses changed in place", s.cfg.name);
        }
        if !s.vips_held {
            return;
        }
        let count = s.inst.params().garp.repeat.max(1);
        let cfg = s.cfg.clone();
        for v in reload::vips_missing(&cfg.vips, &old.vips) {
            self.emit(i, Op::AddVip(v.clone()));
            let addr = v.addr;
            self.emit(i, Op::SendGarpFor { addr, count });
        }
        for v in reload::vips_missing(&old.vips, &cfg.vips) {
            self.emit(i, Op::RemoveVip(v.clone()));
        }
        if reload::followers_changed(&old, &cfg) {
            self.emit(i, Op::ChangeFollowers(Box::new(old)));
            self.emit(i, Op::SendGarp { count: 1 });
        }
    }
}
