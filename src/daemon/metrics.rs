//! The daemon's side of `metrics_listen`: binding (at start-up and when a reload changes the
//! address) and the short dispatch of its poller events.

#[cfg(feature = "metrics")]
use log::{error, info};

#[cfg(feature = "metrics")]
use super::monotonic_now;
use super::Daemon;
#[cfg(feature = "metrics")]
use crate::metrics::{server::Wants, MetricsServer, KEYS};

/// Built without the endpoint (the cargo feature `metrics`): nothing to bind or serve.
#[cfg(not(feature = "metrics"))]
impl Daemon {
    pub(super) fn ensure_metrics(&mut self) {
        debug_assert!(self.metrics.is_none());
    }
    pub(super) fn metrics_events(&mut self, _marked: u32) {}
}

#[cfg(not(feature = "metrics"))]
pub(super) fn mark(_marked: &mut u32, _key: usize) -> bool {
    false
}

#[cfg(feature = "metrics")]
impl Daemon {
    /// Binds the configured address unless it is already bound; a failure is logged and the
    /// daemon runs without the endpoint.
    pub(super) fn ensure_metrics(&mut self) {
        let want = self.router.config().global.metrics_listen;
        let have = self.metrics.as_ref().map(|m| m.addr);
        if want == have {
            return;
        }
        self.metrics = None;
        let Some(addr) = want else { return };
        match MetricsServer::bind(addr, self.poller.clone()) {
            // The address and the port apart: SocketAddr's Display costs ~0.6 KiB.
            Ok(m) => {
                info!("metrics served on {} port {}", addr.ip(), addr.port());
                self.metrics = Some(m);
            }
            Err(e) => error!(
                "metrics_listen {} port {}: {e}; running without metrics",
                addr.ip(),
                addr.port()
            ),
        }
    }

    /// The metrics endpoint's events of one wake-up (marked by `mark`).
    pub(super) fn metrics_events(&mut self, marked: u32) {
        let Some(m) = self.metrics.as_mut().filter(|_| marked != 0) else {
            return;
        };
        let now = monotonic_now();
        let mut wants = Wants::Nothing;
        for key in KEYS.filter(|k| marked & 1 << (k - KEYS.start) != 0) {
            if m.on_event(key, now) == Some(Wants::Status) {
                wants = Wants::Status;
            }
        }
        if wants == Wants::Status {
            self.render_status(now);
            if let Some(m) = self.metrics.as_mut() {
                m.reply(&self.status_text);
            }
        }
    }
}

/// Marks `key` in `marked` when it is the metrics endpoint's.
#[cfg(feature = "metrics")]
pub(super) fn mark(marked: &mut u32, key: usize) -> bool {
    let ours = KEYS.contains(&key);
    if ours {
        *marked |= 1 << (key - KEYS.start);
    }
    ours
}
