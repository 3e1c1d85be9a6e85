//! What a reload changes: the new instance table diffed against the running one, so that
//! instances whose identity (interface, VRID, address family) stays keep their state and their
//! VIPs. Pure; the router (`router/reconfig.rs`) carries the plan out.

use crate::config::{InstanceConfig, Vip};

/// What happens to a running instance that is still configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Same configuration: nothing to do.
    Keep,
    /// Priority, VIPs, advert interval, tracking, routes, notify scripts... changed: applied
    /// to the running instance, no state change, no VIP gap.
    InPlace,
    /// How the instance is on the wire changed (version, VMAC, unicast or multicast): it is
    /// stopped and started again.
    Restart,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// (index in the running table, index in the new table, what to do).
    pub kept: Vec<(usize, usize, Change)>,
    /// Running instances no longer configured: stopped.
    pub removed: Vec<usize>,
    /// New instances: started.
    pub added: Vec<usize>,
}

fn same_identity(a: &InstanceConfig, b: &InstanceConfig) -> bool {
    a.interface == b.interface && a.vrid == b.vrid && a.family == b.family
}

fn change(old: &InstanceConfig, new: &InstanceConfig) -> Change {
    if old == new {
        return Change::Keep;
    }
    let same_wire = old.version == new.version
        && old.use_vmac == new.use_vmac
        && old.vmac_name == new.vmac_name
        && old.vmac_xmit_base == new.vmac_xmit_base
        && old.unicast_peers.is_empty() == new.unicast_peers.is_empty();
    if same_wire {
        Change::InPlace
    } else {
        Change::Restart
    }
}

/// Whether what follows the master besides the VIPs (excluded VIPs, routes, rules) changed.
pub fn followers_changed(old: &InstanceConfig, new: &InstanceConfig) -> bool {
    old.vips_excluded != new.vips_excluded
        || old.virtual_routes != new.virtual_routes
        || old.virtual_rules != new.virtual_rules
}

/// VIPs in `a` that are not in `b` (same address, prefix, device and attributes).
pub fn vips_missing<'a>(a: &'a [Vip], b: &'a [Vip]) -> impl Iterator<Item = &'a Vip> + 'a {
    a.iter().filter(move |v| !b.contains(v))
}

pub fn plan(running: &[InstanceConfig], new: &[InstanceConfig]) -> Plan {
    let mut plan = Plan::default();
    let mut matched = vec![false; running.len()];
    for (ni, cfg) in new.iter().enumerate() {
        let found = running
            .iter()
            .enumerate()
            .find(|(oi, old)| !matched[*oi] && same_identity(old, cfg));
        match found {
            Some((oi, old)) => {
                matched[oi] = true;
                plan.kept.push((oi, ni, change(old, cfg)));
            }
            None => plan.added.push(ni),
        }
    }
    plan.removed = (0..running.len()).filter(|i| !matched[*i]).collect();
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_str;

    fn instances(text: &str) -> Vec<InstanceConfig> {
        parse_str(text, "t.conf")
            .unwrap_or_else(|e| panic!("{e}"))
            .config
            .instances
    }

    fn conf(vrid: u8, priority: u8, extra: &str) -> String {
        format!(
            "[vrrp_instance VI_{vrid}]\ninterface = eth0\nvirtual_router_id = {vrid}\n\
             priority = {priority}\nvirtual_ipaddress = 192.0.2.{vrid}/24\n{extra}\n"
        )
    }

    #[test]
    fn unchanged_instances_are_kept() {
        let a = instances(&(conf(1, 100, "") + &conf(2, 100, "")));
        let p = plan(&a, &a);
        assert_eq!(p.kept, vec![(0, 0, Change::Keep), (1, 1, Change::Keep)]);
        assert!(p.removed.is_empty() && p.added.is_empty());
    }

    #[test]
    fn a_priority_change_alone_is_not_a_restart() {
        let old = instances(&conf(1, 100, ""));
        let new = instances(&conf(1, 200, ""));
        assert_eq!(plan(&old, &new).kept, vec![(0, 0, Change::InPlace)]);
    }

    #[test]
    fn wire_changes_restart_only_that_instance() {
        let old = instances(&(conf(1, 100, "") + &conf(2, 100, "")));
        for extra in ["version = 3", "use_vmac", "unicast_peer = 192.0.2.200"] {
            let new = instances(&(conf(1, 100, extra) + &conf(2, 100, "")));
            let p = plan(&old, &new);
            assert_eq!(
                p.kept,
                vec![(0, 0, Change::Restart), (1, 1, Change::Keep)],
                "{extra}"
            );
        }
    }

    #[test]
    fn vips_interval_tracking_and_preempt_change_in_place() {
        let old = instances(&conf(1, 100, ""));
        for extra in [
            "virtual_ipaddress = 192.0.2.99/24",
            "advert_int = 2",
            "track_interface = eth1",
            "nopreempt",
            "garp_master_repeat = 2",
        ] {
            let new = instances(&conf(1, 100, extra));
            assert_eq!(
                plan(&old, &new).kept,
                vec![(0, 0, Change::InPlace)],
                "{extra}"
            );
        }
    }

    #[test]
    fn routes_rules_and_excluded_vips_change_in_place() {
        let old = instances(&conf(
            1,
            100,
            "virtual_routes = 198.51.100.0/24 via 192.0.2.254",
        ));
        let extra = "virtual_routes = 203.0.113.0/24 via 192.0.2.254\n\
                     virtual_rules = from 192.0.2.0/24 table 5 priority 9\n\
                     virtual_ipaddress_excluded = 2001:db8::9/64";
        let new = instances(&conf(1, 120, extra));
        assert_eq!(plan(&old, &new).kept, vec![(0, 0, Change::InPlace)]);
        assert!(followers_changed(&old[0], &new[0]));
        assert!(!followers_changed(&old[0], &old[0]));
    }

    #[test]
    fn identity_is_interface_vrid_and_family_not_the_name_or_order() {
        let old = instances(&(conf(1, 100, "") + &conf(2, 100, "")));
        let renamed = (conf(2, 100, "") + &conf(1, 100, "")).replace("VI_2]", "web]");
        let p = plan(&old, &instances(&renamed));
        assert_eq!(p.kept.len(), 2);
        assert!(p.kept.contains(&(0, 1, Change::Keep)));
        // The renamed one differs in its name only: logs and notify use the new name at once.
        assert!(p.kept.contains(&(1, 0, Change::InPlace)));
    }

    #[test]
    fn vip_differences() {
        let old = instances(&conf(1, 100, "virtual_ipaddress = 192.0.2.99/24"));
        let new = instances(&conf(1, 100, "virtual_ipaddress = 192.0.2.98/24"));
        let (o, n) = (&old[0].vips, &new[0].vips);
        let added: Vec<_> = vips_missing(n, o).map(|v| v.addr.to_string()).collect();
        let removed: Vec<_> = vips_missing(o, n).map(|v| v.addr.to_string()).collect();
        assert_eq!(added, ["192.0.2.98"]);
        assert_eq!(removed, ["192.0.2.99"]);
    }

    #[test]
    fn removed_and_added_instances() {
        let old = instances(&(conf(1, 100, "") + &conf(2, 100, "")));
        let new = instances(&(conf(2, 100, "") + &conf(3, 100, "")));
        let p = plan(&old, &new);
        assert_eq!(p.kept, vec![(1, 0, Change::Keep)]);
        assert_eq!(p.removed, vec![0]);
        assert_eq!(p.added, vec![1]);
    }
}
