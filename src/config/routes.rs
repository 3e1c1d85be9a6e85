//! keepalived's route, rule and VIP-option grammar (vrrp_iproute.c, vrrp_iprule.c,
//! vrrp_ipaddress.c): `virtual_routes`, `virtual_rules`, `virtual_ipaddress_excluded` and the
//! `brd` / `scope` options of a VIP line.

use std::net::{IpAddr, Ipv4Addr};

use super::context::{all, Ctx};
use super::error::{ErrorKind, WarningKind};
use super::model::{RouteType, RuleAction, Vip, VirtualRoute, VirtualRule};
use super::syntax::{RawEntry, RawSection};
use super::values::{family_of, interface_name, vip};
use crate::packet::Family;

/// keepalived's RTPROT_KEEPALIVED: `ip route` shows it as `proto keepalived`.
pub const RTPROT_KEEPALIVED: u8 = 18;
/// keepalived numbers rules without a preference from here downwards, per family.
const RULE_START_PRIORITY: u32 = 16384;

const ROUTE_WORDS: &str = "a route option (src, to, via, gw, dev, oif, table, metric, \
priority, preference, scope, protocol, onlink, no_track, inet, inet6, blackhole, unreachable, \
prohibit) or a destination PREFIX";
const RULE_WORDS: &str = "a rule option (from, to, table, lookup, priority, preference, order, \
iif, dev, oif, fwmark, not, no_track, inet, inet6, blackhole, unreachable, prohibit)";
const MIXED: &str = "addresses of one family in a route or rule";

fn bad(value: &str, expected: &'static str) -> ErrorKind {
    ErrorKind::bad(value, expected)
}

/// The word at fault and what was expected there: a small error while a line is read (the
/// owned `ErrorKind` is made once, by the caller, which keeps the parsers small).
type Bad<'a> = (&'a str, &'static str);

const IFNAME: &str = "an interface name of 1 to 15 characters without '/' or blanks";

fn ifname(word: &str) -> Result<String, Bad<'_>> {
    interface_name(word).map_err(|_| (word, IFNAME))
}

/// `ADDR[/LEN]`, or `default` / `any` / `all` (prefix 0 of a family decided elsewhere:
/// `None` for the address).
fn prefix(word: &str) -> Result<(Option<IpAddr>, u8), Bad<'_>> {
    if matches!(word, "default" | "any" | "all") {
        return Ok((None, 0));
    }
    const FORM: &str = "a PREFIX like 192.0.2.0/24 or 2001:db8::/64, or default";
    let (a, l) = word.split_once('/').unwrap_or((word, ""));
    let addr: IpAddr = a.parse().map_err(|_| (word, FORM))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = if l.is_empty() {
        max
    } else {
        l.parse::<u8>()
            .ok()
            .filter(|n| *n <= max)
            .ok_or((word, FORM))?
    };
    Ok((Some(addr), len))
}

fn host_bits_set(addr: IpAddr, len: u8) -> bool {
    match addr {
        IpAddr::V4(a) => u32::from(a).checked_shl(u32::from(len)).unwrap_or(0) != 0,
        IpAddr::V6(a) => u128::from(a).checked_shl(u32::from(len)).unwrap_or(0) != 0,
    }
}

fn number<'a>(word: &'a str, expected: &'static str) -> Result<u32, Bad<'a>> {
    let n = match word.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => word.parse(),
    };
    n.map_err(|_| (word, expected))
}

/// A routing table: 1..=4294967295, or main / local / default (rt_tables is not read).
fn table(word: &str) -> Result<u32, Bad<'_>> {
    const ALLOWED: &str = "a table number 1..=4294967295, main, local or default";
    match word {
        "main" => Ok(254),
        "local" => Ok(255),
        "default" => Ok(253),
        _ => number(word, ALLOWED)
            .ok()
            .filter(|n| *n > 0)
            .ok_or((word, ALLOWED)),
    }
}

/// RT_SCOPE_* by iproute2's name or number.
pub(super) fn scope(word: &str) -> Result<u8, ErrorKind> {
    scope_of(word).map_err(|(w, e)| bad(w, e))
}

fn scope_of(word: &str) -> Result<u8, Bad<'_>> {
    match word {
        "global" | "universe" => Ok(0),
        "site" => Ok(200),
        "link" => Ok(253),
        "host" => Ok(254),
        "nowhere" => Ok(255),
        _ => word
            .parse()
            .map_err(|_| (word, "global, site, link, host, nowhere or 0..=255")),
    }
}

/// The keywords of route and rule lines; looked up in one table (a `match` on strings per
/// parser compiles to a comparison per word, large on MIPS).
#[derive(Clone, Copy)]
enum Word {
    Inet,
    Inet6,
    Src,
    Via,
    Gw,
    Dev,
    Oif,
    Iif,
    Table,
    Lookup,
    Metric,
    Priority,
    Preference,
    Order,
    Scope,
    Protocol,
    Onlink,
    NoTrack,
    To,
    From,
    Fwmark,
    Not,
    Unicast,
    Blackhole,
    Unreachable,
    Prohibit,
}

const WORDS: &[(&str, Word)] = &[
    ("inet", Word::Inet),
    ("inet6", Word::Inet6),
    ("src", Word::Src),
    ("via", Word::Via),
    ("gw", Word::Gw),
    ("dev", Word::Dev),
    ("oif", Word::Oif),
    ("iif", Word::Iif),
    ("table", Word::Table),
    ("lookup", Word::Lookup),
    ("metric", Word::Metric),
    ("priority", Word::Priority),
    ("preference", Word::Preference),
    ("order", Word::Order),
    ("scope", Word::Scope),
    ("protocol", Word::Protocol),
    ("onlink", Word::Onlink),
    ("no_track", Word::NoTrack),
    ("to", Word::To),
    ("from", Word::From),
    ("fwmark", Word::Fwmark),
    ("not", Word::Not),
    ("unicast", Word::Unicast),
    ("blackhole", Word::Blackhole),
    ("unreachable", Word::Unreachable),
    ("prohibit", Word::Prohibit),
];

fn keyword(word: &str) -> Option<Word> {
    WORDS.iter().find(|(w, _)| *w == word).map(|(_, k)| *k)
}

fn route_type(word: &str) -> Option<RouteType> {
    match keyword(word)? {
        Word::Unicast => Some(RouteType::Unicast),
        Word::Blackhole => Some(RouteType::Blackhole),
        Word::Unreachable => Some(RouteType::Unreachable),
        Word::Prohibit => Some(RouteType::Prohibit),
        _ => None,
    }
}

/// The family of a route or rule, set by its first address (or `inet`/`inet6`); every later
/// address must match.
#[derive(Default)]
struct FamilyOf(Option<Family>);

impl FamilyOf {
    fn set<'a>(&mut self, word: &'a str, family: Family) -> Result<(), Bad<'a>> {
        match self.0 {
            Some(f) if f != family => Err((word, MIXED)),
            _ => {
                self.0 = Some(family);
                Ok(())
            }
        }
    }

    fn addr<'a>(&mut self, word: &'a str) -> Result<IpAddr, Bad<'a>> {
        let addr: IpAddr = word
            .parse()
            .map_err(|_| (word, "an IPv4 or IPv6 address"))?;
        self.set(word, family_of(&addr))?;
        Ok(addr)
    }

    fn prefix<'a>(&mut self, word: &'a str) -> Result<(Option<IpAddr>, u8), Bad<'a>> {
        let (addr, len) = prefix(word)?;
        if let Some(a) = addr {
            self.set(word, family_of(&a))?;
        }
        Ok((addr, len))
    }

    fn resolve(&self, addr: Option<IpAddr>) -> IpAddr {
        match (addr, self.0) {
            (Some(a), _) => a,
            (None, Some(Family::V6)) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
            (None, _) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        }
    }
}

fn next<'a>(words: &mut impl Iterator<Item = &'a str>, after: &'a str) -> Result<&'a str, Bad<'a>> {
    words
        .next()
        .ok_or((after, "an option followed by its value"))
}

/// One `virtual_routes` line, as keepalived's alloc_route reads it (the options real configs
/// use; metrics, nexthops and encapsulations are refused by name).
pub(super) fn route(value: &str) -> Result<VirtualRoute, ErrorKind> {
    parse_route(value).map_err(|(w, e)| bad(w, e))
}

#[inline(never)]
fn parse_route(value: &str) -> Result<VirtualRoute, Bad<'_>> {
    let mut fam = FamilyOf::default();
    let mut dst = None;
    let mut r = VirtualRoute {
        dst: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        dst_len: 0,
        src: None,
        via: None,
        dev: None,
        table: 254,
        metric: None,
        scope: None,
        protocol: RTPROT_KEEPALIVED,
        kind: RouteType::Unicast,
        onlink: false,
    };
    let mut words = value.split_whitespace();
    while let Some(word) = words.next() {
        match keyword(word) {
            Some(Word::Inet) => fam.set(word, Family::V4)?,
            Some(Word::Inet6) => fam.set(word, Family::V6)?,
            Some(Word::Src) => r.src = Some(fam.addr(next(&mut words, word)?)?),
            Some(Word::Via | Word::Gw) => {
                let mut a = next(&mut words, word)?;
                if a == "inet" || a == "inet6" {
                    a = next(&mut words, word)?;
                }
                r.via = Some(fam.addr(a)?);
            }
            Some(Word::Dev | Word::Oif) => r.dev = Some(ifname(next(&mut words, word)?)?),
            Some(Word::Table) => r.table = table(next(&mut words, word)?)?,
            Some(Word::Metric | Word::Priority | Word::Preference) => {
                r.metric = Some(number(next(&mut words, word)?, "a metric 0..=4294967295")?)
            }
            Some(Word::Scope) => r.scope = Some(scope_of(next(&mut words, word)?)?),
            Some(Word::Protocol) => r.protocol = protocol(next(&mut words, word)?)?,
            Some(Word::Onlink) => r.onlink = true,
            // Routes are not tracked here, so no_track changes nothing.
            Some(Word::NoTrack) => {}
            found => {
                let mut w = if matches!(found, Some(Word::To)) {
                    next(&mut words, word)?
                } else {
                    word
                };
                if let Some(kind) = route_type(w) {
                    r.kind = kind;
                    w = next(&mut words, w)?;
                }
                let parsed = fam.prefix(w).map_err(|_| (w, ROUTE_WORDS))?;
                if let (Some(a), len) = parsed {
                    if host_bits_set(a, len) {
                        return Err((w, "a network prefix without host bits"));
                    }
                }
                dst = Some(parsed);
            }
        }
    }
    let Some((addr, len)) = dst else {
        return Err((value, "a route with a destination PREFIX (or default)"));
    };
    (r.dst, r.dst_len) = (fam.resolve(addr), len);
    if r.kind != RouteType::Unicast && (r.via.is_some() || r.dev.is_some()) {
        return Err((
            value,
            "blackhole, unreachable and prohibit routes without via or dev",
        ));
    }
    Ok(r)
}

fn protocol(word: &str) -> Result<u8, Bad<'_>> {
    match word {
        "boot" => Ok(3),
        "static" => Ok(4),
        "keepalived" => Ok(RTPROT_KEEPALIVED),
        _ => word.parse().map_err(|_| {
            (
                word,
                "a protocol number 0..=255, boot, static or keepalived",
            )
        }),
    }
}

fn fwmark(word: &str) -> Result<(u32, Option<u32>), Bad<'_>> {
    const FORM: &str = "fwmark N or N/MASK";
    let (mark, mask) = word
        .split_once('/')
        .map_or((word, None), |(a, b)| (a, Some(b)));
    let mask = mask.map(|m| number(m, FORM)).transpose()?;
    Ok((number(mark, FORM)?, mask))
}

/// One `virtual_rules` line, as keepalived's alloc_rule reads it. The priority is `None` when
/// not given (the caller numbers it).
pub(super) fn rule(value: &str) -> Result<(VirtualRule, bool), ErrorKind> {
    parse_rule(value).map_err(|(w, e)| bad(w, e))
}

#[inline(never)]
fn parse_rule(value: &str) -> Result<(VirtualRule, bool), Bad<'_>> {
    let mut fam = FamilyOf::default();
    let mut r = VirtualRule {
        family: Family::V4,
        from: None,
        to: None,
        action: RuleAction::Table(0),
        priority: 0,
        iif: None,
        oif: None,
        fwmark: None,
        invert: false,
    };
    let (mut action, mut priority) = (None, None);
    let (mut from, mut to) = (None, None);
    let mut words = value.split_whitespace();
    while let Some(word) = words.next() {
        let mut set_action = |a: RuleAction| match action.replace(a) {
            None => Ok(()),
            Some(_) => Err((word, "one of table, blackhole, unreachable, prohibit")),
        };
        let Some(keyword) = keyword(word) else {
            return Err((word, RULE_WORDS));
        };
        match keyword {
            // keepalived also skips the word after inet/inet6 (its parser advances twice), a
            // bug not copied: `inet6 to P` is read as written.
            Word::Inet => fam.set(word, Family::V4)?,
            Word::Inet6 => fam.set(word, Family::V6)?,
            Word::From => from = Some(fam.prefix(next(&mut words, word)?)?),
            Word::To => to = Some(fam.prefix(next(&mut words, word)?)?),
            Word::Table | Word::Lookup => {
                set_action(RuleAction::Table(table(next(&mut words, word)?)?))?
            }
            Word::Blackhole => set_action(RuleAction::Blackhole)?,
            Word::Unreachable => set_action(RuleAction::Unreachable)?,
            Word::Prohibit => set_action(RuleAction::Prohibit)?,
            Word::Priority | Word::Preference | Word::Order => {
                priority = Some(number(
                    next(&mut words, word)?,
                    "a priority 0..=4294967295",
                )?)
            }
            Word::Iif | Word::Dev => r.iif = Some(ifname(next(&mut words, word)?)?),
            Word::Oif => r.oif = Some(ifname(next(&mut words, word)?)?),
            Word::Fwmark => r.fwmark = Some(fwmark(next(&mut words, word)?)?),
            Word::Not => r.invert = true,
            Word::NoTrack => {}
            Word::Src
            | Word::Via
            | Word::Gw
            | Word::Metric
            | Word::Scope
            | Word::Protocol
            | Word::Onlink
            | Word::Unicast => return Err((word, RULE_WORDS)),
        }
    }
    r.action = action.ok_or((value, "a rule with table N (or blackhole, ...)"))?;
    r.family = fam.0.unwrap_or(Family::V4);
    let resolve = |p: Option<(Option<IpAddr>, u8)>| p.map(|(a, l)| (fam.resolve(a), l));
    (r.from, r.to) = (resolve(from), resolve(to));
    r.priority = priority.unwrap_or(0);
    Ok((r, priority.is_some()))
}

/// `brd ADDR|+|-` of an IPv4 VIP: `+` is the subnet's broadcast address, `-` its network.
pub(super) fn broadcast(word: &str, addr: IpAddr, prefix_len: u8) -> Result<Ipv4Addr, ErrorKind> {
    let IpAddr::V4(a) = addr else {
        return Err(bad(word, "brd on IPv4 addresses only"));
    };
    if word == "+" || word == "-" {
        if prefix_len > 30 {
            return Err(bad(word, "brd + or - with a prefix of at most 30"));
        }
        let host = u32::MAX >> prefix_len;
        let net = u32::from(a) & !host;
        return Ok(Ipv4Addr::from(if word == "+" { net | host } else { net }));
    }
    word.parse()
        .map_err(|_| bad(word, "brd with an IPv4 address, + or -"))
}

/// The entry repeats item `i`, read at `lines[i]`.
fn duplicate(ctx: &mut Ctx, sec: &RawSection, entry: &RawEntry, lines: &[usize], i: usize) {
    let first_line = lines.get(i).copied().unwrap_or(0);
    ctx.at(sec, entry, ErrorKind::DuplicateValue { first_line });
}

/// `virtual_routes` entries; an identical line twice is reported.
pub(super) fn read_routes(ctx: &mut Ctx, sec: &RawSection) -> Vec<VirtualRoute> {
    let mut out: Vec<VirtualRoute> = Vec::new();
    let mut lines: Vec<usize> = Vec::new();
    for entry in all(sec, "virtual_routes") {
        match route(&entry.value) {
            Ok(r) => match out.iter().position(|o| *o == r) {
                Some(i) => duplicate(ctx, sec, entry, &lines, i),
                None => {
                    out.push(r);
                    lines.push(entry.line);
                }
            },
            Err(kind) => ctx.at(sec, entry, kind),
        }
    }
    out
}

/// `virtual_rules` entries. A rule without a priority gets the next one of its family
/// counting down from 16384 over the whole file, with a warning, as keepalived does.
pub(super) fn read_rules(ctx: &mut Ctx, sec: &RawSection) -> Vec<VirtualRule> {
    let mut out: Vec<VirtualRule> = Vec::new();
    let mut lines: Vec<usize> = Vec::new();
    for entry in all(sec, "virtual_rules") {
        let (mut r, has_priority) = match rule(&entry.value) {
            Ok(parsed) => parsed,
            Err(kind) => {
                ctx.at(sec, entry, kind);
                continue;
            }
        };
        if !has_priority {
            let slot = usize::from(r.family == Family::V6);
            let next = &mut ctx.next_rule_priority[slot];
            r.priority = RULE_START_PRIORITY - *next;
            *next += 1;
            let kind = WarningKind::RulePriorityAssigned {
                priority: r.priority,
            };
            ctx.warn(sec, entry.line, "virtual_rules", kind);
        }
        match out.iter().position(|o| *o == r) {
            Some(i) => duplicate(ctx, sec, entry, &lines, i),
            None => {
                out.push(r);
                lines.push(entry.line);
            }
        }
    }
    out
}

/// `virtual_ipaddress_excluded`: VIP lines of either family, each address once across the
/// instance's VIPs and these.
pub(super) fn read_excluded(
    ctx: &mut Ctx,
    sec: &RawSection,
    interface: Option<&str>,
    vips: &[Vip],
) -> Vec<Vip> {
    let mut out: Vec<Vip> = Vec::new();
    let mut lines: Vec<usize> = Vec::new();
    for entry in all(sec, "virtual_ipaddress_excluded") {
        let parsed = match vip(&entry.value, interface) {
            Ok(v) => v,
            Err(kind) => {
                ctx.at(sec, entry, kind);
                continue;
            }
        };
        let earlier = out.iter().position(|o| o.addr == parsed.addr);
        if earlier.is_some() || vips.iter().any(|v| v.addr == parsed.addr) {
            // A repeat of a VIP has no line here: 0.
            duplicate(ctx, sec, entry, &lines, earlier.unwrap_or(usize::MAX));
            continue;
        }
        out.push(parsed);
        lines.push(entry.line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse_str, ConfigErrors};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn conf(extra: &str) -> String {
        format!(
            "[vrrp_instance VI_1]\ninterface = eth0\nvirtual_router_id = 1\n\
             virtual_ipaddress = 192.0.2.1/24\n{extra}\n"
        )
    }

    fn bad_word(r: Result<impl std::fmt::Debug, ErrorKind>) -> String {
        match r {
            Err(ErrorKind::BadValue { value, .. }) => value,
            other => panic!("expected BadValue, got {other:?}"),
        }
    }

    #[test]
    fn route_defaults_follow_keepalived() {
        let r = route("192.0.2.0/24 via 198.51.100.1").unwrap();
        assert_eq!((r.dst, r.dst_len), (ip("192.0.2.0"), 24));
        assert_eq!(r.via, Some(ip("198.51.100.1")));
        assert_eq!((r.table, r.protocol, r.scope), (254, 18, None));
        assert_eq!(
            (r.kind, r.metric, r.dev, r.src),
            (RouteType::Unicast, None, None, None)
        );
    }

    #[test]
    fn route_options() {
        let r = route("src 192.0.2.1 to 198.51.100.0/24 gw 192.0.2.254 dev eth1 table 100 metric 5 scope link protocol static onlink no_track").unwrap();
        assert_eq!(r.src, Some(ip("192.0.2.1")));
        assert_eq!((r.dst, r.dst_len), (ip("198.51.100.0"), 24));
        assert_eq!(r.via, Some(ip("192.0.2.254")));
        assert_eq!(r.dev.as_deref(), Some("eth1"));
        assert_eq!(
            (r.table, r.metric, r.scope, r.protocol),
            (100, Some(5), Some(253), 4)
        );
        assert!(r.onlink);
        let r = route("default via 192.0.2.254 table main").unwrap();
        assert_eq!((r.dst, r.dst_len, r.table), (ip("0.0.0.0"), 0, 254));
        let r = route("inet6 default via inet6 2001:db8::1 table 70000").unwrap();
        assert_eq!((r.dst, r.dst_len, r.table), (ip("::"), 0, 70000));
        let r = route("203.0.113.7 dev eth0 priority 0x10").unwrap();
        assert_eq!((r.dst_len, r.metric), (32, Some(16)));
        for (line, kind) in [
            ("blackhole 203.0.113.0/24", RouteType::Blackhole),
            ("to unreachable 2001:db8:1::/48", RouteType::Unreachable),
            ("prohibit 198.51.100.0/25 table 10", RouteType::Prohibit),
        ] {
            assert_eq!(route(line).unwrap().kind, kind, "{line}");
        }
    }

    #[test]
    fn route_errors_name_the_word() {
        assert_eq!(bad_word(route("192.0.2.0/24 mtu 1400")), "mtu");
        assert_eq!(bad_word(route("192.0.2.0/33")), "192.0.2.0/33");
        assert_eq!(bad_word(route("192.0.2.1/24 dev eth0")), "192.0.2.1/24");
        assert_eq!(
            bad_word(route("192.0.2.0/24 via 2001:db8::1")),
            "2001:db8::1"
        );
        assert_eq!(bad_word(route("inet6 192.0.2.0/24")), "192.0.2.0/24");
        assert_eq!(bad_word(route("192.0.2.0/24 table 0")), "0");
        assert_eq!(bad_word(route("192.0.2.0/24 table")), "table");
        assert_eq!(bad_word(route("192.0.2.0/24 metric x")), "x");
        assert_eq!(bad_word(route("via 192.0.2.1")), "via 192.0.2.1");
        assert_eq!(
            bad_word(route("blackhole 192.0.2.0/24 dev eth0")),
            "blackhole 192.0.2.0/24 dev eth0"
        );
    }

    #[test]
    fn rules() {
        let (r, given) = rule("from 192.0.2.0/24 table 100 priority 100").unwrap();
        assert!(given);
        assert_eq!(r.from, Some((ip("192.0.2.0"), 24)));
        assert_eq!(
            (r.action, r.priority, r.family),
            (RuleAction::Table(100), 100, Family::V4)
        );
        assert_eq!(bad_word(rule("table 1 pref 5")), "pref");
        let (r, _) =
            rule("to 2001:db8::/32 lookup main iif eth0 oif eth1 preference 5 not").unwrap();
        assert_eq!(r.to, Some((ip("2001:db8::"), 32)));
        assert_eq!(
            (r.action, r.family, r.invert),
            (RuleAction::Table(254), Family::V6, true)
        );
        assert_eq!(
            (r.iif.as_deref(), r.oif.as_deref()),
            (Some("eth0"), Some("eth1"))
        );
        let (r, given) = rule("inet6 from all fwmark 0x10/0xff blackhole").unwrap();
        assert!(!given);
        assert_eq!(r.from, Some((ip("::"), 0)));
        assert_eq!(
            (r.action, r.fwmark),
            (RuleAction::Blackhole, Some((16, Some(255))))
        );
        assert_eq!(bad_word(rule("from 192.0.2.0/24")), "from 192.0.2.0/24");
        assert_eq!(bad_word(rule("table 1 prohibit")), "prohibit");
        assert_eq!(
            bad_word(rule("from 192.0.2.0/24 to 2001:db8::/32 table 1")),
            "2001:db8::/32"
        );
        assert_eq!(bad_word(rule("table 1 tos 4")), "tos");
    }

    /// Each keyword is an option of the parsers that take it, and only of those.
    #[test]
    fn keywords_belong_to_their_line_kind() {
        let route_ok = [
            "src 192.0.2.1 192.0.2.0/24",
            "192.0.2.0/24 via 192.0.2.1",
            "192.0.2.0/24 gw 192.0.2.1",
            "192.0.2.0/24 dev eth0",
            "192.0.2.0/24 oif eth0",
            "192.0.2.0/24 table 5",
            "192.0.2.0/24 metric 1",
            "192.0.2.0/24 priority 1",
            "192.0.2.0/24 preference 1",
            "192.0.2.0/24 scope link",
            "192.0.2.0/24 protocol boot",
            "192.0.2.0/24 via 192.0.2.1 onlink",
            "192.0.2.0/24 no_track",
            "inet to 192.0.2.0/24",
            "inet6 unicast 2001:db8::/64",
            "blackhole 192.0.2.0/24",
            "unreachable 192.0.2.0/24",
            "prohibit 192.0.2.0/24",
        ];
        for line in route_ok {
            assert!(route(line).is_ok(), "{line}");
        }
        for word in [
            "iif eth0",
            "lookup 5",
            "order 1",
            "from 192.0.2.0/24",
            "fwmark 1",
            "not",
        ] {
            let line = format!("192.0.2.0/24 {word}");
            assert!(route(&line).is_err(), "{line}");
        }
        let rule_ok = [
            "inet from 192.0.2.0/24 table 5",
            "inet6 to 2001:db8::/64 table 5",
            "lookup 5",
            "blackhole",
            "unreachable",
            "prohibit",
            "table 5 priority 1",
            "table 5 preference 1",
            "table 5 order 1",
            "table 5 iif eth0",
            "table 5 dev eth0",
            "table 5 oif eth0",
            "table 5 fwmark 1/0xff",
            "table 5 not",
            "table 5 no_track",
        ];
        for line in rule_ok {
            assert!(rule(line).is_ok(), "{line}");
        }
        let not_rules = [
            "src 192.0.2.1",
            "via 192.0.2.1",
            "gw 192.0.2.1",
            "metric 1",
            "scope link",
            "protocol boot",
            "onlink",
            "unicast",
        ];
        for word in not_rules {
            let line = format!("table 5 {word}");
            assert_eq!(
                bad_word(rule(&line)),
                word.split(' ').next().unwrap_or(""),
                "{line}"
            );
        }
    }

    #[test]
    fn vip_brd_and_scope() {
        let v = vip("192.0.2.1/24 brd + scope link", None).unwrap();
        assert_eq!((v.brd, v.scope), (Some(Ipv4Addr::new(192, 0, 2, 255)), 253));
        let v = vip("192.0.2.1/24 broadcast - scope 200", None).unwrap();
        assert_eq!((v.brd, v.scope), (Some(Ipv4Addr::new(192, 0, 2, 0)), 200));
        let v = vip("192.0.2.1/24 brd 192.0.2.127 dev eth1 scope host", None).unwrap();
        assert_eq!((v.brd, v.scope), (Some(Ipv4Addr::new(192, 0, 2, 127)), 254));
        assert!(vip("2001:db8::1/64 brd +", None).is_err());
        assert!(vip("2001:db8::1/64 scope link", None).is_err());
        assert!(vip("192.0.2.1/32 brd +", None).is_err());
        assert!(vip("192.0.2.1/24 scope planet", None).is_err());
    }

    fn errors(text: &str) -> Vec<String> {
        match parse_str(text, "t.conf") {
            Ok(_) => Vec::new(),
            Err(ConfigErrors(es)) => es.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn instance_keys_and_file_line_errors() {
        let text = conf(
            "virtual_ipaddress_excluded = 2001:db8::5/64\n\
             virtual_ipaddress_excluded = 192.0.2.9/24 brd + scope global\n\
             virtual_routes = 198.51.100.0/24 via 192.0.2.254\n\
             virtual_routes = blackhole 203.0.113.0/24 table 100\n\
             virtual_rules = from 192.0.2.0/24 table 100 priority 10\n\
             virtual_rules = to 203.0.113.0/24 table 100",
        );
        let loaded = parse_str(&text, "t.conf").unwrap();
        let i = &loaded.config.instances[0];
        assert_eq!(i.vips.len(), 1);
        assert_eq!(i.vips_excluded.len(), 2);
        assert_eq!(i.vips_excluded[0].addr, ip("2001:db8::5"));
        assert_eq!(i.virtual_routes.len(), 2);
        assert_eq!(i.virtual_rules[1].priority, 16384);
        let w: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
        assert!(w.iter().any(|w| w.starts_with("t.conf:10: [vrrp_instance VI_1] virtual_rules: warning: rule without priority: priority 16384")), "{w:?}");

        let e = errors(&conf(
            "virtual_routes = 198.51.100.0/24 foo 1\n\
             virtual_rules = from 192.0.2.0/24\n\
             virtual_ipaddress_excluded = 192.0.2.1\n\
             virtual_routes = 198.51.100.0/24 foo 1",
        ));
        assert_eq!(e.len(), 4, "{e:?}");
        assert!(
            e[0].starts_with("t.conf:5: [vrrp_instance VI_1] virtual_routes: bad value \"foo\""),
            "{e:?}"
        );
        assert!(
            e[1].starts_with("t.conf:6: [vrrp_instance VI_1] virtual_rules: "),
            "{e:?}"
        );
        assert!(
            e[2].starts_with(
                "t.conf:7: [vrrp_instance VI_1] virtual_ipaddress_excluded: listed twice"
            ),
            "{e:?}"
        );
    }

    #[test]
    fn unnumbered_rules_count_down_per_family_over_the_file() {
        let text = format!(
            "{}virtual_rules = from 192.0.2.0/24 table 1\nvirtual_rules = inet6 from 2001:db8::/32 table 1\n\
             [vrrp_instance VI_2]\ninterface = eth0\nvirtual_router_id = 2\nvirtual_ipaddress = 192.0.2.2/24\n\
             virtual_rules = from 198.51.100.0/24 table 1\n",
            conf("")
        );
        let c = parse_str(&text, "t.conf").unwrap().config;
        let p = |i: usize, r: usize| c.instances[i].virtual_rules[r].priority;
        assert_eq!((p(0, 0), p(0, 1), p(1, 0)), (16384, 16384, 16383));
    }
}
