//! The LR range test: the LRs it applies, its stop rules, the exact restore of weights, optimizer
//! state and batch-norm statistics, per-step validation records, weight-decay comparison, the CSV
//! and plots — and that it (and 1cycle after it) works beyond images: tabular regression and a
//! character-level language model.

#[path = "../examples/common/tasks.rs"]
mod tasks;

use std::cell::RefCell;
use std::rc::Rc;

use onecycle::data::{Batches, Data, TensorData};
use onecycle::learner::{FitSummary, Learner, TrainConfig};
use onecycle::lr_find::{why_stopped, LrFindOptions};
use onecycle::optim::OptKind;
use record::range_test::choose_wd;
use record::run_dir::LR_FIND;
use report::plot::{self, CompareChart, LrFindChart};
use schedule::{
    Divergence, OneCycleParams, Policy, Rule, Schedule, SmoothLoss, Sweep, SweepKind, SweepParams,
};
use tch::Tensor;

/// Torch's generator is global and tests run on parallel threads: build models under this lock.
static SEEDED: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn tabular(config: TrainConfig) -> Learner<TensorData> {
    let _lock = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    tasks::tabular_learner(0, config)
}

/// Every variable (weights and batch-norm statistics) and optimizer state tensor, by name.
fn state(l: &Learner<impl Data>) -> Vec<(String, Vec<u8>)> {
    let bytes = |t: &Tensor| {
        let t = t.to_kind(tch::Kind::Double).flatten(0, -1);
        Vec::<f64>::try_from(&t)
            .unwrap()
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>()
    };
    let mut out: Vec<(String, Vec<u8>)> = l
        .var_store()
        .variables()
        .iter()
        .map(|(k, t)| (format!("model.{k}"), bytes(t)))
        .collect();
    out.extend(
        l.optimizer()
            .state_tensors()
            .iter()
            .map(|(k, t)| (format!("opt.{k}"), bytes(t))),
    );
    out.sort();
    out
}

fn sweep_only(kind: SweepKind, num_it: usize) -> LrFindOptions {
    LrFindOptions {
        start_lr: 1e-6,
        end_lr: 1e-2,
        num_it,
        kind,
        stop_div: false,
        ..LrFindOptions::default()
    }
}

/// `TensorData` that records which epochs the range test asks for.
struct Counting {
    inner: TensorData,
    epochs: Rc<RefCell<Vec<(usize, usize)>>>,
}

impl Data for Counting {
    fn train_batches(&self) -> usize {
        self.inner.train_batches()
    }
    fn train_items(&self) -> usize {
        self.inner.train_items()
    }
    fn train_epoch(&self, epoch: usize, skip: usize) -> anyhow::Result<Batches> {
        self.epochs.borrow_mut().push((epoch, skip));
        self.inner.train_epoch(epoch, skip)
    }
    fn valid(&self) -> anyhow::Result<Batches> {
        self.inner.valid()
    }
    fn valid_batches(&self) -> usize {
        self.inner.valid_batches()
    }
}

#[test]
fn the_sweep_applies_the_schedule_s_lrs_and_cycles_the_data_across_epochs() {
    for kind in [SweepKind::Exponential, SweepKind::Linear] {
        let mut l = tabular(TrainConfig::default());
        let found = l.lr_find(&sweep_only(kind, 40)).unwrap();
        let expected = Sweep::new(
            &SweepParams {
                start_lr: 1e-6,
                end_lr: 1e-2,
                kind,
                momentum: None,
            },
            40,
        )
        .unwrap()
        .points();
        assert_eq!(found.rows.len(), 40);
        for (row, p) in found.rows.iter().zip(&expected) {
            assert_eq!(row.lr, p.lr);
        }
        assert_eq!(found.stopped, None);
    }
    // 16 batches per epoch: 40 iterations read epochs 0, 1 and half of 2, each from its start.
    let epochs = Rc::new(RefCell::new(Vec::new()));
    let mut l = {
        let _lock = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
        let base = tasks::tabular_learner(0, TrainConfig::default());
        let data = Counting {
            inner: tasks::tabular_data(0),
            epochs: epochs.clone(),
        };
        let vs = tch::nn::VarStore::new(tch::Device::Cpu);
        let p = vs.root();
        let net = tch::nn::linear(&p / "fc", 8, 1, Default::default());
        drop(base);
        Learner::builder(vs, net, data)
            .loss(onecycle::learner::mse())
            .config(TrainConfig::default())
            .build()
            .unwrap()
    };
    l.lr_find(&sweep_only(SweepKind::Exponential, 40)).unwrap();
    assert_eq!(*epochs.borrow(), vec![(0, 0), (1, 0), (2, 0)]);
}

#[test]
fn smoothed_losses_are_the_debiased_ema_of_the_raw_losses() {
    let mut l = tabular(TrainConfig::default());
    let found = l.lr_find(&sweep_only(SweepKind::Exponential, 20)).unwrap();
    let mut s = SmoothLoss::default();
    for r in &found.rows {
        assert_eq!(r.smooth_loss, s.push(r.loss));
    }
}

#[test]
fn the_stop_rule_waits_ten_iterations_then_stops_at_four_times_the_best() {
    let mut rule = Divergence::range_test();
    // A 5× jump during the first 10 iterations is ignored, and does not set the best.
    for (i, s) in [1.0, 1.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0]
        .iter()
        .enumerate()
    {
        assert_eq!(rule.check(i as u64 + 1, *s, *s), None, "iteration {i}");
    }
    assert_eq!(rule.check(11, 2.0, 2.0), None); // best 2 from here
    assert_eq!(rule.check(12, 8.0, 8.0), None); // exactly 4×: not above
    let why = why_stopped(0.5, rule.check(13, 8.1, 8.1).unwrap());
    assert!(why.contains("exceeds 4× its best 2.0000"), "{why}");
    // A non-finite loss stops at once, even in the first iterations.
    let mut rule = Divergence::range_test();
    let why = why_stopped(1e-3, rule.check(1, f64::NAN, 1.0).unwrap());
    assert!(why.contains("NaN"), "{why}");
    let mut rule = Divergence::range_test();
    assert!(rule.check(1, 1.0, f64::INFINITY).is_some());
}

#[test]
fn a_diverging_sweep_stops_early_and_a_disabled_stop_runs_every_iteration() {
    let opts = LrFindOptions {
        start_lr: 1e-4,
        end_lr: 1e3,
        num_it: 100,
        ..LrFindOptions::default()
    };
    let mut l = tabular(TrainConfig::default());
    let found = l.lr_find(&opts).unwrap();
    let why = found.stopped.clone().expect("diverged");
    assert!(found.rows.len() < 100, "{} rows", found.rows.len());
    let last = found.rows.last().unwrap();
    // The row that tripped the rule is recorded; no earlier row would have.
    let mut rule = Divergence::range_test();
    let first_stop = (1..)
        .zip(&found.rows)
        .position(|(n, r)| rule.check(n, r.loss, r.smooth_loss).is_some());
    assert_eq!(first_stop, Some(found.rows.len() - 1), "{why}");
    assert!(
        !last.loss.is_finite()
            || last.smooth_loss > 4.0 * found.rows[10].smooth_loss.min(1e9)
            || why.contains("exceeds")
    );
    let found = l
        .lr_find(&LrFindOptions {
            stop_div: false,
            ..opts
        })
        .unwrap();
    assert_eq!((found.rows.len(), found.stopped), (100, None));
}

#[test]
fn weights_optimizer_state_and_batch_norm_statistics_are_restored_bit_for_bit() {
    let config = TrainConfig {
        wd: 1e-3,
        ..TrainConfig::default()
    };
    let policy = Policy::OneCycle(OneCycleParams {
        max_lr: 0.05,
        ..Default::default()
    });
    let mut l = tabular(config.clone());
    let mut twin = tabular(config);
    // One epoch first, so that momentum buffers exist and the statistics have moved.
    l.fit(1, &policy).unwrap();
    twin.fit(1, &policy).unwrap();
    let before = state(&l);
    assert!(before.iter().any(|(k, _)| k.contains("running_mean")));
    assert!(before.iter().any(|(k, _)| k.ends_with(".buf")));
    let found = l
        .lr_find(&LrFindOptions {
            start_lr: 1e-4,
            end_lr: 1e3,
            wd: Some(0.1),
            momentum: Some(0.5),
            val_each_step: true,
            ..LrFindOptions::default()
        })
        .unwrap();
    assert!(found.stopped.is_some(), "the sweep should diverge");
    assert_eq!(state(&l), before);
    assert_eq!(l.config().wd, 1e-3);
    assert_eq!(l.config().momentum, 0.9);
    // Training afterwards is the training without the range test, bit for bit (no divergence
    // guard state was left behind either).
    let a = l.fit(2, &policy).unwrap();
    let b = twin.fit(2, &policy).unwrap();
    assert_eq!(a.stopped, None);
    assert_eq!(state(&l), state(&twin));
    assert_eq!(
        a.epochs.last().unwrap().valid_loss,
        b.epochs.last().unwrap().valid_loss
    );
}

#[test]
fn per_step_validation_records_the_next_validation_batch_cyclically_with_metrics() {
    // A next-character model with accuracy; a negligible LR leaves the weights as they are, so
    // the records alternate over the validation batches and average to a full validation pass.
    let mut l = {
        let _lock = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
        tasks::char_learner(0, TrainConfig::default())
    };
    let nv = l.data().valid_batches();
    assert!(nv >= 2);
    let (full_loss, full_metrics) = l.validate().unwrap();
    let found = l
        .lr_find(&LrFindOptions {
            start_lr: 1e-12,
            end_lr: 2e-12,
            num_it: nv + 2,
            val_each_step: true,
            ..LrFindOptions::default()
        })
        .unwrap();
    assert_eq!(found.metric_names, ["accuracy"]);
    let val: Vec<f64> = found.rows.iter().map(|r| r.val_loss.unwrap()).collect();
    for k in 0..2 {
        assert!((val[k] - val[nv + k]).abs() < 1e-6, "{val:?}");
    }
    let mut s = SmoothLoss::default();
    for r in &found.rows {
        assert_eq!(r.val_smooth_loss, Some(s.push(r.val_loss.unwrap())));
        assert_eq!(r.metrics.len(), 1);
        assert!((0.0..=1.0).contains(&r.metrics[0]));
    }
    // All but possibly the last batch are full: compare the mean over the first nv − 1 batches
    // weighted like the full pass only when sizes are equal; here check loosely and exactly.
    let rows = l.data().valid.as_ref().unwrap().0.size()[0] as usize;
    let bs = l.data().batch_size;
    let weights: Vec<f64> = (0..nv)
        .map(|b| (rows - b * bs).min(bs) as f64 / rows as f64)
        .collect();
    let mean_loss: f64 = (0..nv).map(|b| val[b] * weights[b]).sum();
    let mean_acc: f64 = (0..nv).map(|b| found.rows[b].metrics[0] * weights[b]).sum();
    assert!(
        (mean_loss - full_loss).abs() < 1e-5,
        "{mean_loss} vs {full_loss}"
    );
    assert!((mean_acc - full_metrics[0].1).abs() < 1e-9);
    let csv = found.to_csv();
    assert_eq!(
        csv.lines().next(),
        Some("lr,loss,smooth_loss,val_loss,val_smooth_loss,accuracy")
    );
    assert_eq!(csv.lines().count(), nv + 3);
    assert_eq!(csv.lines().nth(1).unwrap().split(',').count(), 6);
}

#[test]
fn range_tests_at_several_weight_decays_start_from_the_same_weights_and_batches() {
    let mut l = tabular(TrainConfig::default());
    let runs = l
        .lr_find_wds(
            &[1e-1, 1e-4],
            &LrFindOptions {
                start_lr: 1e-3,
                end_lr: 10.0,
                num_it: 40,
                ..LrFindOptions::default()
            },
        )
        .unwrap();
    assert_eq!((runs[0].wd, runs[1].wd), (1e-1, 1e-4));
    // Same weights and the same first batch: equal first losses; the decay shows after that.
    assert_eq!(runs[0].rows[0].loss, runs[1].rows[0].loss);
    assert_ne!(runs[0].rows[5].loss, runs[1].rows[5].loss);
    let choice = choose_wd(&runs).unwrap();
    let dir = std::env::temp_dir().join(format!("onecycle-lrfind-{}", std::process::id()));
    plot::save(
        &CompareChart::by_wd("weight decay", &runs, Some(&choice)),
        &dir.join("wd.svg"),
    )
    .unwrap();
    let svg = std::fs::read_to_string(dir.join("wd.svg")).unwrap();
    assert!(
        svg.contains("wd 0.1") && svg.contains("wd 1.0e-4"),
        "legend"
    );
}

#[test]
fn the_plot_marks_suggestions_and_adds_a_panel_per_validation_series() {
    let mut l = {
        let _lock = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
        tasks::char_learner(0, TrainConfig::default())
    };
    let found = l
        .lr_find(&LrFindOptions {
            start_lr: 1e-4,
            end_lr: 10.0,
            num_it: 40,
            val_each_step: true,
            ..LrFindOptions::default()
        })
        .unwrap();
    let suggestions: Vec<_> = found
        .suggestions()
        .into_iter()
        .filter_map(|(_, s)| s.ok())
        .collect();
    assert!(!suggestions.is_empty());
    let dir = std::env::temp_dir().join(format!("onecycle-lrfind-plot-{}", std::process::id()));
    let chart = LrFindChart {
        title: "char LM",
        result: &found,
        suggestions: &suggestions,
    };
    let run = record::RunDir::new(&dir);
    plot::save(&chart, &run.range_test(LR_FIND, "svg")).unwrap();
    plot::save(&chart, &run.lr_find_png()).unwrap();
    let svg = std::fs::read_to_string(run.range_test(LR_FIND, "svg")).unwrap();
    for text in [
        "valley",
        "validation loss",
        "accuracy",
        "learning rate (log scale)",
    ] {
        assert!(svg.contains(text), "{text} missing");
    }
    found.write_csv(&run.lr_find_csv()).unwrap();
    assert!(std::fs::metadata(run.lr_find_png()).unwrap().len() > 10_000);
}

#[test]
fn tabular_regression_completes_a_range_test_and_1cycle_lowers_the_loss() {
    let mut l = tabular(TrainConfig {
        wd: 1e-4,
        ..TrainConfig::default()
    });
    let found = l.lr_find(&LrFindOptions::default()).unwrap();
    let lr = found.suggest(Rule::Valley).unwrap().lr;
    assert!(lr > 1e-4 && lr < 5.0, "valley {lr}");
    let (before, fit) = one_cycle_at(&mut l, lr);
    let losses: Vec<f64> = fit.epochs.iter().map(|e| e.valid_loss).collect();
    assert!(
        losses[3] < before * 0.5,
        "valley {lr}: {before} → {losses:?}"
    );
    assert!(
        losses.windows(2).all(|w| w[1] < w[0]),
        "valley {lr}: {losses:?}"
    );
}

#[test]
fn a_character_language_model_completes_a_range_test_and_1cycle_lowers_the_loss() {
    let mut l = {
        let _lock = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
        tasks::char_learner(
            0,
            TrainConfig {
                opt: OptKind::adam(),
                ..TrainConfig::default()
            },
        )
    };
    let found = l
        .lr_find(&LrFindOptions {
            start_lr: 1e-5,
            end_lr: 1.0,
            num_it: 60,
            ..LrFindOptions::default()
        })
        .unwrap();
    let lr = found.suggest(Rule::Valley).unwrap().lr;
    assert!(lr > 1e-4 && lr < 0.5, "valley {lr}");
    let (before, fit) = one_cycle_at(&mut l, lr);
    let after = fit.epochs.last().unwrap().valid_loss;
    assert!(after < before - 0.5, "validation loss {before} → {after}");
}

/// Four epochs of 1cycle peaking at `lr` (a range test's suggestion), checked to lower the
/// training loss; returns the validation loss before them and the fit.
fn one_cycle_at(l: &mut Learner<TensorData>, lr: f64) -> (f64, FitSummary) {
    let (before, _) = l.validate().unwrap();
    let fit = l
        .fit_one_cycle(
            4,
            OneCycleParams {
                max_lr: lr,
                ..Default::default()
            },
        )
        .unwrap();
    assert!(fit.epochs[3].train_loss < fit.epochs[0].train_loss);
    (before, fit)
}
