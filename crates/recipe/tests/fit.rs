//! The fit recipe on the embedded sample: training lowers the validation loss, TTA blends plain
//! and flipped predictions, and epoch-counted schedule lengths become step counts.

use onecycle::data::Data;
use recipe::learner::shifted;
use recipe::{learner, tta_accuracy, FitConfig, TtaViews};
use schedule::{OneCycleParams, Policy, SgdrParams, StepsParams};
use tch::{Kind, Tensor};
use vision::models::ModelName;

fn quick() -> FitConfig {
    let mut c = FitConfig::new(Policy::OneCycle(OneCycleParams {
        max_lr: 0.05,
        ..Default::default()
    }));
    c.model = ModelName::SmallCnn;
    c.batch = 64;
    c.limit_train = Some(1024);
    c.limit_valid = Some(256);
    c
}

#[test]
fn one_cycle_training_on_the_embedded_sample_lowers_the_validation_loss() {
    let config = quick();
    let mut l = learner(&config, None).unwrap();
    let (before, _) = l.validate().unwrap();
    let policy = config.schedule_in_steps(l.data().train_batches());
    let summary = l.fit(3, &policy).unwrap();
    let after = summary.epochs.last().unwrap().valid_loss;
    assert!(after < before - 0.1, "validation loss {before} → {after}");
    assert!(
        summary.final_metric("accuracy").unwrap() > 0.2,
        "above the 0.1 of chance"
    );
}

#[test]
fn tta_blends_plain_and_flipped_predictions_by_beta() {
    let config = quick();
    let mut l = learner(&config, None).unwrap();
    let policy = config.schedule_in_steps(l.data().train_batches());
    l.fit(1, &policy).unwrap();
    let (_, metrics) = l.validate().unwrap();
    let plain = metrics.iter().find(|m| m.0 == "accuracy").unwrap().1;
    let flips = |beta| tta_accuracy(&l, TtaViews::Flip, beta).unwrap();
    assert_eq!(flips(1.0), plain, "beta 1 is the plain prediction");
    let (flipped, targets) = l.predict_valid(|x| x.flip([3])).unwrap();
    let flip_acc = flipped
        .argmax(-1, false)
        .eq_tensor(&targets)
        .to_kind(Kind::Float)
        .mean(Kind::Float);
    assert_eq!(
        flips(0.0),
        flip_acc.double_value(&[]),
        "beta 0 is the flips alone"
    );
    let blend = flips(0.25);
    assert!((0.0..=1.0).contains(&blend));
}

#[test]
fn shifted_images_move_by_whole_pixels_with_reflected_borders() {
    let x = Tensor::arange(9, (Kind::Float, tch::Device::Cpu)).view([1, 1, 3, 3]);
    // 0 1 2 / 3 4 5 / 6 7 8, reflect-padded by one: the row above row 0 is row 1.
    let down_right = shifted(&x, 1).reshape([9]);
    let want = Tensor::from_slice(&[4f32, 3., 4., 1., 0., 1., 4., 3., 4.]);
    assert!(down_right.equal(&want), "{down_right}");
    let up_left = shifted(&x, -1).reshape([9]);
    let want = Tensor::from_slice(&[4f32, 5., 4., 7., 8., 7., 4., 5., 4.]);
    assert!(up_left.equal(&want), "{up_left}");
    assert!(shifted(&x, 0).equal(&x));
}

#[test]
fn translate_tta_votes_with_six_views() {
    let config = quick();
    let mut l = learner(&config, None).unwrap();
    let policy = config.schedule_in_steps(l.data().train_batches());
    l.fit(1, &policy).unwrap();
    let view = |shift: i64, flip: bool| {
        l.predict_valid(move |x| match flip {
            true => shifted(x, shift).flip([3]),
            false => shifted(x, shift),
        })
        .unwrap()
    };
    let (centre, targets) = view(0, false);
    let mut sum = centre * 2.0 + view(0, true).0 * 2.0;
    for shift in [1, -1] {
        sum = sum + view(shift, false).0 + view(shift, true).0;
    }
    let want = sum
        .argmax(-1, false)
        .eq_tensor(&targets)
        .to_kind(Kind::Float)
        .mean(Kind::Float)
        .double_value(&[]);
    let six = tta_accuracy(&l, TtaViews::MirrorTranslate, 0.25).unwrap();
    assert_eq!(six, want);
}

#[test]
fn schedule_lengths_in_epochs_become_steps() {
    let mut c = quick();
    c.schedule = Policy::Steps(StepsParams {
        lr: 0.1,
        milestones: vec![2, 3],
        gamma: None,
        momentum: None,
    });
    match c.schedule_in_steps(16) {
        Policy::Steps(p) => assert_eq!(p.milestones, [32, 48]),
        other => panic!("{other:?}"),
    }
    c.schedule = Policy::Sgdr(SgdrParams {
        max_lr: 0.1,
        cycle_len: 1,
        ..Default::default()
    });
    match c.schedule_in_steps(16) {
        Policy::Sgdr(p) => assert_eq!(p.cycle_len, 16),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_config_survives_a_toml_round_trip() {
    let mut c = quick();
    c.tta = true;
    c.clip = Some(1.0);
    let text = toml::to_string(&c).unwrap();
    let back: FitConfig = toml::from_str(&text).unwrap();
    assert_eq!(back, c);
    let err = toml::from_str::<FitConfig>(&text.replace("epochs", "epoks")).unwrap_err();
    assert!(err.to_string().contains("epoks"), "{err}");
}

#[test]
fn a_config_file_gives_only_what_differs_from_the_defaults() {
    let c = recipe::parse_config("model = \"small-cnn\"\nepochs = 5\n", "partial.toml").unwrap();
    let expected = FitConfig {
        model: ModelName::SmallCnn,
        epochs: 5,
        ..FitConfig::default()
    };
    assert_eq!(c, expected);
    // A schedule table replaces the whole default schedule.
    let c = recipe::parse_config(
        "[schedule]\npolicy = \"steps\"\nlr = 0.1\nmilestones = [2]\ngamma = 0.1\n",
        "steps.toml",
    )
    .unwrap();
    assert_eq!(c.schedule.name(), "steps");
    assert_eq!(c.model, ModelName::ResNet20);
    // Unknown keys and wrong types are still refused by name.
    let err = recipe::parse_config("epoks = 5\n", "typo.toml").unwrap_err();
    assert!(format!("{err:#}").contains("epoks"), "{err:#}");
    let err = recipe::parse_config("epochs = \"five\"\n", "type.toml").unwrap_err();
    assert!(format!("{err:#}").contains("five"), "{err:#}");
}

/// `tests/fixtures/fit-0.1` holds the small files of a `fit` run folder written before the core
/// redesign (0.1.0 at 79b5b5f): its `config.toml` still reads, means the same run, and writes
/// back key for key, so `--resume` and `--config` keep working on old folders.
#[test]
fn a_config_written_before_the_redesign_reads_and_writes_back_unchanged() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fit-0.1/config.toml");
    let config = recipe::read_config(&path).unwrap();
    let mut expected = FitConfig::new(Policy::OneCycle(OneCycleParams {
        max_lr: 0.4,
        ..Default::default()
    }));
    expected.model = ModelName::SmallCnn;
    expected.epochs = 2;
    expected.batch = 32;
    expected.limit_train = Some(128);
    expected.limit_valid = Some(64);
    assert_eq!(config, expected);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(toml::to_string(&config).unwrap(), text);
    // Its history and summary read into today's typed rows.
    let dir = path.parent().unwrap();
    let history = record::History::read(dir).unwrap();
    assert_eq!((history.steps.len(), history.epochs.len()), (8, 2));
    assert_eq!(history.metric_names, ["accuracy"]);
    let summary = record::Summary::read(&dir.join("summary.json"))
        .unwrap()
        .unwrap();
    assert_eq!(
        (summary.epochs, summary.steps, summary.accuracy),
        (2, 8, 0.125)
    );
}

#[test]
fn a_whitening_model_gets_its_filters_from_the_first_training_images() {
    let mut config = quick();
    config.model = ModelName::Speedrun;
    config.limit_train = Some(300);
    let l = learner(&config, None).unwrap();
    let (data, _) = vision::ImageData::open(
        None,
        &config.data_options(),
        &config.size_phases().unwrap(),
        config.epochs,
    )
    .unwrap();
    let images = data
        .train_inputs(recipe::learner::WHITENING_IMAGES)
        .unwrap();
    assert_eq!(images.size(), [300, 3, 32, 32], "no more than the limit");
    let want = vision::models::whitening_filters(&images, vision::models::WHITENING_EPS);
    let got = &l.var_store().variables()["whiten.weight"];
    assert!(got.allclose(&want, 1e-6, 1e-6, false));
    assert!(got.abs().sum(Kind::Float).double_value(&[]) > 0.0);
}
