//! `onecycle predict`: a trained run's classes for image files, each prepared as the run's
//! validation images were (resized to the data's size, or cropped as image folders are).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use tch::Tensor;

use crate::evaluate::trained_learner;
use crate::learner::tta_blend;

/// One image's most likely classes, most likely first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImagePrediction {
    pub path: PathBuf,
    /// `(class, probability)`.
    pub top: Vec<(String, f64)>,
}

/// Images predicted at once.
const CHUNK: usize = 64;

/// The `top` most likely classes of each image in `images` (files; folders searched for PNG and
/// JPEG files, in name order; CIFAR-10 binary files, each record named `FILE#index`) by the
/// run's trained model, with the run's test-time augmentation (`tta_views`, `tta_beta`) when
/// asked. A file that does not decode fails the whole call, before anything is returned.
pub fn predict(
    run: &Path,
    images: &[PathBuf],
    top: usize,
    tta: bool,
) -> Result<Vec<ImagePrediction>> {
    if top == 0 {
        bail!("--top must be at least 1");
    }
    let (files, records) = image_files(images)?;
    if files.is_empty() {
        bail!("give at least one image file (or a folder with PNG or JPEG files) to predict");
    }
    let (config, learner) = trained_learner(run, None)?;
    let classes = learner.data().classes().to_vec();
    let k = top.min(classes.len());
    let mut out = Vec::with_capacity(files.len());
    for chunk in files.chunks(CHUNK) {
        let inputs = chunk
            .iter()
            .map(|p| {
                let picture = match records.get(p) {
                    Some((data, i)) => data.picture(*i),
                    None => image::open(p)
                        .with_context(|| {
                            format!("{}: not an image that can be decoded", p.display())
                        })?
                        .to_rgb8(),
                };
                Ok(learner.data().valid.input(&picture)?)
            })
            .collect::<Result<Vec<_>>>()?;
        let batch = Tensor::cat(&inputs, 0);
        let probs = match tta {
            true => tta_blend(config.tta_views, config.tta_beta, |view| {
                learner.predict(&view(&batch))
            })?,
            false => learner.predict(&batch)?,
        };
        let (values, indices) = probs.topk(k as i64, -1, true, true);
        let values = Vec::<f64>::try_from(&values.to_kind(tch::Kind::Double).flatten(0, -1))?;
        let indices = Vec::<i64>::try_from(&indices.flatten(0, -1))?;
        for (i, path) in chunk.iter().enumerate() {
            let top = (i * k..(i + 1) * k)
                .map(|at| (classes[indices[at] as usize].clone(), values[at]))
                .collect();
            out.push(ImagePrediction {
                path: path.clone(),
                top,
            });
        }
    }
    Ok(out)
}

/// The records of CIFAR-10 binary files, by the name `FILE#index` they are predicted under.
type Records = std::collections::HashMap<PathBuf, (std::rc::Rc<vision::Dataset>, usize)>;

/// `paths` with every folder replaced by the PNG and JPEG files under it (in name order) and
/// every CIFAR-10 binary file (`.bin`) by its records.
fn image_files(paths: &[PathBuf]) -> Result<(Vec<PathBuf>, Records)> {
    let mut out = Vec::new();
    let mut records = Records::new();
    for p in paths {
        if p.extension().is_some_and(|e| e == "bin") && p.is_file() {
            let data = std::rc::Rc::new(vision::cifar::read_file(p)?);
            for i in 0..data.len() {
                let name = PathBuf::from(format!("{}#{i}", p.display()));
                records.insert(name.clone(), (data.clone(), i));
                out.push(name);
            }
            continue;
        }
        if !p.is_dir() {
            out.push(p.clone());
            continue;
        }
        let mut found = Vec::new();
        let mut todo = vec![p.clone()];
        while let Some(dir) = todo.pop() {
            let entries =
                std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?;
            for entry in entries {
                let path = entry?.path();
                let ext = path
                    .extension()
                    .and_then(|e| e.to_str())
                    .map(str::to_lowercase);
                if path.is_dir() {
                    todo.push(path);
                } else if matches!(ext.as_deref(), Some("png" | "jpg" | "jpeg")) {
                    found.push(path);
                }
            }
        }
        found.sort();
        out.extend(found);
    }
    Ok((out, records))
}

/// The predictions as CSV: `path,class,probability`, then `class_2,probability_2`, … for the
/// further classes.
pub fn predictions_csv(predictions: &[ImagePrediction]) -> String {
    let k = predictions.first().map_or(1, |p| p.top.len());
    let mut out = String::from("path,class,probability");
    for j in 2..=k {
        out.push_str(&format!(",class_{j},probability_{j}"));
    }
    out.push('\n');
    for p in predictions {
        let path = p.path.display().to_string();
        let quoted = match path.contains([',', '"', '\n']) {
            true => format!("\"{}\"", path.replace('"', "\"\"")),
            false => path,
        };
        out.push_str(&quoted);
        for (class, prob) in &p.top {
            out.push_str(&format!(",{class},{prob}"));
        }
        out.push('\n');
    }
    out
}
