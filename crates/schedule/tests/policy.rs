//! `Policy` is what config files and the CLI hold: it builds every schedule and survives a TOML
//! round trip, with unknown fields rejected.

use schedule::*;

fn from_toml(s: &str) -> Result<Policy, toml::de::Error> {
    toml::from_str(s)
}

#[test]
fn builds_the_same_schedule_as_the_constructor() {
    let p = OneCycleParams {
        max_lr: 0.8,
        convention: Convention::Fastai,
        ..Default::default()
    };
    let direct = OneCycle::new(&p, 300).unwrap().points();
    let built = Policy::OneCycle(p).build(300).unwrap().points();
    assert_eq!(direct, built);
}

#[test]
fn build_validates() {
    let p = Policy::Constant(ConstantParams {
        lr: 0.0,
        momentum: None,
    });
    assert_eq!(
        p.build(10).unwrap_err().to_string(),
        "lr must be a finite number > 0, got 0"
    );
}

#[test]
fn seed_policy_reads_from_toml() {
    let p = from_toml(
        r#"
        policy = "clr-beta"
        max_lr = 0.8
        div = 10.0
        pct = 13.68
        moms = [0.95, 0.85]
        "#,
    )
    .unwrap();
    assert_eq!(
        p,
        Policy::ClrBeta(ClrBetaParams {
            max_lr: 0.8,
            div: 10.0,
            pct: 13.68,
            moms: Some([0.95, 0.85]),
        })
    );
    assert_eq!(p.name(), "clr-beta");
    assert_eq!(p.build(95 * 98).unwrap().at(4018).unwrap().lr, 0.8);
}

#[test]
fn one_cycle_reads_defaults_words_and_fastai_alias() {
    let p = from_toml("policy = \"one-cycle\"\nmax_lr = 1.0").unwrap();
    assert_eq!(
        p,
        Policy::OneCycle(OneCycleParams {
            max_lr: 1.0,
            ..Default::default()
        })
    );
    let p = from_toml(
        "policy = \"one-cycle\"\nmax_lr = 1.0\nconvention = \"fastai\"\ndiv_final = 1e4\nmoms = \"none\"",
    )
    .unwrap();
    let Policy::OneCycle(params) = &p else {
        panic!("{p:?}")
    };
    assert_eq!(params.convention, Convention::Fastai);
    assert_eq!(params.final_div, Some(1e4));
    assert_eq!(params.moms, MomsSetting::None);
    assert_eq!(p.build(10).unwrap().at(0).unwrap().momentum, None);
    assert!(from_toml("policy = \"one-cycle\"\nmax_lr = 1.0\nmoms = \"some\"").is_err());
}

#[test]
fn unknown_fields_and_policies_are_rejected() {
    let e = from_toml("policy = \"one-cycle\"\nmax_lr = 1.0\npct = 0.3").unwrap_err();
    assert!(e.to_string().contains("pct"), "{e}");
    assert!(from_toml("policy = \"warmup\"\nlr = 1.0").is_err());
    assert!(from_toml("max_lr = 1.0").is_err());
}

#[test]
fn every_policy_round_trips_through_toml() {
    let policies = [
        Policy::OneCycle(OneCycleParams {
            max_lr: 3.0,
            div: Some(20.0),
            final_div_factor: Some(1e3),
            pct_start: Some(0.4),
            anneal: Some(Anneal::Linear),
            phases: Some(3),
            moms: MomsSetting::Values(vec![0.9, 0.8, 0.85]),
            ..Default::default()
        }),
        Policy::OneCycle(OneCycleParams {
            max_lr: 1.0,
            convention: Convention::Fastai1,
            moms: MomsSetting::None,
            ..Default::default()
        }),
        Policy::ClrBeta(ClrBetaParams {
            max_lr: 3.0,
            div: 20.0,
            pct: 10.0,
            moms: None,
        }),
        Policy::Cyclic(CyclicParams {
            base_lr: 0.001,
            max_lr: 0.006,
            step_size_up: 5,
            step_size_down: Some(7),
            mode: CyclicMode::ExpRange,
            gamma: Some(0.99),
            moms: Some([0.9, 0.8]),
        }),
        Policy::Sgdr(SgdrParams {
            max_lr: 0.1,
            min_lr: Some(1e-4),
            cycle_len: 10,
            cycle_mult: Some(2),
            momentum: Some(0.9),
        }),
        Policy::FlatCos(FlatCosParams {
            lr: 0.01,
            final_div: Some(1e3),
            pct_start: Some(0.7),
            momentum: None,
        }),
        Policy::Steps(StepsParams {
            lr: 0.1,
            milestones: vec![40, 60],
            gamma: Some(0.2),
            momentum: Some(0.9),
        }),
        Policy::Constant(ConstantParams {
            lr: 0.1,
            momentum: Some(0.9),
        }),
        Policy::Sweep(SweepParams {
            start_lr: 1e-7,
            end_lr: 10.0,
            kind: SweepKind::Linear,
            momentum: None,
        }),
    ];
    for p in policies {
        let text = toml::to_string(&p).unwrap();
        assert!(
            text.contains(&format!("policy = \"{}\"", p.name())),
            "{text}"
        );
        assert_eq!(from_toml(&text).unwrap(), p, "{text}");
        assert!(p.build(100).is_ok(), "{text}");
    }
}

#[test]
fn epoch_lengths_become_step_lengths_and_other_policies_are_unchanged() {
    let steps = Policy::Steps(StepsParams {
        lr: 0.1,
        milestones: vec![2, 5],
        gamma: Some(0.1),
        momentum: None,
    });
    match steps.epochs_to_steps(10) {
        Policy::Steps(p) => assert_eq!(p.milestones, [20, 50]),
        other => panic!("{other:?}"),
    }
    let sgdr = Policy::Sgdr(SgdrParams {
        max_lr: 0.1,
        cycle_len: 3,
        ..Default::default()
    });
    match sgdr.epochs_to_steps(7) {
        Policy::Sgdr(p) => assert_eq!(p.cycle_len, 21),
        other => panic!("{other:?}"),
    }
    let one = Policy::OneCycle(OneCycleParams::default());
    assert_eq!(one.epochs_to_steps(7), one);
}

#[test]
fn the_peak_lr_is_set_on_every_policy_but_the_sweep() {
    let one = Policy::OneCycle(OneCycleParams::default());
    match one.with_max_lr(0.3) {
        Some(Policy::OneCycle(p)) => assert_eq!(p.max_lr, 0.3),
        other => panic!("{other:?}"),
    }
    let constant = Policy::Constant(ConstantParams {
        lr: 0.1,
        momentum: None,
    });
    match constant.with_max_lr(0.3) {
        Some(Policy::Constant(p)) => assert_eq!(p.lr, 0.3),
        other => panic!("{other:?}"),
    }
    let sweep = Policy::Sweep(SweepParams {
        start_lr: 1e-7,
        end_lr: 10.0,
        kind: SweepKind::Exponential,
        momentum: None,
    });
    assert_eq!(sweep.with_max_lr(0.3), None);
}
