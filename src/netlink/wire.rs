//! rtnetlink messages as bytes: builders that write requests into a caller's buffer and
//! iterators that walk received buffers without allocating. Pure: no sockets here.
//!
//! Netlink is in host byte order (the kernel's structs as they sit in memory), so every
//! integer is written and read with `to_ne_bytes` / `from_ne_bytes`; the daemon also runs on
//! big-endian MIPS. Only IP addresses are in network order, as the kernel keeps them.

use std::net::IpAddr;

use super::{AddrInfo, IfName, LinkInfo, NetEvent, NetlinkError};

pub mod routes;

// Message types and flags (linux/netlink.h, linux/rtnetlink.h). Kernel ABI, stable.
pub const NLMSG_NOOP: u16 = 1;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const NLMSG_OVERRUN: u16 = 4;
pub const RTM_NEWLINK: u16 = 16;
pub const RTM_DELLINK: u16 = 17;
pub const RTM_GETLINK: u16 = 18;
pub const RTM_SETLINK: u16 = 19;
pub const RTM_NEWADDR: u16 = 20;
pub const RTM_DELADDR: u16 = 21;
pub const RTM_GETADDR: u16 = 22;

pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_MULTI: u16 = 0x2;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_DUMP_INTR: u16 = 0x10;
pub const NLM_F_ROOT: u16 = 0x100;
pub const NLM_F_MATCH: u16 = 0x200;
pub const NLM_F_DUMP: u16 = NLM_F_ROOT | NLM_F_MATCH;
pub const NLM_F_EXCL: u16 = 0x200;
pub const NLM_F_CREATE: u16 = 0x400;

// Attributes (linux/if_addr.h, linux/if_link.h).
pub const IFA_ADDRESS: u16 = 1;
pub const IFA_LOCAL: u16 = 2;
pub const IFA_LABEL: u16 = 3;
pub const IFA_FLAGS: u16 = 8;
pub const IFA_F_NODAD: u32 = 0x02;

pub const IFLA_ADDRESS: u16 = 1;
pub const IFLA_IFNAME: u16 = 3;
pub const IFLA_LINK: u16 = 5;
pub const IFLA_LINKINFO: u16 = 18;
pub const IFLA_INFO_KIND: u16 = 1;
pub const IFLA_INFO_DATA: u16 = 2;
pub const IFLA_MACVLAN_MODE: u16 = 1;
/// keepalived creates its VMACs in private mode: macvlans on one parent do not see each other.
pub const MACVLAN_MODE_PRIVATE: u32 = 1;

/// Attribute type bits that are flags, not part of the type.
const NLA_TYPE_MASK: u16 = 0x3fff;

pub const IFF_UP: u32 = 0x1;
pub const IFF_RUNNING: u32 = 0x40;

pub const AF_UNSPEC: u8 = 0;
pub const AF_INET: u8 = 2;
pub const AF_INET6: u8 = 10;

pub const NLMSG_HDRLEN: usize = 16;
pub const IFADDRMSG_LEN: usize = 8;
pub const IFINFOMSG_LEN: usize = 16;
const RTA_HDRLEN: usize = 4;
const ALIGNTO: usize = 4;

/// NLMSG_ALIGN / RTA_ALIGN (both 4).
pub const fn align(len: usize) -> usize {
    (len + ALIGNTO - 1) & !(ALIGNTO - 1)
}

fn u16_at(buf: &[u8], at: usize) -> Option<u16> {
    let b = buf.get(at..at.checked_add(2)?)?;
    Some(u16::from_ne_bytes([b[0], b[1]]))
}

fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    let b = buf.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

// ---------------------------------------------------------------------------------------------
// Building

/// Writes one netlink message into a fixed buffer. Every write checks the room left, so a
/// too-small buffer is an error, never a panic; `finish` patches the length into the header.
pub struct MsgBuilder<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> MsgBuilder<'a> {
    pub fn new(
        buf: &'a mut [u8],
        ty: u16,
        flags: u16,
        seq: u32,
    ) -> Result<MsgBuilder<'a>, NetlinkError> {
        let mut b = MsgBuilder { buf, len: 0 };
        b.put(&0u32.to_ne_bytes())?; // nlmsg_len, patched in finish()
        b.put(&ty.to_ne_bytes())?;
        b.put(&flags.to_ne_bytes())?;
        b.put(&seq.to_ne_bytes())?;
        b.put(&0u32.to_ne_bytes())?; // nlmsg_pid: 0 lets the kernel fill in our port
        Ok(b)
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), NetlinkError> {
        let end = self
            .len
            .checked_add(bytes.len())
            .ok_or(NetlinkError::BufferTooSmall)?;
        let dst = self
            .buf
            .get_mut(self.len..end)
            .ok_or(NetlinkError::BufferTooSmall)?;
        dst.copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }

    fn pad(&mut self) -> Result<(), NetlinkError> {
        let target = align(self.len);
        while self.len < target {
            self.put(&[0])?;
        }
        Ok(())
    }

    /// struct ifaddrmsg.
    pub fn ifaddrmsg(
        &mut self,
        family: u8,
        prefix_len: u8,
        flags: u8,
        scope: u8,
        index: u32,
    ) -> Result<(), NetlinkError> {
        self.put(&[family, prefix_len, flags, scope])?;
        self.put(&index.to_ne_bytes())
    }

    /// struct ifinfomsg.
    pub fn ifinfomsg(
        &mut self,
        family: u8,
        index: u32,
        flags: u32,
        change: u32,
    ) -> Result<(), NetlinkError> {
        self.put(&[family, 0])?;
        self.put(&0u16.to_ne_bytes())?; // ifi_type
        self.put(&index.to_ne_bytes())?;
        self.put(&flags.to_ne_bytes())?;
        self.put(&change.to_ne_bytes())
    }

    pub fn attr(&mut self, ty: u16, payload: &[u8]) -> Result<(), NetlinkError> {
        let len = RTA_HDRLEN + payload.len();
        let len16 = u16::try_from(len).map_err(|_| NetlinkError::BufferTooSmall)?;
        self.put(&len16.to_ne_bytes())?;
        self.put(&ty.to_ne_bytes())?;
        self.put(payload)?;
        self.pad()
    }

    pub fn attr_u32(&mut self, ty: u16, v: u32) -> Result<(), NetlinkError> {
        self.attr(ty, &v.to_ne_bytes())
    }

    /// A NUL-terminated string attribute.
    pub fn attr_str(&mut self, ty: u16, s: &str) -> Result<(), NetlinkError> {
        let len = RTA_HDRLEN + s.len() + 1;
        let len16 = u16::try_from(len).map_err(|_| NetlinkError::BufferTooSmall)?;
        self.put(&len16.to_ne_bytes())?;
        self.put(&ty.to_ne_bytes())?;
        self.put(s.as_bytes())?;
        self.put(&[0])?;
        self.pad()
    }

    pub fn attr_ip(&mut self, ty: u16, addr: IpAddr) -> Result<(), NetlinkError> {
        match addr {
            IpAddr::V4(a) => self.attr(ty, &a.octets()),
            IpAddr::V6(a) => self.attr(ty, &a.octets()),
        }
    }

    /// Opens a nested attribute; close it with `end_nest` and the returned offset.
    pub fn begin_nest(&mut self, ty: u16) -> Result<usize, NetlinkError> {
        let start = self.len;
        self.put(&0u16.to_ne_bytes())?;
        self.put(&ty.to_ne_bytes())?;
        Ok(start)
    }

    pub fn end_nest(&mut self, start: usize) -> Result<(), NetlinkError> {
        let len = self
            .len
            .checked_sub(start)
            .ok_or(NetlinkError::BufferTooSmall)?;
        let len16 = u16::try_from(len).map_err(|_| NetlinkError::BufferTooSmall)?;
        let dst = self
            .buf
            .get_mut(start..start + 2)
            .ok_or(NetlinkError::BufferTooSmall)?;
        dst.copy_from_slice(&len16.to_ne_bytes());
        Ok(())
    }

    /// Patches nlmsg_len and returns the finished message.
    pub fn finish(self) -> Result<&'a [u8], NetlinkError> {
        let len32 = u32::try_from(self.len).map_err(|_| NetlinkError::BufferTooSmall)?;
        let buf = self.buf;
        buf.get_mut(0..4)
            .ok_or(NetlinkError::BufferTooSmall)?
            .copy_from_slice(&len32.to_ne_bytes());
        buf.get(..self.len).ok_or(NetlinkError::BufferTooSmall)
    }
}

fn family_of(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => AF_INET,
        IpAddr::V6(_) => AF_INET6,
    }
}

fn check_prefix(addr: IpAddr, prefix_len: u8) -> Result<(), NetlinkError> {
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if prefix_len > max {
        return Err(NetlinkError::InvalidArgument("prefix length too long"));
    }
    Ok(())
}

/// RTM_NEWADDR with NLM_F_CREATE|NLM_F_EXCL|NLM_F_ACK, so an address that is already there is
/// an EEXIST NACK. IFA_LOCAL and IFA_ADDRESS carry the same address (no peer), as `ip addr add`
/// sends. The label is IPv4-only (IPv6 has no labels) and ignored for IPv6. NODAD is set both
/// in ifa_flags (old kernels) and IFA_FLAGS (3.14+).
#[allow(clippy::too_many_arguments)]
pub fn build_new_address<'a>(
    buf: &'a mut [u8],
    seq: u32,
    ifindex: u32,
    addr: IpAddr,
    prefix_len: u8,
    label: Option<&str>,
    nodad: bool,
) -> Result<&'a [u8], NetlinkError> {
    let opts = routes::AddrOptions {
        label,
        nodad,
        ..Default::default()
    };
    routes::build_new_address_with(buf, seq, ifindex, addr, prefix_len, &opts)
}

/// RTM_DELADDR for one address; the kernel answers EADDRNOTAVAIL when it is not there.
pub fn build_del_address(
    buf: &mut [u8],
    seq: u32,
    ifindex: u32,
    addr: IpAddr,
    prefix_len: u8,
) -> Result<&[u8], NetlinkError> {
    check_prefix(addr, prefix_len)?;
    let mut b = MsgBuilder::new(buf, RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK, seq)?;
    b.ifaddrmsg(family_of(addr), prefix_len, 0, 0, ifindex)?;
    b.attr_ip(IFA_LOCAL, addr)?;
    b.attr_ip(IFA_ADDRESS, addr)?;
    b.finish()
}

/// A dump request (RTM_GETLINK or RTM_GETADDR) for every family.
pub fn build_dump(buf: &mut [u8], seq: u32, ty: u16) -> Result<&[u8], NetlinkError> {
    let mut b = MsgBuilder::new(buf, ty, NLM_F_REQUEST | NLM_F_DUMP, seq)?;
    if ty == RTM_GETADDR {
        b.ifaddrmsg(AF_UNSPEC, 0, 0, 0, 0)?;
    } else {
        b.ifinfomsg(AF_UNSPEC, 0, 0, 0)?;
    }
    b.finish()
}

/// RTM_GETLINK for one interface by name (answered with one RTM_NEWLINK, then the ACK).
pub fn build_get_link_by_name<'a>(
    buf: &'a mut [u8],
    seq: u32,
    name: &str,
) -> Result<&'a [u8], NetlinkError> {
    IfName::new(name)?;
    let mut b = MsgBuilder::new(buf, RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, seq)?;
    b.ifinfomsg(AF_UNSPEC, 0, 0, 0)?;
    b.attr_str(IFLA_IFNAME, name)?;
    b.finish()
}

/// RTM_NEWLINK creating a private-mode macvlan `name` on `parent` with address `mac`.
/// The link is created down; the caller brings it up once it knows the index.
pub fn build_new_macvlan<'a>(
    buf: &'a mut [u8],
    seq: u32,
    parent: u32,
    name: &str,
    mac: [u8; 6],
) -> Result<&'a [u8], NetlinkError> {
    IfName::new(name)?;
    let mut b = MsgBuilder::new(
        buf,
        RTM_NEWLINK,
        NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        seq,
    )?;
    b.ifinfomsg(AF_UNSPEC, 0, 0, 0)?;
    b.attr_str(IFLA_IFNAME, name)?;
    b.attr_u32(IFLA_LINK, parent)?;
    b.attr(IFLA_ADDRESS, &mac)?;
    let info = b.begin_nest(IFLA_LINKINFO)?;
    b.attr_str(IFLA_INFO_KIND, "macvlan")?;
    let data = b.begin_nest(IFLA_INFO_DATA)?;
    b.attr_u32(IFLA_MACVLAN_MODE, MACVLAN_MODE_PRIVATE)?;
    b.end_nest(data)?;
    b.end_nest(info)?;
    b.finish()
}

pub fn build_del_link(buf: &mut [u8], seq: u32, ifindex: u32) -> Result<&[u8], NetlinkError> {
    let mut b = MsgBuilder::new(buf, RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, seq)?;
    b.ifinfomsg(AF_UNSPEC, ifindex, 0, 0)?;
    b.finish()
}

/// RTM_SETLINK changing only IFF_UP.
pub fn build_set_link_up(
    buf: &mut [u8],
    seq: u32,
    ifindex: u32,
    up: bool,
) -> Result<&[u8], NetlinkError> {
    let mut b = MsgBuilder::new(buf, RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK, seq)?;
    b.ifinfomsg(AF_UNSPEC, ifindex, if up { IFF_UP } else { 0 }, IFF_UP)?;
    b.finish()
}

// ---------------------------------------------------------------------------------------------
// Parsing

/// One message of a received buffer: the header fields and its payload (after the header).
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    pub ty: u16,
    pub flags: u16,
    pub seq: u32,
    pub pid: u32,
    pub payload: &'a [u8],
}

/// Walks the messages of one received datagram. A length that is too short or runs past the
/// buffer yields one `Malformed` and then ends the iteration (the rest cannot be framed).
pub struct MessageIter<'a> {
    buf: &'a [u8],
}

impl<'a> MessageIter<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        MessageIter { buf }
    }
}

impl<'a> Iterator for MessageIter<'a> {
    type Item = Result<Message<'a>, NetlinkError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() {
            return None;
        }
        let buf = self.buf;
        let parsed = (|| {
            let len = u32_at(buf, 0).ok_or(NetlinkError::Malformed("short message header"))?;
            let len = usize::try_from(len).map_err(|_| NetlinkError::Malformed("length"))?;
            if len < NLMSG_HDRLEN {
                return Err(NetlinkError::Malformed("message length below header size"));
            }
            let payload = buf
                .get(NLMSG_HDRLEN..len)
                .ok_or(NetlinkError::Malformed("message length past end of buffer"))?;
            let msg = Message {
                ty: u16_at(buf, 4).ok_or(NetlinkError::Malformed("header"))?,
                flags: u16_at(buf, 6).ok_or(NetlinkError::Malformed("header"))?,
                seq: u32_at(buf, 8).ok_or(NetlinkError::Malformed("header"))?,
                pid: u32_at(buf, 12).ok_or(NetlinkError::Malformed("header"))?,
                payload,
            };
            // The last message of a datagram may lack its alignment padding.
            let next = buf.get(align(len)..).unwrap_or(&[]);
            Ok((msg, next))
        })();
        match parsed {
            Ok((msg, next)) => {
                self.buf = next;
                Some(Ok(msg))
            }
            Err(e) => {
                self.buf = &[];
                Some(Err(e))
            }
        }
    }
}

/// Walks the attributes (struct rtattr + payload) of a message or nested attribute; yields
/// (type without flag bits, payload). Stops with one `Malformed` on a bad length.
pub struct AttrIter<'a> {
    buf: &'a [u8],
}

impl<'a> AttrIter<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        AttrIter { buf }
    }
}

impl<'a> Iterator for AttrIter<'a> {
    type Item = Result<(u16, &'a [u8]), NetlinkError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() {
            return None;
        }
        let buf = self.buf;
        let len = u16_at(buf, 0).map(usize::from);
        let ty = u16_at(buf, 2);
        match (len, ty) {
            (Some(len), Some(ty)) if len >= RTA_HDRLEN => match buf.get(RTA_HDRLEN..len) {
                Some(payload) => {
                    self.buf = buf.get(align(len)..).unwrap_or(&[]);
                    Some(Ok((ty & NLA_TYPE_MASK, payload)))
                }
                None => {
                    self.buf = &[];
                    Some(Err(NetlinkError::Malformed("attribute length past end")))
                }
            },
            _ => {
                self.buf = &[];
                Some(Err(NetlinkError::Malformed("bad attribute header")))
            }
        }
    }
}

/// The errno of an NLMSG_ERROR payload: 0 is an ACK, otherwise a positive errno.
pub fn parse_error(payload: &[u8]) -> Result<i32, NetlinkError> {
    let raw = u32_at(payload, 0).ok_or(NetlinkError::Malformed("short NLMSG_ERROR"))?;
    let err = raw as i32; // the kernel's `int error` (negative errno) as the same bits
    Ok(err.checked_neg().unwrap_or(i32::MAX))
}

/// The sequence number of the request an NLMSG_ERROR answers (from the echoed header).
pub fn error_request_seq(payload: &[u8]) -> Option<u32> {
    u32_at(payload, 4 + 8)
}

/// The address bytes of an IFA_* attribute for `family`.
fn ip_from(family: u8, b: &[u8]) -> Result<IpAddr, NetlinkError> {
    match family {
        AF_INET => {
            let o: [u8; 4] = b
                .try_into()
                .map_err(|_| NetlinkError::Malformed("IPv4 address length"))?;
            Ok(IpAddr::from(o))
        }
        AF_INET6 => {
            let o: [u8; 16] = b
                .try_into()
                .map_err(|_| NetlinkError::Malformed("IPv6 address length"))?;
            Ok(IpAddr::from(o))
        }
        _ => Err(NetlinkError::Malformed("unknown address family")),
    }
}

/// Payload of RTM_NEWLINK / RTM_DELLINK.
pub fn parse_link(payload: &[u8]) -> Result<LinkInfo, NetlinkError> {
    let index = u32_at(payload, 4).ok_or(NetlinkError::Malformed("short ifinfomsg"))?;
    let flags = u32_at(payload, 8).ok_or(NetlinkError::Malformed("short ifinfomsg"))?;
    let attrs = payload
        .get(IFINFOMSG_LEN..)
        .ok_or(NetlinkError::Malformed("short ifinfomsg"))?;
    let mut name = None;
    let mut mac = [0u8; 6];
    for attr in AttrIter::new(attrs) {
        let (ty, data) = attr?;
        match ty {
            IFLA_IFNAME => name = Some(IfName::from_kernel(data)?),
            // Non-Ethernet links (loopback has 6 zero bytes, tunnels 4 or 16) keep zeros.
            IFLA_ADDRESS => {
                if let Ok(m) = <[u8; 6]>::try_from(data) {
                    mac = m;
                }
            }
            _ => {}
        }
    }
    let name = name.ok_or(NetlinkError::Malformed("link without IFLA_IFNAME"))?;
    Ok(LinkInfo {
        index,
        name,
        mac,
        up: flags & (IFF_UP | IFF_RUNNING) == (IFF_UP | IFF_RUNNING),
        flags,
    })
}

/// Payload of RTM_NEWADDR / RTM_DELADDR. The address is IFA_LOCAL when present (IPv4, and
/// IPv6 with a peer, where IFA_ADDRESS is the peer), else IFA_ADDRESS.
pub fn parse_addr(payload: &[u8]) -> Result<AddrInfo, NetlinkError> {
    let head = payload
        .get(..IFADDRMSG_LEN)
        .ok_or(NetlinkError::Malformed("short ifaddrmsg"))?;
    let (family, prefix_len, flags8, scope) = (head[0], head[1], head[2], head[3]);
    let index = u32_at(head, 4).ok_or(NetlinkError::Malformed("short ifaddrmsg"))?;
    let mut local = None;
    let mut address = None;
    let mut label = None;
    let mut flags = u32::from(flags8);
    for attr in AttrIter::new(payload.get(IFADDRMSG_LEN..).unwrap_or(&[])) {
        let (ty, data) = attr?;
        match ty {
            IFA_LOCAL => local = Some(ip_from(family, data)?),
            IFA_ADDRESS => address = Some(ip_from(family, data)?),
            IFA_LABEL => label = Some(IfName::from_kernel(data)?),
            IFA_FLAGS => {
                flags = u32_at(data, 0).ok_or(NetlinkError::Malformed("short IFA_FLAGS"))?
            }
            _ => {}
        }
    }
    let addr = local
        .or(address)
        .ok_or(NetlinkError::Malformed("address message without address"))?;
    Ok(AddrInfo {
        index,
        addr,
        prefix_len,
        scope,
        flags,
        label,
    })
}

/// The event a multicast message stands for; `None` for message types we do not follow.
///
/// Link messages of a family other than AF_UNSPEC are skipped: the bridge sends its port
/// state as AF_BRIDGE RTM_NEWLINK/RTM_DELLINK on the same group, and an AF_BRIDGE RTM_DELLINK
/// means "left the bridge", not "interface gone".
pub fn parse_event(msg: &Message<'_>) -> Result<Option<NetEvent>, NetlinkError> {
    let is_link = msg.ty == RTM_NEWLINK || msg.ty == RTM_DELLINK;
    if is_link && msg.payload.first().is_some_and(|&f| f != AF_UNSPEC) {
        return Ok(None);
    }
    Ok(Some(match msg.ty {
        RTM_NEWLINK => NetEvent::LinkChanged(parse_link(msg.payload)?),
        RTM_DELLINK => {
            let link = parse_link(msg.payload)?;
            NetEvent::LinkRemoved {
                index: link.index,
                name: link.name,
            }
        }
        RTM_NEWADDR => NetEvent::AddrAdded(parse_addr(msg.payload)?),
        RTM_DELADDR => NetEvent::AddrRemoved(parse_addr(msg.payload)?),
        _ => return Ok(None),
    }))
}

#[cfg(test)]
mod tests;
