//! Mixed precision on the CPU: autocast runs convolutions and matrix products in bf16 (and
//! restores the previous state when its guard drops), bf16 training of a small CNN converges with
//! fp32 master weights, and fp16's loss scaler skips overflowing steps, halves and doubles its
//! scale as PyTorch's GradScaler does, records skipped steps and survives a checkpoint.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

mod common;
use common::{classifier, fit_and_check_it_learns, quadrants};
use onecycle::amp::{Autocast, GradScaler, Precision, ScalerConfig};
use onecycle::checkpoint::Position;
use onecycle::data::TensorData;
use onecycle::history::RunLog;
use onecycle::learner::Learner;
use schedule::{ConstantParams, Policy};
use tch::{nn, nn::Module, Device, Kind, Tensor};

/// Tests run on parallel threads and torch's generator is global.
static SEEDED: Mutex<()> = Mutex::new(());

/// conv 3×3 (1→8) + batch norm + ReLU, flattened into a linear layer of 4 classes; `seen`
/// records the dtype of the activations after the batch norm.
fn small_cnn(precision: Precision, seen: Arc<Mutex<Option<Kind>>>) -> Learner<TensorData> {
    let _lock = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    let data = quadrants(0);
    tch::manual_seed(1);
    let vs = nn::VarStore::new(Device::Cpu);
    let root = vs.root();
    let conv = nn::ConvConfig {
        padding: 1,
        ..Default::default()
    };
    let net = nn::seq_t()
        .add(nn::conv2d(&root / "conv", 1, 8, 3, conv))
        .add(nn::batch_norm2d(&root / "bn", 8, Default::default()))
        .add_fn(move |x| {
            *seen.lock().unwrap() = Some(x.kind());
            x.relu()
        })
        .add_fn(|x| x.flatten(1, -1))
        .add(nn::linear(&root / "fc", 8 * 8 * 8, 4, Default::default()));
    classifier(vs, net, data, precision)
}

fn temp_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("onecycle-precision-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn autocast_runs_matrix_products_in_bf16_and_restores_the_previous_state() {
    let vs = nn::VarStore::new(Device::Cpu);
    let fc = nn::linear(vs.root() / "fc", 4, 3, Default::default());
    let x = Tensor::ones([2, 4], (Kind::Float, Device::Cpu));
    assert_eq!(fc.forward(&x).kind(), Kind::Float);
    {
        let _outer = Autocast::new(Device::Cpu, Kind::BFloat16).unwrap();
        assert_eq!(fc.forward(&x).kind(), Kind::BFloat16);
        {
            let _inner = Autocast::new(Device::Cpu, Kind::BFloat16).unwrap();
            assert_eq!(fc.forward(&x).kind(), Kind::BFloat16);
        }
        assert_eq!(
            fc.forward(&x).kind(),
            Kind::BFloat16,
            "leaving the inner region keeps the outer one"
        );
        // Losses are on CPU autocast's fp32 list.
        let target = Tensor::zeros([2, 3], (Kind::Float, Device::Cpu));
        let loss = fc.forward(&x).mse_loss(&target, tch::Reduction::Mean);
        assert_eq!(loss.kind(), Kind::Float);
    }
    assert_eq!(
        fc.forward(&x).kind(),
        Kind::Float,
        "the guard restored fp32"
    );
    // The weights themselves never change dtype.
    for (_, v) in vs.variables() {
        assert_eq!(v.kind(), Kind::Float);
    }
}

#[test]
fn autocast_refuses_dtypes_it_cannot_run() {
    let err = Autocast::new(Device::Cpu, Kind::Double)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("Half or BFloat16"), "{err}");
}

#[test]
fn bf16_training_of_a_small_cnn_converges_with_fp32_master_weights() {
    let seen = Arc::new(Mutex::new(None));
    let mut l = small_cnn(Precision::Bf16, seen.clone());
    let (loss_before, _) = l.validate().unwrap();
    let summary = fit_and_check_it_learns(&mut l, "bf16");
    assert_eq!(summary.steps, 40);
    assert_eq!(
        *seen.lock().unwrap(),
        Some(Kind::BFloat16),
        "the forward pass ran in bf16"
    );
    let valid_loss = summary.epochs.last().unwrap().valid_loss;
    assert!(
        valid_loss < 0.3 * loss_before,
        "validation loss {loss_before:.4} → {valid_loss:.4}"
    );
}

#[test]
fn bf16_outputs_differ_from_fp32_by_bf16_rounding_only() {
    let (seen32, seen16) = (Arc::new(Mutex::new(None)), Arc::new(Mutex::new(None)));
    let fp32 = small_cnn(Precision::Fp32, seen32.clone());
    let bf16 = small_cnn(Precision::Bf16, seen16.clone());
    let x = Tensor::randn([16, 1, 8, 8], (Kind::Float, Device::Cpu));
    let a = fp32.forward(&x, false).unwrap();
    let b = bf16.forward(&x, false).unwrap();
    assert_eq!(*seen32.lock().unwrap(), Some(Kind::Float));
    assert_eq!(*seen16.lock().unwrap(), Some(Kind::BFloat16));
    assert_eq!(b.kind(), Kind::Float, "outputs come back as fp32");
    let diff = (&a - &b).abs().max().double_value(&[]);
    let scale = a.abs().max().double_value(&[]);
    // bf16 keeps 8 bits of mantissa: relative error ≈ 2⁻⁸ per rounding.
    assert!(
        diff > 0.0 && diff < 0.05 * scale,
        "max |fp32 − bf16| = {diff} for outputs up to {scale}"
    );
}

/// Gradients of `sum(w · x)` with respect to `w`: `x` itself.
fn grads_of(x: &[f32]) -> Vec<Tensor> {
    let w = Tensor::ones([x.len() as i64], (Kind::Float, Device::Cpu)).set_requires_grad(true);
    let loss = (&w * Tensor::from_slice(x)).sum(Kind::Float);
    Tensor::run_backward(&[loss], &[&w], false, false)
}

#[test]
fn the_scaler_unscales_gradients_and_detects_inf_and_nan() {
    let scaler = GradScaler::new(ScalerConfig {
        init_scale: 4.0,
        ..Default::default()
    })
    .unwrap();
    let mut good = grads_of(&[8.0, -2.0, 1.0]);
    assert!(!scaler.unscale(&mut good).unwrap());
    assert_eq!(Vec::<f32>::try_from(&good[0]).unwrap(), [2.0, -0.5, 0.25]);
    for bad in [f32::INFINITY, f32::NEG_INFINITY, f32::NAN] {
        let mut grads = grads_of(&[1.0, bad]);
        grads.extend(grads_of(&[3.0]));
        assert!(scaler.unscale(&mut grads).unwrap(), "{bad} not detected");
    }
}

#[test]
fn the_scale_halves_on_overflow_and_doubles_after_growth_interval_good_steps() {
    let mut s = GradScaler::new(ScalerConfig {
        growth_interval: 3,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(s.scale(), 65536.0, "PyTorch's initial scale");
    let mut overflowing = grads_of(&[1.0, f32::INFINITY]);
    let found = s.unscale(&mut overflowing).unwrap();
    s.update(found);
    assert_eq!(s.scale(), 32768.0);
    for step in 1..=2 {
        let mut g = grads_of(&[1.0, 2.0]);
        let found = s.unscale(&mut g).unwrap();
        s.update(found);
        assert_eq!(s.scale(), 32768.0, "no growth after {step} good steps");
        assert_eq!(s.growth_tracker(), step);
    }
    s.update(false);
    assert_eq!(s.scale(), 65536.0, "doubled after 3 good steps");
    assert_eq!(s.growth_tracker(), 0);
    // An overflow restarts the count.
    s.update(false);
    s.update(false);
    s.update(true);
    assert_eq!((s.scale(), s.growth_tracker()), (32768.0, 0));
    s.update(false);
    s.update(false);
    assert_eq!(s.scale(), 32768.0);
}

#[test]
fn fp16_training_skips_overflowing_steps_records_them_and_still_learns() {
    let dir = temp_dir("fp16");
    let seen = Arc::new(Mutex::new(None));
    let mut l = small_cnn(Precision::Fp16, seen.clone());
    // A scale of 2³⁰ overflows fp16 gradients: the first steps are skipped and halve it until
    // the gradients fit (about 2¹⁷ here).
    l.set_grad_scaler(
        GradScaler::new(ScalerConfig {
            init_scale: 2f32.powi(30),
            ..Default::default()
        })
        .unwrap(),
    )
    .unwrap();
    l.add_callback(Box::new(RunLog::create_with(&dir, true).unwrap()));
    let fc_weight = |l: &Learner<TensorData>| l.var_store().variables()["fc.weight"].copy();
    let before = fc_weight(&l);
    let policy = Policy::Constant(ConstantParams {
        lr: 0.02,
        momentum: None,
    });
    let summary = l.fit(4, &policy).unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        Some(Kind::Half),
        "the forward pass ran in fp16"
    );
    let text = std::fs::read_to_string(record::RunDir::new(&dir).steps_csv()).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("epoch,step,lr,momentum,loss,smooth_loss,skipped")
    );
    let skipped: Vec<u8> = lines
        .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(skipped.len(), 32);
    assert_eq!(skipped[0], 1, "the first step overflows: {skipped:?}");
    let n_skipped = skipped.iter().filter(|&&s| s == 1).count();
    assert!(
        n_skipped < 20,
        "the scale should come down within a few steps: {skipped:?}"
    );
    // No growth within 2000 steps: the scale is halved once per skipped step.
    let scale = l.grad_scaler().unwrap().scale();
    assert_eq!(scale, 2f32.powi(30 - n_skipped as i32), "{skipped:?}");
    assert!(before != fc_weight(&l), "weights moved");
    let first = summary.epochs[0].train_loss;
    let last = summary.epochs.last().unwrap().train_loss;
    assert!(
        last < 0.5 * first,
        "fp16 training loss {first:.4} → {last:.4}"
    );
}

#[test]
fn the_scaler_state_survives_a_checkpoint() {
    let dir = temp_dir("ckpt");
    let path = dir.join("last.safetensors");
    let mut l = small_cnn(Precision::Fp16, Arc::new(Mutex::new(None)));
    l.set_grad_scaler(
        GradScaler::new(ScalerConfig {
            init_scale: 2f32.powi(20),
            growth_interval: 1000,
            ..Default::default()
        })
        .unwrap(),
    )
    .unwrap();
    let policy = Policy::Constant(ConstantParams {
        lr: 0.02,
        momentum: None,
    });
    l.fit(2, &policy).unwrap();
    let saved = l.grad_scaler().unwrap().clone();
    assert!(
        saved.scale() < 2f32.powi(20) && saved.growth_tracker() > 0,
        "{saved:?}"
    );
    l.save_checkpoint(&path, Position::default()).unwrap();
    let mut fresh = small_cnn(Precision::Fp16, Arc::new(Mutex::new(None)));
    fresh.load_checkpoint(&path).unwrap();
    let restored = fresh.grad_scaler().unwrap();
    assert_eq!(
        (restored.scale(), restored.growth_tracker()),
        (saved.scale(), saved.growth_tracker())
    );
}

#[test]
fn a_loss_scaler_needs_fp16() {
    let mut l = small_cnn(Precision::Bf16, Arc::new(Mutex::new(None)));
    assert!(l.grad_scaler().is_none());
    let err = l
        .set_grad_scaler(GradScaler::new(ScalerConfig::default()).unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("fp16") && err.contains("bf16"), "{err}");
}
