//! The configuration file: a keepalived-like INI read with rust-ini into a typed [`Config`].
//!
//! Sections and keys carry keepalived's names; lists are repeated keys, one item per line.
//! Every problem is reported with file, line, section and key, and all of them at once.
//! The README's "Configuration reference" documents every key.

mod context;
mod error;
mod group_tracking;
mod keywords;
mod model;
mod routes;
mod sections;
mod syntax;
mod values;
mod vrrp_instance;

use std::collections::HashMap;
use std::path::Path;

pub use error::{
    ConfigError, ConfigErrors, ConfigWarning, ErrorKind, SyntaxError, WarningKind, SECTION_TYPES,
};
pub use model::{
    Config, GlobalDefs, InitialState, InstanceConfig, NotifyFifo, ParamMatch, ProcessMatch,
    RouteType, RuleAction, SyncGroup, TrackFileRef, TrackInterface, TrackRef, TrackScriptRef, Vip,
    VirtualRoute, VirtualRule, VrrpScript, VrrpTrackFile, VrrpTrackProcess,
};

pub use routes::RTPROT_KEEPALIVED;

use context::Ctx;
use syntax::RawSection;

/// A valid configuration and what looked suspicious in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<ConfigWarning>,
}

/// Reads and validates the file at `path`.
pub fn load(path: &Path) -> Result<Loaded, ConfigErrors> {
    let file = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => parse_str(&text, &file),
        Err(e) => Err(ConfigErrors(vec![ConfigError {
            file,
            line: 0,
            section: String::new(),
            key: String::new(),
            kind: ErrorKind::Io {
                kind: e.kind(),
                detail: e.to_string(),
            },
        }])),
    }
}

/// Validates `text`; `file` is the name used in messages. Lines that cannot be read are
/// reported together with the errors of the lines that can.
pub fn parse_str(text: &str, file: &str) -> Result<Loaded, ConfigErrors> {
    let scanned = syntax::read_sections(text, file);
    let mut ctx = Ctx::new(file);
    ctx.errors = scanned.errors;
    ctx.warnings = scanned.warnings;
    let config = build(&mut ctx, &scanned.sections);
    if ctx.errors.is_empty() {
        Ok(Loaded {
            config,
            warnings: ctx.warnings,
        })
    } else {
        // Stable: errors of one line keep the order in which they were found.
        ctx.errors.sort_by_key(|e| e.line);
        Err(ConfigErrors(ctx.errors))
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum SectionType {
    Global,
    Script,
    TrackFile,
    TrackProcess,
    Instance,
    SyncGroup,
}

/// `[TYPE]` or `[TYPE NAME]`.
fn classify(header: &str) -> Result<(SectionType, String), ErrorKind> {
    let mut words = header.split_whitespace();
    let kind = match words.next().unwrap_or("") {
        "global_defs" => SectionType::Global,
        "vrrp_script" => SectionType::Script,
        // keepalived now calls it `track_file` and keeps `vrrp_track_file` as a synonym.
        "vrrp_track_file" | "track_file" => SectionType::TrackFile,
        "vrrp_track_process" => SectionType::TrackProcess,
        "vrrp_instance" => SectionType::Instance,
        "vrrp_sync_group" => SectionType::SyncGroup,
        _ => {
            return Err(ErrorKind::UnknownSection {
                allowed: SECTION_TYPES,
            })
        }
    };
    let name = words.next();
    let extra = words.next().is_some();
    match (kind, name) {
        (SectionType::Global, None) => Ok((kind, String::new())),
        (SectionType::Global, Some(_)) => Err(ErrorKind::BadSectionName {
            expected: "[global_defs] without a name",
        }),
        (_, None) => Err(ErrorKind::MissingSectionName),
        (_, Some(_)) if extra => Err(ErrorKind::BadSectionName {
            expected: "one word after the section type, e.g. [vrrp_instance VI_1]",
        }),
        (_, Some(name)) => Ok((kind, name.to_string())),
    }
}

fn build(ctx: &mut Ctx, raw: &[RawSection]) -> Config {
    // Classify every section once; a second section of the same type and name is reported
    // and skipped.
    let mut seen: HashMap<(SectionType, String), usize> = HashMap::new();
    let mut by_type: Vec<(SectionType, String, &RawSection)> = Vec::new();
    for sec in raw {
        match classify(&sec.header) {
            Ok((kind, name)) => match seen.get(&(kind, name.clone())) {
                Some(&first_line) => ctx.error(
                    sec,
                    sec.line,
                    "",
                    ErrorKind::DuplicateSection { first_line },
                ),
                None => {
                    seen.insert((kind, name.clone()), sec.line);
                    by_type.push((kind, name, sec));
                }
            },
            Err(kind) => ctx.error(sec, sec.line, "", kind),
        }
    }
    let of = |wanted: SectionType| {
        by_type
            .iter()
            .filter(move |(kind, _, _)| *kind == wanted)
            .map(|(_, name, sec)| (name.as_str(), *sec))
    };

    // global_defs first: instances take their defaults from it wherever it is in the file.
    let global = match of(SectionType::Global).next() {
        Some((_, sec)) => sections::read_global(ctx, sec),
        None => GlobalDefs::default(),
    };
    let scripts: Vec<VrrpScript> = of(SectionType::Script)
        .map(|(name, sec)| sections::read_script(ctx, sec, name))
        .collect();
    let track_files: Vec<VrrpTrackFile> = of(SectionType::TrackFile)
        .map(|(name, sec)| sections::read_track_file(ctx, sec, name))
        .collect();
    let track_processes: Vec<VrrpTrackProcess> = of(SectionType::TrackProcess)
        .map(|(name, sec)| sections::read_track_process(ctx, sec, name))
        .collect();
    let script_names: Vec<&str> = of(SectionType::Script).map(|(n, _)| n).collect();
    let track_file_names: Vec<&str> = of(SectionType::TrackFile).map(|(n, _)| n).collect();
    let track_process_names: Vec<&str> = of(SectionType::TrackProcess).map(|(n, _)| n).collect();
    let known = vrrp_instance::Known {
        scripts: &script_names,
        track_files: &track_file_names,
        track_processes: &track_process_names,
    };
    let instance_sections: Vec<(&str, &RawSection)> = of(SectionType::Instance).collect();
    let instances: Vec<InstanceConfig> = instance_sections
        .iter()
        .map(|(name, sec)| vrrp_instance::read_instance(ctx, sec, name, &global, &known))
        .collect();
    check_vrids(ctx, &instances, &instance_sections);

    let instance_names: Vec<&str> = instance_sections.iter().map(|(n, _)| *n).collect();
    let mut group_of = HashMap::new();
    let group_sections: Vec<(&str, &RawSection)> = of(SectionType::SyncGroup).collect();
    let sync_groups: Vec<SyncGroup> = group_sections
        .iter()
        .map(|(name, sec)| {
            sections::read_sync_group(ctx, sec, name, &instance_names, &mut group_of, &known)
        })
        .collect();
    let mut instances = instances;
    check_vmac_names(ctx, &mut instances, &instance_sections);
    check_shared_vips(ctx, &instances, &instance_sections);
    let defaults = group_tracking::Defaults {
        scripts: &scripts,
        files: &track_files,
        processes: &track_processes,
    };
    for (group, (_, sec)) in sync_groups.iter().zip(&group_sections) {
        group_tracking::merge(
            ctx,
            group,
            sec,
            &mut instances,
            &instance_sections,
            &defaults,
        );
    }

    Config {
        global,
        scripts,
        track_files,
        track_processes,
        instances,
        sync_groups,
    }
}

/// One VRID per interface and family (keepalived allows the same VRID for an IPv4 and an IPv6
/// instance on one interface: they are different virtual routers, RFC 5798 §5.2.3).
fn check_vrids(ctx: &mut Ctx, instances: &[InstanceConfig], sections: &[(&str, &RawSection)]) {
    for (i, (inst, (_, sec))) in instances.iter().zip(sections).enumerate() {
        if inst.vrid == 0 || inst.interface.is_empty() {
            continue;
        }
        let earlier = instances.iter().zip(sections).take(i).find(|(other, _)| {
            other.vrid == inst.vrid
                && other.interface == inst.interface
                && other.family == inst.family
        });
        if let Some((other, (_, other_sec))) = earlier {
            let line_of =
                |s: &RawSection| context::first(s, "virtual_router_id").map_or(s.line, |e| e.line);
            let kind = ErrorKind::DuplicateVrid {
                vrid: inst.vrid,
                interface: inst.interface.clone(),
                other_instance: other.name.clone(),
                other_line: line_of(other_sec),
            };
            ctx.error(sec, line_of(sec), "virtual_router_id", kind);
        }
    }
}

/// A VIP on the same device in two instances: a warning at the second one's line.
fn check_shared_vips(
    ctx: &mut Ctx,
    instances: &[InstanceConfig],
    sections: &[(&str, &RawSection)],
) {
    fn dev<'a>(i: &'a InstanceConfig, v: &'a Vip) -> &'a str {
        v.dev.as_deref().unwrap_or(&i.interface)
    }
    for (i, (inst, (_, sec))) in instances.iter().zip(sections).enumerate() {
        for vip in &inst.vips {
            let shared = instances[..i].iter().find(|o| {
                o.vips
                    .iter()
                    .any(|w| w.addr == vip.addr && dev(o, w) == dev(inst, vip))
            });
            let Some(other) = shared else { continue };
            let line = context::all(sec, "virtual_ipaddress")
                .find(|e| values::vip(&e.value, None).is_ok_and(|v| v.addr == vip.addr))
                .map_or(sec.line, |e| e.line);
            let warning = WarningKind::VipInTwoInstances {
                other_instance: other.name.clone(),
            };
            ctx.warn(sec, line, "virtual_ipaddress", warning);
        }
    }
}

/// `use_vmac = NAME` taken by an earlier instance: keepalived ignores the second name
/// (vrrp_parser.c, vrrp_vmac_handler), so the instance falls back to the default name.
fn check_vmac_names(
    ctx: &mut Ctx,
    instances: &mut [InstanceConfig],
    sections: &[(&str, &RawSection)],
) {
    for i in 0..instances.len() {
        let Some(name) = instances[i].vmac_name.clone() else {
            continue;
        };
        let taken = instances[..i]
            .iter()
            .find(|o| o.use_vmac && o.vmac_name.as_deref() == Some(name.as_str()));
        if let (Some(other), Some((_, sec))) = (taken, sections.get(i)) {
            let line = context::first(sec, "use_vmac").map_or(sec.line, |e| e.line);
            let warning = WarningKind::VmacNameTaken {
                other_instance: other.name.clone(),
            };
            ctx.warn(sec, line, "use_vmac", warning);
            instances[i].vmac_name = None;
        }
    }
}

#[cfg(test)]
mod tests;
