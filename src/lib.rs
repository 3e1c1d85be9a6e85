//! tinyvrrp: a small VRRP daemon. The protocol core (`packet`, `instance`, `config`) is pure;
//! everything with a file descriptor lives in the thin shell (`sock`, `netlink`, `arp`'s sender,
//! `daemon`).

pub mod alloc_count;
pub mod arp;
pub mod config;
pub mod daemon;
#[cfg(feature = "import")]
pub mod import;
pub mod instance;
pub mod links;
pub mod metrics;
pub mod netlink;
pub mod notify;
pub mod packet;
pub mod pidfile;
pub mod privilege;
pub mod reload;
pub mod resilience;
pub mod router;
pub mod routes;
pub mod signals;
pub mod sock;
pub mod spawn;
pub mod status;
pub mod timestamp;
pub mod track;
pub mod vmac;
