//! The configuration file: a keepalived-like INI read with rust-ini into a typed [`Config`].
//!
//! Sections and keys carry keepalived's names; lists are repeated keys, one item per line.
//! Every problem is reported with file, line, section and key, and all of them at once.
//! The README's "Configuration reference" documents every key.

mod context;
mod dups;
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

pub use file::{
    describe, read_capped, read_config, read_source, read_stdin_capped, MAX_CONFIG_BYTES,
};
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
    ctx.dropped = scanned.dropped;
    let config = build(&mut ctx, &scanned.sections);
    let [dropped, warnings] = ctx.dropped;
    if warnings > 0 {
        ctx.warnings.push(ConfigWarning {
            file: file.to_string(),
            line: 0,
            section: String::new(),
            key: String::new(),
            message: WarningKind::MoreWarnings { count: warnings },
        });
    }
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
        if dropped > 0 {
            let kind = ErrorKind::MoreErrors { count: dropped };
            ctx.errors.push(ConfigError {
                file: file.to_string(),
                line: 0,
                section: String::new(),
                key: String::new(),
                kind,
            });
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

/// Whether `name` is one of `sections` (all of one type), found in `ctx.names`.
fn is_named(ctx: &Ctx, sections: &[(&str, &RawSection)], name: &str) -> bool {
    match sections.first().map(|(_, s)| classify(&s.header)) {
        Some(Ok((kind, _))) => ctx.names.find(name, kind as u128).is_some(),
        _ => false,
    }
}

/// Every section by type (indexed by `SectionType`); a second section of the same type and
/// name is reported and skipped. Sets `ctx.names`.
fn sort_sections<'a>(ctx: &mut Ctx<'a>, raw: &'a [RawSection]) -> [Named<'a>; 6] {
    let mut all = Vec::with_capacity(raw.len());
    for sec in raw {
        match classify(&sec.header) {
            Ok((kind, name)) => all.push((kind, name, sec)),
            Err(kind) => ctx.error(sec, sec.line, "", kind),
        }
    }
    let keys = || {
        all.iter()
            .enumerate()
            .map(|(i, (kind, name, _))| dups::Key::new(name, *kind as u128, i))
    };
    let mut repeated = vec![false; all.len()];
    for (first, again) in dups::repeats(keys().collect()) {
        repeated[again] = true;
        let (first_line, sec) = (all[first].2.line, all[again].2);
        ctx.error(
            sec,
            sec.line,
            "",
            ErrorKind::DuplicateSection { first_line },
        );
    }
    ctx.names = dups::Index::new(keys().collect());
    let mut by_type: [Named<'a>; 6] = Default::default();
    for ((kind, name, sec), repeated) in all.into_iter().zip(repeated) {
        if !repeated {
            by_type[kind as usize].push((name, sec));
        }
    }
    by_type
}

fn build<'a>(ctx: &mut Ctx<'a>, raw: &'a [RawSection]) -> Config {
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

    let mut members = Vec::new();
    let mut sync_groups = Vec::with_capacity(group_secs.len());
    for (name, sec) in &group_secs {
        let at = (&mut members, sync_groups.len());
        let group = sections::read_sync_group(ctx, sec, name, &instance_secs, at, &known);
        sync_groups.push(group);
    }
    sections::check_members(ctx, &mut sync_groups, &group_secs, &members);
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
    let keys = instances
        .iter()
        .enumerate()
        .filter(|(_, i)| i.vrid != 0 && !i.interface.is_empty())
        .map(|(n, i)| dups::Key::new(&i.interface, u128::from(i.vrid) << 1 | i.family as u128, n));
    let line_of =
        |s: &RawSection| context::first(s, "virtual_router_id").map_or(s.line, |e| e.line);
    for (first, again) in dups::repeats(keys.collect()) {
        let (other, (_, other_sec)) = (&instances[first], sections[first]);
        let (inst, (_, sec)) = (&instances[again], sections[again]);
        let kind = ErrorKind::DuplicateVrid {
            vrid: inst.vrid,
            interface: inst.interface.clone(),
            other_instance: other.name.clone(),
            other_line: line_of(other_sec),
        };
        ctx.error(sec, line_of(sec), "virtual_router_id", kind);
    }
}

/// A VIP on the same device in two instances: a warning at the second one's line.
fn check_shared_vips(
    ctx: &mut Ctx,
    instances: &[InstanceConfig],
    sections: &[(&str, &RawSection)],
) {
    // One key per (instance, VIP); `owner` tells whose it is.
    let mut keys = Vec::new();
    let mut owner = Vec::new();
    for (n, inst) in instances.iter().enumerate() {
        for vip in &inst.vips {
            let dev = vip.dev.as_deref().unwrap_or(&inst.interface);
            keys.push(dups::Key::new(dev, dups::ip_num(vip.addr), keys.len()));
            owner.push((n, vip.addr));
        }
    }
    for (first, again) in dups::repeats(keys) {
        if ctx.warnings.len() >= error::MAX_REPORTS {
            ctx.dropped[1] += 1;
            continue;
        }
        let ((other, _), (n, addr)) = (owner[first], owner[again]);
        let (_, sec) = sections[n];
        let line = context::all(sec, "virtual_ipaddress")
            .find(|e| values::vip(&e.value, None).is_ok_and(|v| v.addr == addr))
            .map_or(sec.line, |e| e.line);
        let warning = WarningKind::VipInTwoInstances {
            other_instance: instances[other].name.clone(),
        };
        ctx.warn(sec, line, "virtual_ipaddress", warning);
    }
}

/// `use_vmac = NAME` taken by an earlier instance: keepalived ignores the second name
/// (vrrp_parser.c, vrrp_vmac_handler), so the instance falls back to the default name.
fn check_vmac_names(
    ctx: &mut Ctx,
    instances: &mut [InstanceConfig],
    sections: &[(&str, &RawSection)],
) {
    let keys = instances.iter().enumerate().filter_map(|(n, i)| {
        let name = i.vmac_name.as_deref().filter(|_| i.use_vmac)?;
        Some(dups::Key::new(name, 0, n))
    });
    for (first, again) in dups::repeats(keys.collect()) {
        let (_, sec) = sections[again];
        let line = context::first(sec, "use_vmac").map_or(sec.line, |e| e.line);
        let warning = WarningKind::VmacNameTaken {
            other_instance: instances[first].name.clone(),
        };
        ctx.warn(sec, line, "use_vmac", warning);
        instances[again].vmac_name = None;
    }
}

#[cfg(test)]
mod tests;
