//! The speed-run preset (airbench94): its settings and schedule are airbench's, and a short run
//! on the embedded sample trains with every part of the recipe (batches augmented on the device,
//! lookahead, BatchNorm biases at 64× the LR, the whitening bias frozen after its epochs,
//! mirror-translate TTA) and resumes exactly.

use onecycle::callbacks::{Callback, Checkpointer, Ctx, EpochInfo, Flow};
use onecycle::data::Data;
use onecycle::learner::Learner;
use onecycle::lookahead::LookaheadConfig;
use recipe::presets::fit_preset;
use recipe::{learner, tta_accuracy, FitConfig, TtaViews};
use record::RunDir;
use schedule::Policy;
use vision::models::ModelName;
use vision::{BatchAugment, Flip, ImageData};

/// airbench94's LR multiplier at step `step` of `total`: linear from 0.2 to 1 over the first
/// `int(0.23·total)` steps, then linear to 0.07 at `total`.
fn airbench_lr(step: usize, total: usize) -> f64 {
    let warmup = (total as f64 * 0.23) as usize;
    if step < warmup {
        let f = step as f64 / warmup as f64;
        0.2 * (1.0 - f) + f
    } else {
        let f = (step - warmup) as f64 / (total - warmup) as f64;
        (1.0 - f) + 0.07 * f
    }
}

#[test]
fn the_speedrun_preset_is_airbench94_s_recipe() {
    let c = fit_preset("speedrun").unwrap();
    assert_eq!(c.model, ModelName::Speedrun);
    assert_eq!((c.epochs, c.batch, c.nesterov), (10, 1024, true));
    assert_eq!((c.momentum, c.label_smoothing), (0.85, 0.2));
    assert_eq!((c.bn_bias_lr_scale, c.first_group_epochs), (64.0, Some(3)));
    assert_eq!(c.lookahead, Some(LookaheadConfig::airbench()));
    let augment = BatchAugment {
        translate: 2,
        flip: Flip::Alternating,
    };
    assert_eq!((c.augment, c.batch_augment), (false, Some(augment)));
    assert_eq!((c.tta, c.tta_views), (true, TtaViews::MirrorTranslate));
    // The weights shrink by airbench's 0.0153·1024 / (1024·(1 + 1/0.15)) per step at the peak.
    let Policy::OneCycle(params) = &c.schedule else {
        panic!("a one-cycle schedule, got {:?}", c.schedule);
    };
    let peak = params.max_lr;
    let airbench_decay = 0.0153 * 1024.0 / (1024.0 * (1.0 + 1.0 / 0.15));
    assert!(
        (peak * c.wd - airbench_decay).abs() < 1e-15,
        "{}",
        peak * c.wd
    );
    assert!((peak - 11.5 / (1.0 + 1.0 / 0.15)).abs() < 1e-12, "{peak}");
    // 50,000 images in batches of 1,024: 49 steps an epoch. Every step is within two warm-up
    // steps' change of airbench's curve (its phase ends fall a step or two apart from ours).
    let n = 10 * 49;
    let points = c.schedule_in_steps(49).build(n).unwrap().points();
    let tolerance = 2.0 * peak * 0.8 / (0.23 * n as f64);
    for (i, p) in points.iter().enumerate() {
        let want = peak * airbench_lr(i, n);
        assert!(
            (p.lr - want).abs() <= tolerance,
            "step {i}: {} vs {want}",
            p.lr
        );
        assert!(p.momentum.is_none(), "momentum held at 0.85");
    }
    assert!((points[0].lr - 0.2 * peak).abs() < 1e-12);
    assert!((points[n - 1].lr - 0.07 * peak).abs() < 1e-12);
}

/// The preset on 256 images of the embedded sample in batches of 64, the whitening bias frozen
/// after the first of 3 epochs.
fn short_run() -> FitConfig {
    let mut c = fit_preset("speedrun").unwrap();
    c.limit_train = Some(256);
    c.limit_valid = Some(256);
    c.batch = 64;
    c.epochs = 3;
    c.first_group_epochs = Some(1);
    c.workers = 1;
    c
}

/// Stops a fit at the end of its first epoch, like a crash right after the checkpoint.
struct StopAfterFirstEpoch;

impl Callback for StopAfterFirstEpoch {
    fn after_epoch(&mut self, _ctx: &mut Ctx, _: &EpochInfo) -> anyhow::Result<Flow> {
        Ok(Flow::Stop("interrupted".into()))
    }
}

#[test]
fn a_short_speed_run_trains_freezes_the_whitening_bias_and_resumes_exactly() {
    let c = short_run();
    let mut whole = learner(&c, None).unwrap();
    assert_eq!(whole.data().train_batches(), 4);
    let (before, _) = whole.validate().unwrap();
    let policy = c.schedule_in_steps(4);
    let summary = whole.fit(3, &policy).unwrap();
    let after = summary.epochs.last().unwrap().valid_loss;
    assert!(after < before, "validation loss {before} → {after}");
    let tta = tta_accuracy(&whole, TtaViews::MirrorTranslate, c.tta_beta).unwrap();
    assert!((0.0..=1.0).contains(&tta), "{tta}");

    let tmp = tempfile::tempdir().unwrap();
    let mut first = learner(&c, None).unwrap();
    first.add_callback(Box::new(Checkpointer::new(tmp.path())));
    first.add_callback(Box::new(StopAfterFirstEpoch));
    first.fit(3, &policy).unwrap();
    // After epoch 1 the whitening bias is frozen: its momentum stops where one epoch left it,
    // while the layers after it train on.
    let buffer = |l: &Learner<ImageData>, name: &str| {
        let state = l.optimizer().state_tensors();
        Vec::<f32>::try_from(&state[&format!("{name}.buf")].flatten(0, -1)).unwrap()
    };
    assert_eq!(buffer(&first, "whiten.bias"), buffer(&whole, "whiten.bias"));
    assert_ne!(
        buffer(&first, "block1.bn1.bias"),
        buffer(&whole, "block1.bn1.bias")
    );

    let mut resumed = learner(&c, None).unwrap();
    let at = resumed
        .load_checkpoint(&RunDir::new(tmp.path()).checkpoint())
        .unwrap();
    assert_eq!((at.epoch, at.step), (1, 4));
    resumed.fit_from(3, &policy, at).unwrap();
    let (a, b) = (whole.validate().unwrap().0, resumed.validate().unwrap().0);
    assert_eq!(a.to_bits(), b.to_bits(), "valid loss {a} vs {b}");
}

#[test]
fn batch_augmentation_refuses_settings_it_cannot_combine_with() {
    let mut per_image = short_run();
    per_image.augment = true;
    let err = per_image.validate().unwrap_err().to_string();
    assert!(err.contains("set augment = false"), "{err}");
    let mut resizing = short_run();
    resizing.sizes = vec![24, 32];
    let err = resizing.validate().unwrap_err().to_string();
    assert!(err.contains("progressive resizing"), "{err}");
    let mut bad_scale = short_run();
    bad_scale.bn_bias_lr_scale = 0.0;
    let err = bad_scale.validate().unwrap_err().to_string();
    assert!(err.contains("bn_bias_lr_scale"), "{err}");
}
