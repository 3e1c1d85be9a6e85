//! RTM_NEWROUTE / RTM_DELROUTE and RTM_NEWRULE / RTM_DELRULE, as keepalived sends them for
//! its virtual_routes and virtual_rules (vrrp_iproute.c, vrrp_iprule.c). Pure builders.

use std::net::{IpAddr, Ipv4Addr};

use super::{
    family_of, MsgBuilder, IFA_ADDRESS, IFA_FLAGS, IFA_F_NODAD, IFA_LABEL, IFA_LOCAL, NLM_F_ACK,
    NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST, RTM_NEWADDR,
};
use crate::netlink::{IfName, NetlinkError};

pub const RTM_NEWROUTE: u16 = 24;
pub const RTM_DELROUTE: u16 = 25;
pub const RTM_NEWRULE: u16 = 32;
pub const RTM_DELRULE: u16 = 33;

pub const IFA_BROADCAST: u16 = 4;

// linux/rtnetlink.h
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_PREFSRC: u16 = 7;
const RTA_TABLE: u16 = 15;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RT_SCOPE_NOWHERE: u8 = 255;
pub const RTN_UNICAST: u8 = 1;
pub const RTN_BLACKHOLE: u8 = 6;
pub const RTN_UNREACHABLE: u8 = 7;
pub const RTN_PROHIBIT: u8 = 8;
const RTNH_F_ONLINK: u32 = 4;

// linux/fib_rules.h
const FRA_DST: u16 = 1;
const FRA_SRC: u16 = 2;
const FRA_IFNAME: u16 = 3;
const FRA_PRIORITY: u16 = 6;
const FRA_FWMARK: u16 = 10;
const FRA_TABLE: u16 = 15;
const FRA_FWMASK: u16 = 16;
const FRA_OIFNAME: u16 = 17;
const FRA_PROTOCOL: u16 = 21;
pub const FR_ACT_TO_TBL: u8 = 1;
pub const FR_ACT_BLACKHOLE: u8 = 6;
pub const FR_ACT_UNREACHABLE: u8 = 7;
pub const FR_ACT_PROHIBIT: u8 = 8;
const FIB_RULE_INVERT: u32 = 2;

/// The options of an address beyond its prefix (`ip addr add ... brd B scope S label L`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddrOptions<'a> {
    /// IPv4 only; ignored for IPv6.
    pub label: Option<&'a str>,
    /// IFA_BROADCAST, IPv4 only.
    pub broadcast: Option<Ipv4Addr>,
    /// ifa_scope (RT_SCOPE_*).
    pub scope: u8,
    /// IFA_F_NODAD, IPv6 only.
    pub nodad: bool,
}

/// One route, with its device already resolved to an index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteSpec {
    pub dst: IpAddr,
    pub dst_len: u8,
    pub pref_src: Option<IpAddr>,
    pub gateway: Option<IpAddr>,
    pub oif: Option<u32>,
    pub table: u32,
    pub metric: Option<u32>,
    /// `None`: universe on add, "any" (RT_SCOPE_NOWHERE) on delete, as keepalived and ip do.
    pub scope: Option<u8>,
    pub protocol: u8,
    /// rtm_type (RTN_*).
    pub kind: u8,
    pub onlink: bool,
}

/// One policy rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleSpec<'a> {
    pub v6: bool,
    pub from: Option<(IpAddr, u8)>,
    pub to: Option<(IpAddr, u8)>,
    /// FR_ACT_*; `table` is used with FR_ACT_TO_TBL only.
    pub action: u8,
    pub table: u32,
    pub priority: u32,
    pub iif: Option<&'a str>,
    pub oif: Option<&'a str>,
    pub fwmark: Option<u32>,
    pub fwmask: Option<u32>,
    pub invert: bool,
    pub protocol: u8,
}

fn prefix_ok(addr: IpAddr, len: u8) -> Result<(), NetlinkError> {
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if len > max {
        return Err(NetlinkError::InvalidArgument("prefix length too long"));
    }
    Ok(())
}

/// RTM_NEWADDR with every option of `opts` (see `build_new_address`, which this extends with
/// IFA_BROADCAST and ifa_scope).
pub fn build_new_address_with<'a>(
    buf: &'a mut [u8],
    seq: u32,
    ifindex: u32,
    addr: IpAddr,
    prefix_len: u8,
    opts: &AddrOptions<'_>,
) -> Result<&'a [u8], NetlinkError> {
    prefix_ok(addr, prefix_len)?;
    let flags = if opts.nodad && addr.is_ipv6() {
        IFA_F_NODAD
    } else {
        0
    };
    let mut b = MsgBuilder::new(
        buf,
        RTM_NEWADDR,
        NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        seq,
    )?;
    b.ifaddrmsg(
        family_of(addr),
        prefix_len,
        flags as u8,
        opts.scope,
        ifindex,
    )?;
    b.attr_ip(IFA_LOCAL, addr)?;
    b.attr_ip(IFA_ADDRESS, addr)?;
    if let (Some(brd), IpAddr::V4(_)) = (opts.broadcast, addr) {
        b.attr(IFA_BROADCAST, &brd.octets())?;
    }
    if let (Some(label), IpAddr::V4(_)) = (opts.label, addr) {
        // A NUL inside would make the kernel keep only what precedes it (found by fuzzing).
        IfName::new(label)
            .map_err(|_| NetlinkError::InvalidArgument("label must be 1..15 bytes, no NUL"))?;
        b.attr_str(IFA_LABEL, label)?;
    }
    if flags != 0 {
        b.attr_u32(IFA_FLAGS, flags)?;
    }
    b.finish()
}

/// RTM_NEWROUTE (`add`) or RTM_DELROUTE. Adding uses NLM_F_CREATE without NLM_F_EXCL, as
/// keepalived does (`ip route prepend`); the kernel still answers EEXIST for an identical
/// route. A delete names the protocol, so only our own route (proto keepalived) matches.
/// Attributes are in the order `ip route add table T to D src S via G metric M dev I` sends.
pub fn build_route<'a>(
    buf: &'a mut [u8],
    seq: u32,
    add: bool,
    r: &RouteSpec,
) -> Result<&'a [u8], NetlinkError> {
    prefix_ok(r.dst, r.dst_len)?;
    let v6 = r.dst.is_ipv6();
    let same = |a: &IpAddr| a.is_ipv6() == v6;
    if !r.gateway.iter().chain(&r.pref_src).all(same) {
        return Err(NetlinkError::InvalidArgument(
            "route mixes address families",
        ));
    }
    let (ty, flags) = if add {
        (RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE)
    } else {
        (RTM_DELROUTE, NLM_F_REQUEST | NLM_F_ACK)
    };
    let mut b = MsgBuilder::new(buf, ty, flags, seq)?;
    let (scope, kind) = match add {
        true => (r.scope.unwrap_or(RT_SCOPE_UNIVERSE), r.kind),
        false => (
            r.scope.unwrap_or(RT_SCOPE_NOWHERE),
            if r.kind == RTN_UNICAST { 0 } else { r.kind },
        ),
    };
    let table8 = u8::try_from(r.table).unwrap_or(0);
    // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
    b.put(&[
        family_of(r.dst),
        r.dst_len,
        0,
        0,
        table8,
        r.protocol,
        scope,
        kind,
    ])?;
    b.put(&(if r.onlink { RTNH_F_ONLINK } else { 0 }).to_ne_bytes())?;
    if table8 == 0 {
        b.attr_u32(RTA_TABLE, r.table)?;
    }
    if r.dst_len > 0 {
        b.attr_ip(RTA_DST, r.dst)?;
    }
    if let Some(src) = r.pref_src {
        b.attr_ip(RTA_PREFSRC, src)?;
    }
    if let Some(gw) = r.gateway {
        b.attr_ip(RTA_GATEWAY, gw)?;
    }
    if let Some(metric) = r.metric {
        b.attr_u32(RTA_PRIORITY, metric)?;
    }
    if let Some(oif) = r.oif {
        b.attr_u32(RTA_OIF, oif)?;
    }
    b.finish()
}

/// RTM_NEWRULE (`add`, with NLM_F_EXCL as keepalived: an identical rule is EEXIST) or
/// RTM_DELRULE. Attributes in the order `ip rule add from F to T table N priority P iif I
/// oif O proto X` sends.
pub fn build_rule<'a>(
    buf: &'a mut [u8],
    seq: u32,
    add: bool,
    r: &RuleSpec<'_>,
) -> Result<&'a [u8], NetlinkError> {
    for (addr, len) in r.from.iter().chain(&r.to) {
        prefix_ok(*addr, *len)?;
        if addr.is_ipv6() != r.v6 {
            return Err(NetlinkError::InvalidArgument("rule mixes address families"));
        }
    }
    for name in r.iif.iter().chain(&r.oif) {
        IfName::new(name)?;
    }
    let (ty, flags) = if add {
        (
            RTM_NEWRULE,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        )
    } else {
        (RTM_DELRULE, NLM_F_REQUEST | NLM_F_ACK)
    };
    let mut b = MsgBuilder::new(buf, ty, flags, seq)?;
    let to_table = r.action == FR_ACT_TO_TBL;
    let table8 = if to_table {
        u8::try_from(r.table).unwrap_or(0)
    } else {
        0
    };
    let len = |p: Option<(IpAddr, u8)>| p.map_or(0, |p| p.1);
    let family = if r.v6 {
        super::AF_INET6
    } else {
        super::AF_INET
    };
    // struct fib_rule_hdr: family, dst_len, src_len, tos, table, res1, res2, action, flags.
    b.put(&[family, len(r.to), len(r.from), 0, table8, 0, 0, r.action])?;
    b.put(&(if r.invert { FIB_RULE_INVERT } else { 0 }).to_ne_bytes())?;
    for (ty, p) in [(FRA_SRC, r.from), (FRA_DST, r.to)] {
        if let Some((addr, _)) = p.filter(|p| p.1 > 0) {
            b.attr_ip(ty, addr)?;
        }
    }
    if to_table && table8 == 0 {
        b.attr_u32(FRA_TABLE, r.table)?;
    }
    b.attr_u32(FRA_PRIORITY, r.priority)?;
    if let Some(mark) = r.fwmark {
        b.attr_u32(FRA_FWMARK, mark)?;
    }
    if let Some(mask) = r.fwmask {
        b.attr_u32(FRA_FWMASK, mask)?;
    }
    if let Some(name) = r.iif {
        b.attr_str(FRA_IFNAME, name)?;
    }
    if let Some(name) = r.oif {
        b.attr_str(FRA_OIFNAME, name)?;
    }
    b.attr(FRA_PROTOCOL, &[r.protocol])?;
    b.finish()
}

#[cfg(test)]
mod tests;
