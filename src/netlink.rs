//! Hand-rolled rtnetlink: add/remove VIPs, list links and addresses, create macvlan VMACs,
//! and follow link/address changes. `wire` builds and parses messages (pure, no allocation
//! when parsing); `socket` is the thin layer with file descriptors.

use std::fmt;
use std::net::IpAddr;

pub mod socket;
pub mod wire;

pub use socket::{Monitor, Netlink};
pub use wire::routes::{AddrOptions, RouteSpec, RuleSpec};

/// Why a netlink operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetlinkError {
    /// A system call failed.
    Io(nix::errno::Errno),
    /// The kernel refused a request; `errno` is positive (EEXIST, EADDRNOTAVAIL, ...).
    Nack { errno: i32, what: &'static str },
    /// A message from the kernel did not parse.
    Malformed(&'static str),
    /// The monitor socket overflowed (ENOBUFS): events were lost, the caller must re-read
    /// links and addresses with dumps.
    Overrun,
    /// A dump changed while it was read (NLM_F_DUMP_INTR): read it again.
    DumpInterrupted,
    /// A request did not fit the fixed request buffer.
    BufferTooSmall,
    /// A caller's argument cannot be sent (name too long, prefix too long, ...).
    InvalidArgument(&'static str),
    /// No such interface (lookup by name found nothing).
    NoSuchLink,
}

impl NetlinkError {
    /// The errno of a NACK, if this is one.
    pub fn nack_errno(&self) -> Option<i32> {
        match self {
            NetlinkError::Nack { errno, .. } => Some(*errno),
            _ => None,
        }
    }

    /// The address (or link) already exists: for adding a VIP that is there, that is success.
    pub fn is_exists(&self) -> bool {
        self.nack_errno() == Some(libc::EEXIST)
    }

    /// The address to delete is not there.
    pub fn is_addr_not_avail(&self) -> bool {
        self.nack_errno() == Some(libc::EADDRNOTAVAIL)
    }
}

impl fmt::Display for NetlinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Errnos as std::io::Error prints them: nix's Display carries a 8 KiB table on MIPS.
            NetlinkError::Io(e) => write!(f, "netlink socket: {}", std::io::Error::from(*e)),
            NetlinkError::Nack { errno, what } => write!(
                f,
                "kernel refused {what}: {}",
                std::io::Error::from_raw_os_error(*errno)
            ),
            NetlinkError::Malformed(why) => write!(f, "malformed netlink message: {why}"),
            NetlinkError::Overrun => {
                write!(
                    f,
                    "netlink monitor overrun (ENOBUFS): events lost, resync needed"
                )
            }
            NetlinkError::DumpInterrupted => write!(f, "netlink dump interrupted, retry"),
            NetlinkError::BufferTooSmall => write!(f, "netlink request too large for buffer"),
            NetlinkError::InvalidArgument(why) => write!(f, "invalid netlink argument: {why}"),
            NetlinkError::NoSuchLink => write!(f, "no such interface"),
        }
    }
}

impl std::error::Error for NetlinkError {}

/// An interface name (at most 15 bytes, as IFNAMSIZ allows) stored inline, no heap.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct IfName {
    bytes: [u8; IfName::CAPACITY],
    len: u8,
}

impl IfName {
    /// IFNAMSIZ, including the terminating NUL.
    pub const CAPACITY: usize = 16;

    /// A name given by the user or config: 1..=15 bytes, no NUL.
    pub fn new(name: &str) -> Result<Self, NetlinkError> {
        let b = name.as_bytes();
        if b.is_empty() || b.len() >= Self::CAPACITY || b.contains(&0) {
            return Err(NetlinkError::InvalidArgument(
                "interface name must be 1..15 bytes",
            ));
        }
        let mut bytes = [0u8; Self::CAPACITY];
        bytes[..b.len()].copy_from_slice(b);
        Ok(IfName {
            bytes,
            len: b.len() as u8,
        })
    }

    /// A name from a netlink attribute: NUL-terminated (or not), UTF-8.
    pub fn from_kernel(data: &[u8]) -> Result<Self, NetlinkError> {
        let end = data.iter().position(|&c| c == 0).unwrap_or(data.len());
        let s = data
            .get(..end)
            .and_then(|b| std::str::from_utf8(b).ok())
            .ok_or(NetlinkError::Malformed("interface name is not UTF-8"))?;
        IfName::new(s).map_err(|_| NetlinkError::Malformed("interface name length"))
    }

    pub fn as_str(&self) -> &str {
        // Both constructors only accept valid UTF-8, so this never takes the fallback.
        self.bytes
            .get(..usize::from(self.len))
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }
}

impl fmt::Debug for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One interface as RTM_NEWLINK describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkInfo {
    pub index: u32,
    pub name: IfName,
    /// Zero for links without a 6-byte hardware address.
    pub mac: [u8; 6],
    /// IFF_UP and IFF_RUNNING (the kernel reports operational state as IFF_RUNNING).
    pub up: bool,
    /// ifi_flags (IFF_*).
    pub flags: u32,
}

/// One address as RTM_NEWADDR / RTM_DELADDR describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddrInfo {
    pub index: u32,
    pub addr: IpAddr,
    pub prefix_len: u8,
    /// RT_SCOPE_* (0 universe, 253 link, 254 host).
    pub scope: u8,
    /// IFA_F_* (IFA_FLAGS when present, else the 8-bit ifa_flags).
    pub flags: u32,
    /// IPv4 only.
    pub label: Option<IfName>,
}

/// What the monitor reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetEvent {
    LinkChanged(LinkInfo),
    LinkRemoved { index: u32, name: IfName },
    AddrAdded(AddrInfo),
    AddrRemoved(AddrInfo),
}
