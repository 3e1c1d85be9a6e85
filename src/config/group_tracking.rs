//! Tracking given on a `[vrrp_sync_group]` applies to every member, as in keepalived
//! (vrrp.c, sync_group_tracking_init): each member gets the group's entries in its own lists,
//! so the daemon has one rule for both. keepalived's merge rules are kept:
//! - a member that tracks the same thing itself gets the group's weight, unless its own is 0
//!   (FAULT), and a warning;
//! - a group with an address owner (priority 255) among its members cannot move priorities:
//!   the group's weights become 0 (a failure puts the group in FAULT), with a warning.

use super::context::{all, Ctx};
use super::error::WarningKind;
use super::model::VrrpTrackProcess;
use super::model::{InstanceConfig, SyncGroup, TrackRef, VrrpScript, VrrpTrackFile};
use super::syntax::RawSection;

/// The sections a weight defaults from.
pub(super) struct Defaults<'a> {
    pub scripts: &'a [VrrpScript],
    pub files: &'a [VrrpTrackFile],
    pub processes: &'a [VrrpTrackProcess],
}

#[derive(Clone, Copy)]
enum Kind {
    Interface,
    Script,
    File,
    Process,
}

impl Kind {
    fn key(self) -> &'static str {
        match self {
            Kind::Interface => "track_interface",
            Kind::Script => "track_script",
            Kind::File => "track_file",
            Kind::Process => "track_process",
        }
    }

    /// The weight in effect: the entry's own, else its section's (0 = FAULT for interfaces).
    fn weight(self, r: &TrackRef, d: &Defaults) -> i32 {
        r.weight.unwrap_or_else(|| match self {
            Kind::Interface => 0,
            Kind::Script => d
                .scripts
                .iter()
                .find(|s| s.name == r.name)
                .map_or(0, |s| s.weight),
            Kind::File => d
                .files
                .iter()
                .find(|f| f.name == r.name)
                .map_or(1, |f| f.weight),
            Kind::Process => d
                .processes
                .iter()
                .find(|p| p.name == r.name)
                .map_or(0, |p| p.weight),
        })
    }

    fn list(self, i: &mut InstanceConfig) -> &mut Vec<TrackRef> {
        match self {
            Kind::Interface => &mut i.track_interfaces,
            Kind::Script => &mut i.track_scripts,
            Kind::File => &mut i.track_files,
            Kind::Process => &mut i.track_processes,
        }
    }
}

/// Adds `group`'s tracking (read from `group_sec`) to its members in `instances`.
pub(super) fn merge(
    ctx: &mut Ctx,
    group: &SyncGroup,
    group_sec: &RawSection,
    instances: &mut [InstanceConfig],
    sections: &[(&str, &RawSection)],
    defaults: &Defaults,
) {
    let is_member = |i: &InstanceConfig| group.instances.contains(&i.name);
    let owner = instances
        .iter()
        .find(|i| is_member(i) && i.priority == 255)
        .map(|i| i.name.clone());
    let lists = [
        (Kind::Interface, &group.track_interfaces),
        (Kind::Script, &group.track_scripts),
        (Kind::File, &group.track_files),
        (Kind::Process, &group.track_processes),
    ];
    for (kind, entries) in lists {
        for entry in entries {
            let mut weight = kind.weight(entry, defaults);
            if let (Some(instance), true) = (&owner, weight != 0) {
                let line = entry_line(group_sec, kind.key(), &entry.name);
                let warning = WarningKind::GroupWeightWithOwner {
                    instance: instance.clone(),
                };
                ctx.warn(group_sec, line, kind.key(), warning);
                weight = 0;
            }
            for (inst, (_, sec)) in instances.iter_mut().zip(sections) {
                if !is_member(inst) {
                    continue;
                }
                let list = kind.list(inst);
                match list.iter_mut().find(|t| t.name == entry.name) {
                    Some(own) => {
                        let line = entry_line(sec, kind.key(), &entry.name);
                        let warning = WarningKind::TrackedByInstanceAndGroup {
                            group: group.name.clone(),
                        };
                        ctx.warn(sec, line, kind.key(), warning);
                        if kind.weight(own, defaults) != 0 {
                            own.weight = Some(weight);
                        }
                    }
                    None => list.push(TrackRef {
                        name: entry.name.clone(),
                        weight: Some(weight),
                    }),
                }
            }
        }
    }
}

/// The line of the `key` entry naming `name` (the section's line if not found).
fn entry_line(sec: &RawSection, key: &str, name: &str) -> usize {
    all(sec, key)
        .find(|e| e.value.split_whitespace().next() == Some(name))
        .map_or(sec.line, |e| e.line)
}
