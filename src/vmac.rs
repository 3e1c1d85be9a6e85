//! Virtual MACs (`use_vmac`): while an instance is master, its VIPs live on a private-mode
//! macvlan whose address is the RFC 5798 §7.3 virtual router MAC, so hosts keep the same ARP /
//! neighbour entry whichever node is master.
//!
//! Naming and lifetime: the macvlan is `vrrp.<VRID>` for IPv4 (keepalived's default name) and
//! `vrrp6.<VRID>` for IPv6 (keepalived uses `vrrp.<VRID>` for both families, which collides
//! when one VRID serves both). Unlike keepalived, which creates the interface at start-up and
//! keeps it on backups too, tinyvrrp creates it on becoming master and deletes it on leaving
//! MASTER: a backup then has no interface that could answer for the virtual MAC, and nothing
//! is left behind but a leftover from a crash, which is deleted at start.
//!
//! Sysctls (as keepalived's vrrp_if_config.c explains them): on the macvlan, `arp_ignore=1`
//! (answer ARP only for its own addresses, the VIPs), `accept_local=1` and `rp_filter=0`
//! (receive on an interface whose source checks would otherwise fail); on the parent,
//! `arp_ignore=1` and `arp_filter=1` so the parent does not answer ARP for the VIPs with its
//! own MAC. Beyond keepalived, the parent also gets `arp_announce=2`: a reply to a client
//! routed out of the parent with the VIP as source would otherwise send an ARP request
//! "who has CLIENT, tell VIP" from the parent's MAC, and the client would point the VIP at the
//! parent's MAC instead of the virtual one (seen in tests/netns/modes.rs with a /24 VIP).
//! The parent's old values are saved and put back when its last macvlan goes.
//! IPv6: the kernel gives the macvlan an EUI-64 link-local address from the virtual MAC
//! (`fe80::200:5eff:fe00:2XX`), unique on the link because only the master has the interface;
//! adverts still leave from the parent's link-local address on the parent (keepalived's
//! `vmac_xmit_base`), since Linux refuses a link-local source that is not on the outgoing
//! interface.

use std::fmt;

use crate::netlink::{IfName, Netlink, NetlinkError};
use crate::packet::Family;

/// 00:00:5e:00:01:VRID (IPv4) or 00:00:5e:00:02:VRID (IPv6), RFC 5798 §7.3.
pub fn virtual_mac(vrid: u8, family: Family) -> [u8; 6] {
    let kind = match family {
        Family::V4 => 1,
        Family::V6 => 2,
    };
    [0x00, 0x00, 0x5e, 0x00, kind, vrid]
}

/// `vrrp.<VRID>` / `vrrp6.<VRID>` (at most 9 bytes, so always a valid interface name).
pub fn vmac_name(vrid: u8, family: Family) -> Result<IfName, NetlinkError> {
    let mut buf = [0u8; 9];
    let prefix: &[u8] = match family {
        Family::V4 => b"vrrp.",
        Family::V6 => b"vrrp6.",
    };
    let digits = [b'0' + vrid / 100, b'0' + (vrid / 10) % 10, b'0' + vrid % 10];
    let skip = match vrid {
        0..=9 => 2,
        10..=99 => 1,
        _ => 0,
    };
    let digits = digits.get(skip..).unwrap_or(&[]);
    let len = prefix.len() + digits.len();
    let out = buf.get_mut(..len).ok_or(NetlinkError::NoSuchLink)?;
    let (head, tail) = out.split_at_mut(prefix.len());
    head.copy_from_slice(prefix);
    tail.copy_from_slice(digits);
    let text = std::str::from_utf8(out).map_err(|_| NetlinkError::NoSuchLink)?;
    IfName::new(text)
}

/// The macvlan's name: `use_vmac = NAME` when given (validated by the config), else
/// [`vmac_name`].
pub fn ifname_for(vrid: u8, family: Family, custom: Option<&str>) -> Result<IfName, NetlinkError> {
    match custom {
        Some(name) => IfName::new(name),
        None => vmac_name(vrid, family),
    }
}

#[derive(Debug)]
pub enum VmacError {
    Netlink(NetlinkError),
    Sysctl { path: String, err: std::io::Error },
}

impl fmt::Display for VmacError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VmacError::Netlink(e) => write!(f, "{e}"),
            VmacError::Sysctl { path, err } => write!(f, "{path}: {err}"),
        }
    }
}

impl std::error::Error for VmacError {}

impl From<NetlinkError> for VmacError {
    fn from(e: NetlinkError) -> Self {
        VmacError::Netlink(e)
    }
}

/// One macvlan that exists now.
#[derive(Debug, Clone, Copy)]
struct Entry {
    vrid: u8,
    family: Family,
    parent: u32,
    ifindex: u32,
    mac: [u8; 6],
}

/// A parent's sysctls as they were before its first macvlan.
#[derive(Debug, Clone)]
struct Saved {
    parent: u32,
    name: IfName,
    arp_ignore: String,
    arp_filter: String,
    arp_announce: String,
}

/// The macvlans the daemon created and the parent settings it changed.
#[derive(Debug, Default)]
pub struct Vmacs {
    entries: Vec<Entry>,
    saved: Vec<Saved>,
}

fn sysctl_path(family: &str, ifname: &str, key: &str) -> String {
    format!("/proc/sys/net/{family}/conf/{ifname}/{key}")
}

fn read_sysctl(path: &str) -> Result<String, VmacError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|err| VmacError::Sysctl {
            path: path.to_owned(),
            err,
        })
}

fn write_sysctl(path: &str, value: &str) -> Result<(), VmacError> {
    std::fs::write(path, value).map_err(|err| VmacError::Sysctl {
        path: path.to_owned(),
        err,
    })
}

impl Vmacs {
    /// The macvlan of (vrid, family), if it exists.
    pub fn get(&self, vrid: u8, family: Family) -> Option<(u32, [u8; 6])> {
        self.entries
            .iter()
            .find(|e| e.vrid == vrid && e.family == family)
            .map(|e| (e.ifindex, e.mac))
    }

    /// Creates (or finds) the macvlan of (vrid, family) on `parent`, named `custom` or
    /// `vrrp.VRID`, and sets the sysctls. Returns its ifindex and MAC.
    pub fn up(
        &mut self,
        nl: &mut Netlink,
        parent: (u32, &str),
        vrid: u8,
        family: Family,
        custom: Option<&str>,
    ) -> Result<(u32, [u8; 6]), VmacError> {
        if let Some(found) = self.get(vrid, family) {
            return Ok(found);
        }
        let (parent, parent_name) = parent;
        let name = ifname_for(vrid, family, custom)?;
        let mac = virtual_mac(vrid, family);
        // A leftover of the same name (a crash, or one on an old parent) goes first.
        remove_by_name(nl, name.as_str())?;
        self.save_parent(parent, parent_name)?;
        let ifindex = nl.create_macvlan(parent, name.as_str(), mac)?;
        self.entries.push(Entry {
            vrid,
            family,
            parent,
            ifindex,
            mac,
        });
        let v4 = |key, value| write_sysctl(&sysctl_path("ipv4", name.as_str(), key), value);
        v4("arp_ignore", "1")?;
        v4("accept_local", "1")?;
        v4("rp_filter", "0")?;
        Ok((ifindex, mac))
    }

    fn save_parent(&mut self, parent: u32, parent_name: &str) -> Result<(), VmacError> {
        if self.saved.iter().any(|s| s.parent == parent) {
            return Ok(());
        }
        let Ok(name) = IfName::new(parent_name) else {
            return Err(VmacError::Netlink(NetlinkError::NoSuchLink));
        };
        let path = |key| sysctl_path("ipv4", parent_name, key);
        let saved = Saved {
            parent,
            name,
            arp_ignore: read_sysctl(&path("arp_ignore"))?,
            arp_filter: read_sysctl(&path("arp_filter"))?,
            arp_announce: read_sysctl(&path("arp_announce"))?,
        };
        write_sysctl(&path("arp_ignore"), "1")?;
        write_sysctl(&path("arp_filter"), "1")?;
        write_sysctl(&path("arp_announce"), "2")?;
        self.saved.push(saved);
        Ok(())
    }

    /// Deletes the macvlan of (vrid, family) (its VIPs go with it) and, when it was its
    /// parent's last one, restores the parent's sysctls. A macvlan the kernel already removed
    /// (its parent went away) is not an error.
    pub fn down(&mut self, nl: &mut Netlink, vrid: u8, family: Family) -> Result<(), VmacError> {
        let Some(pos) = self
            .entries
            .iter()
            .position(|e| e.vrid == vrid && e.family == family)
        else {
            return Ok(());
        };
        let entry = self.entries.swap_remove(pos);
        let deleted = match nl.delete_link(entry.ifindex) {
            Err(NetlinkError::Nack { errno, .. }) if errno == libc::ENODEV => Ok(()),
            other => other,
        };
        let restored = self.restore_parent(entry.parent);
        deleted?;
        restored
    }

    fn restore_parent(&mut self, parent: u32) -> Result<(), VmacError> {
        if self.entries.iter().any(|e| e.parent == parent) {
            return Ok(());
        }
        let Some(pos) = self.saved.iter().position(|s| s.parent == parent) else {
            return Ok(());
        };
        let s = self.saved.swap_remove(pos);
        let path = |key| sysctl_path("ipv4", s.name.as_str(), key);
        // The parent may be gone (then so are its settings): ignore a missing file.
        let r1 = write_sysctl(&path("arp_ignore"), &s.arp_ignore);
        let r2 = write_sysctl(&path("arp_filter"), &s.arp_filter)
            .and(write_sysctl(&path("arp_announce"), &s.arp_announce));
        match (r1, r2) {
            (Err(VmacError::Sysctl { err, .. }), _) | (_, Err(VmacError::Sysctl { err, .. }))
                if err.kind() == std::io::ErrorKind::NotFound =>
            {
                Ok(())
            }
            (r1, r2) => r1.and(r2),
        }
    }

    /// Deletes every macvlan this daemon created (at exit).
    pub fn remove_all(&mut self, nl: &mut Netlink) {
        while let Some(e) = self.entries.first().copied() {
            if let Err(err) = self.down(nl, e.vrid, e.family) {
                log::warn!("removing VMAC of VRID {}: {err}", e.vrid);
            }
        }
    }
}

/// Deletes the interface `name` if it exists and is a leftover VMAC (a macvlan: it carries the
/// virtual-router MAC prefix 00:00:5e:00:0{1,2}).
pub fn remove_by_name(nl: &mut Netlink, name: &str) -> Result<(), VmacError> {
    match nl.link_by_name(name) {
        Ok(link) if link.mac[..4] == [0x00, 0x00, 0x5e, 0x00] => match nl.delete_link(link.index) {
            Err(NetlinkError::Nack { errno, .. }) if errno == libc::ENODEV => Ok(()),
            other => other.map_err(VmacError::from),
        },
        Ok(_) => {
            log::warn!("{name} exists and is not a VRRP virtual MAC; leaving it alone");
            Ok(())
        }
        Err(NetlinkError::NoSuchLink) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_macs_follow_rfc_5798() {
        assert_eq!(virtual_mac(51, Family::V4), [0, 0, 0x5e, 0, 1, 51]);
        assert_eq!(virtual_mac(255, Family::V6), [0, 0, 0x5e, 0, 2, 255]);
    }

    #[test]
    fn a_given_name_replaces_the_default() {
        let named = ifname_for(51, Family::V4, Some("vrrp_lan")).unwrap();
        assert_eq!(named.as_str(), "vrrp_lan");
        assert_eq!(
            ifname_for(51, Family::V6, None).unwrap().as_str(),
            "vrrp6.51"
        );
        assert!(ifname_for(51, Family::V4, Some("0123456789abcdef")).is_err());
    }

    #[test]
    fn names_are_keepalived_style() {
        assert_eq!(vmac_name(51, Family::V4).unwrap().as_str(), "vrrp.51");
        assert_eq!(vmac_name(1, Family::V4).unwrap().as_str(), "vrrp.1");
        assert_eq!(vmac_name(0, Family::V4).unwrap().as_str(), "vrrp.0");
        assert_eq!(vmac_name(100, Family::V4).unwrap().as_str(), "vrrp.100");
        assert_eq!(vmac_name(255, Family::V6).unwrap().as_str(), "vrrp6.255");
        assert_eq!(vmac_name(7, Family::V6).unwrap().as_str(), "vrrp6.7");
    }
}
