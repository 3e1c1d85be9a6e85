//! One test per rule of RFC 5798 §6 (as updated by RFC 9568) and RFC 3768, named after the
//! section it checks.

use super::*;
use std::net::Ipv4Addr;

const ME: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
const LOWER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 5));
const HIGHER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 20));

fn params(version: Version, priority: u8, advert_int_cs: u16) -> Params {
    Params {
        vrid: 51,
        version,
        priority,
        advert_int_cs,
        preempt: true,
        preempt_delay: Duration::ZERO,
        primary_ip: ME,
        auth: None,
        garp: GarpSchedule::default(),
    }
}

fn ms(v: u64) -> Time {
    Duration::from_millis(v)
}

fn advert(src: IpAddr, version: Version, priority: u8, adver_int_cs: u16) -> RxAdvert {
    let fields = AdvertFields {
        version,
        vrid: 51,
        priority,
        adver_int_cs,
        auth_type: 0,
        auth_data: [0; 8],
    };
    RxAdvert { src, fields }
}

/// Starts an instance at t=0 and returns it with the start-up actions.
fn started(p: Params) -> (Instance, Vec<Action>) {
    let mut i = Instance::new(p);
    let mut out = Vec::new();
    i.handle(ms(0), Event::Startup, &mut out).unwrap();
    (i, out)
}

/// The actions of one event and whether an advert was discarded.
struct Step(Vec<Action>, Result<(), Discard>);

fn run(i: &mut Instance, now: Time, ev: Event) -> Step {
    let mut out = Vec::new();
    let r = i.handle(now, ev, &mut out);
    Step(out, r)
}

/// Delivers timer events at every deadline up to `until`, collecting the actions.
fn run_timers(i: &mut Instance, until: Time) -> Vec<(Time, Action)> {
    let mut all = Vec::new();
    while let Some(t) = i.next_deadline().filter(|t| *t <= until) {
        let Step(out, _) = run(i, t, Event::Timer);
        all.extend(out.into_iter().map(|a| (t, a)));
    }
    all
}

/// A backup that has accepted a master at 150 and is now the master itself after the timer.
fn master(p: Params) -> Instance {
    let (mut i, _) = started(p);
    let deadline = i.next_deadline().unwrap();
    run(&mut i, deadline, Event::Timer);
    assert_eq!(i.state(), State::Master);
    i
}

fn transitions(actions: &[Action]) -> Vec<(State, State)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Transition { from, to, .. } => Some((*from, *to)),
            _ => None,
        })
        .collect()
}

#[test]
fn rfc5798_6_1_skew_time_v2_is_256_minus_priority_over_256_seconds() {
    let i = Instance::new(params(Version::V2, 100, 100));
    assert_eq!(i.skew_time(), Duration::from_micros(609_375));
    assert_eq!(i.master_down_interval(), Duration::from_micros(3_609_375));
}

#[test]
fn rfc5798_6_1_skew_time_v3_scales_with_master_adver_interval() {
    let i = Instance::new(params(Version::V3, 100, 10));
    // ((256 - 100) * 10 cs) / 256 = 6.09375 cs
    assert_eq!(i.skew_time(), Duration::from_micros(60_937));
    assert_eq!(
        i.master_down_interval(),
        Duration::from_micros(300_000 + 60_937)
    );
}

#[test]
fn rfc5798_6_4_1_address_owner_becomes_master_at_startup() {
    let (i, out) = started(params(Version::V3, 255, 100));
    assert_eq!(i.state(), State::Master);
    assert_eq!(out[0], Action::SendAdvert { priority: 255 });
    assert!(out.contains(&Action::AddVips));
    assert!(out.contains(&Action::SendGarp { count: 5 }));
    assert_eq!(transitions(&out), vec![(State::Init, State::Master)]);
}

#[test]
fn rfc5798_6_4_1_non_owner_starts_as_backup_with_master_down_timer() {
    let (i, out) = started(params(Version::V2, 100, 100));
    assert_eq!(i.state(), State::Backup);
    assert_eq!(transitions(&out), vec![(State::Init, State::Backup)]);
    assert!(!out
        .iter()
        .any(|a| matches!(a, Action::SendAdvert { .. } | Action::AddVips)));
    assert_eq!(i.next_deadline(), Some(Duration::from_micros(3_609_375)));
}

#[test]
fn rfc5798_6_4_2_master_down_timer_expiry_makes_backup_master() {
    let (mut i, _) = started(params(Version::V2, 100, 100));
    let t = i.next_deadline().unwrap();
    // An early timer event does nothing.
    let Step(early, _) = run(&mut i, t - ms(1), Event::Timer);
    assert!(early.is_empty());
    let Step(out, _) = run(&mut i, t, Event::Timer);
    assert_eq!(i.state(), State::Master);
    assert_eq!(out[0], Action::SendAdvert { priority: 100 });
    assert_eq!(out[1], Action::AddVips);
    assert!(matches!(
        out.last(),
        Some(Action::Transition {
            to: State::Master,
            reason: Reason::MasterDown { last: None },
            ..
        })
    ));
}

#[test]
fn rfc5798_6_4_2_higher_priority_advert_resets_master_down_timer() {
    let (mut i, _) = started(params(Version::V2, 100, 100));
    let Step(out, r) = run(
        &mut i,
        ms(3000),
        Event::Advert(advert(HIGHER_IP, Version::V2, 150, 100)),
    );
    assert!(r.is_ok() && out.is_empty());
    assert_eq!(
        i.next_deadline(),
        Some(ms(3000) + Duration::from_micros(3_609_375))
    );
    assert_eq!(i.master(), Some((HIGHER_IP, 150)));
    // Adverts every second keep it backup for as long as they come.
    for k in 4..20 {
        run(
            &mut i,
            ms(k * 1000),
            Event::Advert(advert(HIGHER_IP, Version::V2, 150, 100)),
        );
        run_timers(&mut i, ms(k * 1000 + 999));
        assert_eq!(i.state(), State::Backup);
    }
}

#[test]
fn rfc5798_6_4_2_priority_zero_advert_sets_timer_to_skew_time() {
    let (mut i, _) = started(params(Version::V2, 100, 100));
    run(
        &mut i,
        ms(1000),
        Event::Advert(advert(HIGHER_IP, Version::V2, 150, 100)),
    );
    run(
        &mut i,
        ms(1500),
        Event::Advert(advert(HIGHER_IP, Version::V2, 0, 100)),
    );
    assert_eq!(
        i.next_deadline(),
        Some(ms(1500) + Duration::from_micros(609_375))
    );
    let acts = run_timers(&mut i, ms(3000));
    assert_eq!(i.state(), State::Master);
    assert!(acts.iter().any(|(_, a)| matches!(
        a,
        Action::Transition {
            reason: Reason::MasterLeft { .. },
            ..
        }
    )));
}

#[test]
fn rfc5798_6_4_2_v3_backup_learns_master_adver_interval() {
    let (mut i, _) = started(params(Version::V3, 100, 100));
    run(
        &mut i,
        ms(100),
        Event::Advert(advert(HIGHER_IP, Version::V3, 150, 20)),
    );
    assert_eq!(i.master_adver_int_cs(), 20);
    // Master_Down_Interval now uses 0.2 s: 0.6 s + (156 * 0.2 / 256) s.
    assert_eq!(
        i.next_deadline(),
        Some(ms(100) + Duration::from_micros(600_000 + 121_875))
    );
}

#[test]
fn rfc5798_6_4_2_backup_without_preempt_accepts_lower_priority_master() {
    let mut p = params(Version::V2, 150, 100);
    p.preempt = false;
    let (mut i, _) = started(p);
    for k in 1..30 {
        let Step(_, r) = run(
            &mut i,
            ms(k * 1000),
            Event::Advert(advert(LOWER_IP, Version::V2, 100, 100)),
        );
        assert!(r.is_ok());
        run_timers(&mut i, ms(k * 1000 + 999));
        assert_eq!(
            i.state(),
            State::Backup,
            "nopreempt backup took over at {k} s"
        );
    }
}

#[test]
fn rfc5798_6_4_2_preempting_backup_discards_lower_priority_and_takes_over_after_skew() {
    let (mut i, _) = started(params(Version::V2, 150, 100));
    let Step(_, r) = run(
        &mut i,
        ms(500),
        Event::Advert(advert(LOWER_IP, Version::V2, 100, 100)),
    );
    assert_eq!(r, Err(Discard::LowerPriority));
    // Skew for 150: 106/256 s.
    assert_eq!(
        i.next_deadline(),
        Some(ms(500) + Duration::from_micros(414_062))
    );
    let acts = run_timers(&mut i, ms(1000));
    assert_eq!(i.state(), State::Master);
    assert!(acts.iter().any(|(_, a)| matches!(
        a,
        Action::Transition {
            reason: Reason::Preempt { priority: 100, .. },
            ..
        }
    )));
}

#[test]
fn rfc5798_6_4_2_backup_equal_priority_does_not_preempt_existing_master() {
    // Equal priority from a lower address: the tie-break applies between masters only.
    let (mut i, _) = started(params(Version::V2, 100, 100));
    for k in 1..20 {
        let Step(_, r) = run(
            &mut i,
            ms(k * 1000),
            Event::Advert(advert(LOWER_IP, Version::V2, 100, 100)),
        );
        assert!(r.is_ok());
        run_timers(&mut i, ms(k * 1000 + 999));
        assert_eq!(i.state(), State::Backup);
    }
}

#[test]
fn keepalived_preempt_delay_holds_off_preemption_after_startup() {
    let mut p = params(Version::V2, 150, 100);
    p.preempt_delay = Duration::from_secs(10);
    let (mut i, _) = started(p);
    for k in 1..10 {
        run(
            &mut i,
            ms(k * 1000),
            Event::Advert(advert(LOWER_IP, Version::V2, 100, 100)),
        );
        run_timers(&mut i, ms(k * 1000 + 999));
        assert_eq!(
            i.state(),
            State::Backup,
            "preempted during preempt_delay at {k} s"
        );
    }
    let Step(_, r) = run(
        &mut i,
        ms(10_000),
        Event::Advert(advert(LOWER_IP, Version::V2, 100, 100)),
    );
    assert_eq!(r, Err(Discard::LowerPriority));
    run_timers(&mut i, ms(10_999));
    assert_eq!(i.state(), State::Master);
}

#[test]
fn rfc5798_6_4_3_master_sends_an_advert_every_interval() {
    for prio in [1, 100, 200, 254] {
        let (mut i, _) = started(params(Version::V3, prio, 100));
        let acts = run_timers(&mut i, ms(20_000));
        let sends: Vec<Time> = acts
            .iter()
            .filter(|(_, a)| matches!(a, Action::SendAdvert { .. }))
            .map(|(t, _)| *t)
            .collect();
        assert!(sends.len() >= 10, "prio {prio}: {} adverts", sends.len());
        for pair in sends.windows(2) {
            assert!(
                pair[1] - pair[0] <= ms(1000),
                "prio {prio}: gap {:?}",
                pair[1] - pair[0]
            );
        }
    }
}

#[test]
fn design_adverts_of_instances_with_one_interval_share_deadlines() {
    let a = master(params(Version::V3, 100, 100));
    let mut p = params(Version::V3, 200, 100);
    p.vrid = 52;
    let b = master(p);
    // They became master at different times (different skews) but tick together.
    assert_eq!(a.advert_at, b.advert_at);
}

#[test]
fn rfc5798_6_4_3_master_steps_down_on_higher_priority() {
    let mut i = master(params(Version::V2, 100, 100));
    let t = ms(10_000);
    let Step(out, r) = run(
        &mut i,
        t,
        Event::Advert(advert(LOWER_IP, Version::V2, 200, 100)),
    );
    assert!(r.is_ok());
    assert_eq!(i.state(), State::Backup);
    // The parting advert at our own priority (split brain end, see master_rx), then the VIPs go.
    assert_eq!(out[0], Action::SendAdvert { priority: 100 });
    assert_eq!(out[1], Action::RemoveVips);
    assert_eq!(transitions(&out), vec![(State::Master, State::Backup)]);
    let adverts = out
        .iter()
        .filter(|a| matches!(a, Action::SendAdvert { .. }));
    assert_eq!(adverts.count(), 1);
    assert_eq!(i.next_deadline(), Some(t + i.master_down_interval()));
}

#[test]
fn rfc5798_6_4_3_equal_priority_higher_address_wins() {
    let mut i = master(params(Version::V2, 100, 100));
    let Step(out, _) = run(
        &mut i,
        ms(10_000),
        Event::Advert(advert(HIGHER_IP, Version::V2, 100, 100)),
    );
    assert_eq!(i.state(), State::Backup);
    assert!(matches!(
        out.last(),
        Some(Action::Transition {
            reason: Reason::EqualPriorityHigherAddress { .. },
            ..
        })
    ));
}

#[test]
fn rfc5798_6_4_3_equal_priority_lower_address_keeps_master() {
    let mut i = master(params(Version::V2, 100, 100));
    let Step(out, _) = run(
        &mut i,
        ms(10_000),
        Event::Advert(advert(LOWER_IP, Version::V2, 100, 100)),
    );
    assert_eq!(i.state(), State::Master);
    assert_eq!(out[0], Action::SendAdvert { priority: 100 });
}

#[test]
fn rfc9568_6_4_3_master_answers_lower_priority_at_once_with_advert_and_garp() {
    let mut i = master(params(Version::V3, 150, 100));
    let Step(out, r) = run(
        &mut i,
        ms(10_000),
        Event::Advert(advert(LOWER_IP, Version::V3, 100, 100)),
    );
    assert!(r.is_ok());
    assert_eq!(i.state(), State::Master);
    assert_eq!(
        out,
        vec![
            Action::SendAdvert { priority: 150 },
            Action::SendGarp { count: 5 },
            Action::MasterRxLowerPri,
        ]
    );
}

#[test]
fn rfc5798_6_4_3_master_answers_priority_zero_with_advert() {
    let mut i = master(params(Version::V3, 150, 100));
    let Step(out, _) = run(
        &mut i,
        ms(10_000),
        Event::Advert(advert(LOWER_IP, Version::V3, 0, 100)),
    );
    assert_eq!(i.state(), State::Master);
    assert_eq!(out, vec![Action::SendAdvert { priority: 150 }]);
}

#[test]
fn rfc5798_6_4_3_shutdown_of_master_sends_priority_zero_and_removes_vips() {
    let mut i = master(params(Version::V2, 150, 100));
    let Step(out, _) = run(&mut i, ms(10_000), Event::Shutdown);
    assert_eq!(out[0], Action::SendAdvert { priority: 0 });
    assert_eq!(out[1], Action::RemoveVips);
    assert_eq!(transitions(&out), vec![(State::Master, State::Init)]);
    assert_eq!(i.next_deadline(), None);
}

#[test]
fn rfc5798_6_4_2_shutdown_of_backup_sends_nothing() {
    let (mut i, _) = started(params(Version::V2, 100, 100));
    let Step(out, _) = run(&mut i, ms(100), Event::Shutdown);
    assert_eq!(transitions(&out), vec![(State::Backup, State::Init)]);
    assert_eq!(out.len(), 1);
}

#[test]
fn rfc3768_7_1_v2_advert_with_other_interval_is_discarded() {
    let (mut i, _) = started(params(Version::V2, 100, 100));
    let before = i.next_deadline();
    let Step(_, r) = run(
        &mut i,
        ms(100),
        Event::Advert(advert(HIGHER_IP, Version::V2, 150, 200)),
    );
    assert_eq!(r, Err(Discard::IntervalMismatch));
    assert_eq!(i.next_deadline(), before);
    assert_eq!(i.stats().discarded, 1);
}

#[test]
fn rfc3768_5_3_6_simple_password_must_match() {
    let mut p = params(Version::V2, 100, 100);
    p.auth = Some(*b"secret12");
    let (mut i, _) = started(p);
    let mut a = advert(HIGHER_IP, Version::V2, 150, 100);
    a.fields.auth_type = 1;
    a.fields.auth_data = *b"wrongpw\0";
    assert_eq!(
        run(&mut i, ms(100), Event::Advert(a)).1,
        Err(Discard::AuthMismatch)
    );
    a.fields.auth_type = 0;
    a.fields.auth_data = [0; 8];
    assert_eq!(
        run(&mut i, ms(100), Event::Advert(a)).1,
        Err(Discard::AuthMismatch)
    );
    a.fields.auth_type = 1;
    a.fields.auth_data = *b"secret12";
    assert_eq!(run(&mut i, ms(100), Event::Advert(a)).1, Ok(()));
}

#[test]
fn rfc5798_7_1_other_version_is_discarded() {
    let (mut i, _) = started(params(Version::V3, 100, 100));
    let Step(_, r) = run(
        &mut i,
        ms(100),
        Event::Advert(advert(HIGHER_IP, Version::V2, 150, 100)),
    );
    assert_eq!(r, Err(Discard::VersionMismatch));
}

#[test]
fn own_address_as_source_is_discarded() {
    let mut i = master(params(Version::V3, 100, 100));
    let Step(_, r) = run(
        &mut i,
        ms(10_000),
        Event::Advert(advert(ME, Version::V3, 200, 100)),
    );
    assert_eq!(r, Err(Discard::OwnAddress));
    assert_eq!(i.state(), State::Master);
}

#[test]
fn keepalived_garp_schedule_burst_then_delayed_burst_then_refresh() {
    let mut p = params(Version::V3, 255, 100);
    p.garp = GarpSchedule {
        repeat: 3,
        delay: Duration::from_secs(5),
        refresh: Duration::from_secs(60),
        refresh_repeat: 2,
    };
    let (mut i, out) = started(p);
    assert!(out.contains(&Action::SendGarp { count: 3 }));
    let acts = run_timers(&mut i, ms(130_000));
    let garps: Vec<(Time, u32)> = acts
        .iter()
        .filter_map(|(t, a)| match a {
            Action::SendGarp { count } => Some((*t, *count)),
            _ => None,
        })
        .collect();
    assert_eq!(
        garps,
        vec![(ms(5_000), 3), (ms(60_000), 2), (ms(120_000), 2)]
    );
}

#[test]
fn keepalived_garp_master_delay_zero_sends_one_burst_only() {
    let mut p = params(Version::V3, 255, 100);
    p.garp.delay = Duration::ZERO;
    let (mut i, _) = started(p);
    let acts = run_timers(&mut i, ms(30_000));
    assert!(!acts
        .iter()
        .any(|(_, a)| matches!(a, Action::SendGarp { .. })));
}

#[test]
fn link_down_puts_master_in_fault_and_link_up_restarts_as_backup() {
    let mut i = master(params(Version::V2, 150, 100));
    let Step(out, _) = run(&mut i, ms(10_000), Event::LinkDown);
    assert_eq!(out[0], Action::RemoveVips);
    assert_eq!(i.state(), State::Fault);
    assert_eq!(i.next_deadline(), None);
    let Step(_, r) = run(
        &mut i,
        ms(10_100),
        Event::Advert(advert(LOWER_IP, Version::V2, 100, 100)),
    );
    assert_eq!(r, Err(Discard::NotListening));
    let Step(out, _) = run(&mut i, ms(20_000), Event::LinkUp);
    assert_eq!(transitions(&out), vec![(State::Fault, State::Backup)]);
    assert_eq!(
        i.next_deadline(),
        Some(ms(20_000) + i.master_down_interval())
    );
}

#[test]
fn interface_unusable_at_start_goes_to_fault_not_backup() {
    let mut i = Instance::new(params(Version::V2, 150, 100));
    let Step(out, _) = run(&mut i, ms(0), Event::LinkDown);
    assert_eq!(transitions(&out), vec![(State::Init, State::Fault)]);
    let Step(out, _) = run(&mut i, ms(5_000), Event::LinkUp);
    assert_eq!(transitions(&out), vec![(State::Fault, State::Backup)]);
}

#[test]
fn priority_drop_of_master_is_advertised_at_once() {
    let mut i = master(params(Version::V3, 150, 100));
    let Step(out, _) = run(&mut i, ms(10_050), Event::PriorityChanged(80));
    assert_eq!(out, vec![Action::SendAdvert { priority: 80 }]);
    assert_eq!(i.effective_priority(), 80);
    // A backup at 100 now outranks it and preempts.
    let (mut b, _) = started({
        let mut p = params(Version::V3, 100, 100);
        p.primary_ip = HIGHER_IP;
        p
    });
    let (_, r) = b
        .handle(
            ms(10_051),
            Event::Advert(advert(ME, Version::V3, 80, 100)),
            &mut Vec::new(),
        )
        .map(|_| ((), Ok::<(), Discard>(())))
        .unwrap_or_else(|e| ((), Err(e)));
    assert_eq!(r, Err(Discard::LowerPriority));
    run_timers(&mut b, ms(11_000));
    assert_eq!(b.state(), State::Master);
}

#[test]
fn stats_count_adverts_and_transitions() {
    let mut i = master(params(Version::V3, 150, 100));
    run(
        &mut i,
        ms(10_000),
        Event::Advert(advert(LOWER_IP, Version::V3, 200, 100)),
    );
    let s = *i.stats();
    assert_eq!(s.become_master, 1);
    assert_eq!(s.release_master, 1);
    assert_eq!(s.rx_adverts, 1);
    assert!(s.tx_adverts >= 1);
}

/// vrrp_sync_group (keepalived): a held master steps down at once, saying so with priority 0.
#[test]
fn sync_group_hold_makes_a_master_step_down_with_priority_zero() {
    let mut i = master(params(Version::V3, 150, 100));
    let Step(out, _) = run(&mut i, ms(5000), Event::GroupHold(true));
    assert_eq!(i.state(), State::Backup);
    assert!(i.held());
    assert!(out.contains(&Action::SendAdvert {
        priority: PRIORITY_LEAVING
    }));
    assert!(out.contains(&Action::RemoveVips));
    assert!(out.iter().any(|a| matches!(
        a,
        Action::Transition {
            reason: Reason::SyncGroup,
            ..
        }
    )));
    // A held backup is not outranked (nobody outranks it): it never holds others back.
    assert!(!i.outranked());
}

/// A held backup lets its down timer run out without taking over, then takes over as soon as
/// the hold ends.
#[test]
fn sync_group_held_backup_takes_over_only_when_released() {
    let (mut i, _) = started(params(Version::V3, 100, 100));
    run(&mut i, ms(10), Event::GroupHold(true));
    let acts = run_timers(&mut i, ms(20_000));
    assert!(
        !acts.iter().any(|(_, a)| *a == Action::AddVips),
        "took over while held"
    );
    assert_eq!(i.state(), State::Backup);
    assert_eq!(i.next_deadline(), None, "no busy timer while held");
    let Step(out, _) = run(&mut i, ms(20_000), Event::GroupHold(false));
    assert_eq!(i.state(), State::Master);
    assert!(out.contains(&Action::AddVips));
}

/// An address owner starts as master even while held; when a reload lowers its priority it
/// is an ordinary held master and steps down (found by fuzz/fuzz_targets/instance_events.rs:
/// it stayed master while held).
#[test]
fn sync_group_held_owner_steps_down_when_no_longer_owner() {
    let mut i = Instance::new(params(Version::V2, 255, 600));
    run(&mut i, ms(0), Event::GroupHold(true));
    run(&mut i, ms(0), Event::Startup);
    assert_eq!(i.state(), State::Master, "an owner does not wait");
    i.set_configured_priority(229);
    let Step(out, _) = run(&mut i, ms(4000), Event::PriorityChanged(229));
    assert_eq!(i.state(), State::Backup);
    assert!(out.contains(&Action::SendAdvert {
        priority: PRIORITY_LEAVING
    }));
    assert!(out.contains(&Action::RemoveVips));
}

/// A held backup about to preempt a lower master, its takeover due while held, then lowered
/// below that master: its down timer is due now, not in the past (found by
/// fuzz/fuzz_targets/instance_events.rs).
#[test]
fn sync_group_held_preempter_lowered_later_gets_no_past_deadline() {
    let (mut i, _) = started(params(Version::V2, 155, 1000));
    let lower = Event::Advert(advert(LOWER_IP, Version::V2, 114, 1000));
    assert_eq!(run(&mut i, ms(6440), lower).1, Err(Discard::LowerPriority));
    run(&mut i, ms(6440), Event::GroupHold(true));
    run_timers(&mut i, ms(7000));
    assert_eq!(i.next_deadline(), None, "takeover came due while held");
    run(&mut i, ms(40_860), Event::PriorityChanged(46));
    assert_eq!(i.next_deadline(), Some(ms(40_860)));
    assert_eq!(i.state(), State::Backup);
}

/// A master heard again while held cancels the takeover that came due.
#[test]
fn sync_group_release_after_a_master_returns_does_not_take_over() {
    let (mut i, _) = started(params(Version::V3, 100, 100));
    run(&mut i, ms(10), Event::GroupHold(true));
    run_timers(&mut i, ms(20_000));
    run(
        &mut i,
        ms(20_100),
        Event::Advert(advert(LOWER_IP, Version::V3, 200, 100)),
    );
    assert!(i.outranked(), "a backup of a higher master is outranked");
    run(&mut i, ms(20_200), Event::GroupHold(false));
    assert_eq!(i.state(), State::Backup);
    assert!(i.next_deadline().is_some());
}

#[test]
fn outranked_means_backup_of_a_higher_or_equal_and_higher_address_master() {
    let (mut i, _) = started(params(Version::V3, 100, 100));
    assert!(!i.outranked(), "no master heard yet");
    run(
        &mut i,
        ms(10),
        Event::Advert(advert(HIGHER_IP, Version::V3, 100, 100)),
    );
    assert!(i.outranked(), "equal priority, higher address");
    run(
        &mut i,
        ms(20),
        Event::Advert(advert(LOWER_IP, Version::V3, 100, 100)),
    );
    assert!(
        !i.outranked(),
        "equal priority, lower address: we would win"
    );
    run(
        &mut i,
        ms(30),
        Event::Advert(advert(LOWER_IP, Version::V3, 50, 100)),
    );
    assert!(!i.outranked(), "lower-priority master: we preempt");
}

/// Issue 16 #5: an advert the daemon could not queue is taken back out of the counters.
#[test]
fn adverts_that_did_not_leave_are_not_counted() {
    let mut i = master(params(Version::V3, 150, 100));
    let before = *i.stats();
    assert!(before.tx_adverts >= 1);
    i.advert_not_sent(150);
    assert_eq!(i.stats().tx_adverts, before.tx_adverts - 1);
    assert_eq!(i.stats().tx_priority_zero, before.tx_priority_zero);
    i.advert_not_sent(PRIORITY_LEAVING);
    let after = *i.stats();
    assert_eq!(after.tx_adverts, before.tx_adverts.saturating_sub(2));
    assert_eq!(
        after.tx_priority_zero,
        before.tx_priority_zero.saturating_sub(1)
    );
}

// ---- issue 13: flap damping, split brain end, tick phase, make-before-break stop, sources

/// A master at 150 whose link went down and came back at `up`.
fn relinked(version: Version, advert_int_cs: u16, down: Time, up: Time) -> Instance {
    let mut i = master(params(version, 150, advert_int_cs));
    run(&mut i, down, Event::LinkDown);
    run(&mut i, up, Event::LinkUp);
    assert_eq!(i.state(), State::Backup);
    i
}

fn lower(version: Version, advert_int_cs: u16) -> Event {
    Event::Advert(advert(LOWER_IP, version, 100, advert_int_cs))
}

#[test]
fn flap_damping_no_preemption_within_master_down_interval_after_link_up() {
    let mut i = relinked(Version::V3, 10, ms(10_000), ms(10_300));
    let mdi = i.master_down_interval();
    // Within the hold-down the lower-priority master is accepted, not preempted.
    let Step(_, r) = run(&mut i, ms(10_350), lower(Version::V3, 10));
    assert_eq!(r, Ok(()));
    assert_eq!(i.next_deadline(), Some(ms(10_350) + mdi));
    // After it, the next advert of the lower master starts the fast preemption.
    let after = ms(10_300) + mdi;
    let Step(_, r) = run(&mut i, after, lower(Version::V3, 10));
    assert_eq!(r, Err(Discard::LowerPriority));
    let acts = run_timers(&mut i, after + mdi);
    assert_eq!(i.state(), State::Master, "{acts:?}");
}

#[test]
fn flap_damping_hold_down_doubles_with_each_flap_up_to_eight_times_and_resets() {
    let mut i = master(params(Version::V3, 150, 10));
    let mdi = i.master_down_interval();
    let mut t = ms(10_000);
    let mut holds = Vec::new();
    for _ in 0..6 {
        run(&mut i, t, Event::LinkDown);
        t += ms(300);
        run(&mut i, t, Event::LinkUp);
        holds.push(i.preempt_allowed_at - t);
        t += ms(300);
    }
    let want: Vec<Duration> = [1, 2, 4, 8, 8, 8].iter().map(|k| mdi * *k).collect();
    assert_eq!(holds, want);
    // A link that stays up for twice its hold-down is trusted again.
    run(&mut i, t + mdi * 16, Event::LinkDown);
    run(&mut i, t + mdi * 17, Event::LinkUp);
    assert_eq!(i.preempt_allowed_at, t + mdi * 18);
}

#[test]
fn flap_damping_keeps_preempt_delay_when_it_is_longer() {
    let mut p = params(Version::V2, 150, 100);
    p.preempt_delay = Duration::from_secs(30);
    let mut i = Instance::new(p);
    let mut out = Vec::new();
    i.handle(ms(0), Event::LinkDown, &mut out).unwrap();
    i.handle(ms(1_000), Event::LinkUp, &mut out).unwrap();
    assert_eq!(i.preempt_allowed_at, ms(31_000));
}

#[test]
fn split_brain_end_whoever_hears_first_the_winner_re_announces() {
    // The loser (100) hears the winner (200) first: it leaves with an advert at 100 ...
    let mut loser = master(params(Version::V2, 100, 100));
    let Step(out, _) = run(
        &mut loser,
        ms(10_000),
        Event::Advert(advert(HIGHER_IP, Version::V2, 200, 100)),
    );
    assert_eq!(out[0], Action::SendAdvert { priority: 100 });
    // ... which the winner hears as a lower-priority advert: advert and GARPs at once.
    let mut p = params(Version::V2, 200, 100);
    p.primary_ip = HIGHER_IP;
    let mut winner = master(p);
    let Step(out, _) = run(
        &mut winner,
        ms(10_001),
        Event::Advert(advert(ME, Version::V2, 100, 100)),
    );
    assert_eq!(out[0], Action::SendAdvert { priority: 200 });
    assert!(out.contains(&Action::SendGarp { count: 5 }));
}

#[test]
fn tick_phase_shifts_the_advert_grid() {
    let mut p = params(Version::V2, 100, 100);
    p.garp.delay = Duration::ZERO;
    let mut i = master(p);
    i.set_tick_phase(ms(1_037));
    let Step(out, _) = run(
        &mut i,
        ms(10_500),
        Event::Advert(advert(LOWER_IP, Version::V2, 50, 100)),
    );
    assert_eq!(out[0], Action::SendAdvert { priority: 100 });
    assert_eq!(i.next_deadline(), Some(ms(11_037)));
    // Exactly on a point of the grid: the next one.
    run(&mut i, ms(11_037), Event::Timer);
    assert_eq!(i.next_deadline(), Some(ms(12_037)));
    // Before the first point after zero.
    let mut j = Instance::new(params(Version::V3, 255, 10));
    j.set_tick_phase(ms(40));
    run(&mut j, ms(5), Event::Startup);
    assert_eq!(j.next_deadline(), Some(ms(40)));
}

#[test]
fn stop_bound_is_the_slowest_backup_skew_plus_one_interval() {
    let v2 = Instance::new(params(Version::V2, 150, 100));
    assert_eq!(v2.stop_bound(), Duration::from_micros(996_093 + 1_000_000));
    let v3 = Instance::new(params(Version::V3, 150, 10));
    assert_eq!(v3.stop_bound(), Duration::from_micros(99_609 + 100_000));
}

#[test]
fn stop_master_keeps_vips_until_the_new_master_is_heard() {
    let mut i = master(params(Version::V2, 150, 100));
    let t = ms(10_500);
    let Step(out, _) = run(&mut i, t, Event::Stop);
    assert_eq!(out, vec![Action::SendAdvert { priority: 0 }]);
    assert!(i.leaving());
    assert_eq!(i.state(), State::Master);
    // Priority 0 again on the grid while waiting, nothing else.
    let acts = run_timers(&mut i, ms(11_000));
    assert_eq!(acts, vec![(ms(11_000), Action::SendAdvert { priority: 0 })]);
    // The backup took over: its advert (at its own, lower, priority) ends the wait.
    let Step(out, r) = run(&mut i, ms(11_100), lower(Version::V2, 100));
    assert_eq!(r, Ok(()));
    assert_eq!(out[0], Action::RemoveVips);
    assert!(matches!(
        out[1],
        Action::Transition {
            from: State::Master,
            to: State::Init,
            reason: Reason::HandedOver { to: Some(LOWER_IP) },
            ..
        }
    ));
    assert!(!i.leaving());
    assert_eq!(i.next_deadline(), None);
}

#[test]
fn stop_master_without_successor_drops_vips_at_the_bound() {
    let mut i = master(params(Version::V3, 150, 10));
    let t = ms(10_050);
    run(&mut i, t, Event::Stop);
    // Another leaving master's priority 0 is no successor.
    let zero = Event::Advert(advert(LOWER_IP, Version::V3, 0, 10));
    let Step(out, _) = run(&mut i, ms(10_060), zero);
    assert!(out.is_empty());
    let acts = run_timers(&mut i, ms(20_000));
    let removed: Vec<Time> = acts
        .iter()
        .filter(|(_, a)| *a == Action::RemoveVips)
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(removed, vec![t + i.stop_bound()]);
    assert_eq!(i.state(), State::Init);
    assert!(acts.iter().any(|(_, a)| matches!(
        a,
        Action::Transition {
            reason: Reason::HandedOver { to: None },
            ..
        }
    )));
}

#[test]
fn stop_ends_at_once_on_link_down_or_a_second_stop() {
    for ev in [Event::LinkDown, Event::Stop, Event::Shutdown] {
        let mut i = master(params(Version::V2, 150, 100));
        run(&mut i, ms(10_000), Event::Stop);
        let Step(out, _) = run(&mut i, ms(10_100), ev);
        assert_eq!(out[0], Action::RemoveVips, "{ev:?}");
        assert_eq!(i.state(), State::Init);
    }
}

#[test]
fn stop_without_handover_or_as_backup_is_shutdown() {
    let mut i = master(params(Version::V2, 150, 100));
    i.set_handover(false);
    let Step(out, _) = run(&mut i, ms(10_000), Event::Stop);
    assert_eq!(out[0], Action::SendAdvert { priority: 0 });
    assert_eq!(out[1], Action::RemoveVips);
    assert_eq!(i.state(), State::Init);
    let (mut b, _) = started(params(Version::V2, 100, 100));
    let Step(out, _) = run(&mut b, ms(100), Event::Stop);
    assert_eq!(transitions(&out), vec![(State::Backup, State::Init)]);
    assert!(!b.leaving());
}

#[test]
fn allowed_sources_drop_adverts_from_anyone_else() {
    let (mut i, _) = started(params(Version::V2, 100, 100));
    i.set_allowed_sources(vec![LOWER_IP]);
    let deadline = i.next_deadline();
    let forged = Event::Advert(advert(HIGHER_IP, Version::V2, 254, 100));
    let Step(out, r) = run(&mut i, ms(500), forged);
    assert_eq!(r, Err(Discard::SourceNotAllowed));
    assert!(out.is_empty());
    assert_eq!(i.next_deadline(), deadline);
    let Step(_, r) = run(
        &mut i,
        ms(600),
        Event::Advert(advert(LOWER_IP, Version::V2, 200, 100)),
    );
    assert_eq!(r, Ok(()));
    assert_eq!(i.master(), Some((LOWER_IP, 200)));
}
