//! The scheduled optimizers equal torch.optim bit for bit (reference values printed by
//! `scripts/pytorch.sh scripts/reference/optim.py`, PyTorch 2.11.0 on this machine's CPU), follow
//! the textbook formulas in f64, and resume exactly from saved state.

use std::collections::BTreeMap;

use onecycle::optim::{clip_grad_norm, Hyper, OptKind, Optimizer, Param, WdMode};
use tch::{Kind, Tensor};

const P0: [f32; 6] = [0.5, -1.25, 2.0, 0.125, 3.0e-3, -7.5];
const GRADS: [[f32; 6]; 3] = [
    [0.1, -0.2, 0.3, -0.4, 0.5, -0.6],
    [-0.05, 0.25, 0.125, 1.5, -2.0, 0.0625],
    [0.3, 0.3, -0.7, 0.01, 0.2, -1.1],
];
/// (lr, momentum or β1, weight decay) for the three steps.
const HYPERS: [(f64, f64, f64); 3] = [(0.1, 0.95, 1e-2), (0.4, 0.9, 1e-2), (0.05, 0.85, 1e-2)];

fn param(values: &[f32]) -> Vec<Param> {
    vec![Param::new("w", Tensor::from_slice(values), 0)]
}

fn run(kind: OptKind, mode: WdMode) -> Vec<f32> {
    let mut opt = Optimizer::new(kind, mode, param(&P0));
    for (g, &(lr, momentum, wd)) in GRADS.iter().zip(&HYPERS) {
        opt.step(
            &[Some(Tensor::from_slice(g))],
            &[Hyper { lr, momentum, wd }],
        )
        .unwrap();
    }
    Vec::try_from(&opt.params()[0].tensor).unwrap()
}

fn assert_bits(got: &[f32], want: &[u32], what: &str) {
    let got: Vec<u32> = got.iter().map(|v| v.to_bits()).collect();
    assert_eq!(got, want, "{what}: ours {got:x?} vs torch.optim {want:x?}");
}

#[test]
fn sgd_with_scheduled_momentum_and_l2_decay_equals_torch_sgd() {
    let want = [
        0x3ee7a200, 0xbfa1c076, 0x3fe7c31c, 0xbeaeac09, 0x3f20f7d2, 0xc0e33205,
    ];
    assert_bits(
        &run(OptKind::Sgd { nesterov: false }, WdMode::L2),
        &want,
        "SGD",
    );
}

#[test]
fn nesterov_sgd_equals_torch_sgd_nesterov() {
    let want = [
        0x3ee65773, 0xbfaca391, 0x3fe2c80b, 0xbf59df35, 0x3fa678c2, 0xc0e055c5,
    ];
    assert_bits(
        &run(OptKind::Sgd { nesterov: true }, WdMode::L2),
        &want,
        "Nesterov",
    );
}

#[test]
fn decoupled_sgd_equals_decaying_weights_before_torch_sgd() {
    let want = [
        0x3ee8c225, 0xbfa2749f, 0x3fe8e365, 0xbeae61a1, 0x3f20f74c, 0xc0e4407b,
    ];
    assert_bits(
        &run(OptKind::Sgd { nesterov: false }, WdMode::Decoupled),
        &want,
        "true_wd SGD",
    );
}

#[test]
fn adam_with_scheduled_beta1_equals_torch_adam() {
    let want = [
        0x3ebafa83, 0xbfa7f001, 0x3fd6d59d, 0xbd376f0c, 0x3e30851f, 0xc0e7463c,
    ];
    assert_bits(&run(OptKind::adam(), WdMode::L2), &want, "Adam");
}

#[test]
fn adamw_with_scheduled_beta1_equals_torch_adamw() {
    let want = [
        0x3ec27246, 0xbfa93ff1, 0x3fd67558, 0xbd3a9078, 0x3e30d622, 0xc0e72ca6,
    ];
    assert_bits(&run(OptKind::adam(), WdMode::Decoupled), &want, "AdamW");
}

/// The same runs in f64 against the formulas written out on scalars.
fn run_f64(kind: OptKind, mode: WdMode) -> Vec<f64> {
    let p0: Vec<f64> = P0.iter().map(|&v| v as f64).collect();
    let mut opt = Optimizer::new(
        kind,
        mode,
        vec![Param::new("w", Tensor::from_slice(&p0), 0)],
    );
    for (g, &(lr, momentum, wd)) in GRADS.iter().zip(&HYPERS) {
        let g: Vec<f64> = g.iter().map(|&v| v as f64).collect();
        opt.step(
            &[Some(Tensor::from_slice(&g))],
            &[Hyper { lr, momentum, wd }],
        )
        .unwrap();
    }
    Vec::try_from(&opt.params()[0].tensor).unwrap()
}

fn close(a: &[f64], b: &[f64]) {
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= 1e-12 * (1.0 + y.abs()), "{a:?} vs {b:?}");
    }
}

#[test]
fn sgd_follows_the_momentum_formula_by_hand() {
    for nesterov in [false, true] {
        for mode in [WdMode::L2, WdMode::Decoupled] {
            let mut want: Vec<f64> = P0.iter().map(|&v| v as f64).collect();
            let mut buf: Vec<Option<f64>> = vec![None; 6];
            for (g, &(lr, mom, wd)) in GRADS.iter().zip(&HYPERS) {
                for i in 0..6 {
                    let mut d = g[i] as f64;
                    match mode {
                        WdMode::L2 => d += wd * want[i],
                        WdMode::Decoupled => want[i] *= 1.0 - lr * wd,
                    }
                    let b = match buf[i] {
                        None => d,
                        Some(b) => mom * b + d,
                    };
                    buf[i] = Some(b);
                    let step = if nesterov { d + mom * b } else { b };
                    want[i] -= lr * step;
                }
            }
            close(&run_f64(OptKind::Sgd { nesterov }, mode), &want);
        }
    }
}

#[test]
fn adam_follows_the_bias_corrected_formula_by_hand() {
    for mode in [WdMode::L2, WdMode::Decoupled] {
        let mut want: Vec<f64> = P0.iter().map(|&v| v as f64).collect();
        let (mut m, mut v) = (vec![0.0; 6], vec![0.0; 6]);
        for (t, (g, &(lr, b1, wd))) in GRADS.iter().zip(&HYPERS).enumerate() {
            let t = (t + 1) as f64;
            for i in 0..6 {
                let mut d = g[i] as f64;
                match mode {
                    WdMode::L2 => d += wd * want[i],
                    WdMode::Decoupled => want[i] *= 1.0 - lr * wd,
                }
                m[i] = b1 * m[i] + (1.0 - b1) * d;
                v[i] = 0.999 * v[i] + 0.001 * d * d;
                let m_hat = m[i] / (1.0 - b1.powf(t));
                let v_hat = v[i] / (1.0 - 0.999f64.powf(t));
                want[i] -= lr * m_hat / (v_hat.sqrt() + 1e-8);
            }
        }
        close(&run_f64(OptKind::adam(), mode), &want);
    }
}

#[test]
fn groups_get_their_own_hyper_parameters_and_no_decay_params_skip_decay() {
    let one = || Tensor::from_slice(&[1.0f64]);
    let params = vec![
        Param::new("body", one(), 0),
        Param::new("head", one(), 1),
        Param {
            decay: false,
            ..Param::new("bias", one(), 1)
        },
    ];
    let mut opt = Optimizer::new(OptKind::Sgd { nesterov: false }, WdMode::L2, params);
    let grads: Vec<Option<Tensor>> = (0..3).map(|_| Some(one())).collect();
    let hypers = [
        Hyper {
            lr: 0.01,
            momentum: 0.9,
            wd: 0.5,
        },
        Hyper {
            lr: 0.1,
            momentum: 0.9,
            wd: 0.5,
        },
    ];
    opt.step(&grads, &hypers).unwrap();
    let values: Vec<f64> = opt
        .params()
        .iter()
        .map(|p| p.tensor.double_value(&[0]))
        .collect();
    // p − lr·(g + wd·p): body 1 − 0.01·1.5, head 1 − 0.1·1.5, bias 1 − 0.1·1.
    close(&values, &[0.985, 0.85, 0.9]);
}

#[test]
fn a_scaled_parameter_steps_faster_with_the_same_decay_per_step() {
    // lr_scale 64 at lr 0.01, wd 0.5: p − 0.64·(g + (0.5/64)·p) = 1 − 0.64·1 − 0.01·0.5, against
    // the unscaled 1 − 0.01·1.5. Nesterov and L2 as airbench's BatchNorm biases.
    for (scale, want) in [(1.0, 1.0 - 0.01 * 1.5), (64.0, 1.0 - 0.64 - 0.005)] {
        let scaled = Param {
            lr_scale: scale,
            ..Param::new("bn.bias", Tensor::from_slice(&[1.0f64]), 0)
        };
        let mut opt = Optimizer::new(OptKind::Sgd { nesterov: true }, WdMode::L2, vec![scaled]);
        let h = Hyper {
            lr: 0.01,
            momentum: 0.0,
            wd: 0.5,
        };
        opt.step(&[Some(Tensor::from_slice(&[1.0f64]))], &[h])
            .unwrap();
        close(&[opt.params()[0].tensor.double_value(&[0])], &[want]);
    }
}

#[test]
fn a_parameter_without_gradient_and_its_state_stay_untouched() {
    let mut opt = Optimizer::new(OptKind::adam(), WdMode::Decoupled, param(&P0));
    opt.step(
        &[None],
        &[Hyper {
            lr: 1.0,
            momentum: 0.9,
            wd: 0.1,
        }],
    )
    .unwrap();
    assert_eq!(Vec::<f32>::try_from(&opt.params()[0].tensor).unwrap(), P0);
    assert!(opt.state_tensors().is_empty());
}

#[test]
fn saved_state_resumes_bit_exactly() {
    for kind in [OptKind::Sgd { nesterov: true }, OptKind::adam()] {
        let uninterrupted = run(kind, WdMode::Decoupled);
        // Two steps, save weights and state, rebuild from scratch, load, take the third step.
        let mut first = Optimizer::new(kind, WdMode::Decoupled, param(&P0));
        for (g, &(lr, momentum, wd)) in GRADS.iter().zip(&HYPERS).take(2) {
            first
                .step(
                    &[Some(Tensor::from_slice(g))],
                    &[Hyper { lr, momentum, wd }],
                )
                .unwrap();
        }
        let dir = std::env::temp_dir().join(format!("onecycle-optim-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("state.safetensors");
        let state = first.state_tensors();
        Tensor::write_safetensors(&state.iter().collect::<Vec<_>>(), &file).unwrap();
        let weights: Vec<f32> = Vec::try_from(&first.params()[0].tensor).unwrap();
        drop(first);

        let mut resumed = Optimizer::new(kind, WdMode::Decoupled, param(&weights));
        let loaded: BTreeMap<String, Tensor> = Tensor::read_safetensors(&file)
            .unwrap()
            .into_iter()
            .collect();
        resumed.load_state_tensors(&loaded).unwrap();
        let (lr, momentum, wd) = HYPERS[2];
        let grad = Some(Tensor::from_slice(&GRADS[2]));
        resumed
            .step(&[grad], &[Hyper { lr, momentum, wd }])
            .unwrap();
        let got: Vec<f32> = Vec::try_from(&resumed.params()[0].tensor).unwrap();
        assert_eq!(got, uninterrupted, "{kind:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn loading_state_for_an_unknown_or_misshapen_parameter_is_an_error() {
    let mut opt = Optimizer::new(OptKind::adam(), WdMode::L2, param(&P0));
    let zeros = |n: i64| Tensor::zeros([n], (Kind::Float, tch::Device::Cpu));
    let bad = BTreeMap::from([("nope.buf".to_string(), zeros(6))]);
    let err = opt.load_state_tensors(&bad).unwrap_err().to_string();
    assert!(err.contains("unknown parameter \"nope\""), "{err}");
    let bad = BTreeMap::from([("w.sq".to_string(), zeros(5))]);
    let err = opt.load_state_tensors(&bad).unwrap_err().to_string();
    assert!(err.contains("shape"), "{err}");
}

#[test]
fn clipping_scales_all_gradients_to_the_global_norm() {
    let t = |v: f64| Some(Tensor::from_slice(&[v]));
    let mut grads = vec![t(3.0), None, t(4.0)];
    let norm = clip_grad_norm(&mut grads, 1.0);
    assert!((norm - 5.0).abs() < 1e-12);
    let a = grads[0].as_ref().unwrap().double_value(&[0]);
    let b = grads[2].as_ref().unwrap().double_value(&[0]);
    assert!((a - 0.6).abs() < 1e-6 && (b - 0.8).abs() < 1e-6, "{a} {b}");
    let mut small = vec![t(0.3)];
    clip_grad_norm(&mut small, 1.0);
    assert_eq!(small[0].as_ref().unwrap().double_value(&[0]), 0.3);
}
