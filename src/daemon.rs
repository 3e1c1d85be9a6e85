//! The poll loop: one thread, one `polling::Poller` over the raw VRRP sockets, one timerfd
//! armed to the earliest instance deadline, the rtnetlink monitor, a signalfd and the status
//! socket. It turns readiness into state-machine events and the machine's actions into
//! syscalls; no protocol decision is made here.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use log::{debug, error, info, warn};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use polling::{Event as PollEvent, Events, PollMode, Poller};

use crate::arp::{self, FrameSender};
use crate::config::{self, Config, InstanceConfig};
use crate::instance::{
    Action, Event, GarpSchedule, Instance, Params, Reason, RxAdvert, State, Time,
};
use crate::links::{Links, Usable};
use crate::netlink::{Monitor, NetEvent, Netlink, NetlinkError};
use crate::notify::{self, Notifier};
use crate::packet::{self, AdvertFields, ChecksumForm, Family, Version};
use crate::reload::{self, Change};
use crate::routes;
use crate::sock::{PushError, RecvBatch, SendBatch, VrrpSocket};
use crate::status::{self, Counters, InstanceView, PeerForms, StatusServer};
use crate::timestamp::Secs;
use crate::track::{self, ProcessTracker, ScriptRunner};
use crate::vmac::{self, Vmacs};

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

/// One configured instance and what the shell keeps beside its state machine.
struct Slot {
    cfg: InstanceConfig,
    inst: Instance,
    /// The VIP addresses, in order, as they go into adverts.
    vip_addrs: Vec<IpAddr>,
    usable: Option<Usable>,
    vips_held: bool,
    discards: Counters,
    forms: PeerForms,
    last_transition: Option<Time>,
    /// A tracked script or interface puts the instance in FAULT.
    tracked_fault: bool,
    /// The index of its vrrp_sync_group in the config.
    group: Option<usize>,
}

impl Slot {
    fn new(cfg: InstanceConfig, global: &Config) -> Self {
        let mut inst = Instance::new(params_of(&cfg, global));
        crate::resilience::configure(&mut inst, &cfg, global);
        Slot {
            vip_addrs: cfg.vips.iter().map(|v| v.addr).collect(),
            inst,
            cfg,
            usable: None,
            vips_held: false,
            discards: Counters::default(),
            forms: PeerForms::default(),
            last_transition: None,
            tracked_fault: false,
            group: None,
        }
    }

    fn family(&self) -> Family {
        self.cfg.family
    }

    fn is_unicast(&self) -> bool {
        !self.cfg.unicast_peers.is_empty()
    }
}

fn params_of(cfg: &InstanceConfig, _global: &Config) -> Params {
    let unspecified = match cfg.family {
        Family::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    Params {
        vrid: cfg.vrid,
        version: cfg.version,
        priority: cfg.priority,
        advert_int_cs: cfg.advert_int_cs,
        preempt: cfg.preempt,
        preempt_delay: Duration::from_millis(u64::from(cfg.preempt_delay_cs) * 10),
        primary_ip: cfg.unicast_src_ip.unwrap_or(unspecified),
        auth: cfg.auth,
        garp: GarpSchedule {
            repeat: cfg.garp_master_repeat,
            delay: Duration::from_secs(u64::from(cfg.garp_master_delay_s)),
            refresh: Duration::from_secs(u64::from(cfg.garp_master_refresh_s)),
            refresh_repeat: cfg.garp_master_refresh_repeat,
        },
    }
}

pub struct Daemon {
    opts: Options,
    config: Config,
    poller: Arc<Poller>,
    events: Events,
    timer: TimerFd,
    /// The deadline the timerfd is armed for; it may be earlier than the earliest instance
    /// deadline (re-armed lazily when it fires), never later.
    armed: Option<Time>,
    signals: SignalFd,
    nl: Netlink,
    monitor: Monitor,
    net_events: Vec<NetEvent>,
    links: Links,
    frames: FrameSender,
    sock4: Option<VrrpSocket>,
    sock6: Option<VrrpSocket>,
    joined: Vec<(Family, u32)>,
    recv: RecvBatch,
    send4: SendBatch,
    send6: SendBatch,
    slots: Vec<Slot>,
    actions: Vec<Action>,
    drops: Counters,
    status: StatusServer,
    status_text: String,
    notifier: Notifier,
    stopping: bool,
    vmacs: Vmacs,
    scripts: ScriptRunner,
    processes: ProcessTracker,
    /// The process events socket registered with the poller, if any.
    proc_fd: Option<i32>,
    /// track_file: files are re-read once a second, on the daemon's timer.
    files_due: Option<Time>,
    /// The state each sync group's notify scripts were last run for, by group name.
    group_states: Vec<(String, State)>,
}

fn describe(reason: &Reason, now: Time) -> String {
    let ago = |t: Time| Secs(now.saturating_sub(t), 2);
    match reason {
        Reason::Startup => "start-up".into(),
        Reason::AddressOwner => "address owner (priority 255)".into(),
        Reason::MasterDown {
            last: Some((ip, t)),
        } => format!(
            "master down timer expired (last advert from {ip} {} s ago)",
            ago(*t)
        ),
        Reason::MasterDown { last: None } => "master down timer expired (no advert heard)".into(),
        Reason::MasterLeft { from } => format!("{from} left (priority 0), skew time passed"),
        Reason::Preempt { from, priority } => {
            format!("preempting lower-priority master {from} (priority {priority})")
        }
        Reason::HigherPriority { from, priority } => {
            format!("higher-priority advert from {from} (priority {priority})")
        }
        Reason::EqualPriorityHigherAddress { from } => {
            format!("equal-priority advert from higher address {from}")
        }
        Reason::LinkDown => "interface unusable (down, missing or without address)".into(),
        Reason::LinkUp => "interface usable again".into(),
        Reason::Shutdown => "shutting down".into(),
        Reason::HandedOver { to: Some(ip) } => format!("stopped: new master {ip} heard"),
        Reason::HandedOver { to: None } => "stopped: no new master heard within the bound".into(),
        Reason::SyncGroup => {
            "another member of its sync group is backup to a higher-priority master".into()
        }
    }
}

fn group_of(family: Family) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(packet::VRRP_GROUP_V4),
        Family::V6 => IpAddr::V6(packet::VRRP_GROUP_V6),
    }
}

impl Daemon {
    pub fn new(opts: Options) -> Result<Self, DaemonError> {
        let loaded = config::load(&opts.config_path).map_err(DaemonError::Config)?;
        for w in &loaded.warnings {
            warn!("{w}");
        }
        let config = loaded.config;

        let mut mask = SigSet::empty();
        for s in [
            Signal::SIGTERM,
            Signal::SIGINT,
            Signal::SIGHUP,
            Signal::SIGUSR1,
            Signal::SIGCHLD,
        ] {
            mask.add(s);
        }
        mask.thread_block()
            .map_err(io::Error::from)
            .map_err(setup("blocking signals"))?;
        let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .map_err(io::Error::from)
            .map_err(setup("signalfd"))?;
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
            .with_fifos(fifos);
        let mut daemon = Daemon {
            opts,
            config,
            poller,
            events: Events::new(),
            timer,
            armed: None,
            signals,
            nl,
            monitor,
            net_events: Vec::with_capacity(64),
            links: Links::default(),
            frames,
            sock4: None,
            sock6: None,
            joined: Vec::new(),
            recv: RecvBatch::new(BATCH),
            send4: SendBatch::new(BATCH),
            send6: SendBatch::new(BATCH),
            slots: Vec::new(),
            actions: Vec::with_capacity(32),
            drops: Counters::default(),
            status,
            status_text: String::with_capacity(4096),
            notifier,
            stopping: false,
            vmacs: Vmacs::default(),
            scripts: ScriptRunner::default(),
            processes: ProcessTracker::default(),
            proc_fd: None,
            group_states: Vec::new(),
            files_due: None,
        };
        daemon.register()?;
        Ok(daemon)
    }

    fn register(&mut self) -> Result<(), DaemonError> {
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

    /// Opens the VRRP socket of a family the first time an instance needs it.
    fn ensure_socket(&mut self, family: Family) -> Result<(), DaemonError> {
        let (slot, key) = match family {
            Family::V4 => (&mut self.sock4, KEY_SOCK4),
            Family::V6 => (&mut self.sock6, KEY_SOCK6),
        };
        if slot.is_none() {
            let sock = VrrpSocket::open(family).map_err(setup("raw VRRP socket"))?;
            // SAFETY: as in `register`.
            unsafe {
                self.poller.add_with_mode(
                    sock.fd().as_raw_fd(),
                    PollEvent::readable(key),
                    PollMode::Level,
                )
            }
            .map_err(setup("poller registration"))?;
            *slot = Some(sock);
        }
        Ok(())
    }

    fn resync_links(&mut self) {
        self.links.clear();
        let links = &mut self.links;
        if let Err(e) = self.nl.links(|l| links.apply(&NetEvent::LinkChanged(*l))) {
            error!("reading links: {e}");
        }
        if let Err(e) = self.nl.addresses(|a| links.apply(&NetEvent::AddrAdded(*a))) {
            error!("reading addresses: {e}");
        }
    }

    /// Builds the instance table from the config and starts what can start.
    fn start_instances(&mut self, now: Time) -> Result<(), DaemonError> {
        let instances = self.config.instances.clone();
        self.slots = instances
            .into_iter()
            .map(|cfg| Slot::new(cfg, &self.config))
            .collect();
        for family in [Family::V4, Family::V6] {
            if self.slots.iter().any(|s| s.family() == family) {
                self.ensure_socket(family)?;
            }
        }
        self.restart_scripts(now);
        // At start only (not on reload, where another instance may be master with the same
        // route): routes, rules and excluded VIPs left by a crash.
        for idx in 0..self.slots.len() {
            self.follow_master(idx, false, true);
        }
        self.remove_leftover_vips();
        for slot in self.slots.iter().filter(|s| s.cfg.use_vmac) {
            let custom = slot.cfg.vmac_name.as_deref();
            let removed = vmac::ifname_for(slot.cfg.vrid, slot.family(), custom)
                .map_err(vmac::VmacError::from)
                .and_then(|name| vmac::remove_by_name(&mut self.nl, name.as_str()));
            if let Err(e) = removed {
                warn!("{}: removing a leftover VMAC: {e}", slot.cfg.name);
            }
        }
        self.apply_tracking(now);
        self.announce_sync_groups(now);
        self.reevaluate(now);
        Ok(())
    }

    /// keepalived announces every sync group at start, before its members: FAULT when a
    /// member cannot run, else BACKUP (nothing when every member is an address owner).
    fn announce_sync_groups(&mut self, now: Time) {
        for gi in 0..self.config.sync_groups.len() {
            let members = || self.slots.iter().filter(move |s| s.group == Some(gi));
            if members().all(|s| s.cfg.priority == 255) {
                continue;
            }
            let fault = members().any(|s| s.tracked_fault || self.link_usable(s).is_none());
            let state = if fault { State::Fault } else { State::Backup };
            let group = &self.config.sync_groups[gi];
            info!("sync group {}: {state}", group.name);
            self.group_states.push((group.name.clone(), state));
            self.notifier.group_transition(group, state, now);
        }
    }

    /// A VIP still configured after a crash would answer ARP from a node that is not master:
    /// remove ours before anything starts (the master will add them back).
    fn remove_leftover_vips(&mut self) {
        for idx in 0..self.slots.len() {
            if self.slots[idx].inst.state() == State::Init {
                self.follow_master(idx, false, true);
            }
        }
        for slot in self.slots.iter().filter(|s| s.inst.state() == State::Init) {
            for vip in &slot.cfg.vips {
                let dev = vip.dev.as_deref().unwrap_or(&slot.cfg.interface);
                let Some(link) = self.links.by_name(dev) else {
                    continue;
                };
                if self.links.has_addr(link.index, vip.addr) {
                    info!(
                        "{}: removing leftover VIP {} from {dev}",
                        slot.cfg.name, vip.addr
                    );
                    if let Err(e) = self.nl.del_address(link.index, vip.addr, vip.prefix_len) {
                        warn!("{}: removing {}: {e}", slot.cfg.name, vip.addr);
                    }
                }
            }
        }
    }

    fn is_vip(&self, addr: IpAddr) -> bool {
        self.slots.iter().any(|s| {
            s.vip_addrs.contains(&addr) || s.cfg.vips_excluded.iter().any(|v| v.addr == addr)
        })
    }

    fn restart_scripts(&mut self, now: Time) {
        for slot in &mut self.slots {
            slot.group = self
                .config
                .sync_groups
                .iter()
                .position(|g| g.instances.contains(&slot.cfg.name));
        }
        let groups = &self.config.sync_groups;
        self.group_states
            .retain(|(name, _)| groups.iter().any(|g| &g.name == name));
        let any_file = self.slots.iter().any(|s| !s.cfg.track_files.is_empty());
        self.files_due = any_file.then(|| now + Duration::from_secs(1));
        let previous = std::mem::take(&mut self.scripts);
        self.scripts = ScriptRunner::new(
            &self.config.scripts,
            self.config.global.script_user.as_deref(),
            self.config.global.enable_script_security,
            Some(previous),
            now,
        );
        let previous = std::mem::take(&mut self.processes);
        self.processes = ProcessTracker::new(&self.config.track_processes, Some(previous), now);
        let fd = self.processes.fd();
        if fd != self.proc_fd {
            if let Some(old) = self.proc_fd.take() {
                // SAFETY: a closed fd has left the epoll set by itself; an open one is ours.
                let _ = self.poller.delete(unsafe { BorrowedFd::borrow_raw(old) });
            }
            if let Some(new) = fd {
                // SAFETY: the socket is owned by self.processes and deleted here before it
                // is replaced or dropped with the daemon.
                let added = unsafe {
                    self.poller.add_with_mode(
                        new,
                        PollEvent::readable(KEY_PROC_EVENTS),
                        PollMode::Level,
                    )
                };
                match added {
                    Ok(()) => self.proc_fd = Some(new),
                    Err(e) => warn!("polling process events: {e}"),
                }
            }
        }
    }

    /// Tracking, then interfaces: what changes an instance's priority or usability.
    fn refresh(&mut self, now: Time) {
        self.apply_tracking(now);
        self.reevaluate(now);
    }

    /// The instance's interface and source address, when usable (not counting tracking).
    fn link_usable(&self, slot: &Slot) -> Option<Usable> {
        let ipv6 = slot.family() == Family::V6;
        let cfg = &slot.cfg;
        let ignore_down = cfg.dont_track_primary;
        self.links
            .usable(&cfg.interface, ipv6, cfg.unicast_src_ip, ignore_down, |a| {
                self.is_vip(a)
            })
    }

    /// Recomputes every instance's effective priority and tracked FAULT from its scripts and
    /// tracked interfaces (keepalived's weights) and its sync group (a fault of one member
    /// holds every member in FAULT), and tells the instances what changed.
    fn apply_tracking(&mut self, now: Time) {
        let mut tracking = Vec::with_capacity(self.slots.len());
        let mut own = Vec::with_capacity(self.slots.len());
        let mut priorities = Vec::with_capacity(self.slots.len());
        for slot in &self.slots {
            let effects = || {
                let scripts = slot.cfg.track_scripts.iter().map(|t| {
                    let weight = t.weight.unwrap_or_else(|| {
                        self.config
                            .scripts
                            .iter()
                            .find(|s| s.name == t.name)
                            .map_or(0, |s| s.weight)
                    });
                    track::script_effect(self.scripts.health(&t.name), weight)
                });
                let interfaces = slot.cfg.track_interfaces.iter().map(|t| {
                    let up = self.links.by_name(&t.name).is_some_and(|l| l.up);
                    track::interface_effect(up, t.weight)
                });
                let processes = slot.cfg.track_processes.iter().map(|t| {
                    let weight = t.weight.unwrap_or_else(|| {
                        self.config
                            .track_processes
                            .iter()
                            .find(|p| p.name == t.name)
                            .map_or(0, |p| p.weight)
                    });
                    track::script_effect(self.processes.health(&t.name), weight)
                });
                let files = slot.cfg.track_files.iter().map(|t| {
                    let file = self.config.track_files.iter().find(|f| f.name == t.name);
                    let weight = t.weight.or(file.map(|f| f.weight)).unwrap_or(1);
                    let value = file.map_or(0, |f| track::read_file_value(&f.file));
                    track::file_effect(value, weight)
                });
                scripts.chain(interfaces).chain(files).chain(processes)
            };
            let tracked = track::any_fault(effects());
            tracking.push(tracked);
            own.push(tracked || self.link_usable(slot).is_none());
            priorities.push(track::effective_priority(
                slot.inst.params().priority,
                effects(),
            ));
        }
        let groups: Vec<Option<usize>> = self
            .slots
            .iter()
            .map(|s| {
                self.config
                    .sync_groups
                    .iter()
                    .position(|g| g.instances.contains(&s.cfg.name))
            })
            .collect();
        let held = track::held_by_group(&own, &groups);
        for idx in 0..self.slots.len() {
            // The instance's own link being down is seen by `reevaluate` directly.
            let fault = tracking[idx] || held[idx];
            let slot = &self.slots[idx];
            if fault != slot.tracked_fault {
                info!(
                    "{}: {}",
                    slot.cfg.name,
                    if fault {
                        "a tracked script or interface, or its sync group, is failing: FAULT"
                    } else {
                        "tracked scripts, interfaces and sync group are good again"
                    }
                );
            }
            let old_priority = slot.inst.effective_priority();
            self.slots[idx].tracked_fault = fault;
            if priorities[idx] != old_priority {
                info!(
                    "{}: effective priority {old_priority} -> {}",
                    self.slots[idx].cfg.name, priorities[idx]
                );
                self.handle(idx, now, Event::PriorityChanged(priorities[idx]));
            }
        }
    }

    /// vrrp_sync_group: a member that is backup to a master outranking it holds the other
    /// members back (a master steps down, a backup does not take over), so a group's VIPs
    /// stay on one node; then the group's notify scripts run when all members agree on a
    /// state. Called once per pass of the poll loop; no allocation.
    fn apply_sync_groups(&mut self, now: Time) {
        if self.config.sync_groups.is_empty() {
            return;
        }
        for idx in 0..self.slots.len() {
            let Some(group) = self.slots[idx].group else {
                continue;
            };
            let hold = self
                .slots
                .iter()
                .enumerate()
                .any(|(j, s)| j != idx && s.group == Some(group) && s.inst.outranked());
            if hold != self.slots[idx].inst.held() {
                let name = &self.slots[idx].cfg.name;
                if hold {
                    info!("{name}: held as backup by its sync group");
                } else {
                    info!("{name}: released by its sync group");
                }
                self.handle(idx, now, Event::GroupHold(hold));
            }
        }
        for gi in 0..self.config.sync_groups.len() {
            let mut members = self.slots.iter().filter(|s| s.group == Some(gi));
            let Some(first) = members.next().map(|s| s.inst.state()) else {
                continue;
            };
            if !members.all(|s| s.inst.state() == first) {
                continue;
            }
            let group = &self.config.sync_groups[gi];
            let known = self.group_states.iter().position(|(n, _)| *n == group.name);
            match known {
                Some(i) if self.group_states[i].1 == first => continue,
                Some(i) => self.group_states[i].1 = first,
                // Nothing to say before the group has left Init.
                None if first == State::Init => continue,
                None => self.group_states.push((group.name.clone(), first)),
            }
            info!("sync group {}: {first}", group.name);
            self.notifier.group_transition(group, first, now);
        }
    }

    /// Re-checks every instance's interface and feeds link up/down to those that changed.
    fn reevaluate(&mut self, now: Time) {
        for idx in 0..self.slots.len() {
            let slot = &self.slots[idx];
            let ipv6 = slot.family() == Family::V6;
            let usable = if slot.tracked_fault {
                None
            } else {
                self.link_usable(slot)
            };
            let old = slot.usable;
            let state = slot.inst.state();
            let event = match (old, usable) {
                (_, Some(u)) if state == State::Init && !self.stopping => {
                    self.bring_up(idx, u);
                    Some(Event::Startup)
                }
                (None, Some(u)) => {
                    self.bring_up(idx, u);
                    Some(Event::LinkUp)
                }
                (Some(o), Some(u)) if o.ifindex != u.ifindex => {
                    // The interface was re-created: start again on the new one.
                    self.handle(idx, now, Event::LinkDown);
                    self.slots[idx].usable = None;
                    self.bring_up(idx, u);
                    Some(Event::LinkUp)
                }
                (Some(o), Some(u)) => {
                    if o != u {
                        self.slots[idx].usable = Some(u);
                        self.slots[idx].inst.set_primary_ip(u.source);
                    }
                    None
                }
                (Some(_), None) => {
                    // A master that gives up because of tracking still has a working link:
                    // it says so with a priority-0 advert (as keepalived does) so a backup
                    // takes over after Skew_Time, not Master_Down_Interval.
                    if self.slots[idx].tracked_fault && state == State::Master {
                        self.queue_advert(idx, crate::instance::PRIORITY_LEAVING);
                    }
                    // The VIPs come off the interface we knew; IPv4 addresses stay on a
                    // link that went down, so they must be removed before we forget it.
                    self.handle(idx, now, Event::LinkDown);
                    self.slots[idx].usable = None;
                    None
                }
                (None, None) if state == State::Init && !self.stopping => {
                    warn!(
                        "{}: interface {} is missing, down or has no {} address yet; FAULT until it is usable",
                        self.slots[idx].cfg.name,
                        self.slots[idx].cfg.interface,
                        if ipv6 { "link-local IPv6" } else { "IPv4" }
                    );
                    Some(Event::LinkDown)
                }
                (None, None) => None,
            };
            if let Some(ev) = event {
                self.handle(idx, now, ev);
            }
        }
    }

    fn bring_up(&mut self, idx: usize, u: Usable) {
        let slot = &mut self.slots[idx];
        slot.usable = Some(u);
        slot.inst.set_primary_ip(u.source);
        let family = slot.family();
        if slot.is_unicast() || self.joined.contains(&(family, u.ifindex)) {
            return;
        }
        let sock = match family {
            Family::V4 => self.sock4.as_ref(),
            Family::V6 => self.sock6.as_ref(),
        };
        if let Some(sock) = sock {
            match sock.join(u.ifindex) {
                Ok(()) => self.joined.push((family, u.ifindex)),
                Err(e) => warn!("joining the VRRP group on ifindex {}: {e}", u.ifindex),
            }
        }
    }

    /// Feeds one event to one instance and carries out what it asks for.
    fn handle(&mut self, idx: usize, now: Time, event: Event) {
        let mut actions = std::mem::take(&mut self.actions);
        actions.clear();
        if let Err(d) = self.slots[idx].inst.handle(now, event, &mut actions) {
            self.slots[idx].discards.bump(d.counter_name());
            crate::resilience::log_discard(&self.slots[idx].cfg.name, d, &event, now);
        }
        for action in &actions {
            self.execute(idx, now, action);
        }
        actions.clear();
        self.actions = actions;
    }

    fn execute(&mut self, idx: usize, now: Time, action: &Action) {
        match *action {
            Action::SendAdvert { priority } => self.queue_advert(idx, priority),
            Action::AddVips => {
                self.set_vips(idx, true);
                self.follow_master(idx, true, false);
            }
            Action::RemoveVips => {
                self.follow_master(idx, false, false);
                self.set_vips(idx, false);
            }
            Action::SendGarp { count } => self.send_garps(idx, count),
            Action::MasterRxLowerPri => {
                let slot = &self.slots[idx];
                let priority = slot.inst.effective_priority();
                self.notifier.master_rx_lower_pri(&slot.cfg.name, priority);
            }
            Action::Transition {
                from, to, reason, ..
            } => {
                let slot = &mut self.slots[idx];
                slot.last_transition = Some(now);
                info!(
                    "{} {from} -> {to}: {}",
                    slot.cfg.name,
                    describe(&reason, now)
                );
                self.notifier
                    .transition(&slot.cfg, to, slot.inst.effective_priority(), now);
            }
        }
    }

    fn queue_advert(&mut self, idx: usize, priority: u8) {
        let slot = &self.slots[idx];
        let Some(u) = slot.usable else {
            return;
        };
        let p = slot.inst.params();
        let fields = AdvertFields {
            version: p.version,
            vrid: p.vrid,
            priority,
            adver_int_cs: p.advert_int_cs,
            auth_type: u8::from(p.auth.is_some()),
            auth_data: p.auth.unwrap_or([0; 8]),
        };
        let form = if slot.cfg.v3_checksum_as_v2 && slot.family() == Family::V4 {
            ChecksumForm::MessageOnly
        } else {
            ChecksumForm::PseudoHeader
        };
        let (sock, batch) = match slot.family() {
            Family::V4 => (self.sock4.as_ref(), &mut self.send4),
            Family::V6 => (self.sock6.as_ref(), &mut self.send6),
        };
        let group = [group_of(slot.family())];
        let (dsts, ifindex) = if slot.is_unicast() {
            // Routed peers: let the routing table pick the interface.
            (slot.cfg.unicast_peers.as_slice(), 0)
        } else {
            // IPv4 adverts leave from the virtual MAC (RFC 5798 §7.3) through the VMAC; IPv6
            // ones, and IPv4 ones with keepalived's vmac_xmit_base, from the parent (see
            // vmac.rs). Either way the source address is the parent's.
            let vmac = match slot.family() {
                Family::V4 if slot.cfg.use_vmac && !slot.cfg.vmac_xmit_base => {
                    self.vmacs.get(slot.cfg.vrid, slot.family()).map(|v| v.0)
                }
                _ => None,
            };
            (&group[..], vmac.unwrap_or(u.ifindex))
        };
        for &dst in dsts {
            // One (Copy) closure for both pushes: one copy of `push` in the binary.
            let fill = |buf: &mut [u8]| {
                packet::emit(&fields, &slot.vip_addrs, u.source, dst, form, buf).ok()
            };
            let queued = match batch.push(ifindex, u.source, dst, fill) {
                Ok(i) => Some(i),
                Err(PushError::Full) => {
                    // A round bigger than the batch: send what is queued and queue again.
                    if let Some(sock) = sock {
                        if let Err(e) = batch.send(sock) {
                            warn!("sending adverts: {e}");
                        }
                    }
                    batch.clear();
                    let again = batch.push(ifindex, u.source, dst, fill).ok();
                    if again.is_none() {
                        self.drops.bump("tx_queue_failed");
                    }
                    again
                }
                Err(e) => {
                    warn!("{}: queueing an advert to {dst}: {e}", slot.cfg.name);
                    self.drops.bump("tx_queue_failed");
                    None
                }
            };
            // keepalived's unicast_ttl: the TTL unicast adverts leave with (multicast ones
            // always leave with 255, RFC 5798 §5.1.1.3).
            if let (Some(i), Some(ttl)) =
                (queued, slot.cfg.unicast_ttl.filter(|_| slot.is_unicast()))
            {
                if let Err(e) = batch.set_hop_limit(i, ttl) {
                    warn!("{}: setting the TTL of an advert: {e}", slot.cfg.name);
                }
            }
        }
    }

    fn flush_adverts(&mut self) {
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
                            self.drops.bump("tx_failed");
                        }
                    }
                    Err(e) => {
                        warn!("sending adverts: {e}");
                        self.drops.bump("tx_failed");
                    }
                }
            }
            batch.clear();
        }
    }

    fn vip_ifindex(&self, slot: &Slot, dev: Option<&str>) -> Option<u32> {
        match dev {
            Some(name) => self.links.by_name(name).map(|l| l.index),
            None => match self.slot_vmac(slot) {
                Some((ifindex, _)) => Some(ifindex),
                None => slot.usable.map(|u| u.ifindex),
            },
        }
    }

    /// The slot's VMAC (ifindex, MAC) while it exists (`use_vmac` and master).
    fn slot_vmac(&self, slot: &Slot) -> Option<(u32, [u8; 6])> {
        if !slot.cfg.use_vmac {
            return None;
        }
        self.vmacs.get(slot.cfg.vrid, slot.family())
    }

    /// `use_vmac`: the macvlan comes with the VIPs and goes with them.
    fn vmac_hook(&mut self, idx: usize, add: bool) {
        let slot = &self.slots[idx];
        if !slot.cfg.use_vmac {
            return;
        }
        let (vrid, family, name) = (slot.cfg.vrid, slot.family(), slot.cfg.name.clone());
        let result = if add {
            let Some(u) = slot.usable else { return };
            let parent = slot.cfg.interface.clone();
            let custom = slot.cfg.vmac_name.clone();
            self.vmacs
                .up(
                    &mut self.nl,
                    (u.ifindex, &parent),
                    vrid,
                    family,
                    custom.as_deref(),
                )
                .map(|_| self.on_vmac_membership(idx, true))
        } else {
            self.on_vmac_membership(idx, false);
            self.vmacs.down(&mut self.nl, vrid, family)
        };
        if let Err(e) = result {
            error!(
                "{name}: {} the VMAC: {e}",
                if add { "creating" } else { "removing" }
            );
        }
    }

    /// Another master's adverts leave from the virtual MAC, which our macvlan has too: the
    /// kernel hands such multicast frames to the macvlan, not to the parent. Listen there as
    /// well while it exists, or a split brain with `use_vmac` never ends (found by
    /// tests/netns_chaos.rs). Left before the macvlan goes: a socket's memberships outlive
    /// their interface and count against igmp_max_memberships (20).
    fn on_vmac_membership(&self, idx: usize, join: bool) {
        let slot = &self.slots[idx];
        let sock = match slot.family() {
            Family::V4 => self.sock4.as_ref(),
            Family::V6 => self.sock6.as_ref(),
        };
        let vmac = self.slot_vmac(slot).map(|v| v.0);
        let (false, Some(sock), Some(vmac)) = (slot.is_unicast(), sock, vmac) else {
            return;
        };
        let result = if join {
            sock.join(vmac)
        } else {
            sock.leave(vmac)
        };
        if let Err(e) = result {
            warn!("{}: adverts on the VMAC: {e}", slot.cfg.name);
        }
    }

    fn set_vips(&mut self, idx: usize, add: bool) {
        if add {
            self.vmac_hook(idx, true);
        }
        let slot = &self.slots[idx];
        for vip in &slot.cfg.vips {
            let Some(ifindex) = self.vip_ifindex(slot, vip.dev.as_deref()) else {
                if add {
                    warn!("{}: no interface for VIP {}", slot.cfg.name, vip.addr);
                }
                continue;
            };
            let result = if add {
                let nodad = vip.addr.is_ipv6();
                self.nl.add_address(
                    ifindex,
                    vip.addr,
                    vip.prefix_len,
                    vip.label.as_deref(),
                    nodad,
                )
            } else {
                self.nl.del_address(ifindex, vip.addr, vip.prefix_len)
            };
            match result {
                Ok(()) => {}
                Err(NetlinkError::Nack { errno, .. })
                    if (add && errno == libc::EEXIST) || (!add && errno == libc::EADDRNOTAVAIL) => {
                }
                Err(e) => error!(
                    "{}: {} VIP {}/{}: {e}",
                    slot.cfg.name,
                    if add { "adding" } else { "removing" },
                    vip.addr,
                    vip.prefix_len
                ),
            }
        }
        self.slots[idx].vips_held = add;
        if !add {
            self.vmac_hook(idx, false);
        }
    }

    /// Excluded VIPs, virtual routes and rules (see `routes`); `quiet` for leftovers.
    fn follow_master(&mut self, idx: usize, add: bool, quiet: bool) {
        let slot = &self.slots[idx];
        let default_ifindex = self
            .vip_ifindex(slot, None)
            .or_else(|| self.links.by_name(&slot.cfg.interface).map(|l| l.index));
        let failures = routes::follow(
            &mut self.nl,
            &self.links,
            &slot.cfg,
            default_ifindex,
            add,
            quiet,
        );
        for _ in 0..failures {
            self.drops.bump("route_rule_failed");
        }
    }

    /// Reload: a master swaps the routes, rules and excluded VIPs that changed.
    fn change_followers(&mut self, idx: usize, old: &InstanceConfig) {
        let slot = &self.slots[idx];
        if slot.inst.state() != State::Master || !slot.vips_held {
            return;
        }
        let default_ifindex = self.vip_ifindex(slot, None);
        let failures =
            routes::follow_change(&mut self.nl, &self.links, old, &slot.cfg, default_ifindex);
        for _ in 0..failures {
            self.drops.bump("route_rule_failed");
        }
        self.send_garps(idx, 1);
    }

    fn send_garps(&mut self, idx: usize, count: u32) {
        let slot = &self.slots[idx];
        // keepalived announces the excluded addresses too.
        for vip in slot.cfg.vips.iter().chain(&slot.cfg.vips_excluded) {
            let Some(ifindex) = self.vip_ifindex(slot, vip.dev.as_deref()) else {
                continue;
            };
            // A VMAC just created may not have reached `links` through the monitor yet.
            let (mac, name) = match (self.slot_vmac(slot), self.links.by_index(ifindex)) {
                (Some((vi, vmac)), link) if vi == ifindex => (
                    vmac,
                    link.map(|l| l.name).or_else(|| self.parent_name(slot)),
                ),
                (_, Some(link)) => (link.mac, Some(link.name)),
                (_, None) => continue,
            };
            let router =
                vip.addr.is_ipv6() && name.is_some_and(|n| arp::ipv6_forwarding(n.as_str()));
            for _ in 0..count {
                let result = match vip.addr {
                    IpAddr::V4(ip) => {
                        let mut frame = [0u8; arp::GARP_FRAME_LEN];
                        arp::build_garp(&mut frame, mac, ip);
                        self.frames.send(ifindex, &frame)
                    }
                    IpAddr::V6(ip) => {
                        let mut frame = [0u8; arp::UNA_FRAME_LEN];
                        arp::build_unsolicited_na(&mut frame, mac, ip, router);
                        self.frames.send(ifindex, &frame)
                    }
                };
                if let Err(e) = result {
                    debug!(
                        "{}: gratuitous announcement for {}: {e}",
                        slot.cfg.name, vip.addr
                    );
                    self.drops.bump("tx_garp_failed");
                }
            }
        }
    }

    fn parent_name(&self, slot: &Slot) -> Option<crate::netlink::IfName> {
        slot.usable
            .and_then(|u| self.links.by_index(u.ifindex))
            .map(|l| l.name)
    }

    /// Drains the VRRP socket of one family.
    fn drain_vrrp(&mut self, family: Family, now: Time) {
        loop {
            let sock = match family {
                Family::V4 => self.sock4.as_ref(),
                Family::V6 => self.sock6.as_ref(),
            };
            let Some(sock) = sock else { return };
            let n = match self.recv.recv(sock) {
                Ok(n) => n,
                Err(e) => {
                    crate::resilience::log_receive_error(&e, now);
                    return;
                }
            };
            for i in 0..n {
                let target = match self.recv.get(i) {
                    Some(Ok(rx)) => {
                        classify(&self.slots, &self.vmacs, &mut self.drops, family, &rx)
                    }
                    Some(Err(_)) => {
                        self.drops.bump("bad_ip_header");
                        None
                    }
                    None => None,
                };
                if let Some((idx, advert, form)) = target {
                    if family == Family::V4 && self.slots[idx].cfg.version == Version::V3 {
                        self.slots[idx].forms.record(advert.src, form);
                    }
                    self.handle(idx, now, Event::Advert(advert));
                }
            }
            if n < BATCH {
                return;
            }
        }
    }

    fn drain_netlink(&mut self, now: Time) {
        let mut events = std::mem::take(&mut self.net_events);
        events.clear();
        match self.monitor.drain(|e| events.push(e)) {
            Ok(()) => {}
            Err(NetlinkError::Overrun) => {
                warn!("rtnetlink events were lost (ENOBUFS); re-reading links and addresses");
                self.resync_links();
            }
            Err(e) => warn!("rtnetlink monitor: {e}"),
        }
        for e in &events {
            self.links.apply(e);
        }
        for e in &events {
            if let NetEvent::AddrRemoved(a) = e {
                self.restore_vip(a.index, a.addr, now);
            }
        }
        events.clear();
        self.net_events = events;
        self.refresh(now);
    }

    /// A VIP removed by someone else while we are master is put back.
    fn restore_vip(&mut self, ifindex: u32, addr: IpAddr, _now: Time) {
        for idx in 0..self.slots.len() {
            let slot = &self.slots[idx];
            if slot.inst.state() != State::Master || !slot.vips_held {
                continue;
            }
            let on = |v: &&config::Vip| {
                v.addr == addr && self.vip_ifindex(slot, v.dev.as_deref()) == Some(ifindex)
            };
            let vip = slot.cfg.vips.iter().any(|v| on(&v));
            let excluded = slot.cfg.vips_excluded.iter().any(|v| on(&v));
            if vip || excluded {
                warn!(
                    "{}: VIP {addr} was removed by someone else; restoring it",
                    slot.cfg.name
                );
                if vip {
                    self.set_vips(idx, true);
                } else {
                    self.follow_master(idx, true, false);
                }
                self.send_garps(idx, 1);
            }
        }
    }

    fn fire_timers(&mut self, now: Time) {
        if self.files_due.is_some_and(|t| t <= now) {
            self.files_due = Some(now + Duration::from_secs(1));
            self.refresh(now);
        }
        if self.notifier.next_deadline().is_some_and(|t| t <= now) {
            self.notifier.on_timer(now);
        }
        if self.scripts.next_deadline().is_some_and(|t| t <= now) && self.scripts.on_timer(now) {
            self.refresh(now);
        }
        if self.processes.next_deadline().is_some_and(|t| t <= now) && self.processes.on_timer(now)
        {
            self.refresh(now);
        }
        for idx in 0..self.slots.len() {
            if self.slots[idx]
                .inst
                .next_deadline()
                .is_some_and(|t| t <= now)
            {
                self.handle(idx, now, Event::Timer);
            }
        }
    }

    fn earliest_deadline(&self) -> Option<Time> {
        self.slots
            .iter()
            .filter_map(|s| s.inst.next_deadline())
            .chain(self.scripts.next_deadline())
            .chain(self.notifier.next_deadline())
            .chain(self.processes.next_deadline())
            .chain(self.files_due)
            .min()
    }

    /// Arms the timerfd only when the earliest deadline moved earlier; a deadline that moved
    /// later (an advert reset a backup's down timer) leaves the timer to fire early once.
    fn rearm(&mut self) {
        let want = self.earliest_deadline();
        let result = match (want, self.armed) {
            (Some(t), Some(armed)) if t >= armed => return,
            (Some(t), _) => {
                self.armed = Some(t);
                self.timer.set(
                    Expiration::OneShot(TimeSpec::from_duration(t.max(Duration::from_nanos(1)))),
                    TimerSetTimeFlags::TFD_TIMER_ABSTIME,
                )
            }
            (None, Some(_)) => {
                self.armed = None;
                self.timer.unset()
            }
            (None, None) => return,
        };
        if let Err(e) = result {
            error!("arming the timer: {}", io::Error::from(e));
        }
    }

    fn consume_timer(&mut self) {
        let mut buf = [0u8; 8];
        let _ = nix::unistd::read(self.timer.as_fd(), &mut buf);
        self.armed = None;
    }

    fn render_status(&mut self, now: Time) {
        self.status_text.clear();
        let views = self.slots.iter().map(|s| InstanceView {
            name: &s.cfg.name,
            interface: &s.cfg.interface,
            instance: &s.inst,
            discards: &s.discards,
            forms: &s.forms,
            vips_held: s.vips_held,
            since_transition: s.last_transition.map(|t| now.saturating_sub(t)),
        });
        status::render(&mut self.status_text, views, &self.drops);
        status::render_tracking(
            &mut self.status_text,
            self.scripts.runs(),
            self.processes.counts(),
        );
    }

    /// SIGTERM (a second one ends the wait): every instance gets `Event::Stop`, so a master
    /// sends priority 0 but keeps its VIPs until its successor is heard or its bound passes
    /// (make before break). `stopping` stays set: the loop runs on, instances are not
    /// restarted, and `stop_finished` ends the loop once no instance is leaving.
    fn stop_instances(&mut self, now: Time) {
        self.stopping = true;
        for idx in 0..self.slots.len() {
            self.handle(idx, now, Event::Stop);
        }
    }

    /// True once a stop has begun and no master is still handing over; then cleans up.
    fn stop_finished(&mut self) -> bool {
        if !self.stopping || self.slots.iter().any(|s| s.inst.leaving()) {
            return false;
        }
        self.flush_adverts();
        self.vmacs.remove_all(&mut self.nl);
        true
    }

    /// SIGHUP: a config with errors is refused and the running one kept. Otherwise the new
    /// instance table is diffed against the running one (see `reload::plan`): unchanged
    /// instances keep their state and VIPs, a priority-only change is applied as a priority
    /// change, and only instances that changed otherwise, or went away, are stopped.
    fn reload(&mut self, now: Time) {
        let loaded = match config::load(&self.opts.config_path) {
            Ok(loaded) => loaded,
            Err(errors) => {
                error!("reload refused, keeping the running configuration:\n{errors}");
                return;
            }
        };
        for w in &loaded.warnings {
            warn!("{w}");
        }
        let running: Vec<InstanceConfig> = self.slots.iter().map(|s| s.cfg.clone()).collect();
        let plan = reload::plan(&running, &loaded.config.instances);
        let restarted: Vec<usize> = plan
            .kept
            .iter()
            .filter(|k| k.2 == Change::Restart)
            .map(|k| k.0)
            .collect();
        let stopped: Vec<usize> = plan.removed.iter().chain(&restarted).copied().collect();
        self.stopping = true;
        for &idx in &stopped {
            self.handle(idx, now, Event::Shutdown);
        }
        self.stopping = false;
        self.flush_adverts();

        let mut old: Vec<Option<Slot>> = std::mem::take(&mut self.slots)
            .into_iter()
            .map(Some)
            .collect();
        let mut new: Vec<Option<Slot>> = Vec::new();
        new.resize_with(loaded.config.instances.len(), || None);
        let mut reprioritised = Vec::new();
        let mut followers = Vec::new();
        for &(oi, ni, change) in &plan.kept {
            let cfg = loaded.config.instances[ni].clone();
            new[ni] = match (change, old[oi].take()) {
                (Change::Keep, Some(slot)) => Some(slot),
                (Change::Priority(p), Some(mut slot)) => {
                    slot.cfg = cfg;
                    slot.inst.set_configured_priority(p);
                    reprioritised.push(ni);
                    Some(slot)
                }
                (Change::Followers(p), Some(mut slot)) => {
                    followers.push((ni, std::mem::replace(&mut slot.cfg, cfg)));
                    slot.inst.set_configured_priority(p);
                    Some(slot)
                }
                _ => Some(Slot::new(cfg, &loaded.config)),
            };
        }
        for &ni in &plan.added {
            new[ni] = Some(Slot::new(
                loaded.config.instances[ni].clone(),
                &loaded.config,
            ));
        }
        self.slots = new.into_iter().flatten().collect();
        self.config = loaded.config;
        self.notifier.fifos_mut().reconfigure(&self.config.global);
        for (ni, old_cfg) in followers {
            self.change_followers(ni, &old_cfg);
        }
        info!(
            "reloaded {}: {} kept ({} with a new priority), {} restarted, {} removed, {} added",
            self.opts.config_path.display(),
            plan.kept.len() - restarted.len(),
            reprioritised.len(),
            restarted.len(),
            plan.removed.len(),
            plan.added.len()
        );
        for family in [Family::V4, Family::V6] {
            if self.slots.iter().any(|s| s.family() == family) {
                if let Err(e) = self.ensure_socket(family) {
                    error!("after reload: {e}");
                }
            }
        }
        self.restart_scripts(now);
        self.remove_leftover_vips();
        // Priority changes (configured or tracked) reach the instances here.
        self.refresh(now);
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
                Ok(Signal::SIGTERM) | Ok(Signal::SIGINT) => {
                    info!("signal {}: stopping", info.ssi_signo);
                    self.stop_instances(now);
                }
                Ok(Signal::SIGHUP) if self.stopping => info!("SIGHUP while stopping: ignored"),
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
                        self.refresh(now);
                    }
                }
                _ => {}
            }
        }
    }

    /// keepalived's `vrrp_startup_delay` (for boxes whose links come up late): no instance
    /// and no VRRP socket exists until it has passed, so nothing is sent, heard or queued;
    /// a stop signal and status requests are served meanwhile. True when asked to stop.
    fn wait_startup_delay(&mut self) -> Result<bool, DaemonError> {
        let cs = u64::from(self.config.global.vrrp_startup_delay_cs);
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
            self.events.clear();
            match self.poller.wait(&mut self.events, Some(left)) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(setup("poll")(e)),
                Ok(_) => {}
            }
            let keys: Vec<usize> = self.events.iter().map(|ev| ev.key).collect();
            for key in keys {
                match key {
                    KEY_NETLINK => self.drain_netlink(now),
                    KEY_STATUS => {
                        self.render_status(now);
                        self.status.serve(&self.status_text);
                    }
                    KEY_SIGNAL if self.drain_signals_delayed() => return Ok(true),
                    _ => {}
                }
            }
        }
    }

    /// Signals during the start-up delay: only a stop means anything yet.
    fn drain_signals_delayed(&mut self) -> bool {
        while let Ok(Some(info)) = self.signals.read_signal() {
            match Signal::try_from(info.ssi_signo as i32) {
                Ok(Signal::SIGTERM) | Ok(Signal::SIGINT) => {
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

    pub fn run(mut self) -> Result<(), DaemonError> {
        if self.wait_startup_delay()? {
            return Ok(());
        }
        let now = monotonic_now();
        self.resync_links();
        self.start_instances(now)?;
        info!(
            "tinyvrrp {} running {} instance(s) from {}",
            env!("CARGO_PKG_VERSION"),
            self.slots.len(),
            self.opts.config_path.display()
        );
        self.flush_adverts();
        self.rearm();
        loop {
            self.events.clear();
            if let Err(e) = self.poller.wait(&mut self.events, None) {
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(DaemonError::Setup {
                    what: "poll",
                    err: e.to_string(),
                });
            }
            let mut ready = [false; 7];
            for ev in self.events.iter() {
                if let Some(flag) = ready.get_mut(ev.key) {
                    *flag = true;
                } else if ev.key >= notify::OUTPUT_KEY_BASE {
                    self.notifier.on_output(ev.key);
                }
            }
            let now = monotonic_now();
            if ready[KEY_NETLINK] {
                self.drain_netlink(now);
            }
            if ready[KEY_SOCK4] {
                self.drain_vrrp(Family::V4, now);
            }
            if ready[KEY_SOCK6] {
                self.drain_vrrp(Family::V6, now);
            }
            if ready[KEY_PROC_EVENTS] && self.processes.on_readable(now) {
                self.refresh(now);
            }
            if ready[KEY_TIMER] {
                self.consume_timer();
                self.fire_timers(now);
            }
            if ready[KEY_SIGNAL] {
                self.drain_signals(now);
            }
            if ready[KEY_STATUS] {
                self.render_status(now);
                self.status.serve(&self.status_text);
            }
            self.apply_sync_groups(now);
            if self.stop_finished() {
                return Ok(());
            }
            self.flush_adverts();
            self.rearm();
        }
    }
}

/// Checks a received datagram and finds the instance it is for; counts every drop.
fn classify(
    slots: &[Slot],
    vmacs: &Vmacs,
    drops: &mut Counters,
    family: Family,
    rx: &crate::sock::Received<'_>,
) -> Option<(usize, RxAdvert, ChecksumForm)> {
    if rx.truncated {
        drops.bump("truncated");
        return None;
    }
    let multicast = rx.dst.is_multicast();
    // RFC 5798 §7.1: a multicast advert must arrive with TTL / hop limit 255, proof it was
    // not forwarded. Unicast peers may be routed, so their TTL is not checked at all: this is
    // keepalived's rule (`unicast_ttl` only sets the TTL it sends). Checking a received TTL
    // against our `unicast_ttl` would drop a routed keepalived peer's adverts (its TTL
    // arrives decremented) and elect two masters.
    if multicast && rx.ttl != 255 {
        drops.bump("bad_ttl");
        return None;
    }
    let (advert, form) = match packet::parse(rx.payload, family, rx.src, rx.dst) {
        Ok(parsed) => parsed,
        Err(e) => {
            drops.bump(e.counter_name());
            return None;
        }
    };
    let mut vrid_known = false;
    let found = slots.iter().position(|s| {
        if s.family() != family || s.cfg.vrid != advert.vrid {
            return false;
        }
        vrid_known = true;
        if s.is_unicast() {
            !multicast && s.cfg.unicast_peers.contains(&rx.src)
        } else {
            let on_vmac =
                || s.cfg.use_vmac && vmacs.get(s.cfg.vrid, family).map(|v| v.0) == Some(rx.ifindex);
            multicast
                && s.usable
                    .is_some_and(|u| u.ifindex == rx.ifindex || on_vmac())
        }
    });
    let Some(idx) = found else {
        drops.bump(if vrid_known {
            "unknown_peer"
        } else {
            "unknown_vrid"
        });
        return None;
    };
    let rx_advert = RxAdvert {
        src: rx.src,
        version: advert.version,
        priority: advert.priority,
        adver_int_cs: advert.adver_int_cs,
        auth_type: advert.auth_type,
        auth_data: advert.auth_data,
    };
    Some((idx, rx_advert, form))
}
