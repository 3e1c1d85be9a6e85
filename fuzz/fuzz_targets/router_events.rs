//! The router module (issue 12) fed an arbitrary sequence of timed events: a small config
//! (1–4 instances on two interfaces, maybe a sync group, a tracked script, file and interface
//! with weights), then datagrams built with `packet::emit` from arbitrary fields (other VRIDs,
//! priorities, TTLs, sources, interfaces; sometimes raw bytes), script and file results,
//! links going down and up, addresses removed, link dumps, reloads with a mutated config,
//! start and stop. Time passes as the poll loop lets it: `handle_timeout` at every deadline
//! on the way. The actions are drained after every call and checked:
//! - AddVips and RemoveVips alternate per slot; a slot holds its VIPs exactly while MASTER
//!   (also as the router sees it, `vips_held`); a slot that is gone holds none;
//! - no deadline is in the past, and none is due right after `handle_timeout`;
//! - a sync-group member is held exactly while another member is backup to a master that
//!   outranks it, and a held member is not master (unless the address owner, or leaving);
//!   a group transition (but the announcement at start) is announced only when every member
//!   is in that state;
//! - the phase only moves forward (Idle, Running, Stopping, Stopped); once stopped every
//!   instance is in Init and no VIP is held;
//! - actions name slots that exist (or were just retired by a reload), and no panic.
#![no_main]

use std::collections::{HashMap, HashSet};
use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use tinyvrrp::config::{parse_str, Config};
use tinyvrrp::instance::{State, Time};
use tinyvrrp::netlink::{AddrInfo, IfName, LinkInfo, NetEvent};
use tinyvrrp::packet::{self, AdvertFields, ChecksumForm, Family, Version};
use tinyvrrp::router::{Action, Datagram, Op, Phase, Router, SlotId, TrackResult};
use tinyvrrp::track::Health;

const ETH0: u32 = 2;
const ETH1: u32 = 3;
const ME0: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
const ME1: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 10));
const PEERS: [IpAddr; 5] = [
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 5)),
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 20)),
    IpAddr::V4(Ipv4Addr::new(198, 51, 100, 20)),
    ME0,
    IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1)),
];
const GROUP: IpAddr = IpAddr::V4(packet::VRRP_GROUP_V4);
const MAX_STEPS: usize = 1000;

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(spec) = Spec::arbitrary(&mut u) else {
        return;
    };
    let Some(config) = spec.config() else {
        return;
    };
    let mut d = Driver::new(config, spec);
    for _ in 0..MAX_STEPS {
        if u.is_empty() || d.step(&mut u).is_err() {
            break;
        }
    }
});

/// TINYVRRP_FUZZ_TRACE=1 prints the config and every event (to read a crash).
fn trace() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("TINYVRRP_FUZZ_TRACE").is_some())
}

/// One instance's settings, as config text.
#[derive(Clone, Debug)]
struct Inst {
    vrid: u8,
    eth1: bool,
    v3: bool,
    priority: u8,
    int_cs: u16,
    master: bool,
    nopreempt: bool,
    preempt_delay_cs: u16,
    vips: u8,
    unicast: bool,
    auth: bool,
    script: Option<i16>,
    file: Option<i16>,
    track_eth1: Option<i16>,
}

#[derive(Clone, Debug)]
struct Spec {
    insts: Vec<Inst>,
    /// Indexes of the sync group's members (fewer than two: no group).
    group: Vec<usize>,
    handover: bool,
    startup_delay_cs: u16,
    allowed_sources: bool,
}

fn weight(u: &mut Unstructured<'_>) -> Result<Option<i16>> {
    Ok(match u.int_in_range(0..=3)? {
        0 => None,
        1 => Some(0),
        _ => Some(u.int_in_range(-60..=60)?),
    })
}

impl Inst {
    fn arbitrary(u: &mut Unstructured<'_>, i: usize) -> Result<Self> {
        let v3 = u.arbitrary()?;
        Ok(Inst {
            // Mostly distinct; the same VRID on the same interface is a config error.
            vrid: if u.ratio(1, 8)? { 1 } else { 1 + i as u8 },
            eth1: u.ratio(1, 4)?,
            v3,
            priority: *u.choose(&[1, 50, 100, 100, 150, 254, 255])?,
            int_cs: if v3 {
                u.int_in_range(1..=300)?
            } else {
                u.int_in_range(1..=3)? * 100
            },
            master: u.ratio(1, 4)?,
            nopreempt: u.ratio(1, 4)?,
            preempt_delay_cs: u.int_in_range(0..=300)? * u16::from(u.ratio(1, 4)?),
            vips: u.int_in_range(1..=2)?,
            unicast: u.ratio(1, 4)?,
            auth: !v3 && u.ratio(1, 4)?,
            script: weight(u)?,
            file: weight(u)?,
            track_eth1: weight(u)?,
        })
    }

    fn text(&self, i: usize, t: &mut String) {
        let (ifname, me) = if self.eth1 {
            ("eth1", ME1)
        } else {
            ("eth0", ME0)
        };
        let _ = write!(
            t,
            "[vrrp_instance VI_{i}]\ninterface = {ifname}\nvirtual_router_id = {}\n\
             version = {}\npriority = {}\nadvert_int = {}.{:02}\n",
            self.vrid,
            if self.v3 { 3 } else { 2 },
            self.priority,
            self.int_cs / 100,
            self.int_cs % 100
        );
        if self.master {
            t.push_str("state = MASTER\n");
        }
        if self.nopreempt {
            t.push_str("nopreempt\n");
        }
        if self.preempt_delay_cs > 0 {
            let cs = self.preempt_delay_cs;
            let _ = writeln!(t, "preempt_delay = {}.{:02}", cs / 100, cs % 100);
        }
        for k in 0..self.vips {
            let _ = writeln!(
                t,
                "virtual_ipaddress = 203.0.113.{}/24",
                10 + 4 * i + k as usize
            );
        }
        if self.unicast {
            let _ = writeln!(t, "unicast_src_ip = {me}");
            let _ = writeln!(t, "unicast_peer = {}", PEERS[1]);
        }
        if self.auth {
            t.push_str("auth_type = PASS\nauth_pass = secret\n");
        }
        let tracked = [
            ("track_script", "chk", self.script),
            ("track_file", "f", self.file),
            ("track_interface", "eth1", self.track_eth1),
        ];
        for (key, name, w) in tracked {
            match w {
                Some(0) => {
                    let _ = writeln!(t, "{key} = {name}");
                }
                Some(w) => {
                    let _ = writeln!(t, "{key} = {name} weight {w}");
                }
                None => {}
            }
        }
    }
}

impl Spec {
    fn arbitrary(u: &mut Unstructured<'_>) -> Result<Self> {
        let n = u.int_in_range(1..=4)?;
        let insts = (0..n)
            .map(|i| Inst::arbitrary(u, i))
            .collect::<Result<Vec<_>>>()?;
        let group = (0..n).filter(|_| u.ratio(1, 2).unwrap_or(false)).collect();
        Ok(Spec {
            insts,
            group,
            handover: u.ratio(3, 4)?,
            startup_delay_cs: u.int_in_range(0..=200)? * u16::from(u.ratio(1, 8)?),
            allowed_sources: u.ratio(1, 8)?,
        })
    }

    /// A reload's config: some settings of some instances changed, maybe one added or
    /// removed, maybe the sync group changed.
    fn mutate(&self, u: &mut Unstructured<'_>) -> Result<Self> {
        let mut s = self.clone();
        match u.int_in_range(0..=5)? {
            0 if s.insts.len() < 4 => {
                let i = s.insts.len();
                s.insts.push(Inst::arbitrary(u, i)?);
            }
            1 if s.insts.len() > 1 => {
                let gone = u.choose_index(s.insts.len())?;
                s.insts.remove(gone);
                s.group.retain(|&g| g != gone);
                s.group
                    .iter_mut()
                    .filter(|g| **g > gone)
                    .for_each(|g| *g -= 1);
            }
            2 => {
                s.group = (0..s.insts.len())
                    .filter(|_| u.ratio(1, 2).unwrap_or(false))
                    .collect()
            }
            _ => {}
        }
        for inst in &mut s.insts {
            match u.int_in_range(0..=7)? {
                0 => inst.priority = *u.choose(&[1, 50, 100, 150, 255])?,
                1 => inst.vips = u.int_in_range(1..=2)?,
                2 => inst.script = weight(u)?,
                3 => {
                    inst.int_cs = if inst.v3 {
                        u.int_in_range(1..=300)?
                    } else {
                        100
                    }
                }
                4 => inst.nopreempt = !inst.nopreempt,
                5 => inst.unicast = !inst.unicast,
                _ => {}
            }
        }
        Ok(s)
    }

    fn text(&self) -> String {
        let mut t = String::from("[global_defs]\n");
        if !self.handover {
            t.push_str("stop_handover = no\n");
        }
        if self.startup_delay_cs > 0 {
            let cs = self.startup_delay_cs;
            let _ = writeln!(t, "vrrp_startup_delay = {}.{:02}", cs / 100, cs % 100);
        }
        if self.allowed_sources {
            let _ = writeln!(t, "allowed_sources = {} {}", PEERS[0], PEERS[2]);
        }
        if self.insts.iter().any(|i| i.script.is_some()) {
            t.push_str("[vrrp_script chk]\nscript = /bin/true\n");
        }
        if self.insts.iter().any(|i| i.file.is_some()) {
            t.push_str("[vrrp_track_file f]\nfile = /tmp/tinyvrrp-fuzz-track\n");
        }
        for (i, inst) in self.insts.iter().enumerate() {
            inst.text(i, &mut t);
        }
        if self.group.len() >= 2 {
            t.push_str("[vrrp_sync_group G]\n");
            for g in &self.group {
                let _ = writeln!(t, "group = VI_{g}");
            }
        }
        t
    }

    /// The config, or None when the generator made one the checker refuses (it must not).
    fn config(&self) -> Option<Config> {
        let text = self.text();
        match parse_str(&text, "fuzz.conf") {
            Ok(parsed) => {
                if trace() {
                    eprintln!("{text}");
                }
                Some(parsed.config)
            }
            Err(e) => {
                if trace() {
                    eprintln!("{text}\nrefused: {e}");
                }
                None
            }
        }
    }
}

fn link(index: u32, up: bool) -> NetEvent {
    let name = if index == ETH0 { "eth0" } else { "eth1" };
    NetEvent::LinkChanged(LinkInfo {
        index,
        name: IfName::new(name).expect("a valid name"),
        mac: [2, 0, 0, 0, 0, index as u8],
        up,
        flags: 0,
    })
}

fn addr(index: u32, addr: IpAddr, added: bool) -> NetEvent {
    let info = AddrInfo {
        index,
        addr,
        prefix_len: 24,
        scope: 0,
        flags: 0,
        label: None,
    };
    if added {
        NetEvent::AddrAdded(info)
    } else {
        NetEvent::AddrRemoved(info)
    }
}

fn dump() -> [NetEvent; 4] {
    [
        link(ETH0, true),
        link(ETH1, true),
        addr(ETH0, ME0, true),
        addr(ETH1, ME1, true),
    ]
}

struct Driver {
    router: Router,
    spec: Spec,
    now: Time,
    phase: Phase,
    /// Per slot: whether the shell holds its VIPs (from AddVips / RemoveVips).
    vips: HashMap<SlotId, bool>,
}

impl Driver {
    fn new(config: Config, spec: Spec) -> Self {
        let mut router = Router::new(config);
        router.handle_net_events(Time::ZERO, &dump());
        let mut d = Driver {
            router,
            spec,
            now: Time::ZERO,
            phase: Phase::Idle,
            vips: HashMap::new(),
        };
        d.after("net dump");
        d
    }

    fn step(&mut self, u: &mut Unstructured<'_>) -> Result<()> {
        let now = self.now;
        match u.int_in_range(0..=15)? {
            0..=2 => {
                let wait = Duration::from_millis(u.int_in_range(0..=5000)?);
                self.advance(now + wait);
            }
            3 => self.advance(self.router.next_deadline().unwrap_or(now)),
            4 | 5 => self.datagram(u)?,
            6 => {
                self.router.start(now);
                self.after("start");
            }
            7 => {
                let h = *u.choose(&[Health::Up, Health::Down, Health::Unknown])?;
                self.router
                    .handle_track(now, [TrackResult::Script("chk", h)]);
                self.after("script");
            }
            8 => {
                let v = u.int_in_range(-2..=3)?;
                self.router.handle_track(now, [TrackResult::File("f", v)]);
                self.after("file");
            }
            9 => {
                let ev = link(*u.choose(&[ETH0, ETH1])?, u.arbitrary()?);
                self.router.handle_net_events(now, &[ev]);
                self.after("link");
            }
            10 => {
                // Our own address, or a VIP (someone removed it: it comes back).
                let index = *u.choose(&[ETH0, ETH1])?;
                let a = match u.int_in_range(0..=2)? {
                    0 => ME0,
                    1 => ME1,
                    _ => IpAddr::V4(Ipv4Addr::new(203, 0, 113, u.int_in_range(10..=25)?)),
                };
                let ev = addr(index, a, u.arbitrary()?);
                self.router.handle_net_events(now, &[ev]);
                self.after("address");
            }
            11 => {
                self.router.reset_links();
                self.router.handle_net_events(now, &dump());
                self.after("dump");
            }
            12 => self.reload(u)?,
            13 if u.ratio(1, 3)? => {
                self.router.begin_stop(now);
                self.after("begin_stop");
            }
            _ => {
                self.router.handle_timeout(now);
                self.after("early timeout");
            }
        }
        Ok(())
    }

    /// Lets time pass to `until`, calling `handle_timeout` at every deadline on the way.
    fn advance(&mut self, until: Time) {
        while let Some(t) = self.router.next_deadline().filter(|t| *t <= until) {
            assert!(
                t >= self.now,
                "deadline {t:?} in the past at {:?}",
                self.now
            );
            self.now = t;
            self.router.handle_timeout(t);
            self.after("timeout");
            if let Some(next) = self.router.next_deadline() {
                assert!(next > t, "deadline due right after the timeout: busy loop");
            }
        }
        self.now = until;
    }

    fn reload(&mut self, u: &mut Unstructured<'_>) -> Result<()> {
        let spec = self.spec.mutate(u)?;
        if let Some(config) = spec.config() {
            self.router.reload(self.now, config);
            if matches!(self.phase, Phase::Idle | Phase::Running) {
                self.spec = spec;
            }
            self.after("reload");
        }
        Ok(())
    }

    fn datagram(&mut self, u: &mut Unstructured<'_>) -> Result<()> {
        let insts = &self.spec.insts;
        let inst = &insts[u.choose_index(insts.len())?];
        let v3 = if u.ratio(1, 8)? { !inst.v3 } else { inst.v3 };
        let version = if v3 { Version::V3 } else { Version::V2 };
        let any = u.arbitrary()?;
        let fields = AdvertFields {
            version,
            vrid: if u.ratio(1, 8)? {
                u.arbitrary()?
            } else {
                inst.vrid
            },
            priority: *u.choose(&[0, 1, 99, 100, 101, 200, 254, 255, any])?,
            adver_int_cs: match (u.ratio(1, 4)?, v3) {
                (false, _) => inst.int_cs,
                (true, true) => u.int_in_range(1..=4095)?,
                (true, false) => u.int_in_range(1..=255u16)? * 100,
            },
            auth_type: if inst.auth && !u.ratio(1, 8)? { 1 } else { 0 },
            auth_data: if u.ratio(1, 8)? {
                u.arbitrary()?
            } else {
                *b"secret\0\0"
            },
        };
        let i = insts.iter().position(|x| x.vrid == inst.vrid).unwrap_or(0);
        let mut addrs = Vec::new();
        for k in 0..u.int_in_range(0..=3)? {
            addrs.push(IpAddr::V4(Ipv4Addr::new(
                203,
                0,
                113,
                (10 + 4 * i + k) as u8,
            )));
        }
        let src = *u.choose(&PEERS)?;
        let dst = if inst.unicast && u.ratio(3, 4)? {
            if inst.eth1 {
                ME1
            } else {
                ME0
            }
        } else {
            GROUP
        };
        let form = *u.choose(&[ChecksumForm::PseudoHeader, ChecksumForm::MessageOnly])?;
        let mut buf = [0u8; 512];
        let len = if u.ratio(1, 16)? {
            let n = u.int_in_range(0..=64)?;
            let raw: &[u8] = u.bytes(n)?;
            buf[..raw.len()].copy_from_slice(raw);
            raw.len()
        } else {
            match packet::emit(&fields, &addrs, src, dst, form, &mut buf) {
                Ok(len) => len,
                Err(_) => return Ok(()),
            }
        };
        let default_if = if inst.eth1 { ETH1 } else { ETH0 };
        let rx = Datagram {
            ifindex: if u.ratio(1, 16)? {
                *u.choose(&[ETH0, ETH1, 9])?
            } else {
                default_if
            },
            src,
            dst,
            ttl: if u.ratio(1, 8)? { u.arbitrary()? } else { 255 },
            payload: &buf[..len],
            truncated: u.ratio(1, 32)?,
        };
        if trace() {
            eprintln!("{:?} {rx:?} {fields:?}", self.now);
        }
        self.router.handle_datagram(self.now, Family::V4, &rx);
        self.after("datagram");
        Ok(())
    }

    /// Drains the actions and checks them and the router against each other.
    fn after(&mut self, what: &str) {
        if trace() {
            eprintln!("{:?} {what}", self.now);
        }
        let mut groups: HashMap<usize, State> = HashMap::new();
        let mut started = HashSet::new();
        while let Some(action) = self.router.poll_action() {
            if trace() {
                eprintln!("  {action:?}");
            }
            match action {
                Action::Instance { slot, op, .. } => self.check_op(what, slot, &op),
                // At start every group is announced before its members run (keepalived's
                // way): only what follows counts.
                Action::GroupTransition { group, state } => {
                    if what != "start" || !started.insert(group) {
                        groups.insert(group, state);
                    }
                }
            }
        }
        self.check_phase(what);
        self.check_slots(what);
        self.check_groups(what, &groups);
        if let Some(t) = self.router.next_deadline() {
            assert!(
                t >= self.now,
                "{what}: deadline {t:?} before now {:?}",
                self.now
            );
        }
    }

    fn check_op(&mut self, what: &str, slot: SlotId, op: &Op) {
        let held = self.vips.entry(slot).or_insert(false);
        match op {
            Op::AddVips => {
                assert!(!*held, "{what}: AddVips twice for {slot:?}");
                *held = true;
            }
            Op::RemoveVips => {
                assert!(*held, "{what}: RemoveVips without VIPs for {slot:?}");
                *held = false;
            }
            Op::AddVip(_) | Op::RemoveVip(_) | Op::ChangeFollowers(_) => {
                assert!(*held, "{what}: {op:?} for {slot:?} without its VIPs");
            }
            _ => {}
        }
    }

    fn check_phase(&mut self, what: &str) {
        let phase = self.router.phase();
        let rank = |p: Phase| match p {
            Phase::Idle => 0,
            Phase::Running => 1,
            Phase::Stopping => 2,
            Phase::Stopped => 3,
        };
        assert!(
            rank(phase) >= rank(self.phase),
            "{what}: phase {:?} -> {phase:?}",
            self.phase
        );
        self.phase = phase;
        if phase == Phase::Stopped {
            for s in self.router.slots() {
                assert_eq!(
                    s.instance().state(),
                    State::Init,
                    "{what}: stopped, not in Init"
                );
            }
        }
    }

    fn check_slots(&mut self, what: &str) {
        let slots = self.router.slots();
        for (id, held) in &self.vips {
            if *held && !slots.iter().any(|s| s.id() == *id) {
                panic!("{what}: {id:?} is gone with its VIPs");
            }
        }
        for s in slots {
            let state = s.instance().state();
            let held = self.vips.get(&s.id()).copied().unwrap_or(false);
            let name = &s.cfg().name;
            assert_eq!(
                held,
                state == State::Master,
                "{what}: {name} {state}, VIPs {held}"
            );
            assert_eq!(held, s.vips_held(), "{what}: {name}: the router disagrees");
        }
    }

    fn check_groups(&self, what: &str, announced: &HashMap<usize, State>) {
        let slots = self.router.slots();
        for s in slots {
            let Some(g) = s.group() else { continue };
            let i = s.instance();
            let hold = slots
                .iter()
                .any(|o| o.id() != s.id() && o.group() == Some(g) && o.instance().outranked());
            let name = &s.cfg().name;
            if !i.leaving() {
                assert_eq!(i.held(), hold, "{what}: {name}: hold not settled");
            }
            let exempt = i.effective_priority() == 255 || i.leaving();
            assert!(
                !(i.held() && i.state() == State::Master) || exempt,
                "{what}: {name} master while held"
            );
        }
        for (&g, &state) in announced {
            for s in slots.iter().filter(|s| s.group() == Some(g)) {
                let now = s.instance().state();
                assert_eq!(
                    now, state,
                    "{what}: group {g} announced {state}, member {now}"
                );
            }
        }
    }
}
