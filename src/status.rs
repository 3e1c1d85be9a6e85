//! What `tinyvrrp status` shows, counted from the first packet: per-instance state and
//! counters, and the daemon's drop counters by reason. Served as text over a unix socket from
//! the daemon's poll loop; one `key=value` token per fact so scripts can parse it.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

use crate::instance::{Instance, State};
use crate::packet::ChecksumForm;
use crate::timestamp::Secs;
use crate::track::Health;

mod json;
mod server;
pub use json::{error_json, to_json, JsonError};
#[cfg(feature = "metrics")]
pub(crate) use server::write_rest;
pub use server::{log_totals, query, StatusServer, CLIENT_KEYS};

pub const DEFAULT_SOCKET: &str = "/run/tinyvrrp.sock";

/// Counters by name, in a fixed table: counting allocates nothing.
#[derive(Clone, Debug, Default)]
pub struct Counters {
    entries: [(&'static str, u64); 32],
    len: usize,
}

impl Counters {
    pub fn bump(&mut self, name: &'static str) {
        if let Some(e) = self.entries[..self.len].iter_mut().find(|e| e.0 == name) {
            e.1 += 1;
        } else if self.len < self.entries.len() {
            self.entries[self.len] = (name, 1);
            self.len += 1;
        }
    }

    pub fn get(&self, name: &str) -> u64 {
        self.entries[..self.len]
            .iter()
            .find(|e| e.0 == name)
            .map_or(0, |e| e.1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.entries[..self.len].iter().copied()
    }
}

/// Which v3-over-IPv4 checksum form each peer sends (RFC 5798 with the pseudo-header, as
/// keepalived and FRR; or RFC 9568's message-only form, as Cisco and Juniper).
#[derive(Clone, Debug, Default)]
pub struct PeerForms {
    peers: [Option<(IpAddr, u64, u64)>; 8],
}

impl PeerForms {
    pub fn record(&mut self, peer: IpAddr, form: ChecksumForm) {
        let slot = match self
            .peers
            .iter()
            .position(|p| p.is_some_and(|p| p.0 == peer))
        {
            Some(i) => i,
            None => match self.peers.iter().position(Option::is_none) {
                Some(i) => {
                    self.peers[i] = Some((peer, 0, 0));
                    i
                }
                None => return,
            },
        };
        if let Some(p) = self.peers[slot].as_mut() {
            match form {
                ChecksumForm::PseudoHeader => p.1 += 1,
                ChecksumForm::MessageOnly => p.2 += 1,
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (IpAddr, u64, u64)> + '_ {
        self.peers.iter().flatten().copied()
    }
}

/// One instance as the status shows it.
pub struct InstanceView<'a> {
    pub name: &'a str,
    pub interface: &'a str,
    pub instance: &'a Instance,
    pub discards: &'a Counters,
    pub forms: &'a PeerForms,
    pub vips_held: bool,
    /// The virtual addresses, listed as `addresses=a,b`.
    pub addresses: &'a [IpAddr],
    pub since_transition: Option<Duration>,
    /// The last transition's reason (`Reason::word`), empty before the first.
    pub reason: &'a str,
    /// Transitions by reason, in the order of `Reason::WORDS`.
    pub transitions: &'a [u32],
}

pub fn render<'a>(
    out: &mut String,
    instances: impl Iterator<Item = InstanceView<'a>>,
    drops: &Counters,
) {
    for v in instances {
        let i = v.instance;
        let s = i.stats();
        let _ = write!(
            out,
            "instance={} interface={} vrid={} version={} state={} priority={} \
             effective_priority={} vips={}",
            v.name,
            v.interface,
            i.params().vrid,
            i.params().version as u8,
            i.state(),
            i.params().priority,
            i.effective_priority(),
            if v.vips_held { "held" } else { "none" },
        );
        for (n, a) in v.addresses.iter().enumerate() {
            let _ = write!(out, "{}{a}", if n == 0 { " addresses=" } else { "," });
        }
        match i.master() {
            Some((ip, prio)) if i.state() == State::Backup => {
                let _ = write!(out, " master={ip} master_priority={prio}");
            }
            Some((ip, _)) => {
                let _ = write!(out, " master={ip}");
            }
            None => {}
        }
        if let Some(d) = v.since_transition {
            let _ = write!(out, " since={}s", Secs(d, 1));
        }
        if !v.reason.is_empty() {
            let _ = write!(out, " reason={}", v.reason);
        }
        let _ = write!(
            out,
            " rx_adverts={} tx_adverts={} rx_priority_zero={} tx_priority_zero={} \
             become_master={} release_master={}",
            s.rx_adverts,
            s.tx_adverts,
            s.rx_priority_zero,
            s.tx_priority_zero,
            s.become_master,
            s.release_master
        );
        for (name, &n) in crate::instance::Reason::WORDS.iter().zip(v.transitions) {
            if n > 0 {
                let _ = write!(out, " transitions_{name}={n}");
            }
        }
        for (name, n) in v.discards.iter() {
            let _ = write!(out, " discard_{name}={n}");
        }
        for (peer, pseudo, plain) in v.forms.iter() {
            let _ = write!(
                out,
                " peer={peer} csum_rfc5798={pseudo} csum_rfc9568={plain}"
            );
        }
        out.push('\n');
    }
    let _ = write!(
        out,
        "process heap_allocs={}",
        crate::alloc_count::allocations()
    );
    // For the metrics; the router builds (without the feature) save its code.
    #[cfg(feature = "metrics")]
    if let Some(rss) = crate::metrics::rss_bytes() {
        let _ = write!(out, " rss_bytes={rss}");
    }
    out.push('\n');
    out.push_str("drops");
    for (name, n) in drops.iter() {
        let _ = write!(out, " {name}={n}");
    }
    out.push('\n');
}

/// One line per health check: `track_script name=chk runs=12 health=up weight=-20` and
/// `track_process name=dns processes=2 health=down weight=0` (the section's own weight).
pub fn render_tracking<'a>(
    out: &mut String,
    scripts: impl Iterator<Item = (&'a str, u64, Health, i32)>,
    processes: impl Iterator<Item = (&'a str, usize, Health, i32)>,
) {
    let word = |h: Health| match h {
        Health::Up => "up",
        Health::Down => "down",
        Health::Unknown => "unknown",
    };
    for (name, runs, h, w) in scripts {
        let _ = writeln!(
            out,
            "track_script name={name} runs={runs} health={} weight={w}",
            word(h)
        );
    }
    for (name, n, h, w) in processes {
        let _ = writeln!(
            out,
            "track_process name={name} processes={n} health={} weight={w}",
            word(h)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_count_by_name_and_keep_order() {
        let mut c = Counters::default();
        c.bump("bad_ttl");
        c.bump("bad_checksum");
        c.bump("bad_ttl");
        assert_eq!(c.get("bad_ttl"), 2);
        assert_eq!(c.get("bad_checksum"), 1);
        assert_eq!(c.get("unknown_vrid"), 0);
        let names: Vec<_> = c.iter().map(|e| e.0).collect();
        assert_eq!(names, vec!["bad_ttl", "bad_checksum"]);
    }

    #[test]
    fn peer_forms_are_counted_per_peer() {
        let mut f = PeerForms::default();
        let a: IpAddr = "192.0.2.11".parse().unwrap();
        let b: IpAddr = "192.0.2.12".parse().unwrap();
        f.record(a, ChecksumForm::PseudoHeader);
        f.record(a, ChecksumForm::PseudoHeader);
        f.record(b, ChecksumForm::MessageOnly);
        let v: Vec<_> = f.iter().collect();
        assert_eq!(v, vec![(a, 2, 0), (b, 0, 1)]);
    }
}
