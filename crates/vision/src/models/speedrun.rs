//! The speed-run network of Keller Jordan's airbench94 (arXiv 2404.00498), after Page's ResNet-9:
//! a frozen 2×2 patch-whitening convolution (24 channels: the whitening directions and their
//! negatives) and GELU, then three conv groups of widths 64/256/256, each 3×3 conv → 2×2 max-pool
//! → BN → GELU → 3×3 conv → BN → GELU, then a global max pool and a bias-free linear head scaled
//! by 1/9. Convolutions have no bias and start as identity maps on their first input-many filters
//! (`dirac_`); BatchNorm keeps its weight at 1 (only the bias trains), has eps 1e-12 and keeps 40 %
//! of each batch's statistics (airbench's "momentum 0.6"). [`SpeedrunNet::init_whitening`] sets
//! the whitening filters from training images.

use tch::nn::{self, Init, ModuleT};
use tch::{Kind, Tensor};

use super::{
    batch_norm2d_with, conv2d, group_path, linear, torch_default_bound, uniform, BatchNorm,
};

/// Layer groups, input → output; `whiten` holds the whitening layer alone, so that its bias can
/// be frozen after the first epochs by freezing the group.
pub(crate) const GROUPS: [&str; 5] = ["whiten", "block1", "block2", "block3", "head"];

/// Output channels of the three conv groups.
const WIDTHS: [i64; 3] = [64, 256, 256];

/// The whitening layer's kernel side.
const PATCH: i64 = 2;

/// Added to the patch covariance's eigenvalues before the inverse square root.
pub const WHITENING_EPS: f64 = 5e-4;

/// The logits' scale.
const OUTPUT_SCALE: f64 = 1.0 / 9.0;

/// The airbench94 network. Variables: `whiten.{weight,bias}`, `block{1,2,3}.{conv1,conv2}.weight`,
/// `block{1,2,3}.{bn1,bn2}.*`, `head.fc.weight`.
#[derive(Debug)]
pub struct SpeedrunNet {
    whiten: nn::Conv2D,
    blocks: Vec<ConvGroup>,
    fc: nn::Linear,
}

impl SpeedrunNet {
    pub fn new(vs: &nn::Path, num_classes: i64) -> Self {
        let w = group_path(vs, &GROUPS, 0);
        let bound = torch_default_bound(3 * PATCH * PATCH);
        let config = nn::ConvConfig {
            bias: true,
            ws_init: Init::Const(0.0),
            bs_init: uniform(bound),
            ..Default::default()
        };
        let whiten = nn::conv2d(w, 3, 2 * 3 * PATCH * PATCH, PATCH, config);
        let _ = whiten.ws.set_requires_grad(false);
        let mut c_in = 2 * 3 * PATCH * PATCH;
        let blocks = WIDTHS
            .iter()
            .enumerate()
            .map(|(i, &c_out)| {
                let group = ConvGroup::new(&group_path(vs, &GROUPS, i + 1), c_in, c_out);
                c_in = c_out;
                group
            })
            .collect();
        let head = group_path(vs, &GROUPS, 4);
        let fc = linear(head.sub("fc"), c_in, num_classes, false);
        SpeedrunNet { whiten, blocks, fc }
    }

    /// Sets the whitening filters from `images` (N, 3, H, W, normalised as the model sees them;
    /// airbench uses the first 5,000 training images): see [`whitening_filters`].
    pub fn init_whitening(&self, images: &Tensor) {
        let filters = whitening_filters(images, WHITENING_EPS).to_device(self.whiten.ws.device());
        tch::no_grad(|| self.whiten.ws.shallow_clone().copy_(&filters));
    }
}

/// The 2×2 whitening filters of `images`: the eigenvectors of the covariance of all their 2×2
/// patches (12 values each), largest eigenvalue first, each divided by √(eigenvalue + `eps`), then
/// the same 12 negated: a (24, 3, 2, 2) kernel whose outputs are decorrelated with unit variance.
pub fn whitening_filters(images: &Tensor, eps: f64) -> Tensor {
    let c = images.size()[1];
    let patches = images
        .to_kind(Kind::Double)
        .unfold(2, PATCH, 1)
        .unfold(3, PATCH, 1)
        .permute([0, 2, 3, 1, 4, 5])
        .reshape([-1, c * PATCH * PATCH]);
    let n = patches.size()[0] as f64;
    let covariance = patches.transpose(0, 1).matmul(&patches) / n;
    let (values, vectors) = covariance.linalg_eigh("U");
    let values = values.flip([0]);
    let vectors = vectors.transpose(0, 1).flip([0]);
    let scaled = vectors / (values + eps).sqrt().unsqueeze(1);
    Tensor::cat(&[&scaled, &(-&scaled)], 0)
        .reshape([-1, c, PATCH, PATCH])
        .to_kind(Kind::Float)
}

impl ModuleT for SpeedrunNet {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut x = xs.apply(&self.whiten).gelu("none");
        for block in &self.blocks {
            x = block.forward_t(&x, train);
        }
        let (x, _) = x.adaptive_max_pool2d([1, 1]);
        x.flatten(1, -1).apply(&self.fc) * OUTPUT_SCALE
    }
}

/// conv → max-pool → BN → GELU → conv → BN → GELU, under `conv1`, `bn1`, `conv2`, `bn2`.
#[derive(Debug)]
struct ConvGroup {
    conv1: nn::Conv2D,
    bn1: BatchNorm,
    conv2: nn::Conv2D,
    bn2: BatchNorm,
}

impl ConvGroup {
    fn new(vs: &nn::Path, c_in: i64, c_out: i64) -> Self {
        ConvGroup {
            conv1: identity_conv(vs.sub("conv1"), c_in, c_out),
            bn1: frozen_weight_bn(vs.sub("bn1"), c_out),
            conv2: identity_conv(vs.sub("conv2"), c_out, c_out),
            bn2: frozen_weight_bn(vs.sub("bn2"), c_out),
        }
    }
}

impl ModuleT for ConvGroup {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let x = xs.apply(&self.conv1).max_pool2d_default(2);
        let x = x.apply_t(&self.bn1, train).gelu("none").apply(&self.conv2);
        x.apply_t(&self.bn2, train).gelu("none")
    }
}

/// A bias-free 3×3 "same" convolution with PyTorch's default weights, except that its first
/// `c_in` filters pass their input channel through unchanged (`torch.nn.init.dirac_`).
fn identity_conv(vs: nn::Path, c_in: i64, c_out: i64) -> nn::Conv2D {
    let conv = conv2d(vs, c_in, c_out, 3, 1, false);
    let n = c_in.min(c_out);
    let eye = Tensor::eye(n, (Kind::Float, conv.ws.device())).view([n, n, 1, 1]);
    tch::no_grad(|| {
        let mut head = conv.ws.narrow(0, 0, n);
        let _ = head.zero_();
        head.narrow(1, 0, n)
            .narrow(2, 1, 1)
            .narrow(3, 1, 1)
            .copy_(&eye);
    });
    conv
}

/// BatchNorm with its weight fixed at 1 (not trained), eps 1e-12, and running statistics that
/// keep 60 % of their old value at each batch.
fn frozen_weight_bn(vs: nn::Path, channels: i64) -> BatchNorm {
    let bn = batch_norm2d_with(vs, channels, 1e-12, 0.4);
    if let Some(weight) = bn.weight() {
        let _ = weight.set_requires_grad(false);
    }
    bn
}
