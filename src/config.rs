//! The configuration file: a keepalived-like INI read with rust-ini into a typed [`Config`].
//!
//! Sections and keys carry keepalived's names; lists are repeated keys, one item per line.
//! Every problem is reported with file, line, section and key, and all of them at once.
//! The README's "Configuration reference" documents every key.

mod context;
mod error;
mod file;
mod group_tracking;
mod keywords;
mod live;
mod model;
mod routes;
mod sections;
mod syntax;
mod values;
mod vrrp_instance;

use std::path::Path;

pub use error::{
    ConfigError, ConfigErrors, ConfigWarning, ErrorKind, SyntaxError, WarningKind, SECTION_TYPES,
};
pub use model::{
    Config, GlobalDefs, InitialState, InstanceConfig, NotifyFifo, ParamMatch, ProcessMatch,
    RouteType, RuleAction, SyncGroup, TrackFileRef, TrackInterface, TrackRef, TrackScriptRef, Vip,
    VirtualRoute, VirtualRule, VrrpScript, VrrpTrackFile, VrrpTrackProcess,
};

pub use file::{read_capped, read_config, read_stdin_capped, MAX_CONFIG_BYTES};
pub use live::{host_addrs, load_for_check, load_for_daemon, HostAddr, HostCheck};
pub use routes::RTPROT_KEEPALIVED;

#[cfg(feature = "import")]
pub(crate) use syntax::value_reads_whole;

use context::Ctx;
use syntax::RawSection;

/// A valid configuration and what looked suspicious in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<ConfigWarning>,
}

/// Reads and validates the regular file at `path` (see `file::read_config`).
pub fn load(path: &Path) -> Result<Loaded, ConfigErrors> {
    let file = path.display().to_string();
    match file::read_config(path) {
        Ok(text) => parse_str(&text, &file),
        Err(e) => Err(file::io_error(&file, &e)),
    }
}

/// Validates `text`; `file` is the name used in messages. Lines that cannot be read are
/// reported together with the errors of the lines that can.
pub fn parse_str(text: &str, file: &str) -> Result<Loaded, ConfigErrors> {
    parse_with(text, file, None)
}

/// `parse_str`, plus the checks against this host when `host` is given.
pub fn parse_with(
    text: &str,
    file: &str,
    host: Option<&HostCheck>,
) -> Result<Loaded, ConfigErrors> {
    let scanned = syntax::read_sections(text, file);
    let mut ctx = Ctx::new(file);
    ctx.host = host;
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
        // (An insertion sort: errors come nearly in order, and it is far smaller code.)
        let errors = &mut ctx.errors;
        for i in 1..errors.len() {
            let mut j = i;
            while j > 0 && errors[j - 1].line > errors[j].line {
                errors.swap(j - 1, j);
                j -= 1;
            }
        }
        Err(ConfigErrors(ctx.errors))
    }
}

/// Section types, in the order of `build`'s per-type lists.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum SectionType {
    Global,
    Script,
    TrackFile,
    TrackProcess,
    Instance,
    SyncGroup,
}

/// `[TYPE]` or `[TYPE NAME]`; the name is empty for `[global_defs]`.
fn classify(header: &str) -> Result<(SectionType, &str), ErrorKind> {
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
        (SectionType::Global, None) => Ok((kind, "")),
        (SectionType::Global, Some(_)) => Err(ErrorKind::BadSectionName {
            expected: "[global_defs] without a name",
        }),
        (_, None) => Err(ErrorKind::MissingSectionName),
        (_, Some(_)) if extra => Err(ErrorKind::BadSectionName {
            expected: "one word after the section type, e.g. [vrrp_instance VI_1]",
        }),
        (_, Some(name)) => Ok((kind, name)),
    }
}

/// Named sections of one type, in file order.
type Named<'a> = Vec<(&'a str, &'a RawSection)>;

/// Whether `name` is one of `sections`.
fn is_named(sections: &[(&str, &RawSection)], name: &str) -> bool {
    sections.iter().any(|(n, _)| *n == name)
}

/// Every section by type (indexed by `SectionType`); a second section of the same type and
/// name is reported and skipped.
fn sort_sections<'a>(ctx: &mut Ctx, raw: &'a [RawSection]) -> [Named<'a>; 6] {
    let mut by_type: [Named<'a>; 6] = Default::default();
    for sec in raw {
        match classify(&sec.header) {
            Ok((kind, name)) => {
                let list = &mut by_type[kind as usize];
                match list.iter().find(|(n, _)| *n == name) {
                    Some((_, first)) => {
                        let first_line = first.line;
                        ctx.error(
                            sec,
                            sec.line,
                            "",
                            ErrorKind::DuplicateSection { first_line },
                        )
                    }
                    None => list.push((name, sec)),
                }
            }
            Err(kind) => ctx.error(sec, sec.line, "", kind),
        }
    }
    by_type
}

fn build(ctx: &mut Ctx, raw: &[RawSection]) -> Config {
    let [globals, script_secs, file_secs, process_secs, instance_secs, group_secs] =
        sort_sections(ctx, raw);

    // global_defs first: instances take their defaults from it wherever it is in the file.
    let global = match globals.first() {
        Some((_, sec)) => sections::read_global(ctx, sec),
        None => GlobalDefs::default(),
    };
    let mut scripts = Vec::with_capacity(script_secs.len());
    for (name, sec) in &script_secs {
        scripts.push(sections::read_script(ctx, sec, name));
    }
    let mut track_files = Vec::with_capacity(file_secs.len());
    for (name, sec) in &file_secs {
        track_files.push(sections::read_track_file(ctx, sec, name));
    }
    let mut track_processes = Vec::with_capacity(process_secs.len());
    for (name, sec) in &process_secs {
        track_processes.push(sections::read_track_process(ctx, sec, name));
    }
    let known = vrrp_instance::Known {
        scripts: &script_secs,
        track_files: &file_secs,
        track_processes: &process_secs,
    };
    let mut instances = Vec::with_capacity(instance_secs.len());
    for (name, sec) in &instance_secs {
        instances.push(vrrp_instance::read_instance(
            ctx, sec, name, &global, &known,
        ));
    }
    check_vrids(ctx, &instances, &instance_secs);

    let mut group_of = Vec::new();
    let mut sync_groups = Vec::with_capacity(group_secs.len());
    for (name, sec) in &group_secs {
        let group =
            sections::read_sync_group(ctx, sec, name, &instance_secs, &mut group_of, &known);
        sync_groups.push(group);
    }
    check_vmac_names(ctx, &mut instances, &instance_secs);
    check_shared_vips(ctx, &instances, &instance_secs);
    if let Some(host) = ctx.host {
        live::check_host_vips(ctx, host, &instances, &instance_secs);
    }
    let defaults = group_tracking::Defaults {
        scripts: &scripts,
        files: &track_files,
        processes: &track_processes,
    };
    for (group, (_, sec)) in sync_groups.iter().zip(&group_secs) {
        group_tracking::merge(ctx, group, sec, &mut instances, &instance_secs, &defaults);
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
