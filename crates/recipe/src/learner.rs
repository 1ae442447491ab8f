//! The Learner a fit config describes: its images, model, loss, optimizer, device, precision and
//! metrics, and on a data-parallel run this rank's share of it.

use std::rc::Rc;

use anyhow::{bail, Result};
use onecycle::callbacks::FreezeAfter;
use onecycle::data::{Data, Shard};
use onecycle::device::DeviceSpec;
use onecycle::dist::{self, Ddp, ProcessGroup};
use onecycle::learner::{cross_entropy, Learner};
use onecycle::metrics::accuracy;
use tch::{nn, Device, Kind, Tensor};
use vision::models::{self, ModelName};
use vision::ImageData;

use crate::config::{FitConfig, TtaViews};

/// A Learner for `config`, with its data, model and accuracy; in `group`'s processes when given
/// (each rank on its rows of every global batch, on its own GPU where there are GPUs).
pub fn learner(config: &FitConfig, group: Option<&Rc<ProcessGroup>>) -> Result<Learner<ImageData>> {
    config.validate()?;
    let config = match group {
        Some(g) => rank_config(config, g)?,
        None => config.clone(),
    };
    let phases = config.size_phases()?;
    let options = config.data_options();
    let (mut data, classes) =
        ImageData::open(config.data.as_deref(), &options, &phases, config.epochs)?;
    if let Some(augment) = config.batch_augment {
        if group.is_some() {
            bail!("batch_augment does not combine with data-parallel training (launch)");
        }
        data.augment_batches(augment, config.seed, config.device.resolve()?)?;
    }
    let whitening = match config.model.whitens() {
        true => Some(data.train_inputs(WHITENING_IMAGES)?),
        false => None,
    };
    let mut learner = model_learner(
        config.model,
        classes as i64,
        data,
        &config,
        config.seed,
        whitening.as_ref(),
    )?;
    if config.channels_last {
        learner.use_channels_last();
    }
    learner.add_metric(Box::new(accuracy()));
    if let Some(epochs) = config.first_group_epochs {
        learner.add_callback(Box::new(FreezeAfter { groups: 1, epochs }));
    }
    if let Some(g) = group {
        data_parallel(&mut learner, &config, g.clone())?;
    }
    Ok(learner)
}

/// The training images a whitening layer's filters are computed from (airbench94's 5,000).
pub const WHITENING_IMAGES: usize = 5000;

/// A Learner for model `name` with `classes` outputs on any data, with the loss, optimizer,
/// device and precision settings of `config`; weights initialised from `seed` (on the CPU, then
/// moved, so that every device starts from the same weights), and a whitening layer's filters
/// from `whitening` images (see [`ModelName::whitens`]).
pub fn model_learner<D: Data>(
    name: ModelName,
    classes: i64,
    data: D,
    config: &FitConfig,
    seed: u64,
    whitening: Option<&Tensor>,
) -> Result<Learner<D>> {
    // Before the first seeding: libtorch looks for CUDA once (see onecycle::device).
    let device = config.device.resolve()?;
    if device.is_cuda() {
        onecycle::device::set_cudnn_benchmark(config.cudnn_benchmark);
    }
    // libtorch's RNG is global: hold it from seeding to the last initialised weight, so that
    // models built on other threads at the same time cannot change these weights.
    static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let (mut vs, model) = {
        let _rng = INIT.lock().unwrap_or_else(|e| e.into_inner());
        tch::manual_seed(seed as i64);
        let vs = nn::VarStore::new(Device::Cpu);
        let model = models::build(name, &vs.root(), classes);
        (vs, model)
    };
    match whitening {
        Some(images) => model.init_whitening(images),
        None if name.whitens() => bail!("model {name} needs training images for its whitening"),
        None => {}
    }
    if device != Device::Cpu {
        vs.set_device(device);
    }
    Learner::builder(vs, model, data)
        .loss(cross_entropy(config.label_smoothing))
        .groups(models::group_count(name), move |var| {
            models::group_of(name, var)
        })
        .config(config.train_config())
        .precision(config.precision)
        .build()
}

/// Makes `learner` (built for `config`) train data-parallel in `group` (see [`onecycle::dist`]):
/// each rank trains on its rows of every global batch of `config.batch`, starting from rank 0's
/// weights, with the loss and gradients averaged over ranks every step.
fn data_parallel(
    learner: &mut Learner<ImageData>,
    config: &FitConfig,
    group: Rc<ProcessGroup>,
) -> Result<()> {
    let world = group.world_size();
    let items = learner.data().train.items();
    let last = items % config.batch;
    if config.batch < world {
        bail!(
            "batch {} is the global batch, split over the {world} processes: it must be at least \
             {world}, one image per process (e.g. --batch {})",
            config.batch,
            world * config.batch.max(1)
        );
    }
    if last != 0 && last < world {
        bail!(
            "{world} processes need at least {world} images in every global batch: batch {} over \
             {items} training images leaves a last batch of {last}",
            config.batch
        );
    }
    learner.data_mut().set_shard(Shard {
        rank: group.rank(),
        world,
    });
    let ddp = Ddp::new(group, learner.var_store(), config.sync_bn)?;
    learner.set_strategy(ddp);
    Ok(())
}

/// `config` as this rank of `group` trains it: on GPUs, each rank on its own
/// ([`dist::local_gpu`]); on the CPU, unchanged.
pub fn rank_config(config: &FitConfig, group: &ProcessGroup) -> Result<FitConfig> {
    let mut config = config.clone();
    if config.device.resolve()?.is_cuda() {
        config.device = DeviceSpec::Cuda(dist::local_gpu(group.rank())?);
    }
    Ok(config)
}

/// The validation set's class probabilities under test-time augmentation (see [`tta_blend`]),
/// with its targets.
pub fn tta_predictions(
    learner: &Learner<ImageData>,
    views: TtaViews,
    beta: f64,
) -> Result<(Tensor, Tensor)> {
    let mut targets = None;
    let blended = tta_blend(views, beta, |view| {
        let (predictions, in_order) = learner.predict_valid(view)?;
        targets = Some(in_order);
        Ok(predictions)
    })?;
    Ok((
        blended,
        targets.expect("tta_blend predicts at least one view"),
    ))
}

/// Test-time augmentation: `predict` gives the class probabilities of the images as a view
/// transforms them. [`TtaViews::Flip`]: `beta`·plain + (1 − beta)·mirrored, fastai's blend.
/// [`TtaViews::MirrorTranslate`] (airbench's): half the mean over the image and its mirror, half
/// the same mean over the image shifted one pixel down-right and one up-left (reflect padding),
/// so that six views vote.
pub fn tta_blend(
    views: TtaViews,
    beta: f64,
    mut predict: impl FnMut(&dyn Fn(&Tensor) -> Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    let plain = predict(&|x| x.shallow_clone())?;
    let flipped = predict(&|x| x.flip([3]))?;
    if views == TtaViews::Flip {
        return Ok(plain * beta + flipped * (1.0 - beta));
    }
    let mut mirrored = |shift: i64| -> Result<Tensor> {
        let plain = predict(&|x| shifted(x, shift))?;
        let flipped = predict(&|x| shifted(x, shift).flip([3]))?;
        Ok((plain + flipped) * 0.5)
    };
    let centre = (plain + flipped) * 0.5;
    Ok(centre * 0.5 + (mirrored(1)? + mirrored(-1)?) * 0.25)
}

/// The accuracy of [`tta_predictions`].
pub fn tta_accuracy(learner: &Learner<ImageData>, views: TtaViews, beta: f64) -> Result<f64> {
    let (predictions, targets) = tta_predictions(learner, views, beta)?;
    Ok(hit_rate(&predictions, &targets))
}

/// `images` (N, C, H, W) moved `shift` pixels down and right (up and left when negative), the
/// uncovered border filled by reflection.
pub fn shifted(images: &Tensor, shift: i64) -> Tensor {
    if shift == 0 {
        return images.shallow_clone();
    }
    let (h, w) = (images.size()[2], images.size()[3]);
    let p = shift.abs();
    let padded = images.reflection_pad2d([p, p, p, p]);
    let start = p - shift;
    padded.narrow(2, start, h).narrow(3, start, w)
}

/// The share of rows whose highest prediction is their target.
fn hit_rate(predictions: &Tensor, targets: &Tensor) -> f64 {
    let hits = predictions
        .argmax(-1, false)
        .eq_tensor(targets)
        .to_kind(Kind::Float);
    hits.mean(Kind::Float).double_value(&[])
}
