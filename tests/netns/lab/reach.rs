//! The ping client and the neighbour table, seen from a namespace.

use std::time::Duration;

use super::ns::parse_mac;
use super::run;
use super::setup::Ns;

impl Ns {
    /// Pings `ip` (v4 or v6) until one reply or `timeout`; true on a reply.
    pub fn ping(&self, ip: &str, timeout: Duration) -> bool {
        let secs = timeout.as_secs_f64().ceil().max(1.0) as u64;
        let family = if ip.contains(':') { "-6" } else { "-4" };
        let deadline = secs.to_string();
        self.exec(&[
            "ping", family, "-n", "-q", "-c", "1", "-i", "0.2", "-w", &deadline, ip,
        ])
        .status
        .success()
    }

    /// The link-layer address this namespace's neighbour table holds for `ip`, if any.
    pub fn neigh_mac(&self, ip: &str) -> Option<[u8; 6]> {
        let out = run(&[
            "ip", "-n", &self.name, "neigh", "show", "to", ip, "dev", "eth0",
        ]);
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().next()?;
        let mut words = line.split_whitespace();
        while let Some(w) = words.next() {
            if w == "lladdr" {
                return words.next().and_then(parse_mac);
            }
        }
        None
    }

    /// Drops this namespace's neighbour entry for `ip` (so the next ping re-resolves it).
    pub fn neigh_flush(&self, ip: &str) {
        let _ = run(&[
            "ip", "-n", &self.name, "neigh", "flush", "to", ip, "dev", "eth0",
        ]);
    }
}
