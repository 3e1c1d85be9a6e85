//! One `Instance` driven by an arbitrary sequence of events, with time passing the way the
//! daemon's poll loop lets it pass: a `Timer` at every deadline on the way (early timers too),
//! other events in between. After every event the actions and the state must agree:
//! - transitions chain (`from` is the state we had), change the state and carry `now`;
//! - AddVips and RemoveVips alternate, and the VIPs are held exactly while master;
//! - an advert with priority > 0 is sent only as master, with the effective priority; priority
//!   0 only when leaving master (or stopping: see Stop below), at our priority also when a
//!   master steps down to a better one (its parting advert); GARPs and MASTER_RX_LOWER_PRI only as master;
//! - a master's adverts are never further apart than its advert interval;
//! - no deadline is in the past, and none is due right after a `Timer` (the loop would spin);
//!   a master always has one, a backup that is not held by its sync group too (else it would
//!   never take over), a stopped or faulty instance none;
//! - a held instance is not master (unless it is the address owner);
//! - the instance's counters match the actions it returned; only adverts are discarded;
//! - `Stop` (make before break): a leaving master stays master with its VIPs, sends only
//!   priority 0, and is in Init with its VIPs removed no later than `stop_bound` after the
//!   Stop; a Stop that does not hand over leaves the instance in Init at once.
//!
//! `router_events` drives the router module (the instances together) the same way.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use tinyvrrp::instance::{
    Action, Discard, Event, GarpSchedule, Instance, Params, Reason, RxAdvert, State, Time,
};
use tinyvrrp::packet::{AdvertFields, Version};

const ME: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
const PEERS: [IpAddr; 4] = [
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 5)),
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 20)),
    ME,
    IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
];
const PASS: [u8; 8] = *b"secret\0\0";
const MAX_STEPS: usize = 2000;

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(params) = params(&mut u) else {
        return;
    };
    if trace() {
        eprintln!("{params:?}");
    }
    let Ok(setup) = setup(&mut u) else {
        return;
    };
    let mut d = Driver::new(params, setup);
    for _ in 0..MAX_STEPS {
        if u.is_empty() || d.step(&mut u).is_err() {
            break;
        }
    }
});

/// TINYVRRP_FUZZ_TRACE=1 prints every event (to read a crash: run the target on its input).
fn trace() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("TINYVRRP_FUZZ_TRACE").is_some())
}

fn cs(centiseconds: u64) -> Duration {
    Duration::from_millis(centiseconds * 10)
}

fn params(u: &mut Unstructured<'_>) -> Result<Params> {
    let version = if u.arbitrary()? {
        Version::V3
    } else {
        Version::V2
    };
    let advert_int_cs = match version {
        Version::V3 => u.int_in_range(1..=4095)?,
        Version::V2 => u.int_in_range(1..=255u16)? * 100,
    };
    Ok(Params {
        vrid: u.int_in_range(1..=255)?,
        version,
        priority: u.int_in_range(1..=255)?,
        advert_int_cs,
        preempt: u.arbitrary()?,
        preempt_delay: cs(u.int_in_range(0..=1000)?),
        primary_ip: ME,
        auth: (version == Version::V2 && u.arbitrary()?).then_some(PASS),
        garp: GarpSchedule {
            repeat: u.int_in_range(0..=5)?,
            delay: cs(u.int_in_range(0..=1000)?),
            refresh: cs(u.int_in_range(0..=1000)? * u64::from(u.arbitrary::<bool>()?)),
            refresh_repeat: u.int_in_range(0..=3)?,
        },
    })
}

/// The instance's settings beside its `Params`.
struct Setup {
    handover: bool,
    tick_phase: Duration,
    allowed_sources: Vec<IpAddr>,
}

fn setup(u: &mut Unstructured<'_>) -> Result<Setup> {
    let mut allowed_sources = Vec::new();
    for peer in PEERS {
        if u.ratio(1, 4)? {
            allowed_sources.push(peer);
        }
    }
    Ok(Setup {
        handover: u.arbitrary()?,
        tick_phase: Duration::from_millis(u.int_in_range(0..=999)?),
        allowed_sources,
    })
}

/// What the driver has seen of the instance, to check the next event's actions against.
struct Driver {
    inst: Instance,
    now: Time,
    state: State,
    vips: bool,
    last_tx: Option<Time>,
    tx_adverts: u64,
    tx_zero: u64,
    discarded: u64,
    /// While a Stop hands over: when the VIPs must be gone at the latest.
    leaving_until: Option<Time>,
    out: Vec<Action>,
}

impl Driver {
    fn new(params: Params, setup: Setup) -> Self {
        let mut inst = Instance::new(params);
        inst.set_handover(setup.handover);
        inst.set_tick_phase(setup.tick_phase);
        inst.set_allowed_sources(setup.allowed_sources);
        Driver {
            inst,
            now: Time::ZERO,
            state: State::Init,
            vips: false,
            last_tx: None,
            tx_adverts: 0,
            tx_zero: 0,
            discarded: 0,
            leaving_until: None,
            out: Vec::new(),
        }
    }

    fn step(&mut self, u: &mut Unstructured<'_>) -> Result<()> {
        match u.int_in_range(0..=11)? {
            0..=2 => {
                let interval = u64::from(self.inst.params().advert_int_cs);
                let wait = cs(u.int_in_range(0..=4 * interval + 100)?);
                self.advance(self.now + wait);
            }
            3 => self.advance(self.inst.next_deadline().unwrap_or(self.now)),
            4 => self.handle(Event::Timer),
            5 | 6 => {
                let advert = self.advert(u)?;
                self.handle(Event::Advert(advert));
            }
            7 => self.handle(Event::PriorityChanged(u.arbitrary()?)),
            8 => {
                let ev = *u.choose(&[
                    Event::Startup,
                    Event::LinkDown,
                    Event::LinkUp,
                    Event::Shutdown,
                    Event::Stop,
                    Event::Stop,
                ])?;
                self.handle(ev);
            }
            9 => self.handle(Event::GroupHold(u.arbitrary()?)),
            10 => {
                // A reload of the priority, as the daemon applies it.
                let p = u.int_in_range(1..=255)?;
                self.inst.set_configured_priority(p);
                self.handle(Event::PriorityChanged(p));
            }
            _ => {
                let ip = *u.choose(&PEERS[..3])?;
                self.inst.set_primary_ip(ip);
            }
        }
        Ok(())
    }

    /// Lets time pass to `until`, firing every deadline on the way at its time.
    fn advance(&mut self, until: Time) {
        while let Some(t) = self.inst.next_deadline().filter(|t| *t <= until) {
            assert!(
                t >= self.now,
                "deadline {t:?} in the past at {:?}",
                self.now
            );
            self.now = t;
            self.handle(Event::Timer);
        }
        self.now = until;
        self.check_advert_gap();
    }

    fn advert(&self, u: &mut Unstructured<'_>) -> Result<RxAdvert> {
        let p = self.inst.params();
        let version = if u.ratio(1, 8)? {
            if p.version == Version::V2 {
                Version::V3
            } else {
                Version::V2
            }
        } else {
            p.version
        };
        let adver_int_cs = match (version, u.ratio(1, 2)?) {
            (_, true) => p.advert_int_cs,
            (Version::V3, false) => u.int_in_range(1..=4095)?,
            (Version::V2, false) => u.int_in_range(1..=255u16)? * 100,
        };
        let (auth_type, auth_data) = match (p.auth, u.ratio(1, 8)?) {
            (Some(pass), false) => (1, pass),
            (None, false) => (0, [0; 8]),
            (_, true) => (u.int_in_range(0..=2)?, u.arbitrary()?),
        };
        Ok(RxAdvert {
            src: *u.choose(&PEERS)?,
            fields: AdvertFields {
                version,
                vrid: p.vrid,
                priority: u.arbitrary()?,
                adver_int_cs,
                auth_type,
                auth_data,
            },
        })
    }

    fn handle(&mut self, ev: Event) {
        if trace() {
            eprintln!("{:?} {ev:?}", self.now);
        }
        let before = self.inst.state();
        assert_eq!(before, self.state);
        self.check_advert_gap();
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        let result = self.inst.handle(self.now, ev, &mut out);
        match result {
            Ok(()) => {}
            Err(Discard::LowerPriority) => assert!(matches!(ev, Event::Advert(_))),
            Err(d) => {
                assert!(matches!(ev, Event::Advert(_)), "{ev:?} discarded: {d:?}");
                if d == Discard::NotListening {
                    assert!(!matches!(before, State::Backup | State::Master));
                }
                self.discarded += 1;
            }
        }
        for a in &out {
            self.check_action(before, ev, a);
        }
        self.out = out;
        self.check_stop(before, ev);
        self.check_after(ev);
    }

    fn check_action(&mut self, before: State, ev: Event, a: &Action) {
        let after = self.inst.state();
        match *a {
            Action::Transition {
                from,
                to,
                reason,
                at,
            } => {
                assert_eq!(from, self.state, "transition from a state we were not in");
                assert_ne!(from, to, "{ev:?}: transition to the same state");
                assert_eq!(at, self.now);
                if to == State::Master {
                    let owner = reason == Reason::AddressOwner;
                    assert!(owner || !self.inst.held(), "{ev:?}: master while held");
                    self.last_tx = Some(self.now);
                }
                self.state = to;
            }
            Action::AddVips => {
                assert!(!self.vips, "{ev:?}: AddVips twice");
                assert_eq!(after, State::Master, "{ev:?}: VIPs added, not master");
                self.vips = true;
            }
            Action::RemoveVips => {
                assert!(self.vips, "{ev:?}: RemoveVips without VIPs");
                self.vips = false;
            }
            Action::SendAdvert { priority: 0 } => {
                assert_eq!(before, State::Master, "{ev:?}: priority 0 not as master");
                let leaving = self.inst.leaving();
                assert!(
                    after != State::Master || leaving,
                    "{ev:?}: priority 0 and still master, not leaving"
                );
                if leaving {
                    self.last_tx = Some(self.now);
                }
                self.tx_adverts += 1;
                self.tx_zero += 1;
            }
            Action::SendAdvert { priority } => {
                // Or a master's parting advert as it steps down to a better one.
                let parting = before == State::Master
                    && after == State::Backup
                    && matches!(ev, Event::Advert(_));
                assert!(
                    after == State::Master || parting,
                    "{ev:?}: advert sent, not master"
                );
                assert!(
                    !self.inst.leaving(),
                    "{ev:?}: priority {priority} while leaving"
                );
                assert_eq!(priority, self.inst.effective_priority());
                self.tx_adverts += 1;
                self.last_tx = Some(self.now);
            }
            Action::SendGarp { count } => {
                assert!(count >= 1);
                assert_eq!(after, State::Master, "{ev:?}: GARP, not master");
            }
            Action::MasterRxLowerPri => assert_eq!(after, State::Master),
        }
    }

    fn check_after(&self, ev: Event) {
        let state = self.inst.state();
        assert_eq!(
            state, self.state,
            "{ev:?}: state changed without a transition"
        );
        assert_eq!(
            self.vips,
            state == State::Master,
            "{ev:?}: VIPs vs state {state}"
        );
        let owner = self.inst.effective_priority() == 255;
        assert!(!(self.inst.held() && state == State::Master) || owner);
        let s = self.inst.stats();
        assert_eq!(
            (s.tx_adverts, s.tx_priority_zero),
            (self.tx_adverts, self.tx_zero)
        );
        assert_eq!(s.discarded, self.discarded);
        assert_eq!(s.become_master - s.release_master, u64::from(self.vips));
        assert!(s.rx_priority_zero <= s.rx_adverts);
        let interval = cs(u64::from(self.inst.params().advert_int_cs));
        let deadline = self.inst.next_deadline();
        if let Some(t) = deadline {
            assert!(
                t >= self.now,
                "{ev:?}: deadline {t:?} before now {:?}",
                self.now
            );
            if ev == Event::Timer {
                assert!(
                    t > self.now,
                    "deadline due right after the timer: busy loop"
                );
            }
        }
        match state {
            State::Init | State::Fault => assert_eq!(deadline, None, "{ev:?} in {state}"),
            State::Master => {
                let t = deadline.expect("a master has an advert deadline");
                assert!(
                    t <= self.now + interval,
                    "{ev:?}: next advert later than interval"
                );
            }
            State::Backup if !self.inst.held() => {
                assert!(deadline.is_some(), "{ev:?}: a backup that never takes over");
            }
            State::Backup => {}
        }
    }

    /// Make before break: a leaving master keeps its VIPs until it is gone, and is gone
    /// within the bound; a Stop that does not hand over stops at once.
    fn check_stop(&mut self, before: State, ev: Event) {
        let state = self.inst.state();
        if self.inst.leaving() {
            assert_eq!(state, State::Master, "{ev:?}: leaving but not master");
            assert!(self.vips, "{ev:?}: leaving master without its VIPs");
            let until = *self.leaving_until.get_or_insert_with(|| {
                assert_eq!(ev, Event::Stop, "leaving without a Stop");
                assert_eq!(before, State::Master);
                self.now + self.inst.stop_bound()
            });
            assert!(self.now <= until, "{ev:?}: still leaving after the bound");
        } else if let Some(until) = self.leaving_until.take() {
            assert_eq!(state, State::Init, "{ev:?}: left, not in Init");
            assert!(!self.vips, "{ev:?}: left with the VIPs");
            assert!(self.now <= until, "{ev:?}: left after the bound");
        } else if ev == Event::Stop {
            assert_eq!(state, State::Init, "Stop without handover, not in Init");
        }
    }

    /// A master's periodic adverts: never more than one interval apart.
    fn check_advert_gap(&self) {
        if self.inst.state() != State::Master {
            return;
        }
        let interval = cs(u64::from(self.inst.params().advert_int_cs));
        let last = self.last_tx.expect("a master has sent an advert");
        assert!(
            self.now - last <= interval,
            "master silent for {:?} (interval {interval:?})",
            self.now - last
        );
    }
}
