//! What follows the master besides its VIPs: `virtual_ipaddress_excluded`, `virtual_routes`
//! and `virtual_rules`. Gaining mastership adds them in that order (after the VIPs, so a
//! route through or from a VIP finds it); losing it removes them in the reverse order (before
//! the VIPs), as keepalived does. The order and the outcome checks are pure; `follow` is the
//! one entry point with syscalls.

use log::warn;

use crate::config::{InstanceConfig, RouteType, RuleAction, Vip, VirtualRoute, VirtualRule};
use crate::links::Links;
use crate::netlink::wire::routes as w;
use crate::netlink::{AddrOptions, Netlink, NetlinkError, RouteSpec, RuleSpec};
use crate::packet::Family;

/// One thing that follows the master.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item<'a> {
    Excluded(&'a Vip),
    Route(&'a VirtualRoute),
    Rule(&'a VirtualRule),
}

/// The items of `cfg` in the order to apply them: excluded VIPs, routes, rules when gaining
/// mastership (`add`), the reverse when losing it.
pub fn for_each_item<'a>(cfg: &'a InstanceConfig, add: bool, mut f: impl FnMut(Item<'a>)) {
    let excluded = cfg.vips_excluded.iter().map(Item::Excluded);
    let routes = cfg.virtual_routes.iter().map(Item::Route);
    let rules = cfg.virtual_rules.iter().map(Item::Rule);
    if add {
        excluded.chain(routes).chain(rules).for_each(&mut f);
    } else {
        rules
            .rev()
            .chain(routes.rev())
            .chain(excluded.rev())
            .for_each(&mut f);
    }
}

/// A refused request that still leaves what we wanted: the item was already there (add) or
/// already gone (delete: EADDRNOTAVAIL for addresses, ESRCH for routes, ENOENT for rules).
pub fn settled(add: bool, err: &NetlinkError) -> bool {
    match err.nack_errno() {
        Some(libc::EEXIST) => add,
        Some(libc::EADDRNOTAVAIL | libc::ESRCH | libc::ENOENT) => !add,
        _ => false,
    }
}

pub fn route_spec(r: &VirtualRoute, oif: Option<u32>) -> RouteSpec {
    RouteSpec {
        dst: r.dst,
        dst_len: r.dst_len,
        pref_src: r.src,
        gateway: r.via,
        oif,
        table: r.table,
        metric: r.metric,
        scope: r.scope,
        protocol: r.protocol,
        kind: match r.kind {
            RouteType::Unicast => w::RTN_UNICAST,
            RouteType::Blackhole => w::RTN_BLACKHOLE,
            RouteType::Unreachable => w::RTN_UNREACHABLE,
            RouteType::Prohibit => w::RTN_PROHIBIT,
        },
        onlink: r.onlink,
    }
}

pub fn rule_spec(r: &VirtualRule) -> RuleSpec<'_> {
    let (action, table) = match r.action {
        RuleAction::Table(t) => (w::FR_ACT_TO_TBL, t),
        RuleAction::Blackhole => (w::FR_ACT_BLACKHOLE, 0),
        RuleAction::Unreachable => (w::FR_ACT_UNREACHABLE, 0),
        RuleAction::Prohibit => (w::FR_ACT_PROHIBIT, 0),
    };
    RuleSpec {
        v6: r.family == Family::V6,
        from: r.from,
        to: r.to,
        action,
        table,
        priority: r.priority,
        iif: r.iif.as_deref(),
        oif: r.oif.as_deref(),
        fwmark: r.fwmark.map(|f| f.0),
        fwmask: r.fwmark.and_then(|f| f.1),
        invert: r.invert,
        protocol: crate::config::RTPROT_KEEPALIVED,
    }
}

fn log_failure(name: &str, item: Item<'_>, add: bool, quiet: bool, e: &NetlinkError) {
    let verb = if add { "adding" } else { "removing" };
    let level = if quiet {
        log::Level::Debug
    } else {
        log::Level::Error
    };
    match item {
        Item::Excluded(v) => {
            log::log!(
                level,
                "{name}: {verb} excluded VIP {}/{}: {e}",
                v.addr,
                v.prefix_len
            )
        }
        Item::Route(r) => log::log!(level, "{name}: {verb} route {}/{}: {e}", r.dst, r.dst_len),
        Item::Rule(r) => log::log!(level, "{name}: {verb} rule priority {}: {e}", r.priority),
    }
}

/// Adds (`add`) or removes every excluded VIP, route and rule of `cfg`. `default_ifindex` is
/// where excluded VIPs without `dev` go (the instance's interface or VMAC). Each failure is
/// logged once (at debug level when `quiet`, for the clean-up of leftovers) and counted;
/// nothing here is fatal. Returns the number of failures.
pub fn follow(
    nl: &mut Netlink,
    links: &Links,
    cfg: &InstanceConfig,
    default_ifindex: Option<u32>,
    add: bool,
    quiet: bool,
) -> u32 {
    let mut failures = 0;
    for_each_item(cfg, add, |item| {
        failures += u32::from(!apply(
            nl,
            links,
            &cfg.name,
            default_ifindex,
            item,
            add,
            quiet,
        ));
    });
    failures
}

/// The items of `old` that `new` no longer has (to remove, in removal order), then those
/// `new` adds (in adding order): a reload of a master changes only these.
pub fn for_each_change<'a>(
    old: &'a InstanceConfig,
    new: &'a InstanceConfig,
    mut f: impl FnMut(Item<'a>, bool),
) {
    let mut in_new = false;
    for_each_item(old, false, |i| {
        for_each_item(new, false, |j| in_new |= i == j);
        if !std::mem::take(&mut in_new) {
            f(i, false);
        }
    });
    let mut in_old = false;
    for_each_item(new, true, |j| {
        for_each_item(old, true, |i| in_old |= i == j);
        if !std::mem::take(&mut in_old) {
            f(j, true);
        }
    });
}

/// `follow` for a reload: removes what `old` had and `new` has not, adds what `new` brings.
pub fn follow_change(
    nl: &mut Netlink,
    links: &Links,
    old: &InstanceConfig,
    new: &InstanceConfig,
    default_ifindex: Option<u32>,
) -> u32 {
    let mut failures = 0;
    for_each_change(old, new, |item, add| {
        failures += u32::from(!apply(
            nl,
            links,
            &new.name,
            default_ifindex,
            item,
            add,
            false,
        ));
    });
    failures
}

/// One item; false when it failed (a missing `dev` is skipped, logged, and not a failure).
fn apply(
    nl: &mut Netlink,
    links: &Links,
    name: &str,
    default_ifindex: Option<u32>,
    item: Item<'_>,
    add: bool,
    quiet: bool,
) -> bool {
    let result = match item {
        Item::Excluded(v) => {
            let ifindex = match &v.dev {
                Some(dev) => links.by_name(dev).map(|l| l.index),
                None => default_ifindex,
            };
            let Some(ifindex) = ifindex else {
                if add && !quiet {
                    warn!("{name}: no interface for excluded VIP {}", v.addr);
                }
                return true;
            };
            set_address(nl, ifindex, v, add)
        }
        Item::Route(r) => {
            let oif = match &r.dev {
                Some(dev) => match links.by_name(dev) {
                    Some(l) => Some(l.index),
                    None => {
                        if add && !quiet {
                            let (dst, len) = (r.dst, r.dst_len);
                            warn!("{name}: route to {dst}/{len} skipped: no interface {dev}");
                        }
                        return true;
                    }
                },
                None => None,
            };
            nl.route(add, &route_spec(r, oif))
        }
        Item::Rule(r) => nl.rule(add, &rule_spec(r)),
    };
    match result {
        Err(e) if !settled(add, &e) => {
            log_failure(name, item, add, quiet, &e);
            false
        }
        _ => true,
    }
}

fn set_address(nl: &mut Netlink, ifindex: u32, v: &Vip, add: bool) -> Result<(), NetlinkError> {
    if !add {
        return nl.del_address(ifindex, v.addr, v.prefix_len);
    }
    let opts = AddrOptions {
        label: v.label.as_deref(),
        broadcast: v.brd,
        scope: v.scope,
        nodad: v.addr.is_ipv6(),
    };
    nl.add_address_with(ifindex, v.addr, v.prefix_len, &opts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_str;

    #[test]
    fn order_gaining_and_losing_mastership() {
        let text = "[vrrp_instance VI_1]\ninterface = eth0\nvirtual_router_id = 1\n\
            virtual_ipaddress = 192.0.2.1/24\n\
            virtual_ipaddress_excluded = 192.0.2.2/24\nvirtual_ipaddress_excluded = 2001:db8::2/64\n\
            virtual_routes = 198.51.100.0/24 via 192.0.2.254\nvirtual_routes = blackhole 203.0.113.0/24\n\
            virtual_rules = from 192.0.2.0/24 table 100 priority 10\n";
        let cfg = &parse_str(text, "t.conf").unwrap().config.instances[0];
        let mut seen = Vec::new();
        let tag = |i: Item<'_>| match i {
            Item::Excluded(v) => format!("vip {}", v.addr),
            Item::Route(r) => format!("route {}", r.dst),
            Item::Rule(r) => format!("rule {}", r.priority),
        };
        for_each_item(cfg, true, |i| seen.push(tag(i)));
        let gain = [
            "vip 192.0.2.2",
            "vip 2001:db8::2",
            "route 198.51.100.0",
            "route 203.0.113.0",
            "rule 10",
        ];
        assert_eq!(seen, gain);
        seen.clear();
        for_each_item(cfg, false, |i| seen.push(tag(i)));
        let lose: Vec<&str> = gain.iter().rev().copied().collect();
        assert_eq!(seen, lose);
    }

    #[test]
    fn settled_outcomes() {
        let nack = |errno| NetlinkError::Nack { errno, what: "x" };
        assert!(settled(true, &nack(libc::EEXIST)));
        assert!(!settled(false, &nack(libc::EEXIST)));
        for errno in [libc::ESRCH, libc::ENOENT, libc::EADDRNOTAVAIL] {
            assert!(settled(false, &nack(errno)));
            assert!(!settled(true, &nack(errno)));
        }
        assert!(!settled(true, &nack(libc::EINVAL)));
        assert!(!settled(false, &nack(libc::EPERM)));
        assert!(!settled(
            false,
            &NetlinkError::Io(nix::errno::Errno::EAGAIN)
        ));
    }

    #[test]
    fn a_reload_changes_only_what_changed() {
        let conf = |items: &str| {
            let text = format!(
                "[vrrp_instance VI_1]\ninterface = eth0\nvirtual_router_id = 1\n\
                 virtual_ipaddress = 192.0.2.1/24\n{items}"
            );
            parse_str(&text, "t.conf")
                .unwrap()
                .config
                .instances
                .remove(0)
        };
        let old = conf(
            "virtual_routes = 198.51.100.0/24 via 192.0.2.254\n\
             virtual_routes = 203.0.113.0/24 via 192.0.2.254\n\
             virtual_rules = from 192.0.2.0/24 table 5 priority 9\n",
        );
        let new = conf(
            "virtual_routes = 203.0.113.0/24 via 192.0.2.254\n\
             virtual_routes = 198.51.100.0/25 via 192.0.2.254\n\
             virtual_rules = from 192.0.2.0/24 table 5 priority 9\n\
             virtual_ipaddress_excluded = 2001:db8::9/64\n",
        );
        let mut seen = Vec::new();
        for_each_change(&old, &new, |i, add| {
            let what = match i {
                Item::Excluded(v) => format!("vip {}", v.addr),
                Item::Route(r) => format!("route {}/{}", r.dst, r.dst_len),
                Item::Rule(r) => format!("rule {}", r.priority),
            };
            seen.push(format!("{} {what}", if add { "+" } else { "-" }));
        });
        assert_eq!(
            seen,
            [
                "- route 198.51.100.0/24",
                "+ vip 2001:db8::9",
                "+ route 198.51.100.0/25"
            ]
        );
        let mut none = 0;
        for_each_change(&new, &new, |_, _| none += 1);
        assert_eq!(none, 0);
    }

    #[test]
    fn specs_from_config() {
        let text = "[vrrp_instance VI_1]\ninterface = eth0\nvirtual_router_id = 1\n\
            virtual_ipaddress = 192.0.2.1/24\n\
            virtual_routes = unreachable 2001:db8:1::/48 table 300 metric 9\n\
            virtual_rules = inet6 to 2001:db8:1::/48 prohibit priority 5 fwmark 3/7 not\n";
        let cfg = &parse_str(text, "t.conf").unwrap().config.instances[0];
        let r = route_spec(&cfg.virtual_routes[0], None);
        assert_eq!(
            (r.kind, r.table, r.metric, r.protocol),
            (w::RTN_UNREACHABLE, 300, Some(9), 18)
        );
        let r = rule_spec(&cfg.virtual_rules[0]);
        assert!(r.v6 && r.invert);
        assert_eq!(
            (r.action, r.priority, r.fwmark, r.fwmask),
            (w::FR_ACT_PROHIBIT, 5, Some(3), Some(7))
        );
    }
}
