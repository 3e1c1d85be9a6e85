//! Received adverts: every packet-level check, which instance an advert is for, and the
//! address-list comparison (RFC 5798 §7.1 "MAY verify").

use std::net::IpAddr;

use log::{info, warn};

use super::Router;
use crate::instance::{Event, RxAdvert, Time};
use crate::packet::{self, Advert, Family, Version};

/// One received VRRP datagram as the shell read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Datagram<'a> {
    /// Interface it arrived on.
    pub ifindex: u32,
    pub src: IpAddr,
    /// The group or our unicast address.
    pub dst: IpAddr,
    /// IPv4 TTL / IPv6 hop limit.
    pub ttl: u8,
    /// The VRRP message, IP header stripped.
    pub payload: &'a [u8],
    /// The kernel cut it to fit the buffer.
    pub truncated: bool,
}

impl Router {
    /// Checks a received datagram, finds its instance and feeds it the advert; every drop is
    /// counted by reason.
    pub fn handle_datagram(&mut self, now: Time, family: Family, rx: &Datagram<'_>) {
        let Some((i, advert, form, matches)) = self.classify(family, rx) else {
            return;
        };
        let s = &mut self.slots[i];
        if family == Family::V4 && s.inst.params().version == Version::V3 {
            s.forms.record(advert.src, form);
        }
        s.note_vip_list(advert.src, matches);
        self.feed(i, now, Event::Advert(advert));
        self.settle(now);
    }

    fn classify(
        &mut self,
        family: Family,
        rx: &Datagram<'_>,
    ) -> Option<(usize, RxAdvert, packet::ChecksumForm, bool)> {
        if rx.truncated {
            self.drops.bump("truncated");
            return None;
        }
        let multicast = rx.dst.is_multicast();
        // RFC 5798 §7.1: a multicast advert must arrive with TTL / hop limit 255, proof it was
        // not forwarded. Unicast peers may be routed, so their TTL is not checked at all: this
        // is keepalived's rule (`unicast_ttl` only sets the TTL it sends). Checking a received
        // TTL against our `unicast_ttl` would drop a routed keepalived peer's adverts (its TTL
        // arrives decremented) and elect two masters.
        if multicast && rx.ttl != 255 {
            self.drops.bump("bad_ttl");
            return None;
        }
        let (advert, form) = match packet::parse(rx.payload, family, rx.src, rx.dst) {
            Ok(parsed) => parsed,
            Err(e) => {
                self.drops.bump(e.counter_name());
                return None;
            }
        };
        debug_assert_eq!(self.slot_keys.len(), self.slots.len());
        // Multicast adverts are for multicast instances, unicast ones for unicast instances.
        let key = super::slot_key(family, advert.vrid, !multicast);
        let mut vrid_known = false;
        let found = (0..self.slot_keys.len()).find(|&i| {
            let k = self.slot_keys[i];
            vrid_known |= k | super::SLOT_KEY_UNICAST == key | super::SLOT_KEY_UNICAST;
            if k != key {
                return false;
            }
            let s = &self.slots[i];
            if multicast {
                // With use_vmac, another master's adverts (sent from the virtual MAC, which our
                // macvlan has too) arrive on our macvlan.
                let on = |u: crate::links::Usable| u.ifindex == rx.ifindex;
                s.usable
                    .is_some_and(|u| on(u) || s.has_vmac(&self.links, rx.ifindex))
            } else {
                s.cfg.unicast_peers.contains(&rx.src)
            }
        });
        let Some(i) = found else {
            self.drops.bump(if vrid_known {
                "unknown_peer"
            } else {
                "unknown_vrid"
            });
            return None;
        };
        let matches = same_addresses(&advert, &self.slots[i].vip_addrs);
        let rx_advert = RxAdvert {
            src: rx.src,
            fields: advert.fields,
        };
        Some((i, rx_advert, form, matches))
    }
}

/// The advert lists the same addresses as we do, in any order.
fn same_addresses(advert: &Advert<'_>, ours: &[IpAddr]) -> bool {
    advert.addr_count() == ours.len() && advert.addrs().all(|a| ours.contains(&a))
}

impl super::Slot {
    /// RFC 5798 §7.1 lets a router check the advertised addresses and asks it to log a
    /// mismatch. During a rolling reload two nodes legitimately disagree for a while, so the
    /// election goes on (keepalived discards only in strict mode); the mismatch is logged
    /// and counted once per peer until it agrees again.
    fn note_vip_list(&mut self, peer: IpAddr, matches: bool) {
        let known = self.vip_mismatch.iter().position(|p| *p == peer);
        match (matches, known) {
            (false, None) => {
                warn!(
                    "{}: {peer} advertises other virtual addresses than ours; the election goes on",
                    self.cfg.name
                );
                self.discards.bump("vip_mismatch");
                self.vip_mismatch.push(peer);
            }
            (true, Some(k)) => {
                info!(
                    "{}: {peer} advertises the same virtual addresses as ours again",
                    self.cfg.name
                );
                self.vip_mismatch.swap_remove(k);
            }
            _ => {}
        }
    }
}
