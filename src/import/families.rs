//! keepalived takes an instance's address family from its first VIP and ignores the VIPs of
//! the other family. The importer keeps them: the IPv6 ones move to an instance of their own.

use super::translate::{Ctx, Section};
use super::tree::Node;

fn is_v6(value: &str) -> bool {
    let value = value.trim_start_matches(['"', '\'']);
    value
        .split([' ', '\t'])
        .next()
        .is_some_and(|a| a.contains(':'))
}

/// Keys whose value is an address of the instance's family.
const FAMILY_KEYS: &[&str] = &[
    "virtual_ipaddress",
    "unicast_peer",
    "unicast_src_ip",
    "mcast_src_ip",
];

/// Keys the IPv6 copy leaves to the original: version 2 only, or actions not to run twice.
const ORIGINAL_ONLY: &[&str] = &[
    "version",
    "auth_type",
    "auth_pass",
    "v3_checksum_as_v2",
    "virtual_ipaddress_excluded",
    "virtual_routes",
    "virtual_rules",
    "notify_master",
    "notify_backup",
    "notify_fault",
    "notify_stop",
    "notify",
];

/// Splits an instance with IPv4 and IPv6 VIPs: `sec` keeps IPv4, the returned `NAME_v6`
/// (same VRID, version 3) gets the IPv6 ones.
pub(super) fn split(ctx: &mut Ctx, node: &Node, sec: &mut Section) -> Option<Section> {
    let vips = sec
        .entries
        .iter()
        .filter(|(k, _)| *k == "virtual_ipaddress")
        .filter_map(|(_, v)| v.as_deref());
    let (mut v4, mut v6) = (false, false);
    for vip in vips {
        if is_v6(vip) {
            v6 = true;
        } else {
            v4 = true;
        }
    }
    if !(v4 && v6) {
        return None;
    }
    let name = format!("{}_v6", sec.header.strip_prefix("vrrp_instance ")?);
    let mut copy = Section {
        header: format!("vrrp_instance {name}"),
        entries: Vec::new(),
    };
    for (key, value) in &sec.entries {
        let family = FAMILY_KEYS.contains(key);
        let keep = if family {
            value.as_deref().is_some_and(is_v6)
        } else {
            !ORIGINAL_ONLY.contains(key)
        };
        if keep && *key == "use_vmac" {
            // Two instances cannot share one macvlan name: the copy takes the default one.
            copy.entries.push((key, None));
        } else if keep {
            copy.entries.push((key, value.clone()));
        }
    }
    copy.entries.push(("version", Some("3".to_string())));
    sec.entries
        .retain(|(k, v)| !FAMILY_KEYS.contains(k) || !v.as_deref().is_some_and(is_v6));
    let text = format!(
        "keepalived takes the family of the first VIP and ignores the VIPs of the other; tinyvrrp's import moves the IPv6 ones to instance {name} (same VRID, version 3, without notify scripts, excluded VIPs, routes, rules or authentication), synchronised with this one"
    );
    ctx.warn(node, "virtual_ipaddress", text, true);
    let peers = |s: &Section| s.entries.iter().any(|(k, _)| *k == "unicast_peer");
    if peers(sec) && !peers(&copy) {
        let text = format!("no IPv6 peer: instance {name} advertises by multicast");
        ctx.warn(node, "unicast_peer", text, true);
    }
    Some(copy)
}

/// keepalived runs an IPv6 instance without `version` as version 3, whatever `vrrp_version`
/// says; tinyvrrp's INI takes `vrrp_version` (else 2), so the import writes it out.
pub(super) fn ipv6_version(sec: &mut Section) {
    let mut vips = sec
        .entries
        .iter()
        .filter(|(k, _)| *k == "virtual_ipaddress")
        .filter_map(|(_, v)| v.as_deref())
        .peekable();
    let ipv6 = vips.peek().is_some() && vips.all(is_v6);
    if ipv6 && !sec.entries.iter().any(|(k, _)| *k == "version") {
        sec.entries.push(("version", Some("3".to_string())));
    }
}

/// Puts each split-off instance in its original's sync group, or both in a new group.
pub(super) fn join_groups(sections: &mut Vec<Section>, splits: &[(String, String)]) {
    for (original, copy) in splits {
        let member =
            |e: &(&str, Option<String>)| e.0 == "group" && e.1.as_deref() == Some(original);
        let group = sections
            .iter_mut()
            .filter(|s| s.header.starts_with("vrrp_sync_group "))
            .find_map(|s| s.entries.iter().position(member).map(|at| (s, at)));
        match group {
            Some((s, at)) => s.entries.insert(at + 1, ("group", Some(copy.clone()))),
            None => sections.push(Section {
                header: format!("vrrp_sync_group {original}_families"),
                entries: vec![
                    ("group", Some(original.clone())),
                    ("group", Some(copy.clone())),
                ],
            }),
        }
    }
}
