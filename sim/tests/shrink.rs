//! Shrinking a failing seed (issue #10): the buggy hosts' failures shrink
//! to the faults they need, the minimized run fails the same way, and its
//! replay (`cargo xtask sim --seed S --faults ...`) gives the same report.

mod support;

use rmq_sim::cluster::{
    run, shrink, Bug, Failure, FaultKind, FaultMask, Groups, Invariant, Shrunk, SimConfig, World,
    SHRINK_RUNS,
};
use support::{broadcasting_with, frozen_routes};

/// The first failing seed of `0..8` with `config`, shrunk (its failure in
/// `original`).
fn shrunk_first_failure(config: &SimConfig) -> Shrunk {
    let failure = support::first_failure(0..8, config);
    shrink(failure.seed, config, &failure, SHRINK_RUNS)
}

fn kinds(f: &Failure) -> Vec<FaultKind> {
    f.faults
        .iter()
        .filter(|x| !x.skipped)
        .map(|x| x.kind)
        .collect()
}

#[test]
fn skipping_a_fault_keeps_the_other_faults_kinds_and_times() {
    let config = SimConfig {
        faults: 6,
        ..SimConfig::for_seed(3)
    };
    let plan = World::new(3, config.clone()).fault_plan();
    let masked = config.clone().with_faults(FaultMask::only([0, 2, 3, 5]));
    assert_eq!(World::new(3, masked).fault_plan(), plan);
    // Applying every fault by index is the unmasked run, step for step.
    let all = run(3, &config).expect("seed 3 passes");
    let listed = config.with_faults(FaultMask::only(0..6));
    let again = run(3, &listed).expect("seed 3 passes");
    assert_eq!((all.steps, all.deliveries), (again.steps, again.deliveries));
}

#[test]
fn a_frozen_routes_failure_shrinks_to_one_queues_added_fault() {
    let shrunk = shrunk_first_failure(&frozen_routes());
    let failure = &shrunk.original;
    assert_eq!(kinds(failure).len(), 2, "{failure}");
    println!("{shrunk}");
    assert_eq!(
        kinds(&shrunk.failure),
        vec![FaultKind::AddQueues],
        "{shrunk}"
    );
    assert!(shrunk.runs <= SHRINK_RUNS);
}

#[test]
fn a_dropping_broadcast_host_failure_shrinks_to_fewer_faults() {
    let shrunk = shrunk_first_failure(&broadcasting_with(Bug::DropsEveryOtherDelivery));
    println!("{shrunk}");
    assert!(
        kinds(&shrunk.failure).len() < kinds(&shrunk.original).len(),
        "{shrunk}"
    );
}

#[test]
fn a_forgetful_broadcast_host_failure_shrinks_to_consumer_crashes() {
    let shrunk = shrunk_first_failure(&broadcasting_with(Bug::ForgetsBroadcastOffsets));
    println!("{shrunk}");
    let left = kinds(&shrunk.failure);
    // A member must restart to forget its offsets: a consumer crash.
    assert!(left.contains(&FaultKind::CrashConsumer), "{shrunk}");
    assert!(left.len() < kinds(&shrunk.original).len(), "{shrunk}");
}

#[test]
fn the_minimized_run_fails_with_the_same_invariant() {
    let config = frozen_routes();
    let shrunk = shrunk_first_failure(&config);
    let failure = &shrunk.original;
    let replay = config.with_faults(shrunk.kept.clone());
    let again = run(failure.seed, &replay).expect_err("the minimized run fails");
    assert_eq!(again.invariant, failure.invariant);
    assert!(matches!(
        again.invariant,
        Invariant::QueueOwnership | Invariant::MessageNotConsumed
    ));
}

#[test]
fn replaying_the_minimized_run_gives_the_same_report_twice() {
    let config = broadcasting_with(Bug::ForgetsBroadcastOffsets);
    let shrunk = shrunk_first_failure(&config);
    let failure = &shrunk.original;
    // What `--faults` replays: the kept faults, the whole history.
    let replay = config.with_faults(shrunk.kept.clone()).replay();
    let a = run(failure.seed, &replay).expect_err("the minimized run fails");
    let b = run(failure.seed, &replay).expect_err("the minimized run fails");
    assert_eq!(a.to_string(), b.to_string());
    assert_eq!(a.to_string(), shrunk.failure.to_string());
}

#[test]
fn the_report_prints_the_command_that_replays_the_minimized_run() {
    // A seed's own shape with a bug: `cargo xtask sim` gives it.
    let config = SimConfig {
        bug: Some(Bug::FrozenRoutes),
        ..SimConfig::for_seed(2)
    };
    let failure = run(2, &config).expect_err("seed 2 catches the frozen routes");
    assert_eq!(
        failure.command,
        "cargo xtask sim --seed 2 --bug frozen-routes"
    );
    let shrunk = shrink(2, &config, &failure, SHRINK_RUNS);
    assert_eq!(
        shrunk.failure.command,
        format!(
            "cargo xtask sim --seed 2 --bug frozen-routes --faults {}",
            shrunk.kept
        )
    );
    let both = SimConfig::for_seed(0)
        .with_groups(Groups::Both)
        .with_faults(FaultMask::only([1, 3]));
    assert_eq!(
        both.replay_command(0),
        "cargo xtask sim --seed 0 --groups both --faults 1,3"
    );
    // No command line gives a test's own shape: the report names the call.
    let custom = frozen_routes().with_faults(FaultMask::only([]));
    assert!(custom
        .replay_command(0)
        .contains("FaultMask::parse(\"none\")"));
}
