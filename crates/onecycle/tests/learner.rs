//! The Learner on a small regression task: the history it writes equals the schedule, groups get
//! their own learning rates, a run resumed from a checkpoint equals the uninterrupted run bit for
//! bit, divergence stops cleanly and rolls back, and bad checkpoints are refused.

use std::path::{Path, PathBuf};

use onecycle::callbacks::{Callback, Checkpointer, Ctx, EpochInfo, Flow, FreezeAfter};
use onecycle::data::TensorData;
use onecycle::history::RunLog;
use onecycle::learner::{mse, Diverged, Learner, Lrs, TrainConfig};
use onecycle::lookahead::LookaheadConfig;
use onecycle::optim::{OptKind, WdMode};
use record::RunDir;
use schedule::{ConstantParams, OneCycleParams, Policy};
use tch::{nn, nn::Module, Device, Kind, Tensor};

/// y = x·w + b + noise, 256 training and 64 validation rows of 8 features.
fn regression(seed: i64) -> TensorData {
    tch::manual_seed(seed);
    let opts = (Kind::Float, Device::Cpu);
    let w = Tensor::randn([8, 1], opts);
    let make = |n: i64| {
        let x = Tensor::randn([n, 8], opts);
        let y = x.matmul(&w) + 0.5 + Tensor::randn([n, 1], opts) * 0.1;
        (x, y)
    };
    TensorData {
        train: make(256),
        valid: Some(make(64)),
        batch_size: 32,
        shuffle: true,
        seed: 7,
    }
}

/// Tests run on parallel threads and torch's generator is global: building data and weights
/// under this lock makes each test's initial state independent of the others.
static SEEDED: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Two groups: "body" (linear + batch norm) and "head" (linear).
fn learner(config: TrainConfig) -> Learner<TensorData> {
    let _lock = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    let data = regression(0);
    tch::manual_seed(1);
    let vs = nn::VarStore::new(Device::Cpu);
    let root = vs.root();
    let body = root.sub("body");
    let head = root.sub("head");
    let net = nn::seq_t()
        .add(nn::linear(&body / "fc", 8, 16, Default::default()))
        .add(nn::batch_norm1d(&body / "bn", 16, Default::default()))
        .add_fn(|x| x.relu())
        .add(nn::linear(&head / "fc", 16, 1, Default::default()));
    let group_of = |name: &str| usize::from(name.starts_with("head"));
    Learner::builder(vs, net, data)
        .loss(mse())
        .groups(2, group_of)
        .config(config)
        .build()
        .unwrap()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("onecycle-learner-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn one_cycle() -> Policy {
    Policy::OneCycle(OneCycleParams {
        max_lr: 0.05,
        ..Default::default()
    })
}

fn weights(l: &Learner<TensorData>) -> Vec<(String, Vec<f32>)> {
    let mut v: Vec<(String, Vec<f32>)> = l
        .var_store()
        .variables()
        .into_iter()
        .map(|(k, t)| (k, Vec::<f32>::try_from(&t.flatten(0, -1)).unwrap()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn steps_csv_records_the_schedule_s_lr_and_momentum_at_every_step() {
    let dir = temp_dir("steps");
    let mut l = learner(TrainConfig::default());
    l.add_callback(Box::new(RunLog::create(&dir).unwrap()));
    let summary = l.fit(3, &one_cycle()).unwrap();
    assert_eq!(summary.steps, 24);
    let expected = one_cycle().build(24).unwrap().points();
    let text = std::fs::read_to_string(RunDir::new(&dir).steps_csv()).unwrap();
    let mut rows = text.lines();
    assert_eq!(rows.next(), Some("epoch,step,lr,momentum,loss,smooth_loss"));
    let rows: Vec<Vec<f64>> = rows
        .map(|r| r.split(',').map(|c| c.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 24);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row[0] as usize, i / 8, "epoch of step {i}");
        assert_eq!(row[1] as usize, i);
        assert_eq!(row[2], expected[i].lr, "lr at step {i}");
        assert_eq!(Some(row[3]), expected[i].momentum, "momentum at step {i}");
        assert!(row[4].is_finite() && row[5].is_finite());
    }
    let epochs = std::fs::read_to_string(RunDir::new(&dir).epochs_csv()).unwrap();
    assert_eq!(
        epochs.lines().next(),
        Some("epoch,train_loss,valid_loss,seconds")
    );
    assert_eq!(epochs.lines().count(), 4);
}

#[test]
fn one_cycle_training_lowers_the_validation_loss() {
    let mut l = learner(TrainConfig {
        wd: 1e-4,
        ..TrainConfig::default()
    });
    let (before, _) = l.validate().unwrap();
    let summary = l.fit(4, &one_cycle()).unwrap();
    let after = summary.epochs.last().unwrap().valid_loss;
    assert!(after < before * 0.2, "validation loss {before} → {after}");
}

#[test]
fn a_frozen_group_does_not_move_and_slices_spread_the_lr_over_groups() {
    // Frozen body: only the head changes.
    let mut l = learner(TrainConfig::default());
    let before = weights(&l);
    l.freeze_to(1);
    l.fit(
        1,
        &Policy::Constant(ConstantParams {
            lr: 0.1,
            momentum: None,
        }),
    )
    .unwrap();
    let after = weights(&l);
    for ((name, b), (_, a)) in before.iter().zip(&after) {
        let moved = b != a;
        let trainable_body = name.starts_with("body") && !name.contains("running");
        if trainable_body {
            assert!(!moved, "{name} moved although its group is frozen");
        }
        if name.starts_with("head") {
            assert!(moved, "{name} did not move");
        }
    }
    // slice(1e-3, 1e-1) over two groups: the body trains at 1/100 of the head's rate.
    assert_eq!(
        Lrs::Slice { lo: 1e-3, hi: 1e-1 }.multipliers(2),
        vec![0.01, 1.0]
    );
    let m = Lrs::Slice { lo: 1e-4, hi: 1e-2 }.multipliers(3);
    assert!(
        (m[0] - 0.01).abs() < 1e-15 && (m[1] - 0.1).abs() < 1e-15 && m[2] == 1.0,
        "{m:?}"
    );
    // First SGD step without momentum moves each weight by lr·g exactly, so the body's
    // steps are 1/100 of what a full-LR run gives.
    let step = |lrs: Lrs| {
        let mut l = learner(TrainConfig {
            momentum: 0.0,
            ..TrainConfig::default()
        });
        l.set_lrs(lrs);
        let b = weights(&l);
        l.add_callback(Box::new(StopAfterSteps(1)));
        l.fit(
            1,
            &Policy::Constant(ConstantParams {
                lr: 0.1,
                momentum: Some(0.0),
            }),
        )
        .unwrap();
        let a = weights(&l);
        let body = b.iter().position(|(n, _)| n == "body.fc.weight").unwrap();
        (0..b[body].1.len())
            .map(|i| (a[body].1[i] - b[body].1[i]) as f64)
            .collect::<Vec<_>>()
    };
    let full = step(Lrs::All);
    let sliced = step(Lrs::Slice { lo: 1e-3, hi: 1e-1 });
    for (f, s) in full.iter().zip(&sliced) {
        // Differences of f32 weights near 0.3 carry ±3e-8 of rounding.
        assert!((s - f * 0.01).abs() <= 1e-7, "{s} vs {f}·0.01");
    }
}

struct StopAfterSteps(usize);
impl Callback for StopAfterSteps {
    fn after_step(
        &mut self,
        _ctx: &mut Ctx,
        s: &onecycle::callbacks::StepInfo,
    ) -> anyhow::Result<Flow> {
        Ok(if s.step + 1 >= self.0 {
            Flow::Stop("enough".into())
        } else {
            Flow::Continue
        })
    }
}

/// Simulates a crash: stops the run at the end of epoch `n` (after its checkpoint is written).
struct CrashAfterEpoch(usize);
impl Callback for CrashAfterEpoch {
    fn after_epoch(&mut self, _ctx: &mut Ctx, e: &EpochInfo) -> anyhow::Result<Flow> {
        Ok(if e.epoch + 1 == self.0 {
            Flow::Stop("crash".into())
        } else {
            Flow::Continue
        })
    }
}

fn run_dir_files(dir: &Path) -> (String, Vec<String>) {
    let steps = std::fs::read_to_string(RunDir::new(dir).steps_csv()).unwrap();
    let epochs = std::fs::read_to_string(RunDir::new(dir).epochs_csv()).unwrap();
    // The seconds column differs between runs; compare everything else.
    let epochs = epochs
        .lines()
        .map(|l| l.rsplit_once(',').unwrap().0.to_string())
        .collect();
    (steps, epochs)
}

#[test]
fn a_resumed_run_equals_the_uninterrupted_run_bit_for_bit() {
    // The third run averages its weights every 3 steps (the average must resume too, at step
    // 16 between two pulls) and steps BatchNorm biases 8× faster.
    let averaged = TrainConfig {
        opt: OptKind::Sgd { nesterov: true },
        lookahead: Some(LookaheadConfig {
            every: 3,
            rate: 0.9,
        }),
        bn_bias_lr_scale: 8.0,
        ..TrainConfig::default()
    };
    for (opt, base) in [
        (OptKind::Sgd { nesterov: true }, TrainConfig::default()),
        (OptKind::adam(), TrainConfig::default()),
        (OptKind::Sgd { nesterov: true }, averaged),
    ] {
        let config = TrainConfig {
            opt,
            wd: 1e-2,
            wd_mode: WdMode::Decoupled,
            ..base
        };
        let whole_dir = temp_dir("whole");
        let mut whole = learner(config.clone());
        whole.add_callback(Box::new(RunLog::create(&whole_dir).unwrap()));
        whole.add_callback(Box::new(Checkpointer::new(&whole_dir)));
        whole.fit(5, &one_cycle()).unwrap();

        let dir = temp_dir("resumed");
        let mut first = learner(config.clone());
        first.add_callback(Box::new(RunLog::create(&dir).unwrap()));
        first.add_callback(Box::new(CrashAfterEpoch(2)));
        first.add_callback(Box::new(Checkpointer::new(&dir)));
        let s = first.fit(5, &one_cycle()).unwrap();
        assert_eq!(s.stopped.as_deref(), Some("crash"));
        drop(first);

        // A fresh process rebuilds the learner and loads; weights other than the saved ones
        // (here all 0.5) must not survive the load.
        let mut resumed = learner(config);
        tch::no_grad(|| {
            for (_, mut v) in resumed.var_store().variables() {
                let _ = v.fill_(0.5);
            }
        });
        let at = resumed
            .load_checkpoint(&RunDir::new(&dir).checkpoint())
            .unwrap();
        assert_eq!((at.epoch, at.batch, at.step), (2, 0, 16));
        resumed.add_callback(Box::new(RunLog::resume(&dir, at.step, at.epoch).unwrap()));
        resumed.add_callback(Box::new(Checkpointer::new(&dir)));
        resumed.fit_from(5, &one_cycle(), at).unwrap();

        assert_eq!(
            weights(&resumed),
            weights(&whole),
            "{opt:?}: weights differ"
        );
        assert_eq!(
            run_dir_files(&dir),
            run_dir_files(&whole_dir),
            "{opt:?}: history differs"
        );
    }
}

#[test]
fn freeze_after_trains_the_first_groups_for_the_first_epochs_only() {
    // At a constant LR the first epoch is the same in both runs; the body then stops where a
    // one-epoch run leaves it, while the head trains on.
    let constant = Policy::Constant(ConstantParams {
        lr: 0.05,
        momentum: None,
    });
    let mut one = learner(TrainConfig::default());
    one.fit(1, &constant).unwrap();
    let mut two = learner(TrainConfig::default());
    two.add_callback(Box::new(FreezeAfter {
        groups: 1,
        epochs: 1,
    }));
    two.fit(2, &constant).unwrap();
    for ((name, a), (_, b)) in weights(&one).iter().zip(weights(&two)) {
        let trainable_body = name.starts_with("body") && !name.contains("running");
        assert_eq!(trainable_body, *a == b, "{name}");
    }
}

#[test]
fn lookahead_whose_period_outlasts_the_fit_ends_on_the_starting_weights() {
    // The average starts at the initial weights; with no pull before the end, the final pull
    // (decay 1) puts them back, BatchNorm statistics included.
    let config = TrainConfig {
        lookahead: Some(LookaheadConfig {
            every: 1000,
            rate: 0.9,
        }),
        ..TrainConfig::default()
    };
    let mut l = learner(config);
    let start = weights(&l);
    let s = l.fit(2, &one_cycle()).unwrap();
    assert_eq!(s.steps, 16);
    assert_eq!(weights(&l), start);
    // Without lookahead the same fit moves them.
    let mut plain = learner(TrainConfig::default());
    plain.fit(2, &one_cycle()).unwrap();
    assert_ne!(weights(&plain), start);
}

#[test]
fn a_bn_bias_lr_scale_speeds_up_batch_norm_biases_only() {
    // One step at a constant LR: every other parameter sees the same gradient and LR, so only
    // body.bn.bias moves differently, by 8× the plain step.
    let constant = Policy::Constant(ConstantParams {
        lr: 0.01,
        momentum: None,
    });
    let fast = TrainConfig {
        bn_bias_lr_scale: 8.0,
        ..TrainConfig::default()
    };
    let (mut a, mut b) = (learner(TrainConfig::default()), learner(fast));
    let before = weights(&a);
    for l in [&mut a, &mut b] {
        l.add_callback(Box::new(StopAfterSteps(1)));
        l.fit(1, &constant).unwrap();
    }
    for (((name, w0), (_, wa)), (_, wb)) in before.iter().zip(weights(&a)).zip(weights(&b)) {
        if name == "body.bn.bias" {
            for ((p0, pa), pb) in w0.iter().zip(&wa).zip(&wb) {
                let (da, db) = (pa - p0, pb - p0);
                assert!(
                    (db - 8.0 * da).abs() <= 1e-6 + 1e-4 * da.abs(),
                    "{da} vs {db}"
                );
            }
            assert_ne!(wa, wb);
        } else {
            assert_eq!(wa, wb, "{name}");
        }
    }
}

#[test]
fn divergence_stops_with_the_step_and_lr_and_rolls_back_to_the_epoch_start() {
    let mut l = learner(TrainConfig::default());
    // One good epoch at a sane LR, then LR 1e4.
    l.fit(
        1,
        &Policy::Constant(ConstantParams {
            lr: 0.01,
            momentum: None,
        }),
    )
    .unwrap();
    let good = weights(&l);
    let err = l
        .fit(
            2,
            &Policy::Constant(ConstantParams {
                lr: 1e4,
                momentum: None,
            }),
        )
        .unwrap_err();
    let diverged = err.downcast_ref::<Diverged>().expect("a Diverged error");
    assert_eq!(diverged.epoch, 0);
    let msg = err.to_string();
    assert!(
        msg.contains("diverged at step") && msg.contains("lr 1.000e4"),
        "{msg}"
    );
    assert_eq!(weights(&l), good, "weights were not rolled back");
}

#[test]
fn truncated_or_foreign_checkpoints_are_refused_with_a_clear_error() {
    let dir = temp_dir("corrupt");
    let mut l = learner(TrainConfig::default());
    l.add_callback(Box::new(Checkpointer::new(&dir)));
    l.fit(1, &one_cycle()).unwrap();
    let path = RunDir::new(&dir).checkpoint();
    let bytes = std::fs::read(&path).unwrap();

    let truncated = dir.join("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let err = format!(
        "{:#}",
        learner(TrainConfig::default())
            .load_checkpoint(&truncated)
            .unwrap_err()
    );
    assert!(
        err.contains("truncated.safetensors") && err.contains("corrupt or truncated"),
        "{err}"
    );

    let foreign = dir.join("foreign.safetensors");
    Tensor::write_safetensors(
        &[("w", Tensor::zeros([2], (Kind::Float, Device::Cpu)))],
        &foreign,
    )
    .unwrap();
    let err = format!(
        "{:#}",
        learner(TrainConfig::default())
            .load_checkpoint(&foreign)
            .unwrap_err()
    );
    assert!(err.contains("not a onecycle checkpoint"), "{err}");

    let missing = format!(
        "{:#}",
        learner(TrainConfig::default())
            .load_checkpoint(&dir.join("nope"))
            .unwrap_err()
    );
    assert!(missing.contains("does not exist"), "{missing}");

    // No temporary file is left beside the good checkpoint.
    let names: Vec<String> = std::fs::read_dir(RunDir::new(&dir).checkpoints())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, [record::run_dir::LAST_CHECKPOINT]);
}

#[test]
fn a_module_that_is_not_sequential_works_too() {
    // Any nn::Module: a plain linear regression without batch norm, one group.
    let _lock = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    let vs = nn::VarStore::new(Device::Cpu);
    let lin = nn::linear(vs.root() / "lin", 8, 1, Default::default());
    #[derive(Debug)]
    struct Wrap(nn::Linear);
    impl nn::ModuleT for Wrap {
        fn forward_t(&self, xs: &Tensor, _train: bool) -> Tensor {
            self.0.forward(xs)
        }
    }
    let mut l = Learner::builder(vs, Wrap(lin), regression(3))
        .loss(mse())
        .config(TrainConfig::default())
        .build()
        .unwrap();
    let (before, _) = l.validate().unwrap();
    l.fit(3, &one_cycle()).unwrap();
    let (after, _) = l.validate().unwrap();
    assert!(after < before, "{before} → {after}");
}

/// Records the LR of every step.
struct LrTrace(std::rc::Rc<std::cell::RefCell<Vec<f64>>>);
impl Callback for LrTrace {
    fn after_step(
        &mut self,
        _ctx: &mut Ctx,
        s: &onecycle::callbacks::StepInfo,
    ) -> anyhow::Result<Flow> {
        self.0.borrow_mut().push(s.lr);
        Ok(Flow::Continue)
    }
}

#[test]
fn epoch_based_helpers_convert_epochs_to_steps() {
    // 8 batches per epoch: milestones at epochs 1 and 2 are steps 8 and 16.
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let mut l = learner(TrainConfig::default());
    l.add_callback(Box::new(LrTrace(seen.clone())));
    l.fit_steps(3, 0.1, &[1, 2], 0.1).unwrap();
    let lrs = seen.borrow().clone();
    assert_eq!(lrs.len(), 24);
    assert!(lrs[..8].iter().all(|&v| v == 0.1));
    assert!(lrs[8..16].iter().all(|&v| (v - 0.01).abs() < 1e-15));
    assert!(lrs[16..].iter().all(|&v| (v - 0.001).abs() < 1e-15));

    // SGDR with one-epoch cycles restarts at the top every 8 steps.
    seen.borrow_mut().clear();
    let mut l = learner(TrainConfig::default());
    l.add_callback(Box::new(LrTrace(seen.clone())));
    l.fit_sgdr(2, 0.05, 1, 1).unwrap();
    let lrs = seen.borrow().clone();
    assert_eq!((lrs[0], lrs[8]), (0.05, 0.05));
    assert!(lrs[7] < 0.01 && lrs[15] < 0.01, "{lrs:?}");
}

#[test]
fn a_failing_forward_pass_is_an_error_naming_libtorch_s_reason() {
    // The model expects 5 features; the data has 8.
    let mut l = {
        let _lock = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
        let vs = nn::VarStore::new(Device::Cpu);
        let net = nn::seq_t().add(nn::linear(vs.root() / "fc", 5, 1, Default::default()));
        Learner::builder(vs, net, regression(0))
            .loss(mse())
            .config(TrainConfig::default())
            .build()
            .unwrap()
    };
    let err = l.fit(1, &one_cycle()).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("the forward pass failed"), "{msg}");
    assert!(msg.contains("shapes cannot be multiplied"), "{msg}");
    // One line: libtorch's C++ frames and Rust's unwrap wording stay out.
    assert!(!msg.contains('\n') && !msg.contains("\\n"), "{msg}");
    assert!(
        !msg.contains("Exception raised") && !msg.contains("unwrap"),
        "{msg}"
    );
}

/// Copies the files and folders of `from` into `to`.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_tree(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// `tests/fixtures/run-0.1` was written by the Learner before its redesign (0.1.0 at 79b5b5f):
/// the model and data of `learner()`, wd 1e-3, 1cycle over 4 epochs, stopped after epoch 2. It
/// resumes today and ends with the weights and history of an uninterrupted run of today's code,
/// whose first two epochs equal the old rows.
#[test]
fn a_run_folder_written_before_the_redesign_resumes_exactly() {
    let config = TrainConfig {
        wd: 1e-3,
        ..TrainConfig::default()
    };
    let whole_dir = temp_dir("fixture-whole");
    let mut whole = learner(config.clone());
    whole.add_callback(Box::new(RunLog::create(&whole_dir).unwrap()));
    whole.fit(4, &one_cycle()).unwrap();

    let dir = temp_dir("fixture-resumed");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/run-0.1"),
        &dir,
    );
    let mut resumed = learner(config);
    let at = resumed
        .load_checkpoint(&dir.join("checkpoints/last.safetensors"))
        .unwrap();
    assert_eq!((at.epoch, at.batch, at.step), (2, 0, 16));
    resumed.add_callback(Box::new(RunLog::resume(&dir, at.step, at.epoch).unwrap()));
    resumed.fit_from(4, &one_cycle(), at).unwrap();
    assert_eq!(weights(&resumed), weights(&whole));
    assert_eq!(run_dir_files(&dir), run_dir_files(&whole_dir));
}

/// Linear–ReLU–linear (no batch norm, whose statistics depend on the batch) over the
/// regression data in batches of `batch`, `accumulate` batches a step.
fn without_bn(batch: usize, accumulate: usize) -> Learner<TensorData> {
    let _lock = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    let mut data = regression(0);
    data.batch_size = batch;
    tch::manual_seed(1);
    let vs = nn::VarStore::new(Device::Cpu);
    let root = vs.root();
    let net = nn::seq_t()
        .add(nn::linear(&root / "fc1", 8, 16, Default::default()))
        .add_fn(|x| x.relu())
        .add(nn::linear(&root / "fc2", 16, 1, Default::default()));
    let config = TrainConfig {
        accumulate,
        wd: 1e-3,
        ..TrainConfig::default()
    };
    Learner::builder(vs, net, data)
        .loss(mse())
        .config(config)
        .build()
        .unwrap()
}

/// Gradient accumulation: 4 batches of 32 a step train as 1 batch of 128 (same steps, same
/// schedule, same weights up to float rounding), and the range test reads the same curve.
#[test]
fn accumulating_four_batches_of_32_equals_one_batch_of_128() {
    let (mut big, mut acc) = (without_bn(128, 1), without_bn(32, 4));
    assert_eq!((big.steps_per_epoch(), acc.steps_per_epoch()), (2, 2));
    let a = big.fit(3, &one_cycle()).unwrap();
    let b = acc.fit(3, &one_cycle()).unwrap();
    assert_eq!((a.steps, a.items), (b.steps, b.items));
    for ((na, wa), (nb, wb)) in weights(&big).iter().zip(&weights(&acc)) {
        assert_eq!(na, nb);
        for (x, y) in wa.iter().zip(wb) {
            assert!((x - y).abs() <= 1e-5 * x.abs().max(1.0), "{na}: {x} vs {y}");
        }
    }
    for (ea, eb) in a.epochs.iter().zip(&b.epochs) {
        assert!(
            (ea.train_loss - eb.train_loss).abs() < 1e-5 * ea.train_loss,
            "train loss"
        );
    }
    let options = onecycle::lr_find::LrFindOptions {
        num_it: 12,
        ..Default::default()
    };
    let (ra, rb) = (
        big.lr_find(&options).unwrap(),
        acc.lr_find(&options).unwrap(),
    );
    assert_eq!(ra.lrs(), rb.lrs());
    for (x, y) in ra.rows.iter().zip(&rb.rows) {
        assert!(
            (x.loss - y.loss).abs() < 1e-5 * x.loss.abs().max(1.0),
            "{} vs {}",
            x.loss,
            y.loss
        );
    }
    // Without accumulation, batches of 32 take 4 times the steps.
    assert_eq!(without_bn(32, 1).steps_per_epoch(), 8);
}

/// Two classes of 2×2 one-channel "images": class 1 is brighter on the left.
fn two_class_images() -> TensorData {
    let make = |n: i64| {
        let x = Tensor::randn([n, 1, 2, 2], (Kind::Float, Device::Cpu));
        let y = x
            .narrow(3, 0, 1)
            .sum_dim_intlist(&[1i64, 2, 3][..], false, Kind::Float)
            .gt(0.0)
            .to_kind(Kind::Int64);
        (x, y)
    };
    TensorData {
        train: make(256),
        valid: Some(make(64)),
        batch_size: 32,
        shuffle: true,
        seed: 0,
    }
}

#[test]
fn evaluate_gives_validates_figures_with_a_confusion_matrix_and_top_losses() {
    let mut l = {
        let _lock = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
        tch::manual_seed(3);
        let data = two_class_images();
        let vs = nn::VarStore::new(Device::Cpu);
        let net = nn::seq().add_fn(|x| x.flatten(1, -1)).add(nn::linear(
            vs.root() / "fc",
            4,
            2,
            Default::default(),
        ));
        let mut l = Learner::builder(vs, net, data).build().unwrap();
        l.add_metric(Box::new(onecycle::metrics::accuracy()));
        l
    };
    l.fit(3, &one_cycle()).unwrap();
    let (loss, metrics) = l.validate().unwrap();
    let classes = vec!["dark".to_string(), "bright".to_string()];
    let e = l.evaluate(classes.clone(), None, 5).unwrap();
    assert_eq!((e.loss, e.accuracy), (loss, metrics[0].1));
    assert!(e.accuracy > 0.8, "{}", e.accuracy);
    assert_eq!(e.confusion.iter().flatten().sum::<usize>(), 64);
    let right = e.confusion[0][0] + e.confusion[1][1];
    assert_eq!(right as f64 / 64.0, e.accuracy);
    assert_eq!(e.top_losses.len(), 5);
    assert!(e.top_losses.windows(2).all(|w| w[0].loss >= w[1].loss));
    // Augmented predictions that are the plain ones: the same confusion, loss as their NLL.
    let plain = l.predict_valid(|x| x.shallow_clone()).unwrap();
    let tta = l.evaluate(classes, Some(plain), 5).unwrap();
    assert!(tta.tta && tta.confusion == e.confusion);
    assert!(
        (tta.loss - e.loss).abs() < 1e-5,
        "{} vs {}",
        tta.loss,
        e.loss
    );
}
