//! The CIFAR ResNets of He et al. 2016 (§4.2), depth `6n + 2`: a 3×3 conv to 16 channels, three
//! stages of `n` basic blocks at 16/32/64 channels (stride 2 at the start of stages 2 and 3), global
//! average pooling and a linear classifier. These are the ResNet-20/32/44/56/110 of Smith's and
//! Gugger's 1cycle experiments.

use tch::nn::{self, ModuleT};
use tch::Tensor;

use super::{batch_norm2d, conv2d, global_avg_pool, group_path, linear, BatchNorm};

/// Layer groups, input → output.
pub(crate) const GROUPS: [&str; 5] = ["stem", "stage1", "stage2", "stage3", "head"];

/// How a block that changes width and resolution forms its shortcut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shortcut {
    /// Option A of the paper: the identity subsampled with stride 2 and the new channels filled with
    /// zeros (no parameters). What the paper's CIFAR results and `build` use.
    ZeroPad,
    /// Option B: a strided 1×1 convolution (no bias) followed by BatchNorm.
    Projection,
}

/// A CIFAR ResNet. Variables: `stem.{conv,bn}`, `stage{s}.{b}.{conv1,bn1,conv2,bn2}` (plus
/// `stage{s}.0.shortcut.{conv,bn}` with [`Shortcut::Projection`]), `head.fc`.
#[derive(Debug)]
pub struct CifarResNet {
    conv: nn::Conv2D,
    bn: BatchNorm,
    blocks: Vec<BasicBlock>,
    fc: nn::Linear,
}

impl CifarResNet {
    /// Builds a ResNet of `depth` layers (`6n + 2`: 20, 32, 44, 56, 110, …).
    ///
    /// # Panics
    /// If `depth` is not of the form `6n + 2` with `n ≥ 1`.
    pub fn new(vs: &nn::Path, depth: i64, shortcut: Shortcut, num_classes: i64) -> Self {
        assert!(
            depth >= 8 && (depth - 2) % 6 == 0,
            "CIFAR ResNet depth must be 6n + 2 with n >= 1, got {depth}"
        );
        let n = (depth - 2) / 6;
        let stem = group_path(vs, &GROUPS, 0);
        let conv = conv2d(stem.sub("conv"), 3, 16, 3, 1, false);
        let bn = batch_norm2d(stem.sub("bn"), 16);
        let mut blocks = Vec::new();
        let mut c_in = 16;
        for (s, c_out) in [16, 32, 64].into_iter().enumerate() {
            let stage = group_path(vs, &GROUPS, s + 1);
            for b in 0..n {
                let stride = if s > 0 && b == 0 { 2 } else { 1 };
                let block = BasicBlock::new(&stage.sub(b), c_in, c_out, stride, shortcut);
                blocks.push(block);
                c_in = c_out;
            }
        }
        let head = group_path(vs, &GROUPS, 4);
        let fc = linear(head.sub("fc"), 64, num_classes, true);
        CifarResNet {
            conv,
            bn,
            blocks,
            fc,
        }
    }
}

impl ModuleT for CifarResNet {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut x = xs.apply(&self.conv).apply_t(&self.bn, train).relu();
        for block in &self.blocks {
            x = block.forward_t(&x, train);
        }
        global_avg_pool(&x).apply(&self.fc)
    }
}

/// Two 3×3 conv-BN layers with a ReLU between, the shortcut added before the final ReLU.
#[derive(Debug)]
struct BasicBlock {
    conv1: nn::Conv2D,
    bn1: BatchNorm,
    conv2: nn::Conv2D,
    bn2: BatchNorm,
    /// `None` when input and output shapes match (identity).
    shortcut: Option<BlockShortcut>,
}

#[derive(Debug)]
enum BlockShortcut {
    /// Subsample by `stride`, then add `pad` zero channels on each side.
    ZeroPad {
        stride: i64,
        pad: i64,
    },
    Projection(Box<(nn::Conv2D, BatchNorm)>),
}

impl BasicBlock {
    fn new(vs: &nn::Path, c_in: i64, c_out: i64, stride: i64, kind: Shortcut) -> Self {
        let shortcut = (stride != 1 || c_in != c_out).then(|| match kind {
            Shortcut::ZeroPad => {
                assert!(
                    c_out >= c_in && (c_out - c_in) % 2 == 0,
                    "zero-padding shortcut needs an even channel increase, got {c_in} -> {c_out}"
                );
                BlockShortcut::ZeroPad {
                    stride,
                    pad: (c_out - c_in) / 2,
                }
            }
            Shortcut::Projection => {
                let p = vs.sub("shortcut");
                BlockShortcut::Projection(Box::new((
                    conv2d(p.sub("conv"), c_in, c_out, 1, stride, false),
                    batch_norm2d(p.sub("bn"), c_out),
                )))
            }
        });
        BasicBlock {
            conv1: conv2d(vs.sub("conv1"), c_in, c_out, 3, stride, false),
            bn1: batch_norm2d(vs.sub("bn1"), c_out),
            conv2: conv2d(vs.sub("conv2"), c_out, c_out, 3, 1, false),
            bn2: batch_norm2d(vs.sub("bn2"), c_out),
            shortcut,
        }
    }
}

impl ModuleT for BasicBlock {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let out = xs
            .apply(&self.conv1)
            .apply_t(&self.bn1, train)
            .relu()
            .apply(&self.conv2)
            .apply_t(&self.bn2, train);
        let identity = match &self.shortcut {
            None => xs.shallow_clone(),
            Some(BlockShortcut::ZeroPad { stride, pad }) => xs
                .slice(2, 0, None, *stride)
                .slice(3, 0, None, *stride)
                .constant_pad_nd([0, 0, 0, 0, *pad, *pad]),
            Some(BlockShortcut::Projection(p)) => xs.apply(&p.0).apply_t(&p.1, train),
        };
        (out + identity).relu()
    }
}
