//! `onecycle predict`: a trained run's classes for image files, each prepared as the run's
//! validation images were (resized to the data's size, or cropped as image folders are).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use tch::Tensor;

use crate::evaluate::trained_learner;

/// One image's most likely classes, most likely first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImagePrediction {
    pub path: PathBuf,
    /// `(class, probability)`.
    pub top: Vec<(String, f64)>,
}

/// The `top` most likely classes of each image in `images` by the run's trained model, with
/// test-time augmentation (the mirrored image blended in by the run's `tta_beta`) when asked.
/// Every image is decoded before any is predicted, so a bad file fails the whole call at once.
pub fn predict(
    run: &Path,
    images: &[PathBuf],
    top: usize,
    tta: bool,
) -> Result<Vec<ImagePrediction>> {
    if images.is_empty() {
        bail!("give at least one image file to predict");
    }
    if top == 0 {
        bail!("--top must be at least 1");
    }
    let pictures = images
        .iter()
        .map(|p| {
            let img = image::open(p)
                .with_context(|| format!("{}: not an image that can be decoded", p.display()))?;
            Ok(img.to_rgb8())
        })
        .collect::<Result<Vec<_>>>()?;
    let (config, learner) = trained_learner(run, None)?;
    let classes = learner.data().classes().to_vec();
    let valid = &learner.data().valid;
    let inputs = pictures
        .iter()
        .map(|p| valid.input(p))
        .collect::<Result<Vec<_>, _>>()?;
    let batch = Tensor::cat(&inputs, 0);
    let mut probs = learner.predict(&batch)?;
    if tta {
        let mirrored = learner.predict(&batch.flip([3]))?;
        probs = probs * config.tta_beta + mirrored * (1.0 - config.tta_beta);
    }
    let k = top.min(classes.len()) as i64;
    let (values, indices) = probs.topk(k, -1, true, true);
    let values = Vec::<f64>::try_from(&values.to_kind(tch::Kind::Double).flatten(0, -1))?;
    let indices = Vec::<i64>::try_from(&indices.flatten(0, -1))?;
    Ok(images
        .iter()
        .enumerate()
        .map(|(i, path)| ImagePrediction {
            path: path.clone(),
            top: (0..k as usize)
                .map(|j| {
                    let at = i * k as usize + j;
                    (classes[indices[at] as usize].clone(), values[at])
                })
                .collect(),
        })
        .collect())
}
