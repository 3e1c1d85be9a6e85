//! Glue for issue 13's behaviour that needs the OS or the config: the process's random tick
//! phase, an instance's allowed advert sources and stop handover, and rate-limited log lines
//! about dropped packets (a flood of forged adverts must not fill a router's flash or ring
//! buffer). The decisions themselves live in the pure `instance` module.

// AtomicU32 only: mips32 has no 64-bit atomics.
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::config::{Config, InstanceConfig};
use crate::instance::{Discard, Event, Instance, RxAdvert, Time};

/// Sets what the config and the process give an instance beyond its `Params`.
pub fn configure(inst: &mut Instance, cfg: &InstanceConfig, global: &Config, phase: Duration) {
    inst.set_tick_phase(phase);
    inst.set_allowed_sources(cfg.allowed_sources.clone());
    // With use_vmac both nodes would hold the virtual MAC during the overlap: the switch
    // learns it from whoever sent last, and the old master answering an ARP request moves
    // it back just before the old master's VMAC goes away, so frames black-hole until the
    // new master sends again. There the overlap hurts: drop at once, as keepalived does.
    inst.set_handover(global.global.stop_handover && !cfg.use_vmac);
}

/// One random phase per process, below one second (taken modulo each advert interval).
pub fn tick_phase() -> Duration {
    static PHASE_US: AtomicU32 = AtomicU32::new(u32::MAX);
    let mut us = PHASE_US.load(Ordering::Relaxed);
    if us == u32::MAX {
        us = (random_u64() % 1_000_000) as u32;
        PHASE_US.store(us, Ordering::Relaxed);
    }
    Duration::from_micros(u64::from(us))
}

/// getrandom(2), else /dev/urandom, else the clock and pid: it only spreads senders apart.
fn random_u64() -> u64 {
    let mut buf = [0u8; 8];
    // The raw syscall, not libc's wrapper: the static MIPS builds link a musl where
    // getrandom(3) is an unresolved weak symbol, so calling it jumped to address 0.
    // SAFETY: the kernel writes at most buf.len() bytes into buf.
    let n = unsafe {
        libc::syscall(
            libc::SYS_getrandom,
            buf.as_mut_ptr(),
            buf.len(),
            libc::GRND_NONBLOCK,
        )
    };
    if n == buf.len() as libc::c_long {
        return u64::from_ne_bytes(buf);
    }
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        if std::io::Read::read_exact(&mut f, &mut buf).is_ok() {
            return u64::from_ne_bytes(buf);
        }
    }
    let now = crate::daemon::monotonic_now();
    (now.subsec_nanos() as u64) ^ (u64::from(std::process::id()) << 20)
}

/// At most `BURST` lines per `WINDOW`; the lines held back are counted and reported with
/// the first line of a later window.
pub struct RateLimit {
    window_start_s: AtomicU32,
    used: AtomicU32,
    suppressed: AtomicU32,
}

const BURST: u32 = 5;
const WINDOW_S: u32 = 60;

impl RateLimit {
    pub const fn new() -> Self {
        RateLimit {
            window_start_s: AtomicU32::new(0),
            used: AtomicU32::new(0),
            suppressed: AtomicU32::new(0),
        }
    }

    /// Some(n): log now, mentioning the n lines held back before; None: hold this one back.
    pub fn allow(&self, now: Time) -> Option<u32> {
        let now_s = now.as_secs().min(u64::from(u32::MAX - WINDOW_S)) as u32;
        let start = self.window_start_s.load(Ordering::Relaxed);
        if self.used.load(Ordering::Relaxed) == 0 || now_s >= start + WINDOW_S {
            self.window_start_s.store(now_s, Ordering::Relaxed);
            self.used.store(0, Ordering::Relaxed);
        }
        if self.used.load(Ordering::Relaxed) >= BURST {
            let _ = self
                .suppressed
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    Some(n.saturating_add(1))
                });
            return None;
        }
        self.used.fetch_add(1, Ordering::Relaxed);
        Some(self.suppressed.swap(0, Ordering::Relaxed))
    }
}

impl Default for RateLimit {
    fn default() -> Self {
        Self::new()
    }
}

/// Every log line about a dropped or unreadable packet goes through this one limiter ...
pub static DROP_LOG: RateLimit = RateLimit::new();
/// ... and every line about an advert we failed to send through this one.
pub static SEND_LOG: RateLimit = RateLimit::new();

fn held_back(n: u32) -> impl std::fmt::Display {
    struct Note(u32);
    impl std::fmt::Display for Note {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self.0 {
                0 => Ok(()),
                n => write!(f, " ({n} similar lines held back)"),
            }
        }
    }
    Note(n)
}

/// A discarded advert worth a line: one from a source not in `allowed_sources`.
pub fn log_discard(name: &str, discard: Discard, event: &Event, now: Time) {
    let Event::Advert(RxAdvert { src, .. }) = event else {
        return;
    };
    if discard != Discard::SourceNotAllowed {
        return;
    }
    if let Some(n) = DROP_LOG.allow(now) {
        log::warn!(
            "{name}: dropped an advert from {src}: not in allowed_sources{}",
            held_back(n)
        );
    }
}

/// An error while receiving packets (it may repeat on every wake-up).
pub fn log_receive_error(err: &dyn std::fmt::Display, now: Time) {
    if let Some(n) = DROP_LOG.allow(now) {
        log::warn!("receiving adverts: {err}{}", held_back(n));
    }
}

/// An advert we could not queue or send (a broken interface fails on every tick).
pub fn log_send_error(err: &dyn std::fmt::Display) {
    if let Some(n) = SEND_LOG.allow(crate::daemon::monotonic_now()) {
        log::warn!("sending adverts: {err}{}", held_back(n));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64) -> Time {
        Duration::from_secs(secs)
    }

    #[test]
    fn a_flood_logs_a_burst_per_window_and_reports_what_it_held_back() {
        let limit = RateLimit::new();
        let mut logged = Vec::new();
        for i in 0..1000u64 {
            if let Some(n) = limit.allow(Duration::from_millis(100 + 10 * i)) {
                logged.push(n);
            }
        }
        assert_eq!(logged, vec![0; BURST as usize]);
        assert_eq!(limit.allow(s(30)), None);
        // The next window: the first line says how many were held back.
        assert_eq!(limit.allow(s(61)), Some(1000 - BURST + 1));
        assert_eq!(limit.allow(s(62)), Some(0));
    }

    #[test]
    fn the_tick_phase_is_one_per_process_and_below_a_second() {
        let a = tick_phase();
        assert_eq!(a, tick_phase());
        assert!(a < Duration::from_secs(1));
    }
}
