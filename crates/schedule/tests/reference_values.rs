//! Reference values for every schedule, computed independently of this crate.
//!
//! Every literal table below was printed by `tests/reference/gen.py` (python3, `math` only): a
//! line-by-line port of the published code (PyTorch `OneCycleLR.get_lr`, `CyclicLR.get_lr`,
//! `CosineAnnealingWarmRestarts.step`; fastai v2 `combine_scheds`/`_cos_anneal`; fastai v1
//! `OneCycleScheduler` driving `Scheduler.step()`; fastai 0.7 `CircularLR_beta.calc_lr`).
//! Rows are `(step, lr, momentum)` or `(step, lr)`.

use schedule::*;

/// `|got - want| <= tol`, with a message naming the step.
fn assert_close(what: &str, i: usize, got: f64, want: f64, tol: f64) {
    assert!(
        (got - want).abs() <= tol,
        "{what} at step {i}: got {got:e}, want {want:e} (diff {:e}, tol {tol:e})",
        (got - want).abs()
    );
}

/// Checks LR and momentum rows; `rel` is relative to each value, `abs` absolute.
fn check(s: &dyn Schedule, rows: &[(usize, f64, f64)], rel: f64, abs: f64) {
    for &(i, lr, mom) in rows {
        let p = s.at(i).unwrap();
        assert_close("lr", i, p.lr, lr, abs + rel * lr.abs());
        let m = p.momentum.expect("this schedule drives momentum");
        assert_close("momentum", i, m, mom, abs + rel * mom.abs());
    }
}

/// Checks LR-only rows and that momentum is the given constant.
fn check_lr(s: &dyn Schedule, rows: &[(usize, f64)], rel: f64, momentum: Option<f64>) {
    for &(i, lr) in rows {
        let p = s.at(i).unwrap();
        assert_close("lr", i, p.lr, lr, rel * lr.abs());
        assert_eq!(p.momentum, momentum, "momentum at step {i}");
    }
}

fn one_cycle(p: OneCycleParams, n: usize) -> OneCycle {
    OneCycle::new(&p, n).unwrap()
}

// ---- PyTorch OneCycleLR: 1e-12 relative ----

const PT: f64 = 1e-12;

#[test]
fn pytorch_defaults_over_10_steps() {
    let s = one_cycle(
        OneCycleParams {
            max_lr: 1.0,
            ..Default::default()
        },
        10,
    );
    #[rustfmt::skip]
    let rows: &[(usize, f64, f64)] =
    // pt A: n=10 max=1 defaults
    &[
        (0, 0.040000000000000036, 0.95),
        (1, 0.52, 0.8999999999999999),
        (2, 1.0, 0.85),
        (3, 0.9504846320134737, 0.854951556604879),
        (4, 0.8117456539497631, 0.8688255099070633),
        (5, 0.6112620219362893, 0.8888739533021842),
        (6, 0.38874197806371075, 0.9111260466978157),
        (7, 0.18825834605023697, 0.9311744900929366),
        (8, 0.049519367986526286, 0.945048443395121),
        (9, 4e-06, 0.95),
    ];
    check(&s, rows, PT, 0.0);
}

#[test]
fn pytorch_linear_three_phases_over_10_steps() {
    let s = one_cycle(
        OneCycleParams {
            max_lr: 0.5,
            div: Some(10.0),
            final_div_factor: Some(100.0),
            pct_start: Some(0.25),
            anneal: Some(Anneal::Linear),
            phases: Some(3),
            ..Default::default()
        },
        10,
    );
    #[rustfmt::skip]
    let rows: &[(usize, f64, f64)] =
    // pt B: n=10 max=0.5 linear three pct=.25 div=10 fdf=100
    &[
        (0, 0.05, 0.95),
        (1, 0.35, 0.8833333333333333),
        (2, 0.35, 0.8833333333333333),
        (3, 0.04999999999999999, 0.95),
        (4, 0.04175, 0.95),
        (5, 0.0335, 0.95),
        (6, 0.02525, 0.95),
        (7, 0.017, 0.95),
        (8, 0.00875, 0.95),
        (9, 0.0005000000000000004, 0.95),
    ];
    check(&s, rows, PT, 0.0);
}

#[test]
fn pytorch_cos_three_phases_over_100_steps() {
    let s = one_cycle(
        OneCycleParams {
            max_lr: 3.0,
            div: Some(20.0),
            final_div_factor: Some(1e3),
            pct_start: Some(0.4),
            phases: Some(3),
            ..Default::default()
        },
        100,
    );
    #[rustfmt::skip]
    let rows: &[(usize, f64, f64)] =
    // pt C: n=100 max=3 cos three pct=.4 div=20 fdf=1e3
    &[
        (0, 0.1499999999999999, 0.95),
        (1, 0.15462083590875064, 0.9498378654067104),
        (20, 1.6323789646559161, 0.8979867029945292),
        (38, 2.9953791640912493, 0.8501621345932895),
        (39, 3.0, 0.85),
        (40, 2.9953791640912493, 0.8501621345932895),
        (41, 2.9815466242590256, 0.8506474868681043),
        (60, 1.4032352306361648, 0.9060268340127661),
        (77, 0.15462083590875084, 0.9498378654067104),
        (78, 0.15, 0.95),
        (79, 0.14916314965491775, 0.95),
        (80, 0.1466712924735266, 0.95),
        (90, 0.05840261902332314, 0.95),
        (98, 0.0009868503450822454, 0.95),
        (99, 0.00015, 0.95),
    ];
    check(&s, rows, PT, 0.0);
}

#[test]
fn pytorch_linear_two_phases_with_custom_moms_over_100_steps() {
    let s = one_cycle(
        OneCycleParams {
            max_lr: 0.8,
            pct_start: Some(0.45),
            anneal: Some(Anneal::Linear),
            moms: MomsSetting::Values(vec![0.9, 0.8]),
            ..Default::default()
        },
        100,
    );
    #[rustfmt::skip]
    let rows: &[(usize, f64, f64)] =
    // pt D: n=100 max=0.8 linear two pct=.45 moms .8/.9
    &[
        (0, 0.032, 0.9),
        (1, 0.04945454545454546, 0.8977272727272727),
        (22, 0.41600000000000004, 0.8500000000000001),
        (43, 0.7825454545454547, 0.8022727272727274),
        (44, 0.8, 0.8),
        (45, 0.7854546036363637, 0.8018181818181819),
        (46, 0.7709092072727273, 0.8036363636363637),
        (70, 0.4218196945454546, 0.8472727272727273),
        (98, 0.014548596363636368, 0.8981818181818182),
        (99, 3.199999999980996e-06, 0.9),
    ];
    check(&s, rows, PT, 0.0);
}

#[test]
fn pytorch_with_fastai_style_final_div_over_1000_steps() {
    let s = one_cycle(
        OneCycleParams {
            max_lr: 0.1,
            div: Some(30.0),
            final_div: Some(1e5),
            pct_start: Some(0.25),
            ..Default::default()
        },
        1000,
    );
    #[rustfmt::skip]
    let rows: &[(usize, f64, f64)] =
    // pt E: n=1000 max=0.1 cos two pct=.25 div=30 final_div=1e5
    &[
        (0, 0.003333333333333327, 0.95),
        (1, 0.0033371802434752768, 0.9499960204377842),
        (123, 0.05075200051668408, 0.9009462063620509),
        (248, 0.09999615308985806, 0.8500039795622157),
        (249, 0.1, 0.85),
        (250, 0.09999956135594337, 0.8500004386484431),
        (251, 0.0999982454314699, 0.850001754586076),
        (500, 0.07481865308575615, 0.8751815987302312),
        (777, 0.020105549799615607, 0.9298952491528759),
        (998, 1.438644056634041e-06, 0.9499995613515568),
        (999, 1e-06, 0.95),
    ];
    check(&s, rows, PT, 0.0);
}

#[test]
fn pytorch_linear_three_phases_over_1000_steps() {
    let s = one_cycle(
        OneCycleParams {
            max_lr: 2.0,
            anneal: Some(Anneal::Linear),
            phases: Some(3),
            ..Default::default()
        },
        1000,
    );
    #[rustfmt::skip]
    let rows: &[(usize, f64, f64)] =
    // pt F: n=1000 max=2 linear three defaults
    &[
        (0, 0.08, 0.95),
        (1, 0.08642140468227424, 0.9496655518394649),
        (150, 1.043210702341137, 0.8998327759197324),
        (298, 1.9935785953177259, 0.850334448160535),
        (299, 2.0, 0.85),
        (300, 1.9935785953177259, 0.850334448160535),
        (301, 1.9871571906354515, 0.8506688963210702),
        (450, 1.0303678929765887, 0.9005016722408027),
        (597, 0.08642140468227422, 0.9496655518394649),
        (598, 0.08000000000000007, 0.95),
        (599, 0.0798005187032419, 0.95),
        (600, 0.07960103740648379, 0.95),
        (800, 0.03970477805486284, 0.95),
        (998, 0.00020748129675809968, 0.95),
        (999, 7.999999999994123e-06, 0.95),
    ];
    check(&s, rows, PT, 0.0);
}

#[test]
fn pytorch_defaults_over_1000_steps() {
    let s = one_cycle(
        OneCycleParams {
            max_lr: 1.0,
            ..Default::default()
        },
        1000,
    );
    #[rustfmt::skip]
    let rows: &[(usize, f64, f64)] =
    // pt G: n=1000 max=1 cos two pct=.3 div=25 fdf=1e4 (defaults)
    &[
        (0, 0.040000000000000036, 0.95),
        (1, 0.04002649504216782, 0.9499972400997742),
        (2, 0.04010597724372433, 0.9499889607037787),
        (100, 0.2814573614486898, 0.9248481915157615),
        (299, 1.0, 0.85),
        (300, 0.9999949645161447, 0.8500005035503997),
        (301, 0.9999798581660032, 0.8500020141914564),
        (650, 0.49775802175648615, 0.9002243987219463),
        (998, 9.035483855369959e-06, 0.9499994964496002),
        (999, 4e-06, 0.95),
    ];
    check(&s, rows, PT, 0.0);
}

// ---- fastai v2 fit_one_cycle: within 1e-6 * max_lr (fastai itself works in float32) ----

#[test]
fn fastai_defaults_over_10_steps() {
    let s = one_cycle(
        OneCycleParams {
            max_lr: 1.0,
            convention: Convention::Fastai,
            ..Default::default()
        },
        10,
    );
    #[rustfmt::skip]
    let rows: &[(usize, f64, f64)] =
    // fastai v2: n=10 max=1 defaults
    &[
        (0, 0.04, 0.95),
        (1, 0.37167184270002523, 0.9154508497187474),
        (2, 0.9083281572999747, 0.8595491502812526),
        (3, 0.9890739096288992, 0.8510926199633096),
        (4, 0.9045094521025018, 0.8595491502812526),
        (5, 0.7500025000000001, 0.875),
        (6, 0.5522687089915106, 0.8947735768366173),
        (7, 0.34549804789749816, 0.9154508497187474),
        (8, 0.16544304247360264, 0.9334565303179428),
        (9, 0.04323683890598773, 0.94567727288213),
    ];
    check(&s, rows, 0.0, 1e-6);
}

#[test]
fn fastai_custom_over_200_steps() {
    let s = one_cycle(
        OneCycleParams {
            max_lr: 0.4,
            convention: Convention::Fastai,
            div: Some(10.0),
            final_div: Some(1e4),
            pct_start: Some(0.3),
            moms: MomsSetting::Values(vec![0.9, 0.8, 0.85]),
            ..Default::default()
        },
        200,
    );
    #[rustfmt::skip]
    let rows: &[(usize, f64, f64)] =
    // fastai v2: n=200 max=0.4 div=10 div_final=1e4 pct=.3 moms .9/.8/.85
    &[
        (0, 0.04, 0.9),
        (1, 0.04024668374417671, 0.8999314767377287),
        (30, 0.22000000000000003, 0.8500000000000001),
        (59, 0.3997533162558233, 0.8000685232622714),
        (60, 0.4, 0.8),
        (61, 0.3999496520238025, 0.8000062941264374),
        (130, 0.20001999999999992, 0.8250000000000001),
        (199, 9.034797619750234e-05, 0.8499937058735626),
    ];
    check(&s, rows, 0.0, 1e-6 * 0.4);
}

// ---- fastai v1 OneCycleScheduler (simulated Scheduler.step() calls) ----

#[test]
fn fastai1_defaults_over_10_steps() {
    let s = one_cycle(
        OneCycleParams {
            max_lr: 1.0,
            convention: Convention::Fastai1,
            ..Default::default()
        },
        10,
    );
    #[rustfmt::skip]
    let rows: &[(usize, f64, f64)] =
    // fastai v1: n=10 max=1 defaults
    &[
        (0, 0.04, 0.95),
        (1, 0.28, 0.9249999999999999),
        (2, 0.7599999999999999, 0.875),
        (3, 1.0, 0.85),
        (4, 0.9504846320134737, 0.854951556604879),
        (5, 0.8117456539497631, 0.8688255099070633),
        (6, 0.6112620219362893, 0.8888739533021842),
        (7, 0.38874197806371075, 0.9111260466978157),
        (8, 0.18825834605023697, 0.9311744900929366),
        (9, 0.049519367986526286, 0.945048443395121),
    ];
    check(&s, rows, 1e-12, 0.0);
}

#[test]
fn fastai1_with_an_empty_warm_up_jumps_to_max_at_step_1() {
    // n = 7, pct 0.1: floor(0.7) = 0 warm-up steps, so fastai's Scheduler uses n_iter = 1.
    let s = one_cycle(
        OneCycleParams {
            max_lr: 1.0,
            convention: Convention::Fastai1,
            pct_start: Some(0.1),
            ..Default::default()
        },
        7,
    );
    #[rustfmt::skip]
    let rows: &[(usize, f64, f64)] =
    // fastai v1: n=7 max=1 pct=0.1 (a1=0)
    &[
        (0, 0.04, 0.95),
        (1, 1.0, 0.85),
        (2, 0.9504846320134737, 0.854951556604879),
        (3, 0.8117456539497631, 0.8688255099070633),
        (4, 0.6112620219362893, 0.8888739533021842),
        (5, 0.38874197806371075, 0.9111260466978157),
        (6, 0.18825834605023697, 0.9311744900929366),
    ];
    check(&s, rows, 1e-12, 0.0);
}

#[test]
fn fastai1_custom_over_250_steps() {
    let s = one_cycle(
        OneCycleParams {
            max_lr: 0.3,
            convention: Convention::Fastai1,
            div: Some(10.0),
            pct_start: Some(0.25),
            final_div: Some(1e3),
            ..Default::default()
        },
        250,
    );
    #[rustfmt::skip]
    let rows: &[(usize, f64, f64)] =
    // fastai v1: n=250 max=0.3 div=10 pct=.25 moms .95/.85 final_div=1e3
    &[
        (0, 0.03, 0.95),
        (1, 0.030173271531907853, 0.9499358253585526),
        (31, 0.16499999999999998, 0.8999999999999999),
        (61, 0.2998267284680921, 0.8500641746414473),
        (62, 0.3, 0.85),
        (63, 0.2999790781207007, 0.8500069809407071),
        (64, 0.2999163183249786, 0.8500279218134873),
        (150, 0.16514933938987114, 0.894995215418795),
        (248, 0.0003836816750213464, 0.9499720781865126),
        (249, 0.0003209218792993177, 0.9499930190592928),
    ];
    check(&s, rows, 1e-12, 0.0);
}

// ---- Cyclic (PyTorch CyclicLR); moms [0.9, 0.8] = PyTorch's max_momentum, base_momentum ----

#[test]
fn cyclic_triangular_with_uneven_halves() {
    let s = Cyclic::new(
        &CyclicParams {
            base_lr: 0.1,
            max_lr: 1.0,
            step_size_up: 4,
            step_size_down: Some(6),
            moms: Some([0.9, 0.8]),
            ..Default::default()
        },
        25,
    )
    .unwrap();
    #[rustfmt::skip]
    let rows: &[(usize, f64, f64)] =
    // cyclic triangular base=.1 max=1 up=4 down=6 n=25
    &[
        (0, 0.1, 0.9),
        (1, 0.3250000000000002, 0.875),
        (2, 0.5499999999999999, 0.8500000000000001),
        (3, 0.7750000000000001, 0.8250000000000001),
        (4, 0.9999999999999998, 0.8),
        (5, 0.85, 0.8166666666666667),
        (6, 0.6999999999999998, 0.8333333333333334),
        (7, 0.5500000000000002, 0.85),
        (8, 0.3999999999999999, 0.8666666666666667),
        (9, 0.2500000000000001, 0.8833333333333333),
        (10, 0.1, 0.9),
        (11, 0.3250000000000002, 0.875),
        (12, 0.5500000000000004, 0.85),
        (13, 0.7749999999999996, 0.8250000000000001),
        (14, 0.9999999999999998, 0.8),
        (15, 0.85, 0.8166666666666667),
        (16, 0.6999999999999998, 0.8333333333333334),
        (17, 0.5499999999999997, 0.8500000000000001),
        (18, 0.40000000000000024, 0.8666666666666667),
        (19, 0.2500000000000001, 0.8833333333333333),
        (20, 0.1, 0.9),
        (21, 0.3250000000000002, 0.875),
        (22, 0.5500000000000004, 0.85),
        (23, 0.7749999999999996, 0.8250000000000001),
        (24, 0.9999999999999998, 0.8),
    ];
    check(&s, rows, 1e-12, 0.0);
}

#[test]
fn cyclic_triangular2_halves_the_amplitude_each_cycle() {
    let s = Cyclic::new(
        &CyclicParams {
            base_lr: 0.01,
            max_lr: 0.1,
            step_size_up: 3,
            mode: CyclicMode::Triangular2,
            moms: Some([0.9, 0.8]),
            ..Default::default()
        },
        20,
    )
    .unwrap();
    #[rustfmt::skip]
    let rows: &[(usize, f64, f64)] =
    // cyclic triangular2 base=.01 max=.1 up=3 down=3 n=20
    &[
        (0, 0.01, 0.9),
        (1, 0.040000000000000015, 0.8666666666666667),
        (2, 0.06999999999999999, 0.8333333333333334),
        (3, 0.1, 0.8),
        (4, 0.07000000000000003, 0.8333333333333334),
        (5, 0.03999999999999998, 0.8666666666666667),
        (6, 0.01, 0.9),
        (7, 0.02500000000000003, 0.8833333333333333),
        (8, 0.03999999999999998, 0.8666666666666667),
        (9, 0.05500000000000001, 0.8500000000000001),
        (10, 0.03999999999999998, 0.8666666666666667),
        (11, 0.02500000000000003, 0.8833333333333333),
        (12, 0.01, 0.9),
        (13, 0.017499999999999995, 0.8916666666666667),
        (14, 0.02500000000000001, 0.8833333333333333),
        (15, 0.0325, 0.875),
        (16, 0.02500000000000001, 0.8833333333333333),
        (17, 0.017499999999999995, 0.8916666666666667),
        (18, 0.01, 0.9),
        (19, 0.013749999999999988, 0.8958333333333334),
    ];
    check(&s, rows, 1e-12, 0.0);
}

#[test]
fn cyclic_exp_range_decays_by_iteration() {
    let s = Cyclic::new(
        &CyclicParams {
            base_lr: 0.001,
            max_lr: 0.006,
            step_size_up: 5,
            step_size_down: Some(5),
            mode: CyclicMode::ExpRange,
            gamma: Some(0.99),
            moms: Some([0.9, 0.8]),
        },
        30,
    )
    .unwrap();
    #[rustfmt::skip]
    let rows: &[(usize, f64, f64)] =
    // cyclic exp_range base=.001 max=.006 up=5 down=5 gamma=.99 n=30
    &[
        (0, 0.001, 0.9),
        (1, 0.001990000000000001, 0.8802),
        (2, 0.0029601999999999996, 0.860796),
        (3, 0.003910897, 0.84178206),
        (4, 0.004842384039999999, 0.8231523192000001),
        (5, 0.0057549502495, 0.80490099501),
        (6, 0.004765920597603999, 0.82468158804792),
        (7, 0.0037961960437209704, 0.8440760791255806),
        (8, 0.0028454893888558395, 0.8630902122228832),
        (9, 0.0019135172474836416, 0.8817296550503272),
        (10, 0.001, 0.9),
        (11, 0.0018953382542587173, 0.8820932349148257),
        (12, 0.0027727697434322598, 0.8645446051313548),
        (13, 0.003632563068996902, 0.847348738620062),
        (14, 0.004474983251075912, 0.8305003349784819),
        (15, 0.005300291773206442, 0.8139941645358713),
        (16, 0.0044058310843795015, 0.83188337831241),
        (17, 0.003528829580151779, 0.8494234083969645),
        (18, 0.0026690275229001763, 0.8666194495419965),
        (19, 0.0018261686238355873, 0.8834766275232883),
        (20, 0.001, 0.9),
        (21, 0.0018097278682212591, 0.8838054426355748),
        (22, 0.0026032611790780934, 0.8679347764184382),
        (23, 0.003380842850930965, 0.8523831429813807),
        (24, 0.004142712563228875, 0.8371457487354226),
        (25, 0.004889106796995734, 0.8222178640600853),
        (26, 0.004080172583220619, 0.8383965483355876),
        (27, 0.0032870281430413093, 0.8542594371391738),
        (28, 0.0025094385744072667, 0.8698112285118547),
        (29, 0.0017471720943315967, 0.8850565581133681),
    ];
    check(&s, rows, 1e-12, 0.0);
}

// ---- SGDR (PyTorch CosineAnnealingWarmRestarts, its closed-form T_cur/T_i with log) ----

#[test]
fn sgdr_with_equal_cycles() {
    let s = Sgdr::new(
        &SgdrParams {
            max_lr: 0.1,
            min_lr: Some(0.001),
            cycle_len: 7,
            ..Default::default()
        },
        20,
    )
    .unwrap();
    #[rustfmt::skip]
    let rows: &[(usize, f64)] =
    // sgdr max=.1 min=.001 T0=7 mult=1 n=20
    &[
        (0, 0.1),
        (1, 0.09509795896116975),
        (2, 0.08136274519200731),
        (3, 0.061514786230837566),
        (4, 0.03948521376916244),
        (5, 0.019637254807992693),
        (6, 0.005902041038830258),
        (7, 0.1),
        (8, 0.09509795896116975),
        (9, 0.08136274519200731),
        (10, 0.061514786230837566),
        (11, 0.03948521376916244),
        (12, 0.019637254807992693),
        (13, 0.005902041038830258),
        (14, 0.1),
        (15, 0.09509795896116975),
        (16, 0.08136274519200731),
        (17, 0.061514786230837566),
        (18, 0.03948521376916244),
        (19, 0.019637254807992693),
    ];
    check_lr(&s, rows, 1e-12, None);
}

#[test]
fn sgdr_with_doubling_cycles_and_constant_momentum() {
    let s = Sgdr::new(
        &SgdrParams {
            max_lr: 0.1,
            cycle_len: 3,
            cycle_mult: Some(2),
            momentum: Some(0.9),
            ..Default::default()
        },
        30,
    )
    .unwrap();
    #[rustfmt::skip]
    let rows: &[(usize, f64)] =
    // sgdr max=.1 min=0 T0=3 mult=2 n=30
    &[
        (0, 0.1),
        (1, 0.07500000000000001),
        (2, 0.025000000000000012),
        (3, 0.1),
        (4, 0.09330127018922195),
        (5, 0.07500000000000001),
        (6, 0.05),
        (7, 0.025000000000000012),
        (8, 0.006698729810778065),
        (9, 0.1),
        (10, 0.09829629131445342),
        (11, 0.09330127018922195),
        (12, 0.08535533905932738),
        (13, 0.07500000000000001),
        (14, 0.06294095225512604),
        (15, 0.05),
        (16, 0.03705904774487397),
        (17, 0.025000000000000012),
        (18, 0.014644660940672627),
        (19, 0.006698729810778065),
        (20, 0.00170370868554659),
        (21, 0.1),
        (22, 0.09957224306869053),
        (23, 0.09829629131445342),
        (24, 0.09619397662556434),
        (25, 0.09330127018922195),
        (26, 0.08966766701456176),
        (27, 0.08535533905932738),
        (28, 0.08043807145043604),
        (29, 0.07500000000000001),
    ];
    check_lr(&s, rows, 1e-12, Some(0.9));
    assert_eq!(
        s.cycle_position(21),
        (0, 24),
        "cycles of 3, 6, 12 end at 21"
    );
}

// ---- fastai v2 fit_flat_cos ----

#[test]
fn flat_cos_defaults() {
    let s = FlatCos::new(
        &FlatCosParams {
            lr: 0.01,
            ..Default::default()
        },
        20,
    )
    .unwrap();
    #[rustfmt::skip]
    let rows: &[(usize, f64)] =
    // flat_cos lr=.01 defaults n=20
    &[
        (0, 0.01),
        (1, 0.01),
        (2, 0.01),
        (3, 0.01),
        (4, 0.01),
        (5, 0.01),
        (6, 0.01),
        (7, 0.01),
        (8, 0.01),
        (9, 0.01),
        (10, 0.01),
        (11, 0.01),
        (12, 0.01),
        (13, 0.01),
        (14, 0.01),
        (15, 0.01),
        (16, 0.009045094521025017),
        (17, 0.0065451195210250186),
        (18, 0.00345498047897498),
        (19, 0.000955005478974983),
    ];
    check_lr(&s, rows, 1e-12, None);
}

#[test]
fn flat_cos_custom() {
    let s = FlatCos::new(
        &FlatCosParams {
            lr: 1.0,
            final_div: Some(100.0),
            pct_start: Some(0.5),
            momentum: Some(0.9),
        },
        8,
    )
    .unwrap();
    #[rustfmt::skip]
    let rows: &[(usize, f64)] =
    // flat_cos lr=1 div_final=100 pct=.5 n=8
    &[
        (0, 1.0),
        (1, 1.0),
        (2, 1.0),
        (3, 1.0),
        (4, 1.0),
        (5, 0.855017856687341),
        (6, 0.505),
        (7, 0.15498214331265903),
    ];
    check_lr(&s, rows, 1e-12, Some(0.9));
}

// ---- Range-test sweeps ----

#[test]
fn exponential_sweep() {
    let s = Sweep::new(
        &SweepParams {
            start_lr: 1e-7,
            end_lr: 10.0,
            ..Default::default()
        },
        100,
    )
    .unwrap();
    #[rustfmt::skip]
    let rows: &[(usize, f64)] =
    // sweep exp 1e-7..10 n=100
    &[
        (0, 1e-07),
        (1, 1.202264434617413e-07),
        (50, 0.001),
        (99, 8.317637711026709),
    ];
    check_lr(&s, rows, 1e-12, None);
}

#[test]
fn linear_sweep() {
    let s = Sweep::new(
        &SweepParams {
            start_lr: 0.01,
            end_lr: 1.0,
            kind: SweepKind::Linear,
            momentum: Some(0.9),
        },
        10,
    )
    .unwrap();
    #[rustfmt::skip]
    let rows: &[(usize, f64)] =
    // sweep lin 0.01..1 n=10
    &[
        (0, 0.01),
        (1, 0.109),
        (2, 0.20800000000000002),
        (3, 0.307),
        (4, 0.406),
        (5, 0.505),
        (6, 0.604),
        (7, 0.703),
        (8, 0.802),
        (9, 0.901),
    ];
    check_lr(&s, rows, 1e-12, Some(0.9));
}

// ---- Piecewise-constant steps (PyTorch MultiStepLR: lr · γ^(milestones ≤ i)) and constant ----

#[test]
fn steps_decay_at_each_milestone_inclusive() {
    // By hand: 0.1 until step 3, 0.01 at 3..6, 0.001 from 6 on (γ^k evaluated as powf, like C pow).
    let s = Steps::new(
        &StepsParams {
            lr: 0.1,
            milestones: vec![3, 6],
            momentum: Some(0.9),
            ..Default::default()
        },
        8,
    )
    .unwrap();
    let rows = [
        (0, 0.1),
        (2, 0.1),
        (3, 0.1 * 0.1),
        (5, 0.1 * 0.1),
        (6, 0.1 * 0.010000000000000002), // python3: 0.1 ** 2.0
        (7, 0.1 * 0.010000000000000002),
    ];
    check_lr(&s, &rows, 1e-15, Some(0.9));
}

#[test]
fn steps_with_custom_gamma_and_a_milestone_at_zero() {
    let s = Steps::new(
        &StepsParams {
            lr: 2.0,
            milestones: vec![0, 2],
            gamma: Some(0.5),
            momentum: None,
        },
        4,
    )
    .unwrap();
    check_lr(&s, &[(0, 1.0), (1, 1.0), (2, 0.5), (3, 0.5)], 0.0, None);
}

#[test]
fn constant_is_constant_and_leaves_momentum_alone_unless_given() {
    let s = Constant::new(
        &ConstantParams {
            lr: 0.3,
            momentum: None,
        },
        5,
    )
    .unwrap();
    assert!(s.points().iter().all(|p| *p
        == Point {
            lr: 0.3,
            momentum: None
        }));
    let s = Constant::new(
        &ConstantParams {
            lr: 0.3,
            momentum: Some(0.0),
        },
        5,
    )
    .unwrap();
    assert_eq!(s.at(4).unwrap().momentum, Some(0.0));
}
