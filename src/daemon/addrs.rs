//! The VIPs' system calls: addresses added and removed with rtnetlink, the VMAC that comes
//! and goes with them, what follows the master (see `routes`), gratuitous announcements.
//! Every decision of when was made by the router; this carries its actions out.

use std::net::IpAddr;

use log::{error, info, warn};

use crate::arp::{self, FrameSender, GarpTarget};
use crate::config::{InstanceConfig, Vip};
use crate::links::{Links, Usable};
use crate::netlink::{Netlink, NetlinkError};
use crate::router::Slot;
use crate::routes;
use crate::status::Counters;
use crate::vmac::{self, Vmacs};

pub(super) struct Addrs {
    pub nl: Netlink,
    pub frames: FrameSender,
    pub vmacs: Vmacs,
}

/// What an address action needs besides the I/O handles.
#[derive(Clone, Copy)]
pub(super) struct Ctx<'a> {
    pub slot: &'a Slot,
    /// The interface the instance used when the router decided.
    pub link: Option<Usable>,
    pub links: &'a Links,
}

impl Addrs {
    /// The slot's VMAC (ifindex, MAC) while it exists (`use_vmac` and master).
    pub fn vmac_of(&self, slot: &Slot) -> Option<(u32, [u8; 6])> {
        let cfg = slot.cfg();
        if !cfg.use_vmac {
            return None;
        }
        self.vmacs.get(cfg.vrid, cfg.family)
    }

    fn vip_ifindex(&self, c: Ctx<'_>, dev: Option<&str>) -> Option<u32> {
        match dev {
            Some(name) => c.links.by_name(name).map(|l| l.index),
            None => match self.vmac_of(c.slot) {
                Some((ifindex, _)) => Some(ifindex),
                None => c.link.map(|u| u.ifindex),
            },
        }
    }

    /// `use_vmac`: the macvlan comes with the VIPs and goes with them.
    fn vmac(&mut self, c: Ctx<'_>, add: bool) {
        let cfg = c.slot.cfg();
        if !cfg.use_vmac {
            return;
        }
        let (vrid, family) = (cfg.vrid, cfg.family);
        let result = if add {
            let Some(u) = c.link else { return };
            let parent = (u.ifindex, cfg.interface.as_str());
            let custom = cfg.vmac_name.as_deref();
            let nl = &mut self.nl;
            self.vmacs.up(nl, parent, vrid, family, custom).map(|_| ())
        } else {
            self.vmacs.down(&mut self.nl, vrid, family)
        };
        if let Err(e) = result {
            let verb = if add { "creating" } else { "removing" };
            error!("{}: {verb} the VMAC: {e}", cfg.name);
        }
    }

    /// Adds or removes one VIP; an address already there (or already gone) is no error.
    pub fn set_one(&mut self, c: Ctx<'_>, vip: &Vip, add: bool) {
        let name = &c.slot.cfg().name;
        let Some(ifindex) = self.vip_ifindex(c, vip.dev.as_deref()) else {
            if add {
                warn!("{name}: no interface for VIP {}", vip.addr);
            }
            return;
        };
        let (addr, len) = (vip.addr, vip.prefix_len);
        let result = if add {
            let nodad = addr.is_ipv6();
            let label = vip.label.as_deref();
            self.nl.add_address(ifindex, addr, len, label, nodad)
        } else {
            self.nl.del_address(ifindex, addr, len)
        };
        match result {
            Ok(()) => {}
            Err(NetlinkError::Nack { errno, .. })
                if (add && errno == libc::EEXIST) || (!add && errno == libc::EADDRNOTAVAIL) => {}
            Err(e) => {
                let verb = if add { "adding" } else { "removing" };
                error!("{name}: {verb} VIP {addr}/{len}: {e}");
            }
        }
    }

    /// Every VIP (the VMAC first), then what follows the master.
    pub fn add_all(&mut self, c: Ctx<'_>, drops: &mut Counters) {
        self.vmac(c, true);
        for vip in &c.slot.cfg().vips {
            self.set_one(c, vip, true);
        }
        self.follow(c, true, false, drops);
    }

    /// What follows the master, then every VIP (the VMAC last).
    pub fn remove_all(&mut self, c: Ctx<'_>, drops: &mut Counters) {
        self.follow(c, false, false, drops);
        for vip in &c.slot.cfg().vips {
            self.set_one(c, vip, false);
        }
        self.vmac(c, false);
    }

    /// Excluded VIPs, virtual routes and rules (see `routes`); `quiet` for leftovers.
    fn follow(&mut self, c: Ctx<'_>, add: bool, quiet: bool, drops: &mut Counters) {
        let cfg = c.slot.cfg();
        let default_ifindex = self
            .vip_ifindex(c, None)
            .or_else(|| c.links.by_name(&cfg.interface).map(|l| l.index));
        let failures = routes::follow(&mut self.nl, c.links, cfg, default_ifindex, add, quiet);
        for _ in 0..failures {
            drops.bump("route_rule_failed");
        }
    }

    /// Reload of a master: the routes, rules and excluded VIPs that changed.
    pub fn change_followers(&mut self, c: Ctx<'_>, old: &InstanceConfig, drops: &mut Counters) {
        let default_ifindex = self.vip_ifindex(c, None);
        let new = c.slot.cfg();
        let failures = routes::follow_change(&mut self.nl, c.links, old, new, default_ifindex);
        for _ in 0..failures {
            drops.bump("route_rule_failed");
        }
    }

    /// Gratuitous announcements for every VIP and excluded VIP (keepalived announces those
    /// too), or only for `only`.
    pub fn garp(&self, c: Ctx<'_>, only: Option<IpAddr>, count: u32, drops: &mut Counters) {
        let cfg = c.slot.cfg();
        let vmac = self.vmac_of(c.slot);
        let parent = c.link.and_then(|u| c.links.by_index(u.ifindex));
        let targets = cfg
            .vips
            .iter()
            .chain(&cfg.vips_excluded)
            .filter(|v| only.map_or(true, |a| a == v.addr))
            .filter_map(|v| {
                let ifindex = self.vip_ifindex(c, v.dev.as_deref())?;
                let link = c.links.by_index(ifindex);
                // A VMAC just created may not have reached `links` through the monitor yet.
                let (mac, ifname) = match (vmac, link) {
                    (Some((vi, mac)), link) if vi == ifindex => (mac, link.or(parent)),
                    (_, Some(link)) => (link.mac, Some(link)),
                    (_, None) => return None,
                };
                let ifname = ifname.map(|l| l.name.as_str());
                Some(GarpTarget {
                    addr: v.addr,
                    ifindex,
                    ifname,
                    mac,
                })
            });
        for _ in 0..arp::garp_send_all(&self.frames, targets, count) {
            drops.bump("tx_garp_failed");
        }
    }

    /// A VIP removed by someone else from `ifindex` while we are master is put back there.
    pub fn restore(&mut self, c: Ctx<'_>, ifindex: u32, addr: IpAddr, drops: &mut Counters) {
        let cfg = c.slot.cfg();
        let on =
            |v: &&Vip| v.addr == addr && self.vip_ifindex(c, v.dev.as_deref()) == Some(ifindex);
        let vip = cfg.vips.iter().find(on);
        let excluded = cfg.vips_excluded.iter().any(|v| on(&v));
        if vip.is_none() && !excluded {
            return;
        }
        warn!(
            "{}: VIP {addr} was removed by someone else; restoring it",
            cfg.name
        );
        match vip {
            Some(vip) => self.set_one(c, vip, true),
            None => self.follow(c, true, false, drops),
        }
        self.garp(c, Some(addr), 1, drops);
    }

    /// Before an instance first runs: its VIPs, routes and rules left on the machine by a
    /// crash would answer for a node that is not master; the master adds them back.
    pub fn remove_leftovers(&mut self, c: Ctx<'_>, vmac: bool, drops: &mut Counters) {
        self.follow(c, false, true, drops);
        let cfg = c.slot.cfg();
        for vip in &cfg.vips {
            let dev = vip.dev.as_deref().unwrap_or(&cfg.interface);
            let Some(link) = c.links.by_name(dev) else {
                continue;
            };
            if c.links.holds(link.index, vip.addr, vip.prefix_len) {
                info!(
                    "{}: removing leftover VIP {} from {dev}",
                    cfg.name, vip.addr
                );
                match self.nl.del_address(link.index, vip.addr, vip.prefix_len) {
                    // Gone meanwhile (the monitor had not told us yet): nothing to do.
                    Err(NetlinkError::Nack { errno, .. }) if errno == libc::EADDRNOTAVAIL => {}
                    Err(e) => warn!("{}: removing {}: {e}", cfg.name, vip.addr),
                    Ok(()) => {}
                }
            }
        }
        if vmac && cfg.use_vmac {
            let removed = vmac::ifname_for(cfg.vrid, cfg.family, cfg.vmac_name.as_deref())
                .map_err(vmac::VmacError::from)
                .and_then(|name| vmac::remove_by_name(&mut self.nl, name.as_str()));
            if let Err(e) = removed {
                warn!("{}: removing a leftover VMAC: {e}", cfg.name);
            }
        }
    }
}
