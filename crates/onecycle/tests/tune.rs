//! `Learner::tune` beyond images (the examples' tabular regression and character LSTM): its
//! decisions come from the grids and train well, the model is as before afterwards; range tests
//! over several parameter groups scale every group's LR together and report the base's; a batch
//! size's speed probe leaves the model untouched.

#[path = "../examples/common/tasks.rs"]
mod tasks;

use onecycle::data::{Data, TensorData};
use onecycle::learner::{mse, Learner, Lrs, TrainConfig};
use onecycle::lr_find::LrFindOptions;
use onecycle::optim::OptKind;
use onecycle::tune::TuneOptions;
use schedule::OneCycleParams;
use tch::{nn, Device};

/// Torch's generator is global and tests run on parallel threads: build models under this lock.
static SEEDED: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Every variable of the model, flattened, in name order.
fn weights(l: &Learner<impl Data>) -> Vec<(String, Vec<f64>)> {
    let mut named: Vec<(String, Vec<f64>)> = l
        .var_store()
        .variables()
        .into_iter()
        .map(|(n, t)| {
            let t = t.to_kind(tch::Kind::Double).flatten(0, -1);
            (n, Vec::<f64>::try_from(&t).unwrap())
        })
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named
}

fn options(num_it: usize, end_lr: f64) -> TuneOptions {
    TuneOptions {
        wds: vec![1e-3, 0.0],
        moms: vec![0.95, 0.9],
        sweep: LrFindOptions {
            start_lr: 1e-5,
            end_lr,
            num_it,
            ..LrFindOptions::default()
        },
        lr_iterations: 2 * num_it,
        ..TuneOptions::default()
    }
}

#[test]
fn tuning_a_tabular_model_picks_from_the_grids_restores_it_and_trains_it_well() {
    let mut l = {
        let _lock = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
        tasks::tabular_learner(0, TrainConfig::default())
    };
    let before = weights(&l);
    let (start, _) = l.validate().unwrap();
    let tuning = l.tune(&options(60, 10.0)).unwrap();
    assert_eq!(weights(&l), before, "tune must leave the model as it was");
    assert_eq!(tuning.wd_tests.len(), 2);
    assert_eq!(tuning.momentum_tests.len(), 2);
    assert!([1e-3, 0.0].contains(&tuning.wd.wd), "{:?}", tuning.wd);
    assert!([0.95, 0.9].contains(&tuning.momentum.moms.0));
    let lr = tuning.lr.max_lr;
    assert!((1e-5..=10.0).contains(&lr), "{:?}", tuning.lr);
    let fit = l
        .fit_one_cycle(
            5,
            OneCycleParams {
                max_lr: lr,
                div: Some(tuning.lr.div),
                ..Default::default()
            },
        )
        .unwrap();
    let end = fit.epochs.last().unwrap().valid_loss;
    assert!(end < start / 2.0, "valid MSE {start} → {end} at {lr}");
}

#[test]
fn tuning_a_character_lstm_with_adam_trains_it_past_chance() {
    let config = TrainConfig {
        opt: OptKind::adam(),
        ..TrainConfig::default()
    };
    let mut l = {
        let _lock = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
        tasks::char_learner(0, config)
    };
    let tuning = l.tune(&options(40, 1.0)).unwrap();
    let fit = l
        .fit_one_cycle(
            6,
            OneCycleParams {
                max_lr: tuning.lr.max_lr,
                ..Default::default()
            },
        )
        .unwrap();
    let accuracy = fit.final_metric("accuracy").unwrap();
    assert!(accuracy > 0.2, "accuracy {accuracy} at {:?}", tuning.lr);
}

/// The tabular MLP with its first layer in group 0 and the rest in group 1.
fn two_groups(lrs: Lrs) -> Learner<TensorData> {
    let _lock = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    let data = tasks::tabular_data(0);
    tch::manual_seed(1);
    let vs = nn::VarStore::new(Device::Cpu);
    let p = vs.root();
    let net = nn::seq_t()
        .add(nn::linear(&p / "fc1", 8, 64, Default::default()))
        .add_fn(|x| x.relu())
        .add(nn::linear(&p / "out", 64, 1, Default::default()));
    let mut l = Learner::builder(vs, net, data)
        .loss(mse())
        .groups(2, |name| usize::from(!name.starts_with("fc1")))
        .build()
        .unwrap();
    l.set_lrs(lrs);
    l
}

#[test]
fn a_range_test_over_parameter_groups_scales_every_group_and_reports_the_base_lr() {
    let sweep = LrFindOptions {
        start_lr: 1e-4,
        end_lr: 0.1,
        num_it: 30,
        stop_div: false,
        ..LrFindOptions::default()
    };
    // Group 0 at a millionth of the base LR: nearly frozen, so the curve is that of a model
    // whose first layer does not train, and unlike one where both groups train.
    let sliced = two_groups(Lrs::Slice { lo: 1e-6, hi: 1.0 })
        .lr_find(&sweep)
        .unwrap();
    let mut frozen = two_groups(Lrs::All);
    frozen.freeze_to(1);
    let frozen = frozen.lr_find(&sweep).unwrap();
    let all = two_groups(Lrs::All).lr_find(&sweep).unwrap();
    let gap = |a: &[f64], b: &[f64]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs() / y.abs())
            .fold(0.0, f64::max)
    };
    let losses = |t: &onecycle::lr_find::LrFind| t.rows.iter().map(|r| r.loss).collect::<Vec<_>>();
    assert!(gap(&losses(&sliced), &losses(&frozen)) < 1e-3);
    assert!(gap(&losses(&sliced), &losses(&all)) > 1e-2);
    // The LRs recorded (and so the suggestions) are the base group's: the sweep's own.
    let lrs: Vec<f64> = sliced.rows.iter().map(|r| r.lr).collect();
    let plain: Vec<f64> = all.rows.iter().map(|r| r.lr).collect();
    assert_eq!(lrs, plain);
    for (k, lr) in lrs.iter().enumerate() {
        let swept = 1e-4 * 1e3f64.powf(k as f64 / 30.0);
        assert!((lr / swept - 1.0).abs() < 1e-9, "{lrs:?}");
    }
    assert!(lrs.iter().chain(&losses(&sliced)).all(|v| v.is_finite()));
    let s = sliced.suggest(schedule::Rule::Valley).unwrap();
    assert!(lrs.contains(&s.lr));
}

#[test]
fn a_speed_probe_times_real_steps_measures_memory_and_leaves_the_model_untouched() {
    let mut l = {
        let _lock = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
        tasks::tabular_learner(0, TrainConfig::default())
    };
    let before = weights(&l);
    let probe = l.probe_steps(3).unwrap();
    assert_eq!(weights(&l), before);
    assert!(probe.images_per_sec > 0.0 && probe.seconds > 0.0);
    assert!(probe.step_bytes.is_some());
}
