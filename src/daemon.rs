//! The poll loop: one thread, one `polling::Poller` over the raw VRRP sockets, one timerfd
//! armed to the earliest deadline, the rtnetlink monitor, a signalfd and the status socket.
//! Readiness becomes router events (`router.rs`); each router action is a short dispatch to
//! the module that owns its I/O (`daemon/adverts.rs`, `daemon/addrs.rs`, `notify`). No
//! protocol or policy decision is made here.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use log::{debug, error, info, warn};
use nix::sys::signal::Signal;
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use polling::{Event as PollEvent, PollMode, Poller};

use crate::arp::FrameSender;
use crate::config::{self, Config};
use crate::instance::Time;
use crate::links::Usable;
use crate::netlink::{Monitor, NetEvent, Netlink, NetlinkError};
use crate::notify::{self, Notifier};
use crate::packet::Family;
use crate::router::{Action, Op, Phase, Router, SlotId, TrackResult};
use crate::status::{self, Counters, InstanceView, StatusServer};
use crate::timestamp::Secs;
use crate::track::{self, ProcessTracker, ScriptRunner};
use crate::vmac::Vmacs;

mod addrs;
mod adverts;
mod metrics;
mod wait;

use addrs::{Addrs, Ctx};
use adverts::Adverts;
use wait::Wait;

const KEY_SOCK4: usize = 0;
const KEY_SOCK6: usize = 1;
const KEY_TIMER: usize = 2;
const KEY_NETLINK: usize = 3;
const KEY_SIGNAL: usize = 4;
const KEY_STATUS: usize = 5;
const KEY_PROC_EVENTS: usize = 6;

/// Datagrams drained or sent per syscall.
const BATCH: usize = 64;

pub struct Options {
    pub config_path: PathBuf,
    pub status_socket: PathBuf,
}

#[derive(Debug)]
pub enum DaemonError {
    Config(config::ConfigErrors),
    Setup { what: &'static str, err: String },
}

impl fmt::Display for DaemonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DaemonError::Config(e) => write!(f, "{e}"),
            DaemonError::Setup { what, err } => write!(f, "{what}: {err}"),
        }
    }
}

impl std::error::Error for DaemonError {}

fn setup<E: fmt::Display>(what: &'static str) -> impl FnOnce(E) -> DaemonError {
    move |e| DaemonError::Setup {
        what,
        err: e.to_string(),
    }
}

/// The monotonic clock; instance time is this clock's reading.
pub fn monotonic_now() -> Time {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(Duration::from)
        .unwrap_or_default()
}

pub struct Daemon {
    opts: Options,
    poller: Arc<Poller>,
    wait: Wait,
    timer: TimerFd,
    /// The deadline the timerfd is armed for; it may be earlier than the earliest deadline
    /// (re-armed lazily when it fires), never later.
    armed: Option<Time>,
    /// The timerfd fired and was not read: the next `timerfd_settime` clears it (one
    /// syscall instead of a `read` and then a `timerfd_settime`).
    fired: bool,
    signals: SignalFd,
    monitor: Monitor,
    net_events: Vec<NetEvent>,
    router: Router,
    adverts: Adverts,
    addrs: Addrs,
    status: StatusServer,
    status_text: String,
    metrics: Option<crate::metrics::MetricsServer>,
    /// The (interface, VRID, family) claims that keep a second daemon off our instances.
    claims: crate::pidfile::Claims,
    notifier: Notifier,
    scripts: ScriptRunner,
    processes: ProcessTracker,
    /// The process events socket registered with the poller, if any.
    proc_fd: Option<i32>,
    /// track_file: (name, path) of the tracked files, read once a second on the timer.
    files: Vec<(String, String)>,
    files_due: Option<Time>,
}

fn block_signals() -> Result<SignalFd, DaemonError> {
    let mask = crate::signals::daemon_set();
    mask.thread_block()
        .map_err(io::Error::from)
        .map_err(setup("blocking signals"))?;
    SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(io::Error::from)
        .map_err(setup("signalfd"))
}

impl Daemon {
    pub fn new(opts: Options) -> Result<Self, DaemonError> {
        let loaded =
            config::load_for_daemon(&opts.config_path, &[]).map_err(DaemonError::Config)?;
        for w in &loaded.warnings {
            warn!("{w}");
        }
        let config = loaded.config;
        let privilege = crate::privilege::check(&config).map_err(setup("capabilities"))?;
        let mut claims = crate::pidfile::Claims::default();
        claims
            .update(&config.instances)
            .map_err(setup("single instance"))?;
        let signals = block_signals()?;
        let timer = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )
        .map_err(io::Error::from)
        .map_err(setup("timerfd"))?;
        // Subscribe before the first dump so that no change falls between the two.
        let monitor = Monitor::open().map_err(setup("rtnetlink monitor"))?;
        let nl = Netlink::open().map_err(setup("rtnetlink"))?;
        let frames = FrameSender::open().map_err(setup("AF_PACKET socket"))?;
        let status = StatusServer::bind(&opts.status_socket).map_err(setup("status socket"))?;
        let poller = Arc::new(Poller::new().map_err(setup("poller"))?);
        let fifos = notify::fifo::Fifos::open(&config.global);
        let notifier = Notifier::default()
            .with_poller(poller.clone())
            .with_fifos(fifos)
            .with_policy(&config.global);
        let mut daemon = Daemon {
            opts,
            poller,
            wait: Wait::new(),
            timer,
            armed: None,
            fired: false,
            signals,
            monitor,
            net_events: Vec::with_capacity(64),
            router: Router::new(config).with_tick_phase(crate::resilience::tick_phase()),
            adverts: Adverts::new(),
            addrs: Addrs {
                nl,
                frames,
                vmacs: Vmacs::default(),
            },
            status,
            status_text: String::with_capacity(4096),
            metrics: None,
            claims,
            notifier,
            scripts: ScriptRunner::default(),
            processes: ProcessTracker::default(),
            proc_fd: None,
            files: Vec::new(),
            files_due: None,
        };
        daemon.register()?;
        daemon.ensure_metrics();
        crate::privilege::reduce(privilege);
        Ok(daemon)
    }

    fn register(&self) -> Result<(), DaemonError> {
        let add = |fd: i32, key: usize| {
            // SAFETY: every registered fd is owned by `self` and deleted from the poller (by
            // being closed together with it) only when the daemon is dropped.
            unsafe {
                self.poller
                    .add_with_mode(fd, PollEvent::readable(key), PollMode::Level)
            }
            .map_err(setup("poller registration"))
        };
        add(self.timer.as_fd().as_raw_fd(), KEY_TIMER)?;
        add(self.signals.as_raw_fd(), KEY_SIGNAL)?;
        add(self.monitor.fd().as_raw_fd(), KEY_NETLINK)?;
        add(self.status.listener().as_raw_fd(), KEY_STATUS)?;
        Ok(())
    }

    fn ensure_sockets(&mut self) -> Result<(), DaemonError> {
        for family in [Family::V4, Family::V6] {
            if self.router.uses(family) {
                self.adverts.ensure(&self.poller, family)?;
            }
        }
        Ok(())
    }

    /// Every router action, each a short dispatch to the module that owns the I/O. Called
    /// after every router call, before the next one.
    fn run_actions(&mut self, now: Time) {
        let mut drops = std::mem::take(self.router.drops_mut());
        while let Some(action) = self.router.poll_action() {
            match action {
                Action::Instance { slot, link, op } => self.run_op(slot, link, op, now, &mut drops),
                Action::GroupTransition { group, state } => {
                    if let Some(g) = self.router.config().sync_groups.get(group) {
                        self.notifier.group_transition(g, state, now);
                    }
                }
            }
        }
        *self.router.drops_mut() = drops;
    }

    fn run_op(&mut self, id: SlotId, link: Option<Usable>, op: Op, now: Time, d: &mut Counters) {
        let Some(slot) = self.router.slot(id) else {
            return;
        };
        let c = Ctx {
            slot,
            link,
            links: self.router.links(),
        };
        let addrs = &mut self.addrs;
        match op {
            Op::SendAdvert { priority } => {
                let vmac = addrs.vmac_of(slot).map(|v| v.0);
                let queued = link.is_some_and(|u| self.adverts.queue(slot, u, priority, vmac, d));
                if !queued {
                    self.router.advert_not_sent(id, priority);
                }
            }
            // Another master's adverts leave from the virtual MAC, which our macvlan has too:
            // the kernel hands them to the macvlan, not to the parent. Listen there while it
            // exists, or a split brain with use_vmac never ends (found by the chaos suite).
            Op::AddVips => {
                addrs.add_all(c, d);
                if let Some((vmac, _)) = addrs.vmac_of(slot).filter(|_| !slot.is_unicast()) {
                    self.adverts.join(slot.family(), vmac);
                }
            }
            Op::RemoveVips => {
                if let Some((vmac, _)) = addrs.vmac_of(slot) {
                    self.adverts.leave(slot.family(), vmac);
                }
                addrs.remove_all(c, d);
            }
            Op::AddVip(vip) => addrs.set_one(c, &vip, true),
            Op::RemoveVip(vip) => addrs.set_one(c, &vip, false),
            Op::SendGarp { count } => addrs.garp(c, None, count, d),
            Op::SendGarpFor { addr, count } => addrs.garp(c, Some(addr), count, d),
            Op::ChangeFollowers(old) => addrs.change_followers(c, &old, d),
            Op::RestoreVip { ifindex, addr } => addrs.restore(c, ifindex, addr, d),
            Op::RemoveLeftovers { vmac } => addrs.remove_leftovers(c, vmac, d),
            Op::JoinGroup => {
                if let Some(u) = link {
                    self.adverts.join(slot.family(), u.ifindex);
                }
            }
            Op::Transition { to, priority, .. } => {
                self.notifier.transition(slot.cfg(), to, priority, now)
            }
            Op::MasterRxLowerPri { priority } => self
                .notifier
                .master_rx_lower_pri(&slot.cfg().name, priority),
        }
    }

    /// A full dump of links and addresses replaces what the router knew.
    fn resync_links(&mut self, now: Time) {
        let mut events = std::mem::take(&mut self.net_events);
        events.clear();
        self.dump_links(&mut events);
        self.router.reset_links();
        self.router.handle_net_events(now, &events);
        self.net_events = events;
        self.run_actions(now);
    }

    fn dump_links(&mut self, events: &mut Vec<NetEvent>) {
        let nl = &mut self.addrs.nl;
        if let Err(e) = nl.links(|l| events.push(NetEvent::LinkChanged(*l))) {
            error!("reading links: {e}");
        }
        if let Err(e) = nl.addresses(|a| events.push(NetEvent::AddrAdded(*a))) {
            error!("reading addresses: {e}");
        }
    }

    fn drain_netlink(&mut self, now: Time) {
        let mut events = std::mem::take(&mut self.net_events);
        events.clear();
        match self.monitor.drain(|e| events.push(e)) {
            Ok(()) => {}
            Err(NetlinkError::Overrun) => {
                warn!("rtnetlink events were lost (ENOBUFS); re-reading links and addresses");
                events.clear();
                self.dump_links(&mut events);
                self.router.reset_links();
            }
            Err(e) => warn!("rtnetlink monitor: {e}"),
        }
        self.router.handle_net_events(now, &events);
        events.clear();
        self.net_events = events;
        self.run_actions(now);
    }

    /// (Re)starts the script runner and process tracker for the current config, keeping
    /// what they know of checks that stay.
    fn restart_tracking(&mut self, now: Time) {
        let config = self.router.config();
        let tracked = |name: &str| {
            let refs = config.instances.iter().flat_map(|i| &i.track_files);
            refs.into_iter().any(|r| r.name == name)
        };
        self.files = config
            .track_files
            .iter()
            .filter(|f| tracked(&f.name))
            .map(|f| (f.name.clone(), f.file.clone()))
            .collect();
        self.files_due = (!self.files.is_empty()).then(|| now + Duration::from_secs(1));
        let previous = std::mem::take(&mut self.scripts);
        let g = &config.global;
        let user = g.script_user.as_deref();
        let security = g.enable_script_security;
        self.scripts = ScriptRunner::new(&config.scripts, user, security, Some(previous), now);
        let previous = std::mem::take(&mut self.processes);
        self.processes = ProcessTracker::new(&config.track_processes, Some(previous), now);
        self.watch_process_events();
        self.read_files(now);
        self.scripts_changed(now);
        self.processes_changed(now);
    }

    fn watch_process_events(&mut self) {
        let fd = self.processes.fd();
        if fd == self.proc_fd {
            return;
        }
        if let Some(old) = self.proc_fd.take() {
            // SAFETY: a closed fd has left the epoll set by itself; an open one is ours.
            let _ = self.poller.delete(unsafe { BorrowedFd::borrow_raw(old) });
        }
        if let Some(new) = fd {
            let ev = PollEvent::readable(KEY_PROC_EVENTS);
            // SAFETY: the socket is owned by self.processes and deleted here before it is
            // replaced or dropped with the daemon.
            match unsafe { self.poller.add_with_mode(new, ev, PollMode::Level) } {
                Ok(()) => self.proc_fd = Some(new),
                Err(e) => warn!("polling process events: {e}"),
            }
        }
    }

    /// track_file: each file read once, the numbers handed to the router.
    fn read_files(&mut self, now: Time) {
        let files = self.files.iter();
        let results =
            files.map(|(name, path)| TrackResult::File(name, track::read_file_value(path)));
        self.router.handle_track(now, results);
        self.run_actions(now);
    }

    fn scripts_changed(&mut self, now: Time) {
        let runs = self.scripts.runs();
        let results = runs.map(|(name, _, health, _)| TrackResult::Script(name, health));
        self.router.handle_track(now, results);
        self.run_actions(now);
    }

    fn processes_changed(&mut self, now: Time) {
        let counts = self.processes.counts();
        let results = counts.map(|(name, _, health, _)| TrackResult::Process(name, health));
        self.router.handle_track(now, results);
        self.run_actions(now);
    }

    fn fire_timers(&mut self, now: Time) {
        if self.files_due.is_some_and(|t| t <= now) {
            self.files_due = Some(now + Duration::from_secs(1));
            self.read_files(now);
        }
        if self.notifier.next_deadline().is_some_and(|t| t <= now) {
            self.notifier.on_timer(now);
        }
        if self.scripts.next_deadline().is_some_and(|t| t <= now) && self.scripts.on_timer(now) {
            self.scripts_changed(now);
        }
        if self.processes.next_deadline().is_some_and(|t| t <= now) && self.processes.on_timer(now)
        {
            self.processes_changed(now);
        }
        if self.router.next_deadline().is_some_and(|t| t <= now) {
            self.router.handle_timeout(now);
            self.run_actions(now);
        }
    }

    fn earliest_deadline(&self) -> Option<Time> {
        crate::instance::earliest([
            self.router.next_deadline(),
            self.scripts.next_deadline(),
            self.notifier.next_deadline(),
            self.processes.next_deadline(),
            self.files_due,
        ])
    }

    /// Arms the timerfd when the earliest deadline moved earlier. A deadline that moved later
    /// (an advert reset a backup's down timer) is followed only once the armed one is within
    /// a third of the way to it: a backup re-arms about once per Master_Down_Interval, in a
    /// wake-up it has anyway, instead of on every advert or on a wake-up of its own when the
    /// stale deadline fires. Setting the timer also clears a fired one (it zeroes the count).
    fn rearm(&mut self, now: Time) {
        let want = self.earliest_deadline();
        let result = match (want, self.armed) {
            // A later deadline is followed once the armed one is a third of the way to it; both
            // may already be past when the loop was slow (saturating: no panic, no skip lost).
            (Some(t), Some(armed))
                if t >= armed && armed.saturating_sub(now) * 3 >= t.saturating_sub(now) =>
            {
                return
            }
            (Some(t), _) => {
                self.armed = Some(t);
                self.timer.set(
                    Expiration::OneShot(TimeSpec::from_duration(t.max(Duration::from_nanos(1)))),
                    TimerSetTimeFlags::TFD_TIMER_ABSTIME,
                )
            }
            (None, armed) if armed.is_some() || self.fired => {
                self.armed = None;
                self.timer.unset()
            }
            (None, _) => return,
        };
        self.fired = false;
        if let Err(e) = result {
            error!("arming the timer: {}", io::Error::from(e));
        }
    }

    /// The timer fired: it stays readable (level mode) until `rearm` sets or unsets it.
    fn consume_timer(&mut self) {
        self.fired = true;
        self.armed = None;
    }

    fn render_status(&mut self, now: Time) {
        self.status_text.clear();
        // No instance exists yet during the start-up delay.
        let started = self.router.phase() != Phase::Idle;
        let slots = self.router.slots().iter().filter(|_| started);
        let views = slots.map(|s| InstanceView {
            name: &s.cfg().name,
            interface: &s.cfg().interface,
            instance: s.instance(),
            discards: s.discards(),
            forms: s.forms(),
            vips_held: s.vips_held(),
            addresses: s.vip_addrs(),
            since_transition: s.last_transition().map(|t| now.saturating_sub(t)),
            reason: s.last_reason(),
            transitions: s.transitions(),
        });
        status::render(&mut self.status_text, views, self.router.drops());
        status::render_tracking(
            &mut self.status_text,
            self.scripts.runs(),
            self.processes.counts(),
        );
        // Headroom, so the text growing as counters gain digits does not regrow it later.
        let len = self.status_text.len();
        if self.status_text.capacity() < len + len / 2 {
            self.status_text.reserve(len);
        }
    }

    fn serve_status(&mut self, now: Time) {
        if self.status.accept(&self.poller, KEY_STATUS) {
            self.render_status(now);
            self.status.reply(&self.status_text, &self.poller);
        }
    }

    /// SIGHUP: a config with errors is refused and the running one kept; otherwise the
    /// router applies the difference (see `router/reconfig.rs`).
    fn reload(&mut self, now: Time) {
        let running = &self.router.config().instances;
        let loaded = match config::load_for_daemon(&self.opts.config_path, running) {
            Ok(loaded) => loaded,
            Err(errors) => {
                error!("reload refused, keeping the running configuration:\n{errors}");
                return;
            }
        };
        for w in &loaded.warnings {
            warn!("{w}");
        }
        if let Err(e) = self.claims.update(&loaded.config.instances) {
            error!("reload refused, keeping the running configuration: {e}");
            return;
        }
        self.apply_config(now, loaded.config);
    }

    fn apply_config(&mut self, now: Time, config: Config) {
        let sum = self.router.reload(now, config);
        self.run_actions(now);
        self.notifier.reconfigure(&self.router.config().global);
        self.ensure_metrics();
        info!(
            "reloaded {}: {} kept, {} changed in place, {} restarted, {} removed, {} added",
            self.opts.config_path.display(),
            sum.kept,
            sum.changed,
            sum.restarted,
            sum.removed,
            sum.added
        );
        if let Err(e) = self.ensure_sockets() {
            error!("after reload: {e}");
        }
        self.restart_tracking(now);
    }

    fn drain_signals(&mut self, now: Time) {
        loop {
            let info = match self.signals.read_signal() {
                Ok(Some(info)) => info,
                Ok(None) => return,
                Err(e) => {
                    warn!("reading signals: {}", io::Error::from(e));
                    return;
                }
            };
            match Signal::try_from(info.ssi_signo as i32) {
                Ok(Signal::SIGTERM | Signal::SIGINT | Signal::SIGQUIT) => {
                    info!("signal {}: stopping", info.ssi_signo);
                    self.router.begin_stop(now);
                    self.run_actions(now);
                }
                Ok(Signal::SIGHUP) if self.router.phase() != Phase::Running => {
                    info!("SIGHUP while stopping: ignored")
                }
                Ok(Signal::SIGHUP) => self.reload(now),
                Ok(Signal::SIGUSR1) => {
                    self.render_status(now);
                    for line in self.status_text.lines() {
                        info!("status: {line}");
                    }
                }
                Ok(Signal::SIGCHLD) => {
                    self.notifier.reap(now);
                    if self.scripts.reap() {
                        self.scripts_changed(now);
                    }
                }
                Ok(Signal::SIGUSR2) => {
                    self.render_status(now);
                    status::log_totals(&self.status_text);
                }
                _ => debug!("signal {} ignored", info.ssi_signo),
            }
        }
    }

    /// keepalived's `vrrp_startup_delay` (for boxes whose links come up late): no instance
    /// and no VRRP socket exists until it has passed, so nothing is sent, heard or queued;
    /// a stop signal and status requests are served meanwhile. True when asked to stop.
    fn wait_startup_delay(&mut self) -> Result<bool, DaemonError> {
        let cs = u64::from(self.router.config().global.vrrp_startup_delay_cs);
        let end = monotonic_now() + Duration::from_millis(cs * 10);
        if cs > 0 {
            info!("delaying start-up by {} s", Secs(end - monotonic_now(), 2));
        }
        loop {
            let now = monotonic_now();
            let left = end.saturating_sub(now);
            if left.is_zero() {
                return Ok(false);
            }
            match self.wait.wait(&self.poller, Some(left)) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(setup("poll")(e)),
                Ok(_) => {}
            }
            let ready = self.dispatch();
            if ready[KEY_NETLINK] {
                self.drain_netlink(now);
            }
            if ready[KEY_STATUS] {
                self.serve_status(now);
            }
            if ready[KEY_SIGNAL] && self.drain_signals_delayed() {
                return Ok(true);
            }
        }
    }

    /// Signals during the start-up delay: only a stop means anything yet.
    fn drain_signals_delayed(&mut self) -> bool {
        while let Ok(Some(info)) = self.signals.read_signal() {
            match Signal::try_from(info.ssi_signo as i32) {
                Ok(Signal::SIGTERM | Signal::SIGINT | Signal::SIGQUIT) => {
                    info!(
                        "signal {}: stopping during the start-up delay",
                        info.ssi_signo
                    );
                    return true;
                }
                Ok(Signal::SIGHUP) => info!("SIGHUP during the start-up delay: ignored"),
                _ => {}
            }
        }
        false
    }

    fn start(&mut self, now: Time) -> Result<(), DaemonError> {
        self.resync_links(now);
        self.ensure_sockets()?;
        self.restart_tracking(now);
        self.router.start(now);
        self.run_actions(now);
        info!(
            "tinyvrrp {} running {} instance(s) from {}",
            env!("CARGO_PKG_VERSION"),
            self.router.slots().len(),
            self.opts.config_path.display()
        );
        Ok(())
    }

    /// The keys the last wait found ready: the status server's, the metrics endpoint's and
    /// notify output's are served here (no notify script runs during the start-up delay), the
    /// fixed ones come back as flags for the caller.
    fn dispatch(&mut self) -> [bool; 7] {
        let (mut ready, mut metrics) = ([false; 7], 0);
        for key in self.wait.keys() {
            if let Some(flag) = ready.get_mut(key) {
                *flag = true;
            } else if !self.status.on_event(key, &self.poller)
                && !self::metrics::mark(&mut metrics, key)
                && key >= notify::OUTPUT_KEY_BASE
            {
                self.notifier.on_output(key);
            }
        }
        self.metrics_events(metrics);
        ready
    }

    /// One pass of the loop over what was ready.
    fn pass(&mut self, ready: &[bool; 7], now: Time) {
        if ready[KEY_NETLINK] {
            self.drain_netlink(now);
        }
        for (key, family) in [(KEY_SOCK4, Family::V4), (KEY_SOCK6, Family::V6)] {
            if ready[key] {
                self.adverts.drain(family, now, &mut self.router);
                self.run_actions(now);
            }
        }
        if ready[KEY_PROC_EVENTS] && self.processes.on_readable(now) {
            self.processes_changed(now);
        }
        if ready[KEY_TIMER] {
            self.consume_timer();
            self.fire_timers(now);
        }
        if ready[KEY_SIGNAL] {
            self.drain_signals(now);
        }
        if ready[KEY_STATUS] {
            self.serve_status(now);
        }
    }

    pub fn run(mut self) -> Result<(), DaemonError> {
        if self.wait_startup_delay()? {
            return Ok(());
        }
        self.start(monotonic_now())?;
        loop {
            let now = monotonic_now();
            self.run_actions(now);
            let drops = self.router.drops_mut();
            self.adverts.flush(drops);
            if self.router.phase() == Phase::Stopped {
                self.addrs.vmacs.remove_all(&mut self.addrs.nl);
                return Ok(());
            }
            self.rearm(now);
            if let Err(e) = self.wait.wait(&self.poller, None) {
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(setup("poll")(e));
            }
            let ready = self.dispatch();
            self.pass(&ready, monotonic_now());
        }
    }
}
