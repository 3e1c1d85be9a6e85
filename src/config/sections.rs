//! Readers for the small sections: `[global_defs]`, `[vrrp_script]`, `[vrrp_track_file]`,
//! `[vrrp_sync_group]`, and the notify keys they share with instances.

use super::context::{all, first, Ctx, Range};
use super::error::{ErrorKind, WarningKind};
use super::keywords::{self, Foreign};
use super::model::{
    GlobalDefs, NotifyFifo, ParamMatch, ProcessMatch, SyncGroup, VrrpScript, VrrpTrackFile,
    VrrpTrackProcess,
};
use super::syntax::RawSection;
use super::values::{centiseconds, check_command, flag, interface_name, shell_word, CommandNote};
use super::vrrp_instance::{read_track_interfaces, Known};
use crate::packet::Version;

pub(super) const GLOBAL_KEYS: &[&str] = &[
    "router_id",
    "default_interface",
    "script_user",
    "enable_script_security",
    "vrrp_version",
    "vrrp_garp_master_delay",
    "vrrp_garp_master_repeat",
    "vrrp_garp_master_refresh",
    "vrrp_garp_master_refresh_repeat",
    "vrrp_startup_delay",
    "notify_fifo",
    "notify_fifo_script",
    "vrrp_notify_fifo",
    "vrrp_notify_fifo_script",
    "allowed_sources",
    "stop_handover",
    "metrics_listen",
];

pub(super) const SCRIPT_KEYS: &[&str] = &[
    "script", "interval", "timeout", "weight", "rise", "fall", "user",
];

pub(super) const TRACK_FILE_KEYS: &[&str] = &["file", "weight"];

pub(super) const TRACK_PROCESS_KEYS: &[&str] = &[
    "process",
    "param_match",
    "full_command",
    "weight",
    "quorum",
    "quorum_max",
    "delay",
    "fork_delay",
    "terminate_delay",
];

pub(super) const SYNC_GROUP_KEYS: &[&str] = &[
    "group",
    "track_interface",
    "track_script",
    "track_file",
    "track_process",
    "sync_group_tracking_weight",
    "global_tracking",
    "notify_master",
    "notify_backup",
    "notify_fault",
    "notify_stop",
    "notify",
];

// Ranges shared with instances.
pub(super) const GARP_DELAY: Range = (0, 3600, "0..=3600 seconds");
pub(super) const GARP_REPEAT: Range = (1, 100, "1..=100");
pub(super) const GARP_REFRESH: Range = (0, 86400, "0..=86400 seconds (0 = off)");
const WEIGHT_254: Range = (-254, 254, "-254..=254");

pub(super) fn version(value: &str) -> Result<Version, ErrorKind> {
    match value {
        "2" => Ok(Version::V2),
        "3" => Ok(Version::V3),
        _ => Err(ErrorKind::bad(value, "2, 3")),
    }
}

/// keepalived takes fractions of a second; an hour is more than any boot needs.
fn startup_delay(value: &str) -> Result<u32, ErrorKind> {
    match centiseconds(value) {
        Some(cs) if cs <= 360_000 => Ok(cs as u32),
        Some(_) => Err(ErrorKind::out_of_range(value, "0..=3600 seconds")),
        None => Err(ErrorKind::bad(
            value,
            "seconds with at most 2 decimals, e.g. 5 or 0.5",
        )),
    }
}

pub(super) fn read_global(ctx: &mut Ctx, sec: &RawSection) -> GlobalDefs {
    let foreign = Foreign {
        no_effect: keywords::GLOBAL_NO_EFFECT,
        keepalived: keywords::KEEPALIVED_GLOBAL,
    };
    ctx.check_keys(sec, GLOBAL_KEYS, &["allowed_sources"], foreign);
    let mut g = GlobalDefs {
        router_id: ctx.text(sec, "router_id").map(|v| v.0),
        default_interface: ctx
            .one(sec, "default_interface", interface_name)
            .map(|v| v.0),
        script_user: ctx.one(sec, "script_user", user_name).map(|v| v.0),
        ..GlobalDefs::default()
    };
    if let Some((v, _)) = ctx.one(sec, "enable_script_security", flag) {
        g.enable_script_security = v;
    }
    g.vrrp_version = ctx.one(sec, "vrrp_version", version).map(|v| v.0);
    if let Some((v, _)) = ctx.int(sec, "vrrp_garp_master_delay", GARP_DELAY) {
        g.vrrp_garp_master_delay_s = v as u32;
    }
    if let Some((v, _)) = ctx.int(sec, "vrrp_garp_master_repeat", GARP_REPEAT) {
        g.vrrp_garp_master_repeat = v as u32;
    }
    if let Some((v, _)) = ctx.int(sec, "vrrp_garp_master_refresh", GARP_REFRESH) {
        g.vrrp_garp_master_refresh_s = v as u32;
    }
    if let Some((v, _)) = ctx.int(sec, "vrrp_garp_master_refresh_repeat", GARP_REPEAT) {
        g.vrrp_garp_master_refresh_repeat = v as u32;
    }
    if let Some((v, _)) = ctx.one(sec, "vrrp_startup_delay", startup_delay) {
        g.vrrp_startup_delay_cs = v;
    }
    g.allowed_sources = super::vrrp_instance::read_sources(ctx, sec, None);
    if let Some((v, _)) = ctx.one(sec, "stop_handover", flag) {
        g.stop_handover = v;
    }
    read_metrics_listen(ctx, sec, &mut g);
    g.notify_fifo = read_fifo(ctx, sec, "notify_fifo", "notify_fifo_script");
    g.vrrp_notify_fifo = read_fifo(ctx, sec, "vrrp_notify_fifo", "vrrp_notify_fifo_script");
    if let (Some(global), Some(vrrp)) = (&g.notify_fifo, &g.vrrp_notify_fifo) {
        if global.path == vrrp.path {
            // keepalived drops the VRRP one too: otherwise every line would come twice.
            let line = all(sec, "vrrp_notify_fifo")
                .next()
                .map_or(sec.line, |e| e.line);
            let reason =
                "it is the notify_fifo too; ignored (as keepalived), each line is written once";
            ctx.warn(
                sec,
                line,
                "vrrp_notify_fifo",
                WarningKind::NotifyFifoIgnored { reason },
            );
            g.vrrp_notify_fifo = None;
        }
    }
    g
}

/// `notify_fifo = PATH [USER [GROUP]]` (keepalived's form) and its script.
fn read_fifo(
    ctx: &mut Ctx,
    sec: &RawSection,
    key: &'static str,
    script_key: &'static str,
) -> Option<NotifyFifo> {
    let script = notify(ctx, sec, script_key);
    let fifo = ctx.one(sec, key, |v| {
        let mut words = v.split_whitespace();
        match (words.next(), words.next(), words.next(), words.next()) {
            (Some(path), user, group, None) if path.starts_with('/') => Ok(NotifyFifo {
                path: path.to_string(),
                user: user.map(str::to_string),
                group: group.map(str::to_string),
                script: None,
            }),
            _ => Err(ErrorKind::bad(
                v,
                "an absolute path, optionally followed by a user and a group",
            )),
        }
    });
    if fifo.is_none() && all(sec, key).next().is_none() {
        if let Some(line) = all(sec, script_key).next().map(|e| e.line) {
            let reason = "there is no FIFO to read without its notify_fifo key; not run";
            ctx.warn(
                sec,
                line,
                script_key,
                WarningKind::NotifyFifoIgnored { reason },
            );
        }
    }
    fifo.map(|(f, _)| NotifyFifo { script, ..f })
}

pub(super) fn read_script(ctx: &mut Ctx, sec: &RawSection, name: &str) -> VrrpScript {
    let foreign = Foreign {
        no_effect: "",
        keepalived: keywords::KEEPALIVED_SCRIPT,
    };
    ctx.check_keys(sec, SCRIPT_KEYS, &[], foreign);
    let script = match ctx.text(sec, "script") {
        Some((s, line)) => {
            match check_command(&s) {
                Ok(note) => note_command(ctx, sec, line, "script", note, |detail| {
                    WarningKind::TrackScriptUnusable { detail }
                }),
                Err(kind) => ctx.error(sec, line, "script", kind),
            }
            s
        }
        None => {
            if all(sec, "script").next().is_none() {
                ctx.missing(sec, "script");
            }
            String::new()
        }
    };
    const SECS: Range = (1, 3600, "1..=3600 seconds");
    const COUNT: Range = (1, 1000, "1..=1000");
    let interval_s = ctx.int(sec, "interval", SECS).map_or(1, |v| v.0 as u32);
    VrrpScript {
        name: name.to_string(),
        script,
        interval_s,
        timeout_s: ctx
            .int(sec, "timeout", SECS)
            .map_or(interval_s, |v| v.0 as u32),
        weight: ctx
            .int(sec, "weight", (-253, 253, "-253..=253"))
            .map_or(0, |v| v.0 as i32),
        rise: ctx.int(sec, "rise", COUNT).map_or(1, |v| v.0 as u32),
        fall: ctx.int(sec, "fall", COUNT).map_or(1, |v| v.0 as u32),
        user: ctx.one(sec, "user", user_name).map(|v| v.0),
    }
}

pub(super) fn read_track_file(ctx: &mut Ctx, sec: &RawSection, name: &str) -> VrrpTrackFile {
    let foreign = Foreign {
        no_effect: "",
        keepalived: keywords::KEEPALIVED_TRACK_FILE,
    };
    ctx.check_keys(sec, TRACK_FILE_KEYS, &[], foreign);
    let file = ctx.one(sec, "file", |v| {
        if v.starts_with('/') {
            Ok(v.to_string())
        } else {
            Err(ErrorKind::bad(v, "an absolute path"))
        }
    });
    if all(sec, "file").next().is_none() {
        ctx.missing(sec, "file");
    }
    VrrpTrackFile {
        name: name.to_string(),
        file: file.map(|v| v.0).unwrap_or_default(),
        weight: ctx.int(sec, "weight", WEIGHT_254).map_or(1, |v| v.0 as i32),
    }
}

pub(super) fn read_track_process(ctx: &mut Ctx, sec: &RawSection, name: &str) -> VrrpTrackProcess {
    let foreign = Foreign {
        no_effect: "",
        keepalived: keywords::KEEPALIVED_TRACK_PROCESS,
    };
    ctx.check_keys(sec, TRACK_PROCESS_KEYS, &[], foreign);
    let words = ctx.one(sec, "process", |v| {
        let mut words = v.split_whitespace();
        let Some(process) = words.next() else {
            return Err(ErrorKind::bad(
                v,
                "a process name, then optionally its parameters",
            ));
        };
        let mut params = Vec::new();
        for word in words {
            params.push(word.to_string());
        }
        Ok((process.to_string(), params))
    });
    if all(sec, "process").next().is_none() {
        ctx.missing(sec, "process");
    }
    let param_match = ctx
        .one(sec, "param_match", |v| match v {
            "initial" => Ok(ParamMatch::Initial),
            "partial" => Ok(ParamMatch::Partial),
            _ => Err(ErrorKind::bad(v, "initial, partial")),
        })
        .map(|v| v.0);
    let (process, params) = words.map(|v| v.0).unwrap_or_default();
    // keepalived: parameters are compared when given, or when param_match is set (then an
    // empty list means "no parameters at all").
    let params = (!params.is_empty() || param_match.is_some()).then_some(params);
    let quorum = ctx
        .int(sec, "quorum", (1, 65535, "1..=65535"))
        .map_or(1, |v| v.0 as u32);
    let quorum_max = ctx
        .int(sec, "quorum_max", (0, 65535, "0..=65535"))
        .map(|v| v.0 as u32);
    if let Some(max) = quorum_max.filter(|&m| m < quorum) {
        if let Some(e) = all(sec, "quorum_max").next() {
            let kind = ErrorKind::out_of_range(&max.to_string(), "at least quorum");
            ctx.at(sec, e, kind);
        }
    }
    let delay = |v: &str| match centiseconds(v).and_then(|cs| u32::try_from(cs).ok()) {
        Some(cs) if cs <= 360_000 => Ok(cs),
        _ => Err(ErrorKind::out_of_range(
            v,
            "0..=3600 seconds, two decimals at most",
        )),
    };
    let both = ctx.one(sec, "delay", delay).map_or(0, |v| v.0);
    VrrpTrackProcess {
        name: name.to_string(),
        matcher: ProcessMatch {
            process,
            params,
            param_match: param_match.unwrap_or(ParamMatch::Exact),
            full_command: ctx.one(sec, "full_command", flag).is_some_and(|v| v.0),
        },
        weight: ctx.int(sec, "weight", WEIGHT_254).map_or(0, |v| v.0 as i32),
        quorum,
        quorum_max,
        fork_delay_cs: ctx.one(sec, "fork_delay", delay).map_or(both, |v| v.0),
        terminate_delay_cs: ctx.one(sec, "terminate_delay", delay).map_or(both, |v| v.0),
    }
}

/// Notify scripts: a script that cannot run is a warning (the state change still happens),
/// unlike a `vrrp_script`, whose failure to run would move priorities.
pub(super) fn notify(ctx: &mut Ctx, sec: &RawSection, key: &str) -> Option<String> {
    let (command, line) = ctx.text(sec, key)?;
    let unusable = |detail| WarningKind::NotifyScriptUnusable { detail };
    let note = check_command(&command).unwrap_or_else(CommandNote::Unusable);
    note_command(ctx, sec, line, key, note, unusable);
    Some(command)
}

/// The warning a command's note calls for, if any.
fn note_command(
    ctx: &mut Ctx,
    sec: &RawSection,
    line: usize,
    key: &str,
    note: CommandNote,
    unusable: fn(ErrorKind) -> WarningKind,
) {
    if let Some(word) = first(sec, key).and_then(|e| shell_word(&e.value)) {
        ctx.warn(sec, line, key, WarningKind::ShellSyntaxAsArgument { word });
    }
    let kind = match note {
        CommandNote::Found => return,
        CommandNote::FoundInPath { word, path } => WarningKind::ScriptFoundInPath { word, path },
        CommandNote::Unusable(detail) => unusable(detail),
    };
    ctx.warn(sec, line, key, kind);
}

/// Members are checked against each other (repeats, two groups) by `check_members` once
/// every group is read: `members` is (the list that gets (name, group, line) of each,
/// this group's index).
pub(super) fn read_sync_group<'a>(
    ctx: &mut Ctx,
    sec: &'a RawSection,
    name: &'a str,
    instances_read: &[(&str, &RawSection)],
    members: (&mut Vec<(&'a str, usize, usize)>, usize),
    known: &Known,
) -> SyncGroup {
    let lists = [
        "group",
        "track_interface",
        "track_script",
        "track_file",
        "track_process",
    ];
    let foreign = Foreign {
        no_effect: keywords::SYNC_GROUP_NO_EFFECT,
        keepalived: keywords::KEEPALIVED_SYNC_GROUP,
    };
    ctx.check_keys(sec, SYNC_GROUP_KEYS, &lists, foreign);
    let group = members.1;
    let mut instances: Vec<String> = Vec::new();
    for entry in all(sec, "group") {
        let member = entry.value.as_str();
        if !super::is_named(ctx, instances_read, member) {
            let kind = ErrorKind::UnknownInstance {
                name: member.to_string(),
            };
            ctx.at(sec, entry, kind);
            continue;
        }
        members.0.push((member, group, entry.line));
        instances.push(member.to_string());
    }
    // keepalived ignores weighted tracking on members unless one of these is set; tinyvrrp
    // always applies it, so they are read (checked as flags) and change nothing.
    ctx.one(sec, "sync_group_tracking_weight", flag);
    ctx.one(sec, "global_tracking", flag);
    let given = all(sec, "group").count();
    if given == 0 {
        ctx.missing(sec, "group");
    } else if given == 1 {
        let line = all(sec, "group").next().map_or(sec.line, |e| e.line);
        ctx.warn(sec, line, "group", WarningKind::SyncGroupSingleInstance);
    }
    SyncGroup {
        name: name.to_string(),
        instances,
        track_interfaces: read_track_interfaces(ctx, sec),
        track_scripts: known.scripts(ctx, sec),
        track_files: known.files(ctx, sec),
        track_processes: known.processes(ctx, sec),
        notify_master: notify(ctx, sec, "notify_master"),
        notify_backup: notify(ctx, sec, "notify_backup"),
        notify_fault: notify(ctx, sec, "notify_fault"),
        notify_stop: notify(ctx, sec, "notify_stop"),
        notify: notify(ctx, sec, "notify"),
    }
}

/// `script_user` and a script's `user`: a user of this host and, as keepalived allows, one
/// of its groups after it. keepalived disables a script whose user is unknown; a typo is
/// refused here, rather than found when nothing runs.
fn user_name(value: &str) -> Result<String, ErrorKind> {
    match crate::spawn::RunAs::lookup(Some(value)) {
        Ok(_) => Ok(value.to_string()),
        Err(_) => Err(ErrorKind::bad(
            value,
            "a user of this host, optionally followed by a group",
        )),
    }
}

/// A member named twice in a group, or in two groups: reported, and only its first place
/// kept (in O(n log n) over all members).
pub(super) fn check_members(
    ctx: &mut Ctx,
    groups: &mut [SyncGroup],
    sections: &[(&str, &RawSection)],
    members: &[(&str, usize, usize)],
) {
    let keys = members.iter().enumerate();
    let keys = keys.map(|(k, (name, _, _))| super::dups::Key::new(name, 0, k));
    let mut dropped = vec![false; members.len()];
    for (first, again) in super::dups::repeats(keys.collect()) {
        let ((name, g1, first_line), (_, g2, line)) = (members[first], members[again]);
        let kind = if g1 == g2 {
            ErrorKind::DuplicateValue { first_line }
        } else {
            ErrorKind::InstanceInTwoGroups {
                instance: name.to_string(),
                other_group: groups[g1].name.clone(),
            }
        };
        if let Some((_, sec)) = sections.get(g2) {
            ctx.error(sec, line, "group", kind);
        }
        dropped[again] = true;
    }
    for g in groups.iter_mut() {
        g.instances.clear();
    }
    for (&(name, g, _), dropped) in members.iter().zip(dropped) {
        if let (false, Some(group)) = (dropped, groups.get_mut(g)) {
            group.instances.push(name.to_string());
        }
    }
}

/// `metrics_listen = 127.0.0.1:9165` or `[::1]:9165`: an address and a port, both explicit.
#[cfg(feature = "metrics")]
fn read_metrics_listen(ctx: &mut Ctx, sec: &RawSection, g: &mut GlobalDefs) {
    g.metrics_listen = ctx
        .one(sec, "metrics_listen", |v| {
            listen_addr(v).ok_or_else(|| {
                ErrorKind::bad(v, "an address and a port: 127.0.0.1:9165 or [::1]:9165")
            })
        })
        .map(|v| v.0);
}

/// By hand over `IpAddr`'s parser: std's `SocketAddr` parser costs ~1.3 KiB more.
#[cfg(feature = "metrics")]
fn listen_addr(v: &str) -> Option<std::net::SocketAddr> {
    let (host, port) = v.rsplit_once(':')?;
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
    let ip: std::net::IpAddr = bare.unwrap_or(host).parse().ok()?;
    let port: u16 = port.parse().ok().filter(|&p| p != 0)?;
    // IPv6 in brackets, IPv4 without.
    (ip.is_ipv6() == bare.is_some()).then_some(std::net::SocketAddr::new(ip, port))
}

/// Built without the endpoint (the router builds): the key is an error, not silently ignored.
#[cfg(not(feature = "metrics"))]
fn read_metrics_listen(ctx: &mut Ctx, sec: &RawSection, _: &mut GlobalDefs) {
    if let Some(e) = first(sec, "metrics_listen") {
        let kind = ErrorKind::bad(
            &e.value,
            "no value: this build has no metrics endpoint (cargo feature `metrics`)",
        );
        ctx.at(sec, e, kind);
    }
}
