//! track_process: counts the processes each `[vrrp_track_process]` matches and turns the count
//! into a health (quorum ..= quorum_max, with keepalived's fork and terminate delays). No
//! script is forked: in the initial network namespace the kernel's process events tell us of
//! every fork, exec, rename and exit; where the connector is missing (another namespace, no
//! CAP_NET_ADMIN) /proc is scanned once a second on the daemon's timer.

use std::time::Duration;

use log::{info, warn};

use super::proc_events::{Batch, ProcEvent, ProcEvents};
use super::procfs::{self, ProcBuf};
use super::Health;
use crate::config::VrrpTrackProcess;
use crate::instance::Time;

/// How often /proc is scanned when there are no process events.
pub const SCAN_INTERVAL: Duration = Duration::from_secs(1);

/// A health that follows a condition after the condition has held for a delay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quorum {
    health: Health,
    pending: Option<(Health, Time)>,
}

impl Default for Quorum {
    fn default() -> Self {
        Quorum {
            health: Health::Unknown,
            pending: None,
        }
    }
}

impl Quorum {
    pub fn health(&self) -> Health {
        self.health
    }

    pub fn deadline(&self) -> Option<Time> {
        self.pending.map(|p| p.1)
    }

    /// The condition is now `good`; true when the health changed. The first reading decides
    /// at once; later changes wait `up_delay` (gaining) or `down_delay` (losing), and a change
    /// that reverts before its delay is forgotten.
    pub fn update(
        &mut self,
        good: bool,
        now: Time,
        up_delay: Duration,
        down_delay: Duration,
    ) -> bool {
        let target = if good { Health::Up } else { Health::Down };
        if self.health == target {
            self.pending = None;
            return false;
        }
        let delay = if good { up_delay } else { down_delay };
        if self.health == Health::Unknown || delay.is_zero() {
            self.health = target;
            self.pending = None;
            return true;
        }
        if self.pending.map(|p| p.0) != Some(target) {
            self.pending = Some((target, now + delay));
        }
        false
    }

    /// Applies a pending change whose delay has passed; true when the health changed.
    pub fn on_time(&mut self, now: Time) -> bool {
        match self.pending {
            Some((target, at)) if at <= now => {
                self.health = target;
                self.pending = None;
                true
            }
            _ => false,
        }
    }
}

fn cs(cs: u32) -> Duration {
    Duration::from_millis(u64::from(cs) * 10)
}

struct Tracked {
    cfg: VrrpTrackProcess,
    /// The matching processes (kept exactly with events; rebuilt by each scan).
    pids: Vec<u32>,
    quorum: Quorum,
}

impl Tracked {
    fn good(&self) -> bool {
        let n = u32::try_from(self.pids.len()).unwrap_or(u32::MAX);
        n >= self.cfg.quorum && self.cfg.quorum_max.map_or(true, |max| n <= max)
    }

    fn evaluate(&mut self, now: Time) -> bool {
        let (up, down) = (cs(self.cfg.fork_delay_cs), cs(self.cfg.terminate_delay_cs));
        let good = self.good();
        let changed = self.quorum.update(good, now, up, down);
        if changed {
            info!(
                "track_process {}: {} matching process(es): {}",
                self.cfg.name,
                self.pids.len(),
                if good { "up" } else { "down" }
            );
        }
        changed
    }
}

#[derive(Default)]
pub struct ProcessTracker {
    tracked: Vec<Tracked>,
    events: Option<ProcEvents>,
    next_scan: Option<Time>,
    buf: Box<ProcBuf>,
    with_cmdline: bool,
}

impl ProcessTracker {
    /// The trackers of a (re)loaded config: a definition that did not change keeps its
    /// health. Subscribes to process events, or falls back to scanning.
    pub fn new(cfg: &[VrrpTrackProcess], previous: Option<ProcessTracker>, now: Time) -> Self {
        let mut previous = previous.unwrap_or_default();
        let tracked: Vec<Tracked> = cfg
            .iter()
            .map(|c| {
                let quorum = previous
                    .tracked
                    .iter()
                    .find(|t| t.cfg == *c)
                    .map_or_else(Quorum::default, |t| t.quorum);
                Tracked {
                    cfg: c.clone(),
                    pids: Vec::new(),
                    quorum,
                }
            })
            .collect();
        let mut t = ProcessTracker {
            with_cmdline: tracked
                .iter()
                .any(|t| procfs::needs_cmdline(&t.cfg.matcher)),
            tracked,
            events: None,
            next_scan: None,
            buf: std::mem::take(&mut previous.buf),
        };
        if t.tracked.is_empty() {
            return t;
        }
        t.events = previous.events.take().or_else(|| match ProcEvents::subscribe() {
            Ok(ev) => {
                info!("track_process: following the kernel's process events");
                Some(ev)
            }
            Err(e) => {
                info!(
                    "track_process: no process events connector here ({e}); scanning /proc every {} s",
                    SCAN_INTERVAL.as_secs()
                );
                None
            }
        });
        t.scan(now);
        t
    }

    /// The process events socket to poll, when there is one.
    pub fn fd(&self) -> Option<std::os::fd::RawFd> {
        self.events.as_ref().map(ProcEvents::fd)
    }

    pub fn health(&self, name: &str) -> Health {
        self.tracked
            .iter()
            .find(|t| t.cfg.name == name)
            .map_or(Health::Unknown, |t| t.quorum.health())
    }

    /// Name, matching processes and health of each tracked process (for the status).
    /// (name, matching processes, health, the section's weight) of every tracked process.
    pub fn counts(&self) -> impl Iterator<Item = (&str, usize, Health, i32)> {
        self.tracked.iter().map(|t| {
            (
                t.cfg.name.as_str(),
                t.pids.len(),
                t.quorum.health(),
                t.cfg.weight,
            )
        })
    }

    pub fn next_deadline(&self) -> Option<Time> {
        self.tracked
            .iter()
            .filter_map(|t| t.quorum.deadline())
            .chain(self.next_scan)
            .min()
    }

    /// Rebuilds every list from /proc; true when a health changed.
    fn scan(&mut self, now: Time) -> bool {
        for t in &mut self.tracked {
            t.pids.clear();
        }
        let (tracked, buf, with_cmdline) = (&mut self.tracked, &mut *self.buf, self.with_cmdline);
        let listed = procfs::for_each_pid(|pid| {
            if let Some(p) = procfs::read_proc(pid, with_cmdline, buf) {
                for t in tracked.iter_mut() {
                    if procfs::matches(&t.cfg.matcher, &p) {
                        t.pids.push(pid);
                    }
                }
            }
        });
        if let Err(e) = listed {
            warn!("track_process: listing /proc: {e}");
        }
        if self.events.is_none() {
            self.next_scan = Some(now + SCAN_INTERVAL);
        }
        self.evaluate(now)
    }

    fn evaluate(&mut self, now: Time) -> bool {
        self.tracked
            .iter_mut()
            .fold(false, |changed, t| t.evaluate(now) | changed)
    }

    fn apply(&mut self, ev: ProcEvent) {
        match ev {
            ProcEvent::Fork { parent, child } => {
                for t in &mut self.tracked {
                    if t.pids.contains(&parent) && !t.pids.contains(&child) {
                        t.pids.push(child);
                    }
                }
            }
            ProcEvent::Changed { pid } => {
                let p = procfs::read_proc(pid, self.with_cmdline, &mut self.buf);
                for t in &mut self.tracked {
                    let now_matches = p
                        .as_ref()
                        .is_some_and(|p| procfs::matches(&t.cfg.matcher, p));
                    let at = t.pids.iter().position(|&x| x == pid);
                    match (now_matches, at) {
                        (true, None) => t.pids.push(pid),
                        (false, Some(i)) => {
                            t.pids.swap_remove(i);
                        }
                        _ => {}
                    }
                }
            }
            ProcEvent::Exit { pid } => {
                for t in &mut self.tracked {
                    if let Some(i) = t.pids.iter().position(|&x| x == pid) {
                        t.pids.swap_remove(i);
                    }
                }
            }
        }
    }

    /// The events socket is readable; true when a health changed.
    pub fn on_readable(&mut self, now: Time) -> bool {
        let Some(mut events) = self.events.take() else {
            return false;
        };
        let result = events.drain(|ev| self.apply(ev));
        self.events = Some(events);
        match result {
            Ok(Batch::Events) => self.evaluate(now),
            Ok(Batch::Overrun) => {
                warn!("track_process: process events were lost; rescanning /proc");
                self.scan(now)
            }
            Err(e) => {
                warn!("track_process: reading process events: {e}; scanning /proc instead");
                self.events = None;
                self.scan(now)
            }
        }
    }

    /// Scans when due and applies delayed changes; true when a health changed.
    pub fn on_timer(&mut self, now: Time) -> bool {
        let mut changed = false;
        if self.next_scan.is_some_and(|t| t <= now) {
            changed |= self.scan(now);
        }
        for t in &mut self.tracked {
            changed |= t.quorum.on_time(now);
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn first_reading_decides_then_changes_wait_their_delay() {
        let mut q = Quorum::default();
        assert!(q.update(false, S, 2 * S, 3 * S));
        assert_eq!(q.health(), Health::Down);
        // Gained: waits the fork delay.
        assert!(!q.update(true, 10 * S, 2 * S, 3 * S));
        assert_eq!(q.deadline(), Some(12 * S));
        assert!(!q.update(true, 11 * S, 2 * S, 3 * S), "re-arming");
        assert_eq!(q.deadline(), Some(12 * S));
        assert!(!q.on_time(11 * S));
        assert!(q.on_time(12 * S));
        assert_eq!(q.health(), Health::Up);
        // Lost then back before the terminate delay: no change at all.
        assert!(!q.update(false, 20 * S, 2 * S, 3 * S));
        assert_eq!(q.deadline(), Some(23 * S));
        assert!(!q.update(true, 21 * S, 2 * S, 3 * S));
        assert_eq!(q.deadline(), None);
        assert!(!q.on_time(30 * S));
        assert_eq!(q.health(), Health::Up);
        // Without delays a change is immediate.
        assert!(q.update(false, 40 * S, Duration::ZERO, Duration::ZERO));
        assert_eq!(q.health(), Health::Down);
    }

    fn in_initial_netns_as_root() -> bool {
        let ns = |p: &str| std::fs::read_link(p).ok();
        nix::unistd::geteuid().is_root() && ns("/proc/self/ns/net") == ns("/proc/1/ns/net")
    }

    fn wait_for(t: &mut ProcessTracker, want: Health, name: &str) {
        let start = std::time::Instant::now();
        while t.health(name) != want {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "{name} never became {want:?}"
            );
            let fd = t.fd().expect("events socket");
            let mut pfd = [libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            }];
            // SAFETY: poll on one valid pollfd.
            unsafe { libc::poll(pfd.as_mut_ptr(), 1, 100) };
            t.on_readable(crate::daemon::monotonic_now());
        }
    }

    /// The process events connector follows a process started and killed here (no /proc
    /// scan: the tracker has no scan deadline). Needs root in the initial namespace.
    #[test]
    fn process_events_follow_a_process_start_and_exit() {
        if !in_initial_netns_as_root() {
            eprintln!("skipped: process events need root in the initial network namespace");
            return;
        }
        let dir = std::env::temp_dir().join(format!("tvr-proc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let name = format!("tvrsl{}", std::process::id() % 1_000_000);
        let exe = dir.join(&name);
        // A symlink: the process is named after it, and nothing written can be "text busy".
        let _ = std::fs::remove_file(&exe);
        std::os::unix::fs::symlink("/bin/sleep", &exe).expect("link sleep");
        let cfg = VrrpTrackProcess {
            name: "p".into(),
            matcher: crate::config::ProcessMatch {
                process: name.clone(),
                params: None,
                param_match: crate::config::ParamMatch::Exact,
                full_command: false,
            },
            weight: 0,
            quorum: 1,
            quorum_max: None,
            fork_delay_cs: 0,
            terminate_delay_cs: 0,
        };
        let now = crate::daemon::monotonic_now();
        let mut t = ProcessTracker::new(&[cfg], None, now);
        assert!(t.fd().is_some(), "connector not used");
        assert_eq!(t.next_deadline(), None, "no scan timer with events");
        assert_eq!(t.health("p"), Health::Down);
        let mut child = std::process::Command::new(&exe)
            .arg("30")
            .spawn()
            .expect("start the copy of sleep");
        wait_for(&mut t, Health::Up, "p");
        assert_eq!(t.counts().next().map(|c| c.1), Some(1));
        let _ = child.kill();
        let _ = child.wait();
        wait_for(&mut t, Health::Down, "p");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
