//! The decision rules of `onecycle tune` on synthetic range-test curves: which weight decay,
//! when two are too close to call, the peak LR (and what happens on flat and never-diverging
//! curves), the cyclical momentum, the batch size from speed and memory probes, and `tune.json`
//! round-tripping.

use record::range_test::{LrFind, LrFindOptions, LrFindRow};
use record::tune::{
    close_call, compare, decide_batch, decide_lr, decide_momentum, decide_wd, next_batch,
    BatchLimits, BatchProbe, Candidate, TuneRecord, CLOSE, MIN_STEPS_PER_EPOCH,
};
use schedule::Rule;

const N: usize = 60;

/// LR of point `k`: 1e-5 · 10^(k/10), so 60 points reach 1e1.
fn lr(k: usize) -> f64 {
    1e-5 * 10f64.powf(k as f64 / 10.0)
}

/// A range test whose smoothed loss is `loss(k)` at point `k`, at weight decay `wd` and
/// constant `momentum`; `diverged` says whether it stopped on divergence.
fn test(wd: f64, momentum: Option<f64>, diverged: bool, loss: impl Fn(usize) -> f64) -> LrFind {
    let rows = (0..N)
        .map(|k| LrFindRow {
            lr: lr(k),
            loss: loss(k),
            smooth_loss: loss(k),
            val_loss: None,
            val_smooth_loss: None,
            metrics: Vec::new(),
        })
        .collect();
    LrFind {
        rows,
        metric_names: Vec::new(),
        options: LrFindOptions {
            num_it: N,
            momentum,
            wd: Some(wd),
            ..LrFindOptions::default()
        },
        wd,
        stopped: diverged.then(|| "the loss diverged".to_string()),
        seconds: 1.0,
    }
}

/// A curve falling from 3 to `floor` at point `low`, then rising steeply.
fn v(floor: f64, low: usize) -> impl Fn(usize) -> f64 {
    move |k| {
        if k <= low {
            3.0 - (3.0 - floor) * k as f64 / low as f64
        } else {
            floor + 0.5 * (k - low) as f64
        }
    }
}

#[test]
fn the_weight_decay_with_the_lowest_loss_at_the_common_lr_wins() {
    // wd 1e-4 reaches a lower floor; 1e-3's minimum comes earlier (point 35), so the comparison
    // is at point 35, where 1e-4 is lower too.
    let runs = [
        test(1e-3, None, true, v(1.5, 35)),
        test(1e-4, None, true, v(1.0, 40)),
    ];
    let c = compare(&runs).unwrap();
    assert_eq!(c.lr, lr(35));
    assert_eq!(c.index, 1);
    let d = decide_wd(&runs, Vec::new(), 5e-4);
    assert_eq!(d.wd, 1e-4);
    assert_eq!(d.candidates.len(), 2);
    assert!(
        d.why.contains("wd 0.0001 has the lowest smoothed loss"),
        "{}",
        d.why
    );
    assert_eq!(close_call(&c, &runs), None);
}

#[test]
fn curves_within_one_percent_are_a_close_call_that_short_runs_settle() {
    let runs = [
        test(1e-3, None, true, v(1.000, 40)),
        test(1e-4, None, true, v(1.005, 40)),
    ];
    let c = compare(&runs).unwrap();
    assert!((c.losses[1] - c.losses[0]) / c.losses[0] < CLOSE);
    assert_eq!(close_call(&c, &runs), Some((1e-3, 1e-4)));
    // The short runs say otherwise: their verdict is the decision.
    let short = vec![
        Candidate {
            value: 1e-3,
            loss: 1.9,
        },
        Candidate {
            value: 1e-4,
            loss: 1.7,
        },
    ];
    let d = decide_wd(&runs, short.clone(), 5e-4);
    assert_eq!(d.wd, 1e-4);
    assert_eq!(d.confirmed, short);
    assert!(d.why.contains("short 1cycle runs"), "{}", d.why);
    // Short runs as close as the tests cannot call it either: the config's weight decay stays.
    let tied = vec![
        Candidate {
            value: 1e-3,
            loss: 2.3007,
        },
        Candidate {
            value: 1e-4,
            loss: 2.3006,
        },
    ];
    let d = decide_wd(&runs, tied, 5e-4);
    assert_eq!(d.wd, 5e-4);
    assert!(d.why.contains("too close to call"), "{}", d.why);
}

#[test]
fn the_peak_lr_is_the_rule_suggestion_and_a_flat_curve_keeps_the_configs() {
    let falling = test(1e-4, None, true, v(1.0, 40));
    let d = decide_lr(&falling, Rule::Valley, 25.0, 0.4);
    assert_eq!(d.max_lr, falling.suggest(Rule::Valley).unwrap().lr);
    assert_eq!(d.div, 25.0);
    assert!(d.suggestions.iter().any(|(r, _)| r == "steep"));
    assert!(!d.why.contains("never diverged"), "{}", d.why);

    let flat = test(1e-4, None, false, |_| 2.3);
    let d = decide_lr(&flat, Rule::Valley, 25.0, 0.4);
    assert_eq!(d.max_lr, 0.4);
    assert!(
        d.why.contains("no usable curve") && d.why.contains("kept"),
        "{}",
        d.why
    );
    // Flat curves cannot be compared either: the config's weight decay stays.
    let d = decide_wd(&[flat.clone(), flat], Vec::new(), 5e-4);
    assert_eq!(d.wd, 5e-4);
    assert!(d.why.contains("could not be compared"), "{}", d.why);
}

#[test]
fn a_curve_that_never_diverges_says_the_limit_may_lie_higher() {
    // Falls all the way to the sweep's end.
    let test = test(1e-4, None, false, |k| 3.0 - k as f64 * 0.02);
    let d = decide_lr(&test, Rule::Valley, 25.0, 0.4);
    assert!(d.max_lr > 0.0 && d.max_lr <= lr(N - 1));
    assert!(d.why.contains("never diverged"), "{}", d.why);
}

#[test]
fn the_best_constant_momentum_is_the_high_bound_and_the_low_is_a_tenth_below() {
    let runs: Vec<LrFind> = [(0.99, 1.3), (0.97, 1.2), (0.95, 1.0), (0.9, 1.1)]
        .iter()
        .map(|&(m, floor)| test(1e-4, Some(m), true, v(floor, 40)))
        .collect();
    let d = decide_momentum(&runs, (0.9, 0.8));
    assert_eq!(d.moms.0, 0.95);
    assert!((d.moms.1 - 0.85).abs() < 1e-12);
    assert_eq!(d.candidates.len(), 4);
    // Without constant momentum the tests say nothing about it: the fallback stays.
    let unset = [
        test(1e-4, None, true, v(1.0, 40)),
        test(1e-4, None, true, v(1.1, 40)),
    ];
    let d = decide_momentum(&unset, (0.9, 0.8));
    assert_eq!(d.moms, (0.9, 0.8));
    assert!(d.why.contains("could not be compared"), "{}", d.why);
}

#[test]
fn momentums_within_one_percent_keep_the_configs_cycle() {
    // 0.99 is lowest, but 0.97 is within 0.5 % of it: the tests cannot tell them apart.
    let runs: Vec<LrFind> = [(0.99, 1.000), (0.97, 1.005), (0.9, 1.2)]
        .iter()
        .map(|&(m, floor)| test(1e-4, Some(m), true, v(floor, 40)))
        .collect();
    let d = decide_momentum(&runs, (0.95, 0.85));
    assert_eq!(d.moms, (0.95, 0.85));
    assert_eq!(d.candidates.len(), 3);
    assert!(d.why.contains("too close to call"), "{}", d.why);
}

fn probe(batch: usize, images_per_sec: f64, step_bytes: Option<f64>) -> BatchProbe {
    BatchProbe {
        batch,
        images_per_sec,
        step_bytes,
    }
}

const GIB: f64 = (1u64 << 30) as f64;

#[test]
fn the_batch_doubles_until_the_data_or_the_memory_would_not_allow_the_next() {
    let roomy = BatchLimits {
        cap: 20_000 / MIN_STEPS_PER_EPOCH,
        memory: Some(8.0 * GIB),
    };
    assert_eq!(next_batch(&probe(256, 500.0, Some(GIB)), &roomy), Ok(512));
    // 1024 > 1000: an epoch of 20,000 images would be under 20 steps.
    let capped = next_batch(&probe(512, 500.0, Some(GIB)), &roomy).unwrap_err();
    assert!(
        capped.contains("batch 1024") && capped.contains("20 steps"),
        "{capped}"
    );
    // A step at 256 took 3 GiB: one at 512 (about 6 GiB) would not fit in 5 GiB.
    let tight = BatchLimits {
        memory: Some(5.0 * GIB),
        ..roomy
    };
    let full = next_batch(&probe(256, 500.0, Some(3.0 * GIB)), &tight).unwrap_err();
    assert!(
        full.contains("6.00 GiB") && full.contains("5.00 GiB"),
        "{full}"
    );
    // On a GPU there is no memory figure: only the data (and an out-of-memory error) stop it.
    let gpu = BatchLimits {
        memory: None,
        ..roomy
    };
    assert_eq!(next_batch(&probe(256, 500.0, None), &gpu), Ok(512));
}

#[test]
fn the_batch_is_the_fastest_of_the_three_largest_that_fit() {
    let probes = [
        probe(16, 900.0, None), // fastest of all, but not among the largest
        probe(32, 300.0, None),
        probe(64, 410.0, None),
        probe(128, 450.0, None),
        probe(256, 440.0, None),
    ];
    let d = decide_batch(&probes, "the data").unwrap();
    assert_eq!(d.batch, 128);
    assert_eq!(d.probes, probes);
    assert!(
        d.why.contains("64, 128, 256") && d.why.contains("the data"),
        "{}",
        d.why
    );
    assert_eq!(decide_batch(&probes[..1], "x").unwrap().batch, 16);
    assert!(decide_batch(&[], "x").is_err());
}

#[test]
fn a_tune_record_round_trips_through_json() {
    let runs = [
        test(1e-3, None, true, v(1.5, 35)),
        test(1e-4, None, true, v(1.0, 40)),
    ];
    let moms: Vec<LrFind> = [0.95, 0.9]
        .iter()
        .map(|&m| test(1e-4, Some(m), true, v(1.0 + m, 40)))
        .collect();
    let record = TuneRecord {
        planned_steps: 1000,
        budget: 0.1,
        budget_steps: 100,
        used_steps: 90,
        batch: record::tune::BatchDecision {
            batch: 128,
            probes: vec![probe(64, 400.0, Some(2e8)), probe(128, 450.0, None)],
            why: "fixed".into(),
        },
        lr: decide_lr(&runs[1], Rule::Valley, 25.0, 0.4),
        wd: decide_wd(&runs, Vec::new(), 5e-4),
        momentum: decide_momentum(&moms, (0.95, 0.85)),
        tests: Vec::new(),
    };
    let dir = std::env::temp_dir().join(format!("onecycle-tune-json-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tune.json");
    record.write(&path).unwrap();
    assert_eq!(TuneRecord::read(&path).unwrap(), record);
    // Decisions kept for want of a comparison have no comparison LR: NaN, written as null.
    let flat = test(1e-4, None, false, |_| 2.3);
    let mut kept = record.clone();
    kept.wd = decide_wd(&[flat.clone(), flat], Vec::new(), 5e-4);
    kept.write(&path).unwrap();
    assert!(TuneRecord::read(&path).unwrap().wd.comparison_lr.is_nan());
}
