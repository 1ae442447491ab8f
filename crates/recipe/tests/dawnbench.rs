//! The DAWNBench recipes: progressive resizing (sizes per epoch phase, exact on resume), the
//! ImageNet-style image-folder recipe with ResNet-50, and the presets in `presets/fit/`.

use std::path::{Path, PathBuf};

use image::{Rgb, RgbImage};
use onecycle::callbacks::{Callback, Checkpointer, Ctx, EpochInfo, Flow};
use onecycle::data::Data;
use recipe::presets::{fit_preset, FIT_PRESETS};
use recipe::{fit, learner, parse_config, read_config, FitConfig};
use record::RunDir;
use schedule::{OneCycleParams, Policy};
use tch::Tensor;
use vision::models::ModelName;
use vision::SizePhase;

/// Small CNN on a few images of the embedded sample, trained at 16 px then 32 px.
fn resizing() -> FitConfig {
    let mut c = FitConfig::new(Policy::OneCycle(OneCycleParams {
        max_lr: 0.05,
        ..Default::default()
    }));
    c.model = ModelName::SmallCnn;
    c.batch = 16;
    c.epochs = 3;
    c.limit_train = Some(64);
    c.limit_valid = Some(32);
    c.sizes = vec![16, 32];
    c.size_fractions = vec![0.4, 0.6];
    c
}

/// `[n, c, h, w]` of the first training batch of `epoch` and whether every batch has that shape.
fn train_shape(data: &impl Data, epoch: usize) -> Vec<i64> {
    let shapes: Vec<Vec<i64>> = data
        .train_epoch(epoch, 0)
        .unwrap()
        .map(|b| b.unwrap().inputs.size())
        .collect();
    assert_eq!(shapes.len(), data.train_batches());
    assert!(
        shapes.iter().all(|s| s[1..] == shapes[0][1..]),
        "{shapes:?}"
    );
    shapes[0].clone()
}

fn valid_shape(data: &impl Data) -> Vec<i64> {
    data.valid().unwrap().next().unwrap().unwrap().inputs.size()
}

#[test]
fn size_phases_split_the_epochs_and_name_the_field_at_fault() {
    let mut c = resizing();
    c.epochs = 10;
    let phases = |c: &FitConfig| c.size_phases().unwrap();
    assert_eq!(
        phases(&c),
        [
            SizePhase {
                size: 16,
                epochs: 0..4
            },
            SizePhase {
                size: 32,
                epochs: 4..10
            }
        ]
    );
    c.sizes = vec![8, 16, 24];
    c.size_fractions = vec![];
    let ends: Vec<_> = phases(&c).iter().map(|p| p.epochs.clone()).collect();
    assert_eq!(
        ends,
        [0..3, 3..6, 6..10],
        "equal shares, the last takes the rest"
    );
    c.sizes = vec![];
    assert!(phases(&c).is_empty());

    let error = |edit: &dyn Fn(&mut FitConfig)| {
        let mut c = resizing();
        edit(&mut c);
        c.validate().unwrap_err().to_string()
    };
    assert!(error(&|c| c.sizes = vec![16, 0]).contains("sizes must be positive"));
    // Sizes the model cannot take, or absurd ones, are refused before any image is loaded.
    let small = |c: &mut FitConfig| {
        c.model = ModelName::SmallCnn;
        c.sizes = vec![4, 32];
    };
    let e = error(&small);
    assert!(
        e.contains("4 px is too small for small-cnn") && e.contains("at least 8 px"),
        "{e}"
    );
    let e = error(&|c| c.sizes = vec![32, 2000]);
    assert!(e.contains("2000 px is above the 1024 px"), "{e}");
    assert!(error(&|c| c.size_fractions = vec![0.5, 0.6]).contains("size_fractions must sum to 1"));
    assert!(error(&|c| c.size_fractions = vec![1.0]).contains("size_fractions has 1 values"));
    assert!(
        error(&|c| c.size_fractions = vec![1.5, -0.5]).contains("size_fractions must be positive")
    );
    assert!(error(&|c| c.sizes = vec![]).contains("size_fractions needs sizes"));
    let e = error(&|c| c.size_fractions = vec![0.1, 0.9]);
    assert!(
        e.contains("phase 0 (size 16) gets no epoch of the 3"),
        "{e}"
    );
}

#[test]
fn progressive_resizing_trains_each_phase_at_its_size_and_validates_at_the_last() {
    let c = resizing();
    let l = learner(&c, None).unwrap();
    let data = l.data();
    assert_eq!(train_shape(data, 0), [16, 3, 16, 16]);
    assert_eq!(
        train_shape(data, 1),
        [16, 3, 32, 32],
        "phase 2 starts at round(0.4·3)"
    );
    assert_eq!(train_shape(data, 2), [16, 3, 32, 32]);
    assert_eq!(valid_shape(data), [16, 3, 32, 32]);
    assert_eq!(data.train_loader(0).output_shape(), (3, 16, 16));
    // The size follows from the epoch, so resuming mid-epoch gives the same batches.
    let all: Vec<Tensor> = data
        .train_epoch(0, 0)
        .unwrap()
        .map(|b| b.unwrap().inputs)
        .collect();
    let rest: Vec<Tensor> = data
        .train_epoch(0, 2)
        .unwrap()
        .map(|b| b.unwrap().inputs)
        .collect();
    assert_eq!(rest.len(), all.len() - 2);
    assert!(rest.iter().zip(&all[2..]).all(|(a, b)| a.equal(b)));

    // Phases to a size other than the images' own: validation is resized too.
    let mut c = resizing();
    c.sizes = vec![16, 24];
    let l = learner(&c, None).unwrap();
    assert_eq!(train_shape(l.data(), 2), [16, 3, 24, 24]);
    assert_eq!(valid_shape(l.data()), [16, 3, 24, 24]);
}

/// Stops a fit at the end of its first epoch, like a crash right after the checkpoint.
struct StopAfterFirstEpoch;

impl Callback for StopAfterFirstEpoch {
    fn after_epoch(&mut self, _ctx: &mut Ctx, _: &EpochInfo) -> anyhow::Result<Flow> {
        Ok(Flow::Stop("interrupted".into()))
    }
}

#[test]
fn resuming_into_the_next_size_phase_gives_the_uninterrupted_weights() {
    let mut c = resizing();
    c.epochs = 2;
    c.size_fractions = vec![];
    let tmp = tempfile::tempdir().unwrap();
    let mut whole = learner(&c, None).unwrap();
    let policy = c.schedule_in_steps(whole.data().train_batches());
    whole.fit(2, &policy).unwrap();

    let mut first = learner(&c, None).unwrap();
    first.add_callback(Box::new(Checkpointer::new(tmp.path())));
    first.add_callback(Box::new(StopAfterFirstEpoch));
    let summary = first.fit(2, &policy).unwrap();
    assert_eq!(summary.stopped.as_deref(), Some("interrupted"));
    let mut resumed = learner(&c, None).unwrap();
    let at = resumed
        .load_checkpoint(&RunDir::new(tmp.path()).checkpoint())
        .unwrap();
    assert_eq!(at.epoch, 1, "resumes in the 32 px phase");
    resumed.fit_from(2, &policy, at).unwrap();
    let (a, b) = (whole.validate().unwrap().0, resumed.validate().unwrap().0);
    assert_eq!(a.to_bits(), b.to_bits(), "valid loss {a} vs {b}");
}

#[test]
fn a_fit_with_progressive_resizing_runs_and_its_config_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let c = resizing();
    let report = fit(&c, tmp.path(), true).unwrap();
    assert_eq!(report.epochs, 3);
    assert!(report.valid_loss.is_finite());
    let saved = read_config(&RunDir::new(tmp.path()).config()).unwrap();
    assert_eq!(saved, c);
    let text = std::fs::read_to_string(RunDir::new(tmp.path()).config()).unwrap();
    assert!(text.contains("sizes = [16, 32]"), "{text}");
    // A config without the keys (written before progressive resizing) still loads.
    let old: String = text
        .lines()
        .filter(|l| !l.starts_with("size"))
        .map(|l| format!("{l}\n"))
        .collect();
    let old = parse_config(&old, "old config").unwrap();
    assert!(old.sizes.is_empty() && old.size_fractions.is_empty());
}

fn preset_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../presets/fit")
}

#[test]
fn every_preset_file_is_embedded_parses_and_validates() {
    let mut files: Vec<String> = std::fs::read_dir(preset_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut embedded: Vec<String> = FIT_PRESETS.iter().map(|p| p.0.to_string()).collect();
    embedded.sort();
    assert_eq!(files, embedded, "presets/fit/*.toml and FIT_PRESETS");
    for (name, text) in FIT_PRESETS {
        let path = preset_dir().join(format!("{name}.toml"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "{name}");
        let c = fit_preset(name).unwrap();
        assert_eq!(fit_preset(path.to_str().unwrap()).unwrap(), c, "by path");
        c.validate().unwrap();
        let phases = c.size_phases().unwrap();
        assert_eq!(phases.last().map_or(c.epochs, |p| p.epochs.end), c.epochs);
        let nb = 100;
        let n = c.epochs * nb;
        let points = c.schedule_in_steps(nb).build(n).unwrap().points();
        assert_eq!(points.len(), n, "{name}");
    }
    let imagenet = fit_preset("imagenet").unwrap();
    assert_eq!(imagenet.model, ModelName::ResNet50);
    let ends: Vec<_> = imagenet
        .size_phases()
        .unwrap()
        .iter()
        .map(|p| (p.size, p.epochs.end))
        .collect();
    assert_eq!(ends, [(128, 13), (224, 28), (288, 30)]);
    let err = fit_preset("imagenet-fast").unwrap_err().to_string();
    assert!(
        err.contains("imagenet-fast") && err.contains("resnet9-dawnbench"),
        "{err}"
    );
}

/// Page's learning rate at step `i` of `nb` per epoch: piecewise linear through (0, 0), (5, 0.4),
/// (24, 0) in epochs.
fn page_lr(i: usize, nb: usize) -> f64 {
    let e = i as f64 / nb as f64;
    if e <= 5.0 {
        0.4 * e / 5.0
    } else {
        0.4 * (24.0 - e) / 19.0
    }
}

#[test]
fn the_resnet9_preset_follows_pages_piecewise_linear_schedule() {
    let c = fit_preset("resnet9-dawnbench").unwrap();
    assert_eq!((c.epochs, c.batch, c.nesterov, c.wd), (24, 512, true, 5e-4));
    // 50,000 images in batches of 512.
    for nb in [98, 10] {
        let n = 24 * nb;
        let points = c.schedule_in_steps(nb).build(n).unwrap().points();
        let worst = (0..n)
            .map(|i| (points[i].lr - page_lr(i, nb)).abs())
            .fold(0.0, f64::max);
        // Within one step's change of Page's curve: 0.4 / (5·nb).
        assert!(worst <= 0.4 / (5.0 * nb as f64) + 1e-9, "nb {nb}: {worst}");
        assert!(points.iter().all(|p| p.momentum.is_none()), "momentum held");
        let peak = points.iter().map(|p| p.lr).fold(0.0, f64::max);
        assert!((peak - 0.4).abs() < 1e-12);
    }
}

/// `classes` × (`train`, `valid`) images of 40–80 px, PNG and JPEG, coloured by class.
fn image_folder(root: &Path, classes: usize, train: usize, valid: usize) {
    for (split, n) in [("train", train), ("valid", valid)] {
        for c in 0..classes {
            let dir = root.join(split).join(format!("class{c}"));
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..n {
                let (w, h) = (40 + (i * 7 + c * 13) % 41, 80 - (i * 11 + c * 5) % 41);
                let img = RgbImage::from_fn(w as u32, h as u32, |x, y| {
                    let v = ((x + y) as usize * (c + 1) % 256) as u8;
                    Rgb([v, (80 * c) as u8, 255 - v])
                });
                let ext = if i % 2 == 0 { "png" } else { "jpg" };
                img.save(dir.join(format!("{i}.{ext}"))).unwrap();
            }
        }
    }
}

#[test]
fn the_imagenet_preset_trains_resnet50_on_an_image_folder_with_progressive_resizing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    image_folder(&data, 3, 8, 4);
    let mut c = fit_preset("imagenet").unwrap();
    c.data = Some(data);
    c.sizes = vec![32, 48, 64];
    c.size_fractions = vec![];
    c.epochs = 3;
    c.batch = 4;
    c.workers = 2;
    c.validate().unwrap();

    let l = learner(&c, None).unwrap();
    assert_eq!(l.data().train_batches(), 6, "24 images in batches of 4");
    for (epoch, side) in [(0, 32), (1, 48), (2, 64)] {
        assert_eq!(
            train_shape(l.data(), epoch),
            [4, 3, side, side],
            "epoch {epoch}"
        );
    }
    assert_eq!(valid_shape(l.data()), [4, 3, 64, 64]);
    // ImageNet normalisation: values around 0, beyond [0, 1].
    let batch = l.data().valid().unwrap().next().unwrap().unwrap().inputs;
    assert!(batch.min().double_value(&[]) < -0.5);
    drop(l);

    // ResNet-50 costs seconds per step on two CPU cores: train on 8 images (2 steps per epoch),
    // at the preset's LR scaled linearly to the batch as fast.ai did.
    c.limit_train = Some(8);
    c.limit_valid = Some(6);
    if let Policy::OneCycle(p) = &mut c.schedule {
        p.max_lr *= c.batch as f64 / 256.0;
    }
    let run = tmp.path().join("run");
    let report = fit(&c, &run, true).unwrap();
    assert_eq!((report.epochs, report.steps), (3, 6));
    assert!(report.valid_loss.is_finite());
    assert!(report.tta_accuracy.is_some());
    let epochs = std::fs::read_to_string(RunDir::new(&run).epochs_csv()).unwrap();
    assert_eq!(epochs.lines().count(), 4, "header and 3 epochs:\n{epochs}");
    assert_eq!(read_config(&RunDir::new(&run).config()).unwrap(), c);
}
