//! Simulation tests of the pure VRRP state machine (`tinyvrrp::instance`): several nodes on a
//! simulated lossy, partitionable network with a virtual clock.
//!
//! Random scenarios run from seeds; a failure prints the seed, the scenario and the last
//! events. Replay one seed with `TINYVRRP_SIM_SEED=<n> cargo test --test sim`, run more with
//! `TINYVRRP_SIM_SCENARIOS=<n>`.
//!
//! Checked at every step of every phase (`sim/world.rs`): Master state <=> VIPs held;
//! a master never goes longer than its Advertisement_Interval without an advert; transitions
//! reported match `state()`; deadlines are never in the past; an advert is discarded as
//! `LowerPriority` only by a preempting backup past its preempt_delay; a `MasterDown`
//! takeover comes at least 3 advert intervals after the last advert accepted.
//! Checked once the network is stable and settled (`sim/scenario.rs`): exactly one master per
//! VRID among the running instances, one the RFC allows given the state when it became
//! stable, and no more transitions.
//!
//! The router scenarios (`sim/router_scenario.rs`, `sim/router_world.rs`) run whole
//! `tinyvrrp::router::Router`s, one per node, exchanging encoded adverts: tracking flips, sync
//! groups of 2–4 members, rolling reloads (priority, VIP list, advert_int, tracking), unicast
//! and multicast. Replay with `TINYVRRP_SIM_ROUTER_SEED=<n>`, run more with
//! `TINYVRRP_SIM_ROUTER_SCENARIOS=<n>`.

#[path = "sim/rng.rs"]
mod rng;
#[path = "sim/router_scenario.rs"]
mod router_scenario;
#[path = "sim/router_world.rs"]
mod router_world;
#[path = "sim/scenario.rs"]
mod scenario;
#[path = "sim/targeted.rs"]
mod targeted;
#[path = "sim/world.rs"]
mod world;

use std::panic::{catch_unwind, AssertUnwindSafe};

use scenario::{Coverage, Scenario};

const DEFAULT_SCENARIOS: u64 = 10_000;
/// The random scenarios are split over this many #[test]s so that they run in parallel.
const PARTS: u64 = 4;

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    match v.trim().parse() {
        Ok(n) => Some(n),
        Err(_) => panic!("{name}={v:?} is not a number"),
    }
}

/// Runs one seed; on failure (violation or panic) returns the report to print.
fn run_seed(seed: u64) -> Result<Coverage, String> {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let sc = Scenario::generate(seed);
        scenario::run(&sc, false).map_err(|f| f.violation.to_string())
    }));
    let what = match outcome {
        Ok(Ok(cov)) => return Ok(cov),
        Ok(Err(v)) => v,
        Err(_) => "panic (message above)".to_string(),
    };
    // Scenarios are deterministic: run it again with the trace on for the report.
    let sc = Scenario::generate(seed);
    let trace = catch_unwind(AssertUnwindSafe(|| match scenario::run(&sc, true) {
        Err(f) => f.world.map(|w| w.trace_text()).unwrap_or_default(),
        Ok(_) => "  (passed on replay?)\n".to_string(),
    }))
    .unwrap_or_else(|_| "  (panicked again; replay with the seed)\n".to_string());
    Err(format!(
        "seed {seed}: {what}\nscenario:\n{}last events:\n{trace}replay: TINYVRRP_SIM_SEED={seed} cargo test --test sim random_scenarios",
        sc.describe()
    ))
}

fn run_part(part: u64) -> Coverage {
    let mut cov = Coverage::default();
    if let Some(seed) = env_u64("TINYVRRP_SIM_SEED") {
        if part == 0 {
            match run_seed(seed) {
                Ok(c) => cov.add(&c),
                Err(report) => panic!("{report}"),
            }
        }
        return cov;
    }
    let total = env_u64("TINYVRRP_SIM_SCENARIOS").unwrap_or(DEFAULT_SCENARIOS);
    for seed in (part..total).step_by(PARTS as usize) {
        match run_seed(seed) {
            Ok(c) => cov.add(&c),
            Err(report) => panic!("{report}"),
        }
    }
    eprintln!("part {part}: {cov:?}");
    cov
}

#[test]
fn random_scenarios_part_0() {
    let cov = run_part(0);
    // The generator must keep reaching the interesting paths, or the invariants above
    // check little (skipped when replaying one seed).
    if std::env::var("TINYVRRP_SIM_SEED").is_err() && cov.scenarios >= 1_000 {
        assert!(cov.master_down > 0, "{cov:?}");
        assert!(cov.master_left > 0, "{cov:?}");
        assert!(cov.preempt > 0, "{cov:?}");
        assert!(cov.higher_priority > 0, "{cov:?}");
        assert!(cov.equal_priority_higher_address > 0, "{cov:?}");
        assert!(cov.owner > 0, "{cov:?}");
        assert!(cov.lower_master_kept > 0, "{cov:?}");
    }
}

#[test]
fn random_scenarios_part_1() {
    run_part(1);
}

#[test]
fn random_scenarios_part_2() {
    run_part(2);
}

#[test]
fn random_scenarios_part_3() {
    run_part(3);
}

/// Runs one router scenario; on failure, the report to print.
fn run_router_seed(seed: u64) -> Result<router_scenario::RCoverage, String> {
    let sc = router_scenario::RScenario::generate(seed);
    let outcome = catch_unwind(AssertUnwindSafe(|| router_scenario::run(&sc)));
    let what = match outcome {
        Ok(Ok(cov)) => return Ok(cov),
        Ok(Err(v)) => v,
        Err(_) => "panic (message above)".to_string(),
    };
    Err(format!(
        "router seed {seed}: {what}\nscenario:\n{}replay: TINYVRRP_SIM_ROUTER_SEED={seed} cargo test --test sim router_scenarios",
        sc.describe()
    ))
}

/// The router scenarios (`sim/router_scenario.rs`), split like the instance ones.
/// `TINYVRRP_SIM_ROUTER_SEED` replays one, `TINYVRRP_SIM_ROUTER_SCENARIOS` sets how many.
fn run_router_part(part: u64) -> router_scenario::RCoverage {
    let mut cov = router_scenario::RCoverage::default();
    if let Some(seed) = env_u64("TINYVRRP_SIM_ROUTER_SEED") {
        if part == 0 {
            cov.add(&run_router_seed(seed).unwrap_or_else(|r| panic!("{r}")));
        }
        return cov;
    }
    let total = env_u64("TINYVRRP_SIM_ROUTER_SCENARIOS").unwrap_or(DEFAULT_SCENARIOS);
    for seed in (part..total).step_by(PARTS as usize) {
        cov.add(&run_router_seed(seed).unwrap_or_else(|r| panic!("{r}")));
    }
    eprintln!("router part {part}: seeds {part}..{total} step {PARTS}: {cov:?}");
    cov
}

#[test]
fn router_scenarios_part_0() {
    let cov = run_router_part(0);
    if std::env::var("TINYVRRP_SIM_ROUTER_SEED").is_err() && cov.scenarios >= 1_000 {
        assert!(cov.faults > 0, "{cov:?}");
        assert!(cov.groups > 0 && cov.unicast > 0, "{cov:?}");
        assert!(cov.transitions > cov.scenarios, "{cov:?}");
    }
}

#[test]
fn router_scenarios_part_1() {
    run_router_part(1);
}

#[test]
fn router_scenarios_part_2() {
    run_router_part(2);
}

#[test]
fn router_scenarios_part_3() {
    run_router_part(3);
}
