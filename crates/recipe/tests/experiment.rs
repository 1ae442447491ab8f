//! Experiments: presets parse into valid fit configs, arms run into one folder, a second run
//! resumes instead of retraining, and the comparison table reports every arm.

use recipe::experiment::Experiment;

/// Two tiny arms on the embedded sample: 1cycle against a constant LR.
const TINY: &str = r#"
name = "tiny"
target = 0.05
baseline = "constant"

[base]
model = "small-cnn"
epochs = 2
batch = 32
limit_train = 96
limit_valid = 64

[[arms]]
name = "one-cycle"
schedule = { policy = "one-cycle", max_lr = 0.05 }

[[arms]]
name = "constant"
epochs = 1
schedule = { policy = "constant", lr = 0.05 }
"#;

#[test]
fn every_shipped_preset_gives_valid_arms_with_the_four_schedules() {
    for preset in ["paper", "cpu", "smoke"] {
        let e = Experiment::load("super-convergence", preset).unwrap();
        let configs = e.configs(None).unwrap();
        let policies: Vec<&str> = configs.iter().map(|(_, c)| c.schedule.name()).collect();
        for p in ["clr-beta", "one-cycle", "steps", "constant"] {
            assert!(
                policies.contains(&p),
                "{preset} lacks a {p} arm: {policies:?}"
            );
        }
        assert_eq!(e.baseline.as_deref(), Some("piecewise-constant"));
        assert_eq!(e.metric, "accuracy");
    }
    let cpu = Experiment::load("super-convergence", "cpu").unwrap();
    let (_, arm) = &cpu.configs(None).unwrap()[0];
    assert_eq!(arm.model.to_string(), "resnet20");
    assert_eq!(arm.limit_train, Some(20000));
    let paper = Experiment::load("super-convergence", "paper").unwrap();
    let configs = paper.configs(None).unwrap();
    let baseline = &configs
        .iter()
        .find(|(n, _)| n == "piecewise-constant")
        .unwrap()
        .1;
    assert_eq!((baseline.batch, baseline.epochs), (128, 164));
    assert_eq!(configs[0].1.model.to_string(), "resnet56");
}

#[test]
fn arm_settings_override_the_base_and_data_overrides_both() {
    let e = Experiment::parse(TINY).unwrap();
    let configs = e.configs(Some(std::path::Path::new("elsewhere"))).unwrap();
    assert_eq!(configs[0].1.epochs, 2);
    assert_eq!(configs[1].1.epochs, 1);
    assert_eq!(configs[1].1.batch, 32);
    assert!(configs
        .iter()
        .all(|(_, c)| c.data.as_deref() == Some(std::path::Path::new("elsewhere"))));
}

#[test]
fn bad_experiment_files_are_refused_with_the_reason() {
    let err = |text: &str| format!("{:#}", Experiment::parse(text).unwrap_err());
    let typo = TINY.replace("epochs = 1", "epoch = 1");
    assert!(err(&typo).contains("\"constant\""), "{}", err(&typo));
    assert!(err(&typo).contains("epoch"), "{}", err(&typo));
    let twice = TINY.replace("name = \"one-cycle\"", "name = \"constant\"");
    assert!(err(&twice).contains("two arms"), "{}", err(&twice));
    let no_baseline = TINY.replace("baseline = \"constant\"", "baseline = \"steps\"");
    assert!(
        err(&no_baseline).contains("baseline"),
        "{}",
        err(&no_baseline)
    );
    let bad_lr = TINY.replace("\"constant\", lr = 0.05", "\"constant\", lr = -1");
    assert!(err(&bad_lr).contains("constant"), "{}", err(&bad_lr));
    let missing = Experiment::load("super-convergence", "no-such-preset").unwrap_err();
    assert!(format!("{missing:#}").contains("cpu"), "{missing:#}");
}

#[test]
fn arms_run_into_one_folder_and_a_second_run_only_rewrites_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tiny");
    let e = Experiment::parse(TINY).unwrap();
    let first = e.run(None, &out, true).unwrap();
    assert!(first.fits.iter().all(|(_, f)| f.is_some()));
    assert!(out.join("one-cycle/epochs.csv").is_file());
    assert!(out.join("constant/epochs.csv").is_file());
    let html = std::fs::read_to_string(&first.report).unwrap();
    assert!(html.contains("one-cycle") && html.contains("constant"));

    // 96 images at batch 32: 3 steps per epoch.
    let rows = &first.table.rows;
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0].epochs, rows[0].iterations), (2, 6));
    assert_eq!((rows[1].epochs, rows[1].iterations), (1, 3));

    let second = e.run(None, &out, true).unwrap();
    assert!(second.fits.iter().all(|(_, f)| f.is_none()));
    assert_eq!(
        second.table.to_markdown(),
        first.table.to_markdown(),
        "nothing retrained"
    );

    let other = Experiment::parse(&TINY.replace("target = 0.05", "target = 0.5")).unwrap();
    let refused = other.run(None, &out, true).unwrap_err();
    assert!(format!("{refused:#}").contains("different experiment"));
}
