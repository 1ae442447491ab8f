//! Classification networks on tch `nn` modules: the CIFAR ResNet-20…110 family that Smith used
//! (He et al. 2016, CIFAR variant), Page's DAWNBench ResNet-9, fast.ai's DAWNBench WRN-22, a small
//! CNN for quick runs, torchvision's ImageNet ResNet-50 and airbench94's speed-run network. Every
//! model takes NCHW float input of any batch size and any H×W ≥ its [`ModelName::min_size`]
//! (global pooling before the classifier, so progressive resizing can change the size between
//! epochs), and accepts channels-last strided input unchanged.
//!
//! **Initialisation** is PyTorch's default everywhere, set explicitly because tch's defaults
//! differ: conv and linear weights `kaiming_uniform_(a = √5)`, i.e. U(−1/√fan_in, 1/√fan_in), biases
//! U(−1/√fan_in, 1/√fan_in); BatchNorm weight 1, bias 0, running mean 0, running variance 1,
//! momentum 0.1, eps 1e-5 (ResNet-50 also zeroes the last BatchNorm weight of each block, see
//! [`ResNet50`]). A PyTorch script building the same modules therefore starts from the
//! same distribution.
//!
//! **Layer groups** (for discriminative learning rates and freezing): every model creates its
//! variables under a few top-level sub-paths, ordered input → output, listed by [`layer_groups`]:
//!
//! | model            | groups                                         |
//! |------------------|------------------------------------------------|
//! | `resnet20…110`   | `stem`, `stage1`, `stage2`, `stage3`, `head`   |
//! | `resnet9`        | `prep`, `layer1`, `layer2`, `layer3`, `head`   |
//! | `wrn22`          | `stem`, `group1`, `group2`, `group3`, `head`   |
//! | `small-cnn`      | `block1`, `block2`, `block3`, `head`           |
//! | `resnet50`       | `stem`, `layer1` … `layer4`, `head`            |
//! | `speedrun`       | `whiten`, `block1`, `block2`, `block3`, `head` |
//!
//! A variable named e.g. `stage2.0.conv1.weight` (or `model.stage2.0.conv1.weight` when built under
//! a `model` sub-path) belongs to group [`group_of`]` = 2`. The variables are also created with tch's
//! own group index set to the same number (`Path::set_group`), so `nn::Optimizer::set_lr_group`
//! works too.

mod resnet;
mod resnet50;
mod resnet9;
mod small_cnn;
mod speedrun;
mod wrn;

pub use resnet::{CifarResNet, Shortcut};
pub use resnet50::ResNet50;
pub use resnet9::ResNet9;
pub use small_cnn::SmallCnn;
pub use speedrun::{whitening_filters, SpeedrunNet, WHITENING_EPS};
pub use wrn::WideResNet;

use std::fmt;
use std::str::FromStr;

pub use onecycle::dist::BatchNorm;
use serde::{Deserialize, Serialize};
use tch::nn::{self, Init};
use tch::Tensor;

/// The models `build` knows, named on the command line by their lowercase [`Display`] form.
///
/// [`Display`]: fmt::Display
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ModelName {
    #[serde(rename = "resnet20")]
    ResNet20,
    #[serde(rename = "resnet32")]
    ResNet32,
    #[serde(rename = "resnet44")]
    ResNet44,
    #[serde(rename = "resnet56")]
    ResNet56,
    #[serde(rename = "resnet110")]
    ResNet110,
    #[serde(rename = "resnet9")]
    ResNet9,
    #[serde(rename = "wrn22")]
    Wrn22,
    #[serde(rename = "small-cnn")]
    SmallCnn,
    #[serde(rename = "resnet50")]
    ResNet50,
    #[serde(rename = "speedrun")]
    Speedrun,
}

impl ModelName {
    /// The smallest image side the model takes: each 2×2 max-pooling halves the image, and a
    /// pooling of a 1×1 map fails (the other models' strided convolutions and adaptive
    /// pooling take any size).
    pub fn min_size(self) -> usize {
        match self {
            ModelName::SmallCnn | ModelName::ResNet9 => 8,
            // The 2×2 whitening takes a pixel, then three poolings.
            ModelName::Speedrun => 16,
            _ => 1,
        }
    }

    /// Whether the model has a patch-whitening layer, which [`Model::init_whitening`] must set
    /// from training images before training.
    pub fn whitens(self) -> bool {
        self == ModelName::Speedrun
    }

    /// Every model, in the order help texts list them.
    pub const ALL: [ModelName; 10] = [
        ModelName::ResNet20,
        ModelName::ResNet32,
        ModelName::ResNet44,
        ModelName::ResNet56,
        ModelName::ResNet110,
        ModelName::ResNet9,
        ModelName::Wrn22,
        ModelName::SmallCnn,
        ModelName::ResNet50,
        ModelName::Speedrun,
    ];

    /// The command-line name (`resnet56`, `small-cnn`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ModelName::ResNet20 => "resnet20",
            ModelName::ResNet32 => "resnet32",
            ModelName::ResNet44 => "resnet44",
            ModelName::ResNet56 => "resnet56",
            ModelName::ResNet110 => "resnet110",
            ModelName::ResNet9 => "resnet9",
            ModelName::Wrn22 => "wrn22",
            ModelName::SmallCnn => "small-cnn",
            ModelName::ResNet50 => "resnet50",
            ModelName::Speedrun => "speedrun",
        }
    }

    /// Depth of a CIFAR ResNet (`6n + 2`), `None` for the other families.
    pub fn resnet_depth(self) -> Option<i64> {
        match self {
            ModelName::ResNet20 => Some(20),
            ModelName::ResNet32 => Some(32),
            ModelName::ResNet44 => Some(44),
            ModelName::ResNet56 => Some(56),
            ModelName::ResNet110 => Some(110),
            _ => None,
        }
    }
}

impl fmt::Display for ModelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A model name that [`ModelName::from_str`] does not know; the message lists the known ones.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown model `{given}`; expected one of: {}", known_names())]
pub struct UnknownModel {
    pub given: String,
}

fn known_names() -> String {
    ModelName::ALL.map(ModelName::as_str).join(", ")
}

impl FromStr for ModelName {
    type Err = UnknownModel;

    /// Parses the lowercase name, ignoring ASCII case (`ResNet56` is accepted).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ModelName::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownModel {
                given: s.to_string(),
            })
    }
}

/// A built network: one of the families, behind `ModuleT` so a learner needs no match.
#[derive(Debug)]
pub struct Model {
    name: ModelName,
    net: Family,
}

/// The family's network, boxed: the structs differ much in size.
#[derive(Debug)]
enum Family {
    Cifar(Box<CifarResNet>),
    Page(Box<ResNet9>),
    Wide(Box<WideResNet>),
    Small(Box<SmallCnn>),
    ImageNet(Box<ResNet50>),
    Speedrun(Box<SpeedrunNet>),
}

impl Model {
    /// Which model this is.
    pub fn name(&self) -> ModelName {
        self.name
    }

    /// Sets a whitening layer's filters from training `images` (normalised as the model sees
    /// them); nothing for the other models.
    pub fn init_whitening(&self, images: &Tensor) {
        if let Family::Speedrun(m) = &self.net {
            m.init_whitening(images);
        }
    }
}

impl nn::ModuleT for Model {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        match &self.net {
            Family::Cifar(m) => m.forward_t(xs, train),
            Family::Page(m) => m.forward_t(xs, train),
            Family::Wide(m) => m.forward_t(xs, train),
            Family::Small(m) => m.forward_t(xs, train),
            Family::ImageNet(m) => m.forward_t(xs, train),
            Family::Speedrun(m) => m.forward_t(xs, train),
        }
    }
}

/// Builds `name` with its variables under `vs` (see the module doc for their names and groups),
/// ending in `num_classes` logits. WRN-22 is fast.ai's `wrn_22` (widen factor 6).
pub fn build(name: ModelName, vs: &nn::Path, num_classes: i64) -> Model {
    let net = match name {
        ModelName::ResNet9 => Family::Page(Box::new(ResNet9::new(vs, num_classes))),
        ModelName::Wrn22 => Family::Wide(Box::new(WideResNet::new(vs, 3, 6, num_classes))),
        ModelName::SmallCnn => Family::Small(Box::new(SmallCnn::new(vs, num_classes))),
        ModelName::ResNet50 => Family::ImageNet(Box::new(ResNet50::new(vs, num_classes))),
        ModelName::Speedrun => Family::Speedrun(Box::new(SpeedrunNet::new(vs, num_classes))),
        _ => {
            let depth = name
                .resnet_depth()
                .expect("every other name is a CIFAR ResNet");
            Family::Cifar(Box::new(CifarResNet::new(
                vs,
                depth,
                Shortcut::ZeroPad,
                num_classes,
            )))
        }
    };
    Model { name, net }
}

/// The layer groups of `name`, ordered input → output; each is the top-level sub-path that holds
/// the group's variables.
pub fn layer_groups(name: ModelName) -> &'static [&'static str] {
    match name {
        ModelName::ResNet9 => &resnet9::GROUPS,
        ModelName::Wrn22 => &wrn::GROUPS,
        ModelName::SmallCnn => &small_cnn::GROUPS,
        ModelName::ResNet50 => &resnet50::GROUPS,
        ModelName::Speedrun => &speedrun::GROUPS,
        _ => &resnet::GROUPS,
    }
}

/// How many layer groups `name` has.
pub fn group_count(name: ModelName) -> usize {
    layer_groups(name).len()
}

/// The group index of a variable of `name`, from its full VarStore name (`stage1.0.bn1.weight`):
/// the first `.`-separated component that is a group name decides, so a prefix the caller built the
/// model under is skipped. `None` for a variable the model did not create.
pub fn try_group_of(name: ModelName, var_name: &str) -> Option<usize> {
    let groups = layer_groups(name);
    var_name
        .split('.')
        .find_map(|part| groups.iter().position(|g| *g == part))
}

/// Like [`try_group_of`], for variables known to come from `build(name, …)`.
///
/// # Panics
/// If `var_name` contains no group name of `name`.
pub fn group_of(name: ModelName, var_name: &str) -> usize {
    try_group_of(name, var_name).unwrap_or_else(|| {
        panic!(
            "variable `{var_name}` is in no layer group of {name} ({})",
            layer_groups(name).join(", ")
        )
    })
}

/// The variables of `vs` split by layer group of `name` (index = group), each group sorted by name
/// so the order is reproducible. Variables in no group (not built by `name`) are returned last, as
/// an extra entry, only when there are any.
pub fn grouped_variables(name: ModelName, vs: &nn::VarStore) -> Vec<Vec<(String, Tensor)>> {
    let mut groups: Vec<Vec<(String, Tensor)>> =
        (0..=group_count(name)).map(|_| Vec::new()).collect();
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    for (var_name, t) in vars {
        let g = try_group_of(name, &var_name).unwrap_or(group_count(name));
        groups[g].push((var_name, t));
    }
    if groups.last().is_some_and(Vec::is_empty) {
        groups.pop();
    }
    groups
}

/// The sub-path for group `index` of a family: named `groups[index]`, with tch's group set too.
fn group_path<'a>(vs: &nn::Path<'a>, groups: &[&str], index: usize) -> nn::Path<'a> {
    vs.sub(groups[index]).set_group(index)
}

/// PyTorch's default bound for weights and biases of a layer with `fan_in` inputs: 1/√fan_in.
pub fn torch_default_bound(fan_in: i64) -> f64 {
    1.0 / (fan_in as f64).sqrt()
}

fn uniform(bound: f64) -> Init {
    Init::Uniform {
        lo: -bound,
        up: bound,
    }
}

/// A square `k×k` convolution with "same" padding (`k/2`) and PyTorch's default initialisation.
fn conv2d(vs: nn::Path, c_in: i64, c_out: i64, k: i64, stride: i64, bias: bool) -> nn::Conv2D {
    let bound = torch_default_bound(c_in * k * k);
    let config = nn::ConvConfig {
        stride,
        padding: k / 2,
        bias,
        ws_init: uniform(bound),
        bs_init: uniform(bound),
        ..Default::default()
    };
    nn::conv2d(vs, c_in, c_out, k, config)
}

/// BatchNorm2d with PyTorch's defaults (weight 1, bias 0, momentum 0.1, eps 1e-5), synchronised
/// across ranks when data-parallel training asks for it (see [`BatchNorm`]).
fn batch_norm2d(vs: nn::Path, channels: i64) -> BatchNorm {
    batch_norm2d_with(vs, channels, 1e-5, 0.1)
}

/// BatchNorm2d (weight 1, bias 0) with its own `eps` and `momentum` (PyTorch's convention: the
/// share of each batch's statistics in the running ones).
fn batch_norm2d_with(vs: nn::Path, channels: i64, eps: f64, momentum: f64) -> BatchNorm {
    let config = nn::BatchNormConfig {
        eps,
        momentum,
        ws_init: Init::Const(1.0),
        bs_init: Init::Const(0.0),
        ..Default::default()
    };
    BatchNorm::new(vs, 2, channels, config)
}

/// A linear layer with PyTorch's default initialisation.
fn linear(vs: nn::Path, d_in: i64, d_out: i64, bias: bool) -> nn::Linear {
    let bound = torch_default_bound(d_in);
    let config = nn::LinearConfig {
        ws_init: uniform(bound),
        bs_init: Some(uniform(bound)),
        bias,
    };
    nn::linear(vs, d_in, d_out, config)
}

/// Global average pooling to `[N, C]`, keeping the input's dtype.
fn global_avg_pool(xs: &Tensor) -> Tensor {
    xs.adaptive_avg_pool2d([1, 1]).flatten(1, -1)
}
