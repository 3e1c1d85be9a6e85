//! The raw VRRP sockets: adverts queued and sent in batches (`sendmmsg`), received ones
//! drained in batches (`recvmmsg`) and handed to the router, multicast memberships.

use std::net::IpAddr;
use std::os::fd::AsRawFd;

use log::warn;
use polling::{Event as PollEvent, PollMode, Poller};

use super::{setup, DaemonError, BATCH, KEY_SOCK4, KEY_SOCK6};
use crate::instance::Time;
use crate::links::Usable;
use crate::packet::{self, Family};
use crate::router::{Datagram, Router, Slot};
use crate::sock::{PushError, RecvBatch, SendBatch, VrrpSocket};
use crate::status::Counters;

pub(super) struct Adverts {
    sock4: Option<VrrpSocket>,
    sock6: Option<VrrpSocket>,
    joined: Vec<(Family, u32)>,
    recv: RecvBatch,
    send4: SendBatch,
    send6: SendBatch,
}

/// Queues one advert; a round bigger than the batch sends what is queued and queues again.
fn push(
    sock: Option<&VrrpSocket>,
    batch: &mut SendBatch,
    (ifindex, src, dst): (u32, IpAddr, IpAddr),
    fill: impl Fn(&mut [u8]) -> Option<usize> + Copy,
) -> Result<usize, PushError> {
    match batch.push(ifindex, src, dst, fill) {
        Err(PushError::Full) => {
            if let Some(sock) = sock {
                if let Err(e) = batch.send(sock) {
                    crate::resilience::log_send_error(&e);
                }
            }
            batch.clear();
            batch.push(ifindex, src, dst, fill)
        }
        other => other,
    }
}

impl Adverts {
    pub fn new() -> Self {
        Adverts {
            sock4: None,
            sock6: None,
            joined: Vec::new(),
            recv: RecvBatch::new(BATCH),
            send4: SendBatch::new(BATCH),
            send6: SendBatch::new(BATCH),
        }
    }

    fn sock(&self, family: Family) -> Option<&VrrpSocket> {
        match family {
            Family::V4 => self.sock4.as_ref(),
            Family::V6 => self.sock6.as_ref(),
        }
    }

    /// Opens the VRRP socket of a family the first time an instance needs it.
    pub fn ensure(&mut self, poller: &Poller, family: Family) -> Result<(), DaemonError> {
        let (slot, key) = match family {
            Family::V4 => (&mut self.sock4, KEY_SOCK4),
            Family::V6 => (&mut self.sock6, KEY_SOCK6),
        };
        if slot.is_none() {
            let sock = VrrpSocket::open(family).map_err(setup("raw VRRP socket"))?;
            let fd = sock.fd().as_raw_fd();
            // SAFETY: the socket is owned by `self`, which lives as long as the poller's use
            // of it (both belong to the daemon); closing it removes it from the epoll set.
            unsafe { poller.add_with_mode(fd, PollEvent::readable(key), PollMode::Level) }
                .map_err(setup("poller registration"))?;
            *slot = Some(sock);
        }
        Ok(())
    }

    /// Joins the VRRP group on an interface, once.
    pub fn join(&mut self, family: Family, ifindex: u32) {
        if self.joined.contains(&(family, ifindex)) {
            return;
        }
        if let Some(sock) = self.sock(family) {
            match sock.join(ifindex) {
                Ok(()) => self.joined.push((family, ifindex)),
                Err(e) => warn!("joining the VRRP group on ifindex {ifindex}: {e}"),
            }
        }
    }

    /// Leaves the VRRP group on an interface that is about to go (a VMAC): a socket's
    /// memberships outlive their interface and count against igmp_max_memberships (20).
    pub fn leave(&mut self, family: Family, ifindex: u32) {
        let Some(at) = self.joined.iter().position(|&j| j == (family, ifindex)) else {
            return;
        };
        self.joined.swap_remove(at);
        if let Some(sock) = self.sock(family) {
            if let Err(e) = sock.leave(ifindex) {
                warn!("leaving the VRRP group on ifindex {ifindex}: {e}");
            }
        }
    }

    /// Queues one advert of `slot` with `priority`, sent from `link`; `vmac` is where IPv4
    /// multicast adverts leave when the instance has a VMAC (RFC 5798 §7.3).
    /// Whether the advert was queued (to at least one destination).
    pub fn queue(
        &mut self,
        slot: &Slot,
        link: Usable,
        priority: u8,
        vmac: Option<u32>,
        drops: &mut Counters,
    ) -> bool {
        let cfg = slot.cfg();
        let fields = slot.advert_fields(priority);
        let form = slot.checksum_form();
        let group = [match slot.family() {
            Family::V4 => packet::VRRP_GROUP_V4.into(),
            Family::V6 => packet::VRRP_GROUP_V6.into(),
        }];
        let (dsts, ifindex) = if slot.is_unicast() {
            // Routed peers: let the routing table pick the interface.
            (cfg.unicast_peers.as_slice(), 0)
        } else {
            // IPv4 adverts leave from the virtual MAC through the VMAC; IPv6 ones, and IPv4
            // ones with keepalived's vmac_xmit_base, from the parent (see vmac.rs). Either way
            // the source address is the parent's.
            let via_vmac = slot.family() == Family::V4 && !cfg.vmac_xmit_base;
            (
                &group[..],
                vmac.filter(|_| via_vmac).unwrap_or(link.ifindex),
            )
        };
        let (sock, batch) = match slot.family() {
            Family::V4 => (self.sock4.as_ref(), &mut self.send4),
            Family::V6 => (self.sock6.as_ref(), &mut self.send6),
        };
        let src = link.source;
        let mut any = false;
        for &dst in dsts {
            // One (Copy) closure for both pushes: one copy of `push` in the binary.
            let fill =
                |buf: &mut [u8]| packet::emit(&fields, slot.vip_addrs(), src, dst, form, buf).ok();
            let queued = match push(sock, batch, (ifindex, src, dst), fill) {
                Ok(i) => Some(i),
                Err(e) => {
                    let name = &cfg.name;
                    crate::resilience::log_send_error(&format_args!(
                        "{name}: queueing to {dst}: {e}"
                    ));
                    drops.bump("tx_queue_failed");
                    None
                }
            };
            any |= queued.is_some();
            // keepalived's unicast_ttl: the TTL unicast adverts leave with (multicast ones
            // always leave with 255, RFC 5798 §5.1.1.3).
            let ttl = cfg.unicast_ttl.filter(|_| slot.is_unicast());
            if let (Some(i), Some(ttl)) = (queued, ttl) {
                if let Err(e) = batch.set_hop_limit(i, ttl) {
                    warn!("{}: setting the TTL of an advert: {e}", cfg.name);
                }
            }
        }
        any
    }

    /// Sends every queued advert.
    pub fn flush(&mut self, drops: &mut Counters) {
        for (sock, batch) in [
            (self.sock4.as_ref(), &mut self.send4),
            (self.sock6.as_ref(), &mut self.send6),
        ] {
            if batch.is_empty() {
                continue;
            }
            if let Some(sock) = sock {
                match batch.send(sock) {
                    Ok(_) => {
                        for _ in 0..batch.failed() {
                            drops.bump("tx_failed");
                        }
                    }
                    Err(e) => {
                        crate::resilience::log_send_error(&e);
                        drops.bump("tx_failed");
                    }
                }
            }
            batch.clear();
        }
    }

    /// Drains the VRRP socket of one family into the router (whose actions the caller then
    /// drains).
    pub fn drain(&mut self, family: Family, now: Time, router: &mut Router) {
        loop {
            let sock = match family {
                Family::V4 => self.sock4.as_ref(),
                Family::V6 => self.sock6.as_ref(),
            };
            let Some(sock) = sock else {
                return;
            };
            let n = match self.recv.recv(sock) {
                Ok(n) => n,
                Err(e) => {
                    crate::resilience::log_receive_error(&e, now);
                    return;
                }
            };
            for i in 0..n {
                match self.recv.get(i) {
                    Some(Ok(rx)) => {
                        let d = Datagram {
                            ifindex: rx.ifindex,
                            src: rx.src,
                            dst: rx.dst,
                            ttl: rx.ttl,
                            payload: rx.payload,
                            truncated: rx.truncated,
                        };
                        router.handle_datagram(now, family, &d);
                    }
                    Some(Err(_)) => router.handle_bad_datagram(),
                    None => {}
                }
            }
            if n < BATCH {
                return;
            }
        }
    }
}
