//! The model as the Learner runs it: weights on a device, the network, an input transform
//! (e.g. channels-last) and the precision of the forward pass.

use std::cell::Cell;
use std::sync::Once;

use anyhow::Result;
use tch::{nn, Device, Kind, Tensor};

use crate::amp::{Autocast, Precision};

pub(crate) struct Model {
    pub vs: nn::VarStore,
    net: Box<dyn nn::ModuleT>,
    input_fn: Option<Box<dyn Fn(Tensor) -> Tensor>>,
    /// Arithmetic of the forward pass (the weights and optimizer state stay fp32).
    pub precision: Precision,
}

impl Model {
    pub fn new(vs: nn::VarStore, net: Box<dyn nn::ModuleT>) -> Model {
        Model {
            vs,
            net,
            input_fn: None,
            precision: Precision::Fp32,
        }
    }

    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// Applies `f` to every input batch after it reaches the device, after any earlier one.
    pub fn push_input_fn(&mut self, f: impl Fn(Tensor) -> Tensor + 'static) {
        let previous = self.input_fn.take();
        self.input_fn = Some(Box::new(move |x| match &previous {
            Some(g) => f(g(x)),
            None => f(x),
        }));
    }

    /// Replaces the input transform.
    pub fn set_input_fn(&mut self, f: impl Fn(Tensor) -> Tensor + 'static) {
        self.input_fn = Some(Box::new(f));
    }

    /// `inputs` on the model's device, transformed.
    pub fn prepare(&self, inputs: Tensor) -> Tensor {
        let x = inputs.to_device(self.device());
        match &self.input_fn {
            Some(f) => f(x),
            None => x,
        }
    }

    /// The outputs for `inputs` (already prepared), the forward pass under autocast in reduced
    /// precision; the outputs come back as fp32 so that losses and metrics run in fp32.
    pub fn forward(&self, inputs: &Tensor, train: bool) -> Result<Tensor> {
        let Some(kind) = self.precision.autocast_kind() else {
            return self.net_forward(inputs, train);
        };
        let out = {
            let _autocast = Autocast::new(self.device(), kind)?;
            self.net_forward(inputs, train)?
        };
        Ok(match out.kind() {
            Kind::Half | Kind::BFloat16 => out.to_kind(Kind::Float),
            _ => out,
        })
    }

    /// The network's forward pass; a panic inside it (tch panics on libtorch errors, e.g. a
    /// shape mismatch or a failed collective) becomes a one-line error naming libtorch's reason,
    /// without the panic report or libtorch's C++ frames.
    fn net_forward(&self, inputs: &Tensor, train: bool) -> Result<Tensor> {
        quiet_caught_panics();
        CATCHING.with(|c| c.set(true));
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.net.forward_t(inputs, train)
        }));
        CATCHING.with(|c| c.set(false));
        out.map_err(|payload| {
            let why = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("unknown panic");
            anyhow::anyhow!("the forward pass failed: {}", libtorch_reason(why))
        })
    }

    /// Keeps 4-D weights and input batches in channels-last (NHWC) memory order.
    pub fn use_channels_last(&mut self) {
        let _guard = tch::no_grad_guard();
        for (_, mut var) in self.vs.variables() {
            if var.dim() == 4 {
                let nhwc = to_channels_last(&var);
                var.set_data(&nhwc);
            }
        }
        self.push_input_fn(|x| to_channels_last(&x));
    }
}

thread_local! {
    /// Set while [`Model::net_forward`] catches a panic that it turns into an error.
    static CATCHING: Cell<bool> = const { Cell::new(false) };
}

/// Keeps the panic hook from reporting panics that `net_forward` catches; every other panic is
/// reported as before.
fn quiet_caught_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !CATCHING.with(Cell::get) {
                report(info);
            }
        }));
    });
}

/// libtorch's own words in a tch panic message: the text of `Torch("…")` up to its first line
/// break (where the C++ exception's origin and stack frames begin).
fn libtorch_reason(panic: &str) -> &str {
    let text = panic.split_once("Torch(\"").map_or(panic, |(_, rest)| rest);
    let end = [r"\n", "\n", "\")"]
        .iter()
        .filter_map(|m| text.find(m))
        .min()
        .unwrap_or(text.len());
    text[..end].trim()
}

/// The same 4-D tensor with NHWC strides (PyTorch's `memory_format=torch.channels_last`).
pub fn to_channels_last(t: &Tensor) -> Tensor {
    if t.dim() != 4 {
        return t.shallow_clone();
    }
    t.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
}
