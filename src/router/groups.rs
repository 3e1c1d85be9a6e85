//! vrrp_sync_group: members hold each other back so a group's VIPs stay on one node, and the
//! group's notify scripts run when all members agree on a state.

use log::info;

use super::{Action, Router};
use crate::instance::{Event, State, Time};

impl Router {
    /// Which sync group each slot belongs to, by name.
    pub(super) fn assign_groups(&mut self) {
        let groups = &self.config.sync_groups;
        for s in &mut self.slots {
            s.group = groups
                .iter()
                .position(|g| g.instances.contains(&s.cfg.name));
        }
    }

    /// keepalived announces every sync group at start, before its members: FAULT when a
    /// member cannot run, else BACKUP (nothing when every member is an address owner).
    pub(super) fn announce_sync_groups(&mut self, _now: Time) {
        for gi in 0..self.config.sync_groups.len() {
            let members = || self.slots.iter().filter(move |s| s.group == Some(gi));
            if members().all(|s| s.cfg.priority == 255) {
                continue;
            }
            let fault = members().any(|s| s.tracked_fault || self.link_usable(s).is_none());
            let state = if fault { State::Fault } else { State::Backup };
            info!("sync group {}: {state}", self.config.sync_groups[gi].name);
            self.group_states[gi] = Some(state);
            self.actions
                .push_back(Action::GroupTransition { group: gi, state });
        }
    }

    /// A member that is backup to a master outranking it holds the other members back (a
    /// master steps down, a backup does not take over); then the group's notify scripts run
    /// when all members agree on a state. No allocation.
    pub(super) fn apply_sync_groups(&mut self, now: Time) {
        if self.config.sync_groups.is_empty() {
            return;
        }
        // A member released in one pass may take over and so stop holding one checked before
        // it: repeat until nothing changes, at most once per member.
        for _ in 0..=self.slots.len() {
            if !self.apply_holds(now) {
                break;
            }
        }
        self.announce_agreed_groups();
    }

    /// One pass of the holds; whether any changed.
    fn apply_holds(&mut self, now: Time) -> bool {
        let mut changed = false;
        for i in 0..self.slots.len() {
            let Some(group) = self.slots[i].group else {
                continue;
            };
            let hold = self
                .slots
                .iter()
                .enumerate()
                .any(|(j, s)| j != i && s.group == Some(group) && s.inst.outranked());
            if hold != self.slots[i].inst.held() {
                let name = &self.slots[i].cfg.name;
                if hold {
                    info!("{name}: held as backup by its sync group");
                } else {
                    info!("{name}: released by its sync group");
                }
                self.feed(i, now, Event::GroupHold(hold));
                changed = true;
            }
        }
        changed
    }

    /// A group's notify scripts run when all its members agree on a new state.
    fn announce_agreed_groups(&mut self) {
        for gi in 0..self.config.sync_groups.len() {
            let mut members = self.slots.iter().filter(|s| s.group == Some(gi));
            let Some(first) = members.next().map(|s| s.inst.state()) else {
                continue;
            };
            if !members.all(|s| s.inst.state() == first) {
                continue;
            }
            match self.group_states[gi] {
                Some(known) if known == first => continue,
                // Nothing to say before the group has left Init.
                None if first == State::Init => continue,
                _ => self.group_states[gi] = Some(first),
            }
            info!("sync group {}: {first}", self.config.sync_groups[gi].name);
            self.actions.push_back(Action::GroupTransition {
                group: gi,
                state: first,
            });
        }
    }
}
