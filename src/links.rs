//! What the daemon knows of the machine's interfaces and addresses, kept up to date from
//! rtnetlink dumps and events. Pure: the daemon feeds it, instances ask it whether their
//! interface is usable and which source address to advertise from.

use std::net::{IpAddr, Ipv6Addr};

use crate::netlink::{AddrInfo, LinkInfo, NetEvent};

/// IFA_F_SECONDARY: a secondary IPv4 address (also how the kernel marks a VIP added in the
/// same subnet as the primary address).
const IFA_F_SECONDARY: u32 = 0x01;
/// An IPv6 address still doing (or failed) duplicate address detection cannot be a source.
const IFA_F_TENTATIVE: u32 = 0x40;
const IFA_F_DADFAILED: u32 = 0x08;

#[derive(Default, Debug, Clone)]
pub struct Links {
    links: Vec<LinkInfo>,
    addrs: Vec<AddrInfo>,
}

/// Where and from what an instance can advertise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usable {
    pub ifindex: u32,
    pub mac: [u8; 6],
    pub source: IpAddr,
}

fn is_link_local(a: &Ipv6Addr) -> bool {
    (a.segments()[0] & 0xffc0) == 0xfe80
}

impl Links {
    pub fn clear(&mut self) {
        self.links.clear();
        self.addrs.clear();
    }

    pub fn apply(&mut self, event: &NetEvent) {
        match event {
            NetEvent::LinkChanged(link) => {
                match self.links.iter_mut().find(|l| l.index == link.index) {
                    Some(slot) => *slot = *link,
                    None => self.links.push(*link),
                }
            }
            NetEvent::LinkRemoved { index, .. } => {
                self.links.retain(|l| l.index != *index);
                self.addrs.retain(|a| a.index != *index);
            }
            NetEvent::AddrAdded(addr) => {
                let same = |a: &AddrInfo| a.index == addr.index && a.addr == addr.addr;
                match self.addrs.iter_mut().find(|a| same(a)) {
                    Some(slot) => *slot = *addr,
                    None => self.addrs.push(*addr),
                }
            }
            NetEvent::AddrRemoved(addr) => {
                self.addrs
                    .retain(|a| !(a.index == addr.index && a.addr == addr.addr));
            }
        }
    }

    pub fn by_name(&self, name: &str) -> Option<&LinkInfo> {
        self.links.iter().find(|l| l.name.as_str() == name)
    }

    pub fn by_index(&self, index: u32) -> Option<&LinkInfo> {
        self.links.iter().find(|l| l.index == index)
    }

    pub fn has_addr(&self, index: u32, addr: IpAddr) -> bool {
        self.addrs
            .iter()
            .any(|a| a.index == index && a.addr == addr)
    }

    /// keepalived's rule for a VIP left behind (and so ours to remove): this address with
    /// this prefix on this link. An address of the host differs in one of them.
    pub fn holds(&self, index: u32, addr: IpAddr, prefix_len: u8) -> bool {
        self.addrs_of(index)
            .any(|a| a.addr == addr && a.prefix_len == prefix_len)
    }

    pub fn addrs_of(&self, index: u32) -> impl Iterator<Item = &AddrInfo> {
        self.addrs.iter().filter(move |a| a.index == index)
    }

    /// The interface is up and has a source address for this family: `wanted` (the
    /// configured `unicast_src_ip`) if given — an instance must not advertise from another
    /// address (keepalived issue #2202, both nodes kept the VIP) — else the first primary
    /// IPv4 address that is not a VIP, or the first usable IPv6 link-local address.
    /// `ignore_down` (keepalived's dont_track_primary) accepts a link that is down as long as
    /// it exists and has the address: keepalived then ignores the link's up/down events only,
    /// a lost source address still faults the instance (keepalived_netlink.c).
    pub fn usable(
        &self,
        name: &str,
        ipv6: bool,
        wanted: Option<IpAddr>,
        ignore_down: bool,
        is_vip: impl Fn(IpAddr) -> bool,
    ) -> Option<Usable> {
        let link = self.by_name(name)?;
        if !link.up && !ignore_down {
            return None;
        }
        let source = match wanted {
            Some(addr) => self.has_addr(link.index, addr).then_some(addr)?,
            None => {
                let mut candidates = self.addrs_of(link.index).filter(|a| !is_vip(a.addr));
                if ipv6 {
                    candidates
                        .find(|a| match a.addr {
                            IpAddr::V6(v6) => {
                                is_link_local(&v6)
                                    && a.flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED) == 0
                            }
                            IpAddr::V4(_) => false,
                        })?
                        .addr
                } else {
                    drop(candidates);
                    let v4 = || {
                        self.addrs_of(link.index)
                            .filter(|a| a.addr.is_ipv4() && !is_vip(a.addr))
                    };
                    v4().find(|a| a.flags & IFA_F_SECONDARY == 0)
                        .or_else(|| v4().next())?
                        .addr
                }
            }
        };
        Some(Usable {
            ifindex: link.index,
            mac: link.mac,
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::IfName;

    fn links(up: bool, addrs: &[&str]) -> Links {
        let mut l = Links::default();
        let name = IfName::new("eth0").unwrap();
        l.apply(&NetEvent::LinkChanged(LinkInfo {
            index: 2,
            name,
            mac: [2, 0, 0, 0, 0, 1],
            up,
            flags: 0,
        }));
        for a in addrs {
            l.apply(&NetEvent::AddrAdded(AddrInfo {
                index: 2,
                addr: a.parse().unwrap(),
                prefix_len: 24,
                scope: 0,
                flags: 0,
                label: None,
            }));
        }
        l
    }

    fn source(l: &Links, wanted: Option<&str>, ignore_down: bool) -> Option<IpAddr> {
        let wanted = wanted.map(|w| w.parse().unwrap());
        l.usable("eth0", false, wanted, ignore_down, |a| {
            a == "192.0.2.100".parse::<IpAddr>().unwrap()
        })
        .map(|u| u.source)
    }

    #[test]
    fn the_source_is_the_configured_address_or_the_first_that_is_not_a_vip() {
        let l = links(true, &["192.0.2.100", "192.0.2.10", "192.0.2.11"]);
        assert_eq!(source(&l, None, false), Some("192.0.2.10".parse().unwrap()));
        assert_eq!(
            source(&l, Some("192.0.2.11"), false),
            Some("192.0.2.11".parse().unwrap())
        );
        // A configured source (unicast_src_ip / mcast_src_ip) that is not there: unusable.
        assert_eq!(source(&l, Some("192.0.2.12"), false), None);
    }

    #[test]
    fn only_the_configured_prefix_counts_as_a_leftover_vip() {
        let l = links(true, &["192.0.2.1"]);
        let a = "192.0.2.1".parse().expect("ip");
        assert!(l.holds(2, a, 24));
        assert!(!l.holds(2, a, 32));
        assert!(!l.holds(3, a, 24));
    }

    #[test]
    fn dont_track_primary_ignores_a_down_link_but_not_a_missing_address() {
        let down = links(false, &["192.0.2.10"]);
        assert_eq!(source(&down, None, false), None);
        assert_eq!(
            source(&down, None, true),
            Some("192.0.2.10".parse().unwrap())
        );
        // keepalived still faults an instance whose source address is gone.
        assert_eq!(source(&links(false, &[]), None, true), None);
        assert_eq!(source(&down, Some("192.0.2.12"), true), None);
        // Nor does it help with a missing interface.
        assert!(down.usable("eth1", false, None, true, |_| false).is_none());
    }
}
