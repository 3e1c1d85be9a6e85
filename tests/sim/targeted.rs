//! Deterministic scenarios for the timing promises of RFC 5798 / RFC 9568, each measured on
//! the simulated clock and asserted against the bound the RFC (or the design) gives.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use tinyvrrp::instance::{GarpSchedule, Instance, Params, Reason, State, Time};
use tinyvrrp::packet::Version;

use crate::scenario::MAX_DELAY_US;
use crate::world::{interval, secs, Fault, NodeCfg, TransitionRec, World};

const MAX_DELAY: Duration = Duration::from_micros(MAX_DELAY_US);
const SEEDS: u64 = 16;

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
}

fn ms(v: u64) -> Time {
    Duration::from_millis(v)
}

fn params(version: Version, priority: u8, advert_int_cs: u16, host: u8) -> Params {
    Params {
        vrid: 7,
        version,
        priority,
        advert_int_cs,
        preempt: true,
        preempt_delay: Duration::ZERO,
        primary_ip: ip(host),
        auth: None,
        garp: GarpSchedule::default(),
    }
}

/// One VRID, one node per `Params`, advert delays drawn from 0–5 ms with `seed`.
fn world(nodes: Vec<Params>, seed: u64) -> World {
    let cfg = nodes
        .into_iter()
        .map(|p| NodeCfg {
            ip: p.primary_ip,
            slots: vec![Some(p)],
        })
        .collect();
    let mut w = World::new(cfg, seed, (0, MAX_DELAY_US));
    w.trace = Some(Default::default());
    w
}

fn run(w: &mut World, until: Time) {
    if let Err(v) = w.run_until(until, |_| Ok(())) {
        panic!("{v}\nlast events:\n{}", w.trace_text());
    }
}

fn skew(p: &Params) -> Duration {
    Instance::new(p.clone()).skew_time()
}

fn transitions_of(w: &World, node: usize, after: Time) -> Vec<TransitionRec> {
    w.transitions
        .iter()
        .filter(|t| t.node == node && t.at >= after)
        .copied()
        .collect()
}

/// When `node` first entered `to` at or after `after`.
fn entered(w: &World, node: usize, to: State, after: Time) -> Option<TransitionRec> {
    transitions_of(w, node, after)
        .into_iter()
        .find(|t| t.to == to)
}

fn assert_sole_master(w: &World, node: usize) {
    assert_eq!(
        w.masters(0),
        vec![node],
        "at {}\n{}",
        secs(w.now),
        w.trace_text()
    );
}

#[test]
fn simultaneous_start_of_equal_priorities_higher_address_wins() {
    for version in [Version::V2, Version::V3] {
        for seed in 0..SEEDS {
            // Node order does not follow address order in every run.
            let (lo, hi) = if seed % 2 == 0 { (0, 1) } else { (1, 0) };
            let mut nodes = vec![params(version, 100, 100, 10), params(version, 100, 100, 20)];
            if lo == 1 {
                nodes.swap(0, 1);
            }
            let mdi = Instance::new(nodes[0].clone()).master_down_interval();
            let mut w = world(nodes, seed);
            w.schedule(ms(0), Fault::Start(0));
            w.schedule(ms(0), Fault::Start(1));
            run(&mut w, ms(30_000));
            assert_sole_master(&w, hi);
            // Both timed out together, so both were master for a moment ...
            let lo_master = entered(&w, lo, State::Master, ms(0)).expect("lower became master");
            assert_eq!(lo_master.at, mdi);
            // ... and the lower address gave way as soon as the other's advert arrived.
            let lo_backup = entered(&w, lo, State::Backup, mdi).expect("lower stepped down");
            assert_eq!(
                lo_backup.reason,
                Reason::EqualPriorityHigherAddress { from: ip(20) }
            );
            assert!(lo_backup.at <= mdi + MAX_DELAY, "{lo_backup:?}");
            assert!(transitions_of(&w, hi, mdi + Duration::from_nanos(1)).is_empty());
        }
    }
}

#[test]
fn restarted_highest_node_takes_the_vip_back_within_one_interval_plus_skew() {
    let mut worst = Duration::ZERO;
    for version in [Version::V2, Version::V3] {
        for seed in 0..SEEDS {
            let high = params(version, 200, 100, 10);
            let low = params(version, 100, 100, 20);
            let (int, skew_high) = (interval(&low), skew(&high));
            let mut w = world(vec![high, low], seed);
            w.schedule(ms(0), Fault::Start(0));
            w.schedule(ms(0), Fault::Start(1));
            w.schedule(ms(10_000), Fault::Crash(0));
            let restart = ms(20_000 + 137 * seed % 1_000);
            w.schedule(restart, Fault::Start(0));
            run(&mut w, ms(40_000));
            assert_sole_master(&w, 0);
            let low_master = entered(&w, 1, State::Master, ms(10_000)).expect("low took over");
            assert!(low_master.at < restart);
            let back = entered(&w, 0, State::Master, restart).expect("high came back");
            assert!(matches!(back.reason, Reason::Preempt { .. }), "{back:?}");
            let took = back.at - restart;
            // It waits for the low master's advert (at most one interval plus the delay),
            // discards it and takes over after its own Skew_Time.
            assert!(took >= skew_high, "took over before its skew: {took:?}");
            assert!(
                took <= int + MAX_DELAY + skew_high,
                "took {took:?} > {int:?} + {MAX_DELAY:?} + {skew_high:?}"
            );
            let low_backup = entered(&w, 1, State::Backup, restart).expect("low stepped down");
            assert!(low_backup.at <= back.at + MAX_DELAY);
            worst = worst.max(took);
        }
    }
    eprintln!("restart of the highest node: worst takeover {worst:?}");
}

#[test]
fn priority_zero_handover_happens_within_skew_plus_delay() {
    for version in [Version::V2, Version::V3] {
        for seed in 0..SEEDS {
            let nodes = vec![
                params(version, 200, 100, 10),
                params(version, 150, 100, 20),
                params(version, 100, 100, 30),
            ];
            let skew_b = skew(&nodes[1]);
            let mut w = world(nodes, seed);
            for n in 0..3 {
                w.schedule(ms(0), Fault::Start(n));
            }
            let leave = ms(10_250 + 31 * seed);
            w.schedule(leave, Fault::Shutdown(0));
            run(&mut w, ms(30_000));
            assert_sole_master(&w, 1);
            let took_over = entered(&w, 1, State::Master, leave).expect("B took over");
            assert_eq!(took_over.reason, Reason::MasterLeft { from: ip(10) });
            let took = took_over.at - leave;
            assert!(took >= skew_b, "{took:?} < skew {skew_b:?}");
            assert!(took <= skew_b + MAX_DELAY, "{took:?} > {skew_b:?} + delay");
            // C's longer skew runs out after B's advert reached it: it never became master.
            assert_eq!(entered(&w, 2, State::Master, leave), None);
        }
    }
}

#[test]
fn split_brain_heals_within_one_advert_interval_of_the_lower_master() {
    // (version, high's interval, low's interval): in the v3 case the high master advertises
    // rarely, so only its immediate answer (RFC 9568 §6.4.3) meets the bound.
    for (version, high_int, low_int) in [(Version::V2, 100, 100), (Version::V3, 200, 50)] {
        for seed in 0..SEEDS {
            let high = params(version, 200, high_int, 10);
            let low = params(version, 100, low_int, 20);
            let int_low = interval(&low);
            let mut w = world(vec![high, low], seed);
            w.schedule(ms(0), Fault::Start(0));
            w.schedule(ms(0), Fault::Start(1));
            w.schedule(ms(10_000), Fault::Partition(vec![0, 1]));
            let heal = ms(20_300 + 53 * seed);
            w.schedule(heal, Fault::Heal);
            run(&mut w, heal);
            assert_eq!(w.masters(0), vec![0, 1], "no split brain to heal");
            run(&mut w, ms(40_000));
            assert_sole_master(&w, 0);
            let down = entered(&w, 1, State::Backup, heal).expect("low stepped down");
            let took = down.at - heal;
            assert!(
                took <= int_low + 2 * MAX_DELAY,
                "{version:?}: took {took:?} > {int_low:?} + 2 * delay"
            );
            let high_master = entered(&w, 0, State::Master, ms(0)).expect("high master");
            assert!(transitions_of(&w, 0, high_master.at + Duration::from_nanos(1)).is_empty());
        }
    }
}

#[test]
fn address_owner_starting_while_another_is_master_takes_over_at_once() {
    for version in [Version::V2, Version::V3] {
        for seed in 0..SEEDS {
            // The owner has the lower address: priority, not the tie-break, decides.
            let other = params(version, 100, 100, 20);
            let owner = params(version, 255, 100, 10);
            let mut w = world(vec![other, owner], seed);
            w.schedule(ms(0), Fault::Start(0));
            let start = ms(10_300 + 17 * seed);
            w.schedule(start, Fault::Start(1));
            run(&mut w, start);
            // The other master has not heard the owner yet: both hold the VIPs for at most
            // one delivery delay.
            assert_eq!(w.masters(0), vec![0, 1]);
            let t = entered(&w, 1, State::Master, start).expect("owner master");
            assert_eq!(
                (t.from, t.at, t.reason),
                (State::Init, start, Reason::AddressOwner)
            );
            assert!(w.live(1, 0).is_some_and(|l| l.holds_vips));
            run(&mut w, ms(30_000));
            assert_sole_master(&w, 1);
            let gave_way = entered(&w, 0, State::Backup, start).expect("other stepped down");
            assert!(gave_way.at <= start + MAX_DELAY, "{gave_way:?}");
            assert_eq!(
                gave_way.reason,
                Reason::HigherPriority {
                    from: ip(10),
                    priority: 255
                }
            );
        }
    }
}

#[test]
fn nopreempt_node_restarting_leaves_the_lower_master_alone() {
    for version in [Version::V2, Version::V3] {
        for seed in 0..SEEDS {
            let mut high = params(version, 200, 100, 10);
            high.preempt = false;
            let low = params(version, 100, 100, 20);
            let mut w = world(vec![high, low], seed);
            w.schedule(ms(0), Fault::Start(0));
            w.schedule(ms(0), Fault::Start(1));
            w.schedule(ms(10_000), Fault::Crash(0));
            w.schedule(ms(20_500), Fault::Start(0));
            run(&mut w, ms(60_000));
            assert_sole_master(&w, 1);
            assert_eq!(entered(&w, 0, State::Master, ms(20_500)), None);
        }
    }
}

#[test]
fn preempt_delay_holds_the_takeover_until_it_has_passed() {
    for version in [Version::V2, Version::V3] {
        for seed in 0..SEEDS {
            let mut high = params(version, 200, 100, 10);
            high.preempt_delay = ms(5_000 + 77 * seed);
            let (delay, skew_high) = (high.preempt_delay, skew(&high));
            let low = params(version, 100, 100, 20);
            let int = interval(&low);
            let mut w = world(vec![high, low], seed);
            w.schedule(ms(0), Fault::Start(1));
            let start = ms(10_500);
            w.schedule(start, Fault::Start(0));
            run(&mut w, ms(40_000));
            assert_sole_master(&w, 0);
            let took_over = entered(&w, 0, State::Master, start).expect("high took over");
            let allowed = start + delay;
            assert!(took_over.at >= allowed, "preempted during preempt_delay");
            assert!(
                took_over.at <= allowed + int + MAX_DELAY + skew_high,
                "{} > {} + interval + delay + skew",
                secs(took_over.at),
                secs(allowed)
            );
        }
    }
}

/// A backup that accepted a lower-priority master (nopreempt, or still inside its
/// preempt_delay) and then stops hearing it has not preempted anyone: its timer simply ran
/// out, and the transition it reports (logged, passed to notify scripts) must say so.
#[test]
fn timeout_after_accepting_a_lower_master_is_reported_as_master_down_not_preempt() {
    for version in [Version::V2, Version::V3] {
        let mut high = params(version, 200, 100, 10);
        high.preempt = false;
        let low = params(version, 100, 100, 20);
        let mut w = world(vec![high, low], 1);
        w.schedule(ms(0), Fault::Start(1));
        w.schedule(ms(5_000), Fault::Start(0));
        w.schedule(ms(10_000), Fault::Crash(1));
        run(&mut w, ms(20_000));
        assert_sole_master(&w, 0);
        let t = entered(&w, 0, State::Master, ms(10_000)).expect("high took over");
        assert!(
            matches!(t.reason, Reason::MasterDown { last: Some((from, _)) } if from == ip(20)),
            "{version:?}: took over after the master died, reported as {:?}",
            t.reason
        );
    }
}

/// A preempting backup that heard a lower-priority master brings its down timer forward to
/// Skew_Time (the design's fast takeover). If its own priority then drops to or below that
/// master's (a tracked interface goes down), there is nothing to preempt any more: it must
/// not take over, which would make a second master until the first one answers.
/// Found by the random simulation (seed 4929 at the time).
#[test]
fn priority_drop_during_a_pending_preemption_cancels_it() {
    for version in [Version::V2, Version::V3] {
        for seed in 0..SEEDS {
            let master = params(version, 100, 100, 20);
            let backup = params(version, 150, 100, 10);
            let mut w = world(vec![master, backup], seed);
            w.schedule(ms(0), Fault::Start(0));
            w.schedule(ms(10_300), Fault::Start(1));
            // The master's next advert leaves at 11.0 s; the backup discards it and would
            // take over Skew_Time (~0.41 s) later. Its priority drops first.
            w.schedule(
                ms(11_100),
                Fault::Priority {
                    node: 1,
                    slot: 0,
                    priority: 50,
                },
            );
            run(&mut w, ms(30_000));
            assert_sole_master(&w, 0);
            assert_eq!(
                entered(&w, 1, State::Master, ms(10_300)),
                None,
                "{version:?} seed {seed}: took over with priority 50 from a priority-100 master\n{}",
                w.trace_text()
            );
        }
    }
}

#[test]
fn stop_hands_over_with_the_vip_held_by_someone_at_every_moment() {
    for (version, int_cs) in [(Version::V2, 100), (Version::V3, 10)] {
        for seed in 0..SEEDS {
            let nodes = vec![
                params(version, 150, int_cs, 10),
                params(version, 100, int_cs, 20),
            ];
            let bound = Instance::new(nodes[0].clone()).stop_bound();
            let mut w = world(nodes, seed);
            for n in 0..2 {
                w.schedule(ms(0), Fault::Start(n));
            }
            let leave = ms(10_250 + 31 * seed);
            w.schedule(leave, Fault::Stop(0));
            run(&mut w, leave - ms(1));
            assert_sole_master(&w, 0);
            let holder = |w: &World| {
                let held = (0..2).any(|n| w.live(n, 0).is_some_and(|l| l.holds_vips));
                match held {
                    true => Ok(()),
                    false => Err(crate::world::Violation {
                        at: w.now,
                        what: "nobody holds the VIP".into(),
                    }),
                }
            };
            if let Err(v) = w.run_until(leave + ms(5_000), holder) {
                panic!("{v}\nlast events:\n{}", w.trace_text());
            }
            assert_sole_master(&w, 1);
            let gone = entered(&w, 0, State::Init, leave).expect("A stopped");
            assert_eq!(gone.reason, Reason::HandedOver { to: Some(ip(20)) });
            assert!(
                gone.at - leave <= bound,
                "{:?} > {bound:?}",
                gone.at - leave
            );
        }
    }
}

#[test]
fn stop_without_a_backup_ends_at_the_bound() {
    let p = params(Version::V3, 150, 10, 10);
    let bound = Instance::new(p.clone()).stop_bound();
    let mut w = world(vec![p], 1);
    w.schedule(ms(0), Fault::Start(0));
    w.schedule(ms(5_000), Fault::Stop(0));
    run(&mut w, ms(10_000));
    let gone = entered(&w, 0, State::Init, ms(5_000)).expect("stopped");
    assert_eq!(gone.reason, Reason::HandedOver { to: None });
    assert_eq!(gone.at, ms(5_000) + bound);
}

#[test]
fn a_link_flapping_every_300_ms_moves_the_master_once_not_on_every_flap() {
    for seed in 0..SEEDS {
        let nodes = vec![
            params(Version::V3, 150, 10, 10),
            params(Version::V3, 100, 10, 20),
        ];
        let mut w = world(nodes, seed);
        for n in 0..2 {
            w.schedule(ms(0), Fault::Start(n));
        }
        let start = ms(5_000);
        for k in 0..34u64 {
            let at = start + ms(300 * 2 * k);
            w.schedule(at, Fault::LinkDown(0));
            w.schedule(at + ms(300), Fault::LinkUp(0));
        }
        let end = start + ms(20_400);
        run(&mut w, start - ms(1));
        assert_sole_master(&w, 0);
        // Time without a VIP holder, from one step to the next.
        let (mut last, mut gap) = (w.now, Duration::ZERO);
        let mut check = |w: &World| {
            if !(0..2).any(|n| w.live(n, 0).is_some_and(|l| l.holds_vips)) {
                gap += w.now - last;
            }
            last = w.now;
            Ok(())
        };
        if let Err(v) = w.run_until(end, &mut check) {
            panic!("{v}");
        }
        let moves = transitions_of(&w, 1, start)
            .iter()
            .filter(|t| t.to == State::Master)
            .count();
        // B takes over once, after A's first link-down (Master_Down_Interval without a
        // holder); A is held back while its link keeps flapping.
        assert_eq!(moves, 1, "{}", w.trace_text());
        let mdi = Instance::new(params(Version::V3, 100, 10, 20)).master_down_interval();
        assert!(gap <= mdi + MAX_DELAY, "{gap:?} without a VIP holder");
        // Once the link stays up, A takes its VIP back within its longest hold-down.
        let a_mdi = Instance::new(params(Version::V3, 150, 10, 10)).master_down_interval();
        run(&mut w, end + a_mdi * 9);
        assert_sole_master(&w, 0);
    }
}
