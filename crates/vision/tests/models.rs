//! The CIFAR models: shapes, parameter counts, PyTorch-default initialisation, BatchNorm modes,
//! layer groups, channels-last input, and that a few SGD steps fit a tiny batch.

use std::collections::HashMap;

use tch::nn::{self, ModuleT, OptimizerConfig};
use tch::{Device, Kind, Tensor};
use vision::models::{
    build, group_count, group_of, grouped_variables, layer_groups, torch_default_bound,
    try_group_of, CifarResNet, Model, ModelName, Shortcut, WideResNet,
};

fn built(name: ModelName, num_classes: i64) -> (nn::VarStore, Model) {
    let vs = nn::VarStore::new(Device::Cpu);
    let model = build(name, &vs.root(), num_classes);
    (vs, model)
}

fn param_count(vs: &nn::VarStore) -> i64 {
    vs.trainable_variables()
        .iter()
        .map(Tensor::numel)
        .sum::<usize>() as i64
}

fn max_abs(t: &Tensor) -> f64 {
    t.abs().max().double_value(&[])
}

#[test]
fn names_print_parse_and_serialise() {
    let printed: Vec<String> = ModelName::ALL.iter().map(ToString::to_string).collect();
    assert_eq!(
        printed,
        [
            "resnet20",
            "resnet32",
            "resnet44",
            "resnet56",
            "resnet110",
            "resnet9",
            "wrn22",
            "small-cnn",
            "resnet50",
            "speedrun"
        ]
    );
    for name in ModelName::ALL {
        assert_eq!(name.to_string().parse::<ModelName>(), Ok(name));
        let json = serde_json::to_string(&name).unwrap();
        assert_eq!(json, format!("\"{name}\""));
        assert_eq!(serde_json::from_str::<ModelName>(&json).unwrap(), name);
    }
    assert_eq!("ResNet56".parse::<ModelName>(), Ok(ModelName::ResNet56));
    let err = "resnet18".parse::<ModelName>().unwrap_err().to_string();
    assert!(
        err.contains("resnet18") && err.contains("small-cnn"),
        "{err}"
    );
}

#[test]
fn model_is_send() {
    fn send<T: Send>() {}
    send::<Model>();
}

#[test]
fn output_shapes_for_batch_sizes_and_image_sizes() {
    tch::manual_seed(0);
    for name in ModelName::ALL {
        let (_vs, model) = built(name, 10);
        let sides: [(i64, i64); 4] = [(1, 32), (3, 32), (3, 24), (2, 8)];
        for (n, side) in sides
            .into_iter()
            .filter(|s| s.1 as usize >= name.min_size())
        {
            let x = Tensor::randn([n, 3, side, side], (Kind::Float, Device::Cpu));
            let y = model.forward_t(&x, false);
            assert_eq!(y.size(), [n, 10], "{name} eval, input {n}x3x{side}x{side}");
            if n > 1 {
                let y = model.forward_t(&x, true);
                assert_eq!(y.size(), [n, 10], "{name} train, input {n}x3x{side}x{side}");
            }
        }
        // Non-square input and another number of classes.
        let (_vs, model) = built(name, 100);
        let x = Tensor::randn([2, 3, 24, 16], (Kind::Float, Device::Cpu));
        assert_eq!(model.forward_t(&x, false).size(), [2, 100], "{name}");
    }
}

#[test]
fn parameter_counts() {
    // Worked out by hand from the architectures (conv weights, BN weight+bias, linear weight+bias):
    // CIFAR ResNet with option A: 97216·n − 21926 for depth 6n + 2.
    let expected = [
        (ModelName::ResNet20, 269_722),
        (ModelName::ResNet32, 464_154),
        (ModelName::ResNet44, 658_586),
        (ModelName::ResNet56, 853_018),
        (ModelName::ResNet110, 1_727_962),
        (ModelName::ResNet9, 6_573_120),
        (ModelName::Wrn22, 9_658_458),
        (ModelName::SmallCnn, 94_762),
    ];
    for (name, count) in expected {
        let (vs, _model) = built(name, 10);
        assert_eq!(param_count(&vs), count, "{name}");
    }
    // Option B adds a 1×1 conv + BN at the two widening blocks: the paper's other ResNet-20.
    let vs = nn::VarStore::new(Device::Cpu);
    let _m = CifarResNet::new(&vs.root(), 20, Shortcut::Projection, 10);
    assert_eq!(param_count(&vs), 272_474);
    // Widen factor 8 is the 17.2M-parameter WRN-22.
    let vs = nn::VarStore::new(Device::Cpu);
    let _m = WideResNet::new(&vs.root(), 3, 8, 10);
    assert_eq!(param_count(&vs), 17_158_106);
}

#[test]
fn resnet50_has_torchvisions_parameter_count_and_takes_small_images() {
    // torchvision.models.resnet50(num_classes=1000): sum(p.numel() for p in m.parameters()).
    let (vs, model) = built(ModelName::ResNet50, 1000);
    assert_eq!(param_count(&vs), 25_557_032);
    // The layout: 7×7 stride-2 stem, the stride on the 3×3 conv, 2048 features into the head.
    let vars = vs.variables();
    assert_eq!(vars["stem.conv.weight"].size(), [64, 3, 7, 7]);
    assert_eq!(vars["layer2.0.conv2.weight"].size(), [128, 128, 3, 3]);
    assert_eq!(
        vars["layer2.0.downsample.conv.weight"].size(),
        [512, 256, 1, 1]
    );
    assert_eq!(vars["head.fc.weight"].size(), [1000, 2048]);
    let blocks = |s: usize| {
        (0..)
            .take_while(|b| vars.contains_key(&format!("layer{s}.{b}.conv1.weight")))
            .count()
    };
    assert_eq!((1..=4).map(blocks).collect::<Vec<_>>(), [3, 4, 6, 3]);
    let x = Tensor::randn([2, 3, 64, 64], (Kind::Float, Device::Cpu));
    assert_eq!(model.forward_t(&x, true).size(), [2, 1000]);
}

#[test]
#[should_panic(expected = "6n + 2")]
fn resnet_depth_must_be_6n_plus_2() {
    let vs = nn::VarStore::new(Device::Cpu);
    CifarResNet::new(&vs.root(), 21, Shortcut::ZeroPad, 10);
}

#[test]
fn initialisation_is_pytorch_default() {
    tch::manual_seed(1);
    // The speed-run net starts its convs as identities (tests/speedrun.rs).
    for name in ModelName::ALL
        .into_iter()
        .filter(|&n| n != ModelName::Speedrun)
    {
        let (vs, _model) = built(name, 10);
        let vars = vs.variables();
        let mut seen_conv = 0;
        for (var, t) in &vars {
            let size = t.size();
            let leaf = var.rsplit('.').next().unwrap();
            let layer = var.rsplit('.').nth(1).unwrap();
            if layer.starts_with("bn") {
                let want = match leaf {
                    // ResNet-50 starts every block as the identity (zero-init residual).
                    "weight" if name == ModelName::ResNet50 && layer == "bn3" => 0.0,
                    "weight" | "running_var" => 1.0,
                    "bias" | "running_mean" => 0.0,
                    other => panic!("{name}: unexpected BatchNorm variable {other} in {var}"),
                };
                assert_eq!(t.min().double_value(&[]), want, "{name} {var}");
                assert_eq!(t.max().double_value(&[]), want, "{name} {var}");
            } else if size.len() == 4 {
                let fan_in = size[1] * size[2] * size[3];
                // The f32 tensor is compared with the bound rounded to f32, as PyTorch samples it.
                let bound = torch_default_bound(fan_in) as f32 as f64;
                let m = max_abs(t);
                assert!(m <= bound, "{name} {var}: max |w| {m} > {bound}");
                // Uniform over the whole interval, not a narrower one.
                if t.numel() >= 1000 {
                    assert!(m > 0.95 * bound, "{name} {var}: max |w| {m} of {bound}");
                    let std = t.std(true).double_value(&[]);
                    let uniform_std = bound / 3f64.sqrt();
                    assert!(
                        (std / uniform_std - 1.0).abs() < 0.1,
                        "{name} {var}: std {std}"
                    );
                }
                seen_conv += 1;
            } else if layer == "fc" {
                let fan_in = vars[&var.replace(".bias", ".weight")].size()[1];
                let m = max_abs(t);
                let bound = torch_default_bound(fan_in) as f32 as f64;
                assert!(m <= bound, "{name} {var}: {m}");
            } else {
                panic!("{name}: unexpected variable {var}");
            }
        }
        assert!(seen_conv >= 3, "{name}");
    }
}

#[test]
fn batch_norm_updates_running_stats_in_train_mode_only() {
    tch::manual_seed(2);
    for name in [
        ModelName::SmallCnn,
        ModelName::ResNet20,
        ModelName::ResNet9,
        ModelName::Wrn22,
    ] {
        let (vs, model) = built(name, 10);
        let stats = |vs: &nn::VarStore| -> Vec<(String, Tensor)> {
            let mut v: Vec<(String, Tensor)> = vs
                .variables()
                .into_iter()
                .filter(|(n, _)| n.ends_with("running_mean") || n.ends_with("running_var"))
                .map(|(n, t)| (n, t.copy()))
                .collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        };
        let before = stats(&vs);
        assert!(!before.is_empty());
        let x = Tensor::randn([4, 3, 16, 16], (Kind::Float, Device::Cpu)) * 3 + 1;
        let eval1 = model.forward_t(&x, false);
        let eval2 = model.forward_t(&x, false);
        assert!(eval1.equal(&eval2), "{name}: eval is deterministic");
        for ((n, a), (_, b)) in before.iter().zip(stats(&vs)) {
            assert!(a.equal(&b), "{name}: eval mode changed {n}");
        }
        let train = model.forward_t(&x, true);
        assert!(
            !train.allclose(&eval1, 1e-4, 1e-4, false),
            "{name}: train output equals eval"
        );
        for ((n, a), (_, b)) in before.iter().zip(stats(&vs)) {
            assert!(!a.equal(&b), "{name}: train mode left {n} unchanged");
        }
        // PyTorch's momentum 0.1: new mean = 0.9·0 + 0.1·(batch mean of the BN's input), checked
        // on the BN right after the first conv (all families but WRN, which starts with a bare conv).
        let vars = vs.variables();
        let first = vars.iter().find(|(n, t)| {
            n.ends_with(".conv.weight")
                && t.size()[1] == 3
                && vars.contains_key(&n.replace(".conv.weight", ".bn.running_mean"))
        });
        if let Some((conv_name, w)) = first {
            let mean = &vars[&conv_name.replace(".conv.weight", ".bn.running_mean")];
            let conv = x.conv2d(w, None::<&Tensor>, [1, 1], [1, 1], [1, 1], 1);
            let batch_mean = conv.mean_dim([0i64, 2, 3].as_slice(), false, Kind::Float);
            assert!(
                mean.allclose(&(batch_mean * 0.1), 1e-4, 1e-5, false),
                "{name}"
            );
        } else {
            assert_eq!(name, ModelName::Wrn22);
        }
    }
}

#[test]
fn channels_last_input_gives_the_same_output() {
    tch::manual_seed(3);
    for name in ModelName::ALL {
        let (_vs, model) = built(name, 10);
        let x = Tensor::randn([2, 3, 32, 32], (Kind::Float, Device::Cpu));
        let x_cl = x.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2]);
        assert_eq!(x_cl.stride(), [3 * 32 * 32, 1, 32 * 3, 3]);
        let a = model.forward_t(&x, false);
        let b = model.forward_t(&x_cl, false);
        let diff = max_abs(&(&a - &b));
        let scale = max_abs(&a).max(1.0);
        assert!(
            diff <= 1e-5 * scale,
            "{name}: channels-last differs by {diff} (scale {scale})"
        );
    }
}

#[test]
fn layer_groups_cover_every_variable_in_order() {
    for name in ModelName::ALL {
        let vs = nn::VarStore::new(Device::Cpu);
        // Built under a prefix: the group is still found.
        let _model = build(name, &vs.root().sub("model"), 7);
        let groups = layer_groups(name);
        assert_eq!(groups.len(), group_count(name));
        assert!(group_count(name) >= 4, "{name}");
        let vars = vs.variables();
        let mut sizes = vec![0usize; group_count(name)];
        for (var, t) in &vars {
            let g = group_of(name, var);
            assert!(
                var.starts_with(&format!("model.{}.", groups[g])),
                "{name} {var}"
            );
            sizes[g] += t.numel();
            // Input → output: the conv reading the image is in the first group, the layer
            // producing the 7 logits in the last.
            let size = t.size();
            if size.len() == 4 && size[1] == 3 {
                assert_eq!(g, 0, "{name} {var}");
            }
            if size.len() == 2 && size[0] == 7 {
                assert_eq!(g, group_count(name) - 1, "{name} {var}");
            }
        }
        assert!(
            sizes.iter().all(|&s| s > 0),
            "{name}: empty group in {sizes:?}"
        );
        // Stage by stage, the groups of the CIFAR ResNets and the WRN get wider.
        if name.resnet_depth().is_some() || name == ModelName::Wrn22 {
            assert!(
                sizes[1] < sizes[2] && sizes[2] < sizes[3],
                "{name}: {sizes:?}"
            );
        }
        // tch's own group index agrees with the name-based one.
        let by_ptr: HashMap<usize, &String> = vars
            .iter()
            .map(|(n, t)| (t.data_ptr() as usize, n))
            .collect();
        let store = vs.variables_.lock().unwrap();
        for v in &store.trainable_variables {
            let var = by_ptr[&(v.tensor.data_ptr() as usize)];
            assert_eq!(v.group, group_of(name, var), "{name} {var}");
        }
        drop(store);
        let split = grouped_variables(name, &vs);
        assert_eq!(split.len(), group_count(name), "{name}");
        assert_eq!(split.iter().map(Vec::len).sum::<usize>(), vars.len());
        for (g, members) in split.iter().enumerate() {
            assert!(members.windows(2).all(|w| w[0].0 < w[1].0));
            assert!(members.iter().all(|(n, _)| group_of(name, n) == g));
        }
    }
    assert_eq!(try_group_of(ModelName::ResNet56, "other.weight"), None);
    assert_eq!(
        try_group_of(ModelName::ResNet56, "stage3.8.bn2.bias"),
        Some(3)
    );
    assert_eq!(group_of(ModelName::ResNet9, "head.fc.weight"), 4);
}

#[test]
#[should_panic(expected = "no layer group")]
fn group_of_panics_on_foreign_variables() {
    group_of(ModelName::SmallCnn, "encoder.weight");
}

/// Cross-entropy on a fixed batch of 8 before and after `steps` SGD steps in train mode.
fn overfit(name: ModelName, steps: usize) -> (f64, f64) {
    tch::manual_seed(4);
    let (vs, model) = built(name, 10);
    let x = Tensor::randn([8, 3, 16, 16], (Kind::Float, Device::Cpu));
    let y = Tensor::from_slice(&[0i64, 1, 2, 3, 4, 5, 6, 7]);
    let mut opt = nn::Sgd {
        momentum: 0.9,
        ..Default::default()
    }
    .build(&vs, 0.05)
    .unwrap();
    let loss_of = |train| -> Tensor { model.forward_t(&x, train).cross_entropy_for_logits(&y) };
    let first = tch::no_grad(|| loss_of(false)).double_value(&[]);
    for _ in 0..steps {
        let loss = loss_of(true);
        opt.backward_step(&loss);
    }
    let last = tch::no_grad(|| loss_of(true)).double_value(&[]);
    (first, last)
}

#[test]
fn sgd_fits_a_tiny_batch_small_cnn() {
    let (first, last) = overfit(ModelName::SmallCnn, 30);
    assert!(last < 0.5 * first, "small-cnn: loss {first} -> {last}");
}

#[test]
fn sgd_fits_a_tiny_batch_resnet20() {
    let (first, last) = overfit(ModelName::ResNet20, 30);
    assert!(last < 0.5 * first, "resnet20: loss {first} -> {last}");
}
