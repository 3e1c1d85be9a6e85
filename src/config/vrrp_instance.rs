//! Reader for `[vrrp_instance NAME]`: every key, its default, and the checks that stay within
//! one instance (families, version-dependent ranges, authentication, preemption traps).

use std::net::IpAddr;

use super::context::{all, first, Ctx, Range};
use super::error::{ErrorKind, WarningKind};
use super::keywords::{self, Foreign};
use super::model::{GlobalDefs, InitialState, InstanceConfig, TrackInterface, TrackRef, Vip};
use super::routes;
use super::sections::{notify, version, GARP_DELAY, GARP_REFRESH, GARP_REPEAT};
use super::syntax::RawSection;
use super::values::{
    centiseconds, family_of, flag, interface_name, ip, named_weight, prefix_range, u8_in, vip,
};
use crate::packet::{Family, Version};

pub(super) const INSTANCE_KEYS: &[&str] = &[
    "interface",
    "state",
    "virtual_router_id",
    "priority",
    "advert_int",
    "version",
    "nopreempt",
    "preempt_delay",
    "virtual_ipaddress",
    "virtual_ipaddress_excluded",
    "virtual_routes",
    "virtual_rules",
    "unicast_src_ip",
    "unicast_peer",
    "unicast_ttl",
    "auth_type",
    "auth_pass",
    "garp_master_delay",
    "garp_master_repeat",
    "garp_master_refresh",
    "garp_master_refresh_repeat",
    "track_interface",
    "track_script",
    "track_file",
    "track_process",
    "notify_master",
    "notify_backup",
    "notify_fault",
    "notify_stop",
    "notify",
    "v3_checksum_as_v2",
    "use_vmac",
    "vmac_xmit_base",
    "mcast_src_ip",
    "dont_track_primary",
    "allowed_sources",
    "accept",
    "no_accept",
];

/// Keys that may repeat, one item per line.
pub(super) const INSTANCE_LIST_KEYS: &[&str] = &[
    "virtual_ipaddress",
    "virtual_ipaddress_excluded",
    "virtual_routes",
    "virtual_rules",
    "unicast_peer",
    "allowed_sources",
    "track_interface",
    "track_script",
    "track_file",
    "track_process",
];

/// Names defined elsewhere in the file that instances and sync groups may refer to.
pub(super) struct Known<'a> {
    pub scripts: &'a [(&'a str, &'a RawSection)],
    pub track_files: &'a [(&'a str, &'a RawSection)],
    pub track_processes: &'a [(&'a str, &'a RawSection)],
}

impl Known<'_> {
    /// The section's `track_script` entries.
    pub fn scripts(&self, ctx: &mut Ctx, sec: &RawSection) -> Vec<TrackRef> {
        read_track_refs(ctx, sec, "track_script", self.scripts, 253, |name| {
            ErrorKind::UnknownScript { name }
        })
    }

    pub fn files(&self, ctx: &mut Ctx, sec: &RawSection) -> Vec<TrackRef> {
        read_track_refs(ctx, sec, "track_file", self.track_files, 254, |name| {
            ErrorKind::UnknownTrackFile { name }
        })
    }

    pub fn processes(&self, ctx: &mut Ctx, sec: &RawSection) -> Vec<TrackRef> {
        let unknown = |name| ErrorKind::UnknownTrackProcess { name };
        read_track_refs(
            ctx,
            sec,
            "track_process",
            self.track_processes,
            254,
            unknown,
        )
    }
}

/// keepalived (vrrp_state_handler) reads any word other than MASTER and BACKUP as BACKUP,
/// with a log line; so do we, with a warning.
fn read_state(ctx: &mut Ctx, sec: &RawSection) -> InitialState {
    let Some(entry) = first(sec, "state") else {
        return InitialState::Backup;
    };
    if entry.value.eq_ignore_ascii_case("MASTER") {
        return InitialState::Master;
    }
    if !entry.value.eq_ignore_ascii_case("BACKUP") {
        let kind = WarningKind::UnknownStateIsBackup {
            value: entry.value.clone(),
        };
        ctx.warn(sec, entry.line, "state", kind);
    }
    InitialState::Backup
}

fn seconds_cs(value: &str) -> Result<u64, ErrorKind> {
    centiseconds(value)
        .ok_or_else(|| ErrorKind::bad(value, "seconds with at most 2 decimals, e.g. 1 or 0.5"))
}

/// The advert interval against the version's range (the version may be given after it, or
/// in global_defs, so this runs once both are known).
fn advert_int(value: &str, cs: u64, version: Version) -> Result<u16, ErrorKind> {
    let out_of_range = |allowed| ErrorKind::out_of_range(value, allowed);
    match version {
        Version::V2 if cs % 100 != 0 => Err(ErrorKind::AdvertIntNotWholeSeconds {
            value: value.to_string(),
        }),
        Version::V2 if !(100..=25500).contains(&cs) => {
            Err(out_of_range("1..=255 seconds with version 2"))
        }
        Version::V3 if !(1..=4095).contains(&cs) => {
            Err(out_of_range("0.01..=40.95 seconds with version 3"))
        }
        _ => u16::try_from(cs).map_err(|_| out_of_range("0.01..=40.95 seconds")),
    }
}

pub(super) fn read_instance(
    ctx: &mut Ctx,
    sec: &RawSection,
    name: &str,
    global: &GlobalDefs,
    known: &Known,
) -> InstanceConfig {
    let foreign = Foreign {
        no_effect: keywords::INSTANCE_NO_EFFECT,
        keepalived: keywords::KEEPALIVED_INSTANCE,
    };
    ctx.check_keys(sec, INSTANCE_KEYS, INSTANCE_LIST_KEYS, foreign);
    let required = |ctx: &mut Ctx, key: &str| {
        if first(sec, key).is_none() {
            ctx.missing(sec, key);
        }
    };
    let interface = ctx.one(sec, "interface", interface_name).map(|v| v.0);
    let interface = match interface {
        Some(name) => Some(name),
        None if first(sec, "interface").is_some() => None,
        None => global.default_interface.clone(),
    };
    if interface.is_none() {
        required(ctx, "interface");
    }
    const BYTE: Range = (1, 255, "1..=255");
    let vrid = ctx.int(sec, "virtual_router_id", BYTE);
    required(ctx, "virtual_router_id");
    let initial_state = read_state(ctx, sec);
    let priority = ctx.int(sec, "priority", BYTE).map_or(100, |v| v.0 as u8);
    let version = ctx.one(sec, "version", version).map(|v| v.0);
    let version = version.or(global.vrrp_version).unwrap_or(Version::V2);

    let mut advert_int_cs = 100;
    if let Some(entry) = first(sec, "advert_int") {
        match seconds_cs(&entry.value).and_then(|cs| advert_int(&entry.value, cs, version)) {
            Ok(cs) => advert_int_cs = cs,
            Err(kind) => ctx.at(sec, entry, kind),
        }
    }

    let (vips, family) = read_vips(ctx, sec, interface.as_deref(), version);
    let vips_excluded = routes::read_excluded(ctx, sec, interface.as_deref(), &vips);
    let unicast_src_ip = read_source(ctx, sec, family);
    let unicast_peers = read_peers(ctx, sec, family);
    let mut allowed_sources = read_sources(ctx, sec, Some(family));
    if allowed_sources.is_empty() {
        let global = global.allowed_sources.iter();
        allowed_sources = global.filter(|a| family_of(a) == family).copied().collect();
    }
    if family == Family::V6 && unicast_peers.is_empty() {
        let first_vip = vips.first().map(|v| v.addr);
        if let (Some(IpAddr::V6(a)), Some(entry)) = (first_vip, first(sec, "virtual_ipaddress")) {
            if a.segments().first().is_some_and(|s| s & 0xffc0 != 0xfe80) {
                let kind = WarningKind::FirstIpv6VipNotLinkLocal;
                ctx.warn(sec, entry.line, "virtual_ipaddress", kind);
            }
        }
    }
    let unicast_ttl = ctx.int(sec, "unicast_ttl", BYTE);

    let auth = read_auth(ctx, sec, version);
    let garp_master_delay_s = ctx
        .int(sec, "garp_master_delay", GARP_DELAY)
        .map_or(global.vrrp_garp_master_delay_s, |v| v.0 as u32);
    let garp_master_repeat = ctx
        .int(sec, "garp_master_repeat", GARP_REPEAT)
        .map_or(global.vrrp_garp_master_repeat, |v| v.0 as u32);
    let garp_master_refresh_s = ctx
        .int(sec, "garp_master_refresh", GARP_REFRESH)
        .map_or(global.vrrp_garp_master_refresh_s, |v| v.0 as u32);
    let garp_master_refresh_repeat = ctx
        .int(sec, "garp_master_refresh_repeat", GARP_REPEAT)
        .map_or(global.vrrp_garp_master_refresh_repeat, |v| v.0 as u32);

    let v3_checksum_as_v2 = match ctx.one(sec, "v3_checksum_as_v2", flag) {
        Some((true, line)) if version == Version::V2 || family == Family::V6 => {
            ctx.warn(
                sec,
                line,
                "v3_checksum_as_v2",
                WarningKind::ChecksumAsV2Ignored,
            );
            true
        }
        Some((v, _)) => v,
        None => false,
    };

    let (preempt, preempt_delay_cs) = read_preemption(ctx, sec, initial_state, priority);
    read_accept(ctx, sec, priority);
    let (use_vmac, vmac_name, vmac_xmit_base) = read_vmac(ctx, sec);

    InstanceConfig {
        name: name.to_string(),
        interface: interface.unwrap_or_default(),
        initial_state,
        vrid: vrid.map_or(0, |v| v.0 as u8),
        priority,
        advert_int_cs,
        version,
        family,
        preempt,
        preempt_delay_cs,
        vips,
        vips_excluded,
        virtual_routes: routes::read_routes(ctx, sec),
        virtual_rules: routes::read_rules(ctx, sec),
        unicast_src_ip,
        unicast_peers,
        allowed_sources,
        unicast_ttl: unicast_ttl.map(|v| v.0 as u8),
        auth,
        garp_master_delay_s,
        garp_master_repeat,
        garp_master_refresh_s,
        garp_master_refresh_repeat,
        track_interfaces: read_track_interfaces(ctx, sec),
        track_scripts: known.scripts(ctx, sec),
        track_files: known.files(ctx, sec),
        track_processes: known.processes(ctx, sec),
        notify_master: notify(ctx, sec, "notify_master"),
        notify_backup: notify(ctx, sec, "notify_backup"),
        notify_fault: notify(ctx, sec, "notify_fault"),
        notify_stop: notify(ctx, sec, "notify_stop"),
        notify: notify(ctx, sec, "notify"),
        v3_checksum_as_v2,
        use_vmac,
        vmac_name,
        vmac_xmit_base,
        dont_track_primary: ctx
            .one(sec, "dont_track_primary", flag)
            .is_some_and(|v| v.0),
    }
}

fn same_family(addr: IpAddr, expected: Family) -> Result<IpAddr, ErrorKind> {
    let found = family_of(&addr);
    if found == expected {
        Ok(addr)
    } else {
        Err(ErrorKind::FamilyMismatch { expected, found })
    }
}

/// The most VIPs an advert carries: its count field is one byte; keepalived also keeps the
/// advert within the interface's MTU (vrrp.c, vrrp_complete_instance), which for IPv6 and
/// 1500 bytes (its default) is (1500 - 14 - 40 - 8) / 16 = 89 addresses.
fn max_vips(family: Family) -> usize {
    match family {
        Family::V4 => 255,
        Family::V6 => 89,
    }
}

/// The VIPs and the instance's family: that of the first VIP, else IPv4 (no VIPs: a warning
/// with VRRPv2, which is IPv4 only; an error with v3).
fn read_vips(
    ctx: &mut Ctx,
    sec: &RawSection,
    interface: Option<&str>,
    version: Version,
) -> (Vec<Vip>, Family) {
    let mut vips: Vec<Vip> = Vec::new();
    let mut lines: Vec<usize> = Vec::new();
    let mut family = None;
    let mut reported_v2 = false;
    let mut too_many = false;
    for entry in all(sec, "virtual_ipaddress") {
        let parsed = match vip(&entry.value, interface) {
            Ok(v) => v,
            Err(kind) => {
                ctx.at(sec, entry, kind);
                continue;
            }
        };
        let found = family_of(&parsed.addr);
        let expected = *family.get_or_insert(found);
        if found != expected {
            ctx.at(sec, entry, ErrorKind::MixedFamilyVips { expected, found });
            continue;
        }
        if found == Family::V6 && version == Version::V2 && !reported_v2 {
            reported_v2 = true;
            ctx.at(sec, entry, ErrorKind::V2RequiresIpv4);
        }
        // keepalived (vrrp_data.c, vip_is_duplicate) logs a repeated address and ignores it.
        // At most `max_vips(found)` are kept, so this scan is bounded.
        if let Some(i) = vips.iter().position(|v| v.addr == parsed.addr) {
            let first_line = lines.get(i).copied().unwrap_or(0);
            let kind = WarningKind::DuplicateVip { first_line };
            ctx.warn(sec, entry.line, "virtual_ipaddress", kind);
            continue;
        }
        let max = max_vips(found);
        if vips.len() == max {
            if !too_many {
                ctx.at(sec, entry, ErrorKind::TooManyVips { max });
            }
            too_many = true;
            continue;
        }
        vips.push(parsed);
        lines.push(entry.line);
    }
    if first(sec, "virtual_ipaddress").is_none() {
        // keepalived: "No VIP specified; at least one is sensible" with v2, an error with v3.
        if version == Version::V3 {
            ctx.error(sec, sec.line, "virtual_ipaddress", ErrorKind::NoVipsWithV3);
        } else {
            ctx.warn(
                sec,
                sec.line,
                "virtual_ipaddress",
                WarningKind::NoVirtualIpaddress,
            );
        }
    }
    (vips, family.unwrap_or(Family::V4))
}

/// keepalived's address form for sources and peers: a `/PREFIX` is accepted and dropped
/// (lib/utils.c, inet_stosockaddr strips it); we still check that it is a prefix length.
fn host_ip(value: &str) -> Result<IpAddr, ErrorKind> {
    let (addr, prefix) = match value.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (value, None),
    };
    let addr = ip(addr).map_err(|_| {
        ErrorKind::bad(
            value,
            "an IPv4 or IPv6 address, optionally with a /PREFIX that is ignored",
        )
    })?;
    if let Some(p) = prefix {
        let (max, allowed) = prefix_range(addr);
        u8_in(p, 0, max, allowed)?;
    }
    Ok(addr)
}

/// `unicast_src_ip` and `mcast_src_ip`: one setting in keepalived (both set the instance's
/// source address, vrrp_parser.c vrrp_srcip_handler). Both may be given if they agree.
fn read_source(ctx: &mut Ctx, sec: &RawSection, family: Family) -> Option<IpAddr> {
    let mut source = |key| ctx.one(sec, key, |v| same_family(host_ip(v)?, family));
    let (unicast, mcast) = (source("unicast_src_ip"), source("mcast_src_ip"));
    match (unicast, mcast) {
        (Some((a, line)), Some((b, _))) if a != b => {
            if let Some(entry) = first(sec, "mcast_src_ip") {
                let kind = ErrorKind::Conflicts {
                    other_key: "unicast_src_ip",
                    other_line: line,
                };
                ctx.at(sec, entry, kind);
            }
            None
        }
        (u, m) => u.or(m).map(|v| v.0),
    }
}

fn read_peers(ctx: &mut Ctx, sec: &RawSection, family: Family) -> Vec<IpAddr> {
    let mut peers: Vec<IpAddr> = Vec::new();
    let mut lines: Vec<usize> = Vec::new();
    for entry in all(sec, "unicast_peer") {
        match host_ip(&entry.value).and_then(|a| same_family(a, family)) {
            Ok(addr) => match peers.iter().position(|p| *p == addr) {
                Some(i) => {
                    let first_line = lines.get(i).copied().unwrap_or(0);
                    ctx.at(sec, entry, ErrorKind::DuplicateValue { first_line });
                }
                None => {
                    peers.push(addr);
                    lines.push(entry.line);
                }
            },
            Err(kind) => ctx.at(sec, entry, kind),
        }
    }
    peers
}

/// `allowed_sources = IP [IP...]`, repeatable: the advert sources an instance listens to
/// (tinyvrrp's own key; keepalived has none). `family`: the instance's, or None (global).
pub(super) fn read_sources(ctx: &mut Ctx, sec: &RawSection, family: Option<Family>) -> Vec<IpAddr> {
    let mut sources: Vec<IpAddr> = Vec::new();
    for entry in all(sec, "allowed_sources") {
        if entry.value.trim().is_empty() {
            ctx.at(sec, entry, ErrorKind::bad("", "one or more IP addresses"));
        }
        for word in entry.value.split_ascii_whitespace() {
            let addr = host_ip(word).and_then(|a| match family {
                Some(f) => same_family(a, f),
                None => Ok(a),
            });
            match addr {
                Ok(a) if sources.contains(&a) => {}
                Ok(a) => sources.push(a),
                Err(kind) => ctx.at(sec, entry, kind),
            }
        }
    }
    sources
}

/// `auth_type = PASS` + `auth_pass`: the password zero-padded (or cut, with a warning, as
/// keepalived) to the 8 bytes of the VRRPv2 header.
fn read_auth(ctx: &mut Ctx, sec: &RawSection, version: Version) -> Option<[u8; 8]> {
    let auth_type = first(sec, "auth_type");
    let auth_pass = first(sec, "auth_pass");
    let auth_type = match auth_type {
        None => {
            if let Some(entry) = auth_pass {
                ctx.at(sec, entry, ErrorKind::AuthPassWithoutType);
            }
            return None;
        }
        Some(entry) => entry,
    };
    if !auth_type.value.eq_ignore_ascii_case("PASS") {
        let kind = if auth_type.value.eq_ignore_ascii_case("AH") {
            ErrorKind::AuthAhUnsupported
        } else {
            ErrorKind::bad(&auth_type.value, "PASS")
        };
        ctx.at(sec, auth_type, kind);
        return None;
    }
    if version == Version::V3 {
        ctx.warn(
            sec,
            auth_type.line,
            "auth_type",
            WarningKind::AuthIgnoredWithV3,
        );
        return None;
    }
    let Some(pass) = auth_pass else {
        ctx.missing(sec, "auth_pass");
        return None;
    };
    let bytes = pass.value.as_bytes();
    if bytes.is_empty() {
        let kind = ErrorKind::bad("", "a password of 1 to 8 characters");
        ctx.at(sec, pass, kind);
        return None;
    }
    if bytes.len() > 8 {
        let kind = WarningKind::AuthPassTruncated {
            length: bytes.len(),
        };
        ctx.warn(sec, pass.line, "auth_pass", kind);
    }
    let mut out = [0u8; 8];
    for (slot, byte) in out.iter_mut().zip(bytes) {
        *slot = *byte;
    }
    Some(out)
}

/// nopreempt and preempt_delay, with keepalived's corrections (vrrp.c, vrrp_complete_instance):
/// priority 255 or state MASTER clear nopreempt; state MASTER or nopreempt clear the delay.
fn read_preemption(
    ctx: &mut Ctx,
    sec: &RawSection,
    initial_state: InitialState,
    priority: u8,
) -> (bool, u32) {
    let mut nopreempt = ctx.one(sec, "nopreempt", flag).filter(|v| v.0);
    if let Some((_, line)) = nopreempt {
        if priority == 255 {
            ctx.warn(sec, line, "nopreempt", WarningKind::NopreemptWithOwner);
            nopreempt = None;
        } else if initial_state == InitialState::Master {
            ctx.warn(sec, line, "nopreempt", WarningKind::NopreemptWithMaster);
            nopreempt = None;
        }
    }
    let delay = ctx.one(sec, "preempt_delay", |v| {
        let cs = seconds_cs(v)?;
        if cs > 100_000 {
            return Err(ErrorKind::out_of_range(v, "0..=1000 seconds"));
        }
        u32::try_from(cs).map_err(|_| ErrorKind::out_of_range(v, "0..=1000 seconds"))
    });
    let mut delay_cs = 0;
    if let Some((cs, line)) = delay.filter(|d| d.0 > 0) {
        if initial_state == InitialState::Master {
            ctx.warn(
                sec,
                line,
                "preempt_delay",
                WarningKind::PreemptDelayWithMaster,
            );
        } else if nopreempt.is_some() {
            ctx.warn(
                sec,
                line,
                "preempt_delay",
                WarningKind::PreemptDelayWithNopreempt,
            );
        } else {
            delay_cs = cs;
        }
    }
    (nopreempt.is_none(), delay_cs)
}

/// `accept` / `no_accept` (RFC 5798 Accept_Mode). keepalived enforces no_accept with
/// firewall rules dropping traffic to the VIPs on a master that is not the address owner
/// (vrrp.c, vrrp_handle_accept_mode; without vrrp_strict its default is accept). tinyvrrp
/// never filters, so `accept` changes nothing and `no_accept` gets a warning.
fn read_accept(ctx: &mut Ctx, sec: &RawSection, priority: u8) {
    let accept = ctx.one(sec, "accept", flag).filter(|v| v.0);
    let no_accept = ctx.one(sec, "no_accept", flag).filter(|v| v.0);
    match (accept, no_accept) {
        (Some((_, line)), Some(_)) => {
            if let Some(entry) = first(sec, "no_accept") {
                let kind = ErrorKind::Conflicts {
                    other_key: "accept",
                    other_line: line,
                };
                ctx.at(sec, entry, kind);
            }
        }
        (None, Some((_, line))) if priority < 255 => {
            ctx.warn(sec, line, "no_accept", WarningKind::NoAcceptNotEnforced);
        }
        _ => {}
    }
}

/// `use_vmac` as a flag, or `use_vmac = NAME` (keepalived's `use_vmac [name] NAME`): the
/// macvlan's name; and `vmac_xmit_base`.
fn read_vmac(ctx: &mut Ctx, sec: &RawSection) -> (bool, Option<String>, bool) {
    let parsed = ctx.one(sec, "use_vmac", |v| match flag(v) {
        Ok(on) => Ok((on, None)),
        Err(_) => match interface_name(v) {
            Ok(name) => Ok((true, Some(name))),
            Err(_) => Err(ErrorKind::bad(v, "empty, yes, no, or the macvlan's name (1 to 15 characters without '/', ':' or blanks)")),
        },
    });
    let (use_vmac, name) = parsed.map_or((false, None), |v| v.0);
    let xmit_base = match ctx.one(sec, "vmac_xmit_base", flag) {
        // keepalived: "only valid with a vmac", the flag is cleared (vrrp.c).
        Some((true, line)) if !use_vmac => {
            ctx.warn(
                sec,
                line,
                "vmac_xmit_base",
                WarningKind::XmitBaseWithoutVmac,
            );
            false
        }
        v => v.is_some_and(|v| v.0),
    };
    (use_vmac, name, xmit_base)
}

pub(super) fn read_track_interfaces(ctx: &mut Ctx, sec: &RawSection) -> Vec<TrackInterface> {
    read_tracks(ctx, sec, "track_interface", None, 253)
}

/// `track_script`, `track_file` and `track_process` entries: `NAME [weight W]` naming a
/// section of that kind, each name once.
pub(super) fn read_track_refs(
    ctx: &mut Ctx,
    sec: &RawSection,
    key: &str,
    known: &[(&str, &RawSection)],
    limit: i32,
    unknown: fn(String) -> ErrorKind,
) -> Vec<TrackRef> {
    read_tracks(ctx, sec, key, Some((known, unknown)), limit)
}

/// Names of one kind of section and the error for a name that is not one of them.
type KnownNames<'a> = (&'a [(&'a str, &'a RawSection)], fn(String) -> ErrorKind);

/// `NAME [weight W]` entries of `key`, each name once: names of `known` sections (and the
/// error for others), or interface names when `known` is `None`.
fn read_tracks(
    ctx: &mut Ctx,
    sec: &RawSection,
    key: &str,
    known: Option<KnownNames>,
    limit: i32,
) -> Vec<TrackRef> {
    let (form, allowed) = match (known, limit) {
        (None, _) => ("IFNAME [weight -253..=253]", "-253..=253"),
        (_, 253) => ("NAME [weight -253..=253]", "-253..=253"),
        _ => ("NAME [weight -254..=254]", "-254..=254"),
    };
    let mut out: Vec<TrackRef> = Vec::new();
    let mut lines: Vec<usize> = Vec::new();
    for entry in all(sec, key) {
        let parsed =
            named_weight(&entry.value, -limit, limit, form, allowed).and_then(|(name, weight)| {
                match known {
                    None => Ok((interface_name(&name)?, weight)),
                    Some((names, _)) if super::is_named(ctx, names, &name) => Ok((name, weight)),
                    Some((_, unknown)) => Err(unknown(name)),
                }
            });
        match parsed {
            Ok((name, weight)) => match out.iter().position(|t| t.name == name) {
                Some(i) => {
                    let first_line = lines.get(i).copied().unwrap_or(0);
                    ctx.at(sec, entry, ErrorKind::DuplicateValue { first_line });
                }
                None => {
                    out.push(TrackRef { name, weight });
                    lines.push(entry.line);
                }
            },
            Err(kind) => ctx.at(sec, entry, kind),
        }
    }
    out
}
