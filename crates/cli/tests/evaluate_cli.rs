//! `onecycle evaluate`: a trained run's validation figures equal the run's own, with per-class
//! scores, a confusion matrix and the highest losses in evaluation.json and evaluation.html
//! (linked from report.html); a folder without weights or data with other classes is refused
//! in one line, nothing written.

mod common;
use common::{fails, ok, onecycle, temp_dir};
use record::evaluation::{Evaluation, TopLoss};

/// Trains a small CNN on 256 images of the embedded sample for 2 epochs into `run`.
fn train(run: &std::path::Path) {
    ok(onecycle(&[
        "fit",
        "--model",
        "small-cnn",
        "--batch",
        "64",
        "--limit-train",
        "256",
        "--limit-valid",
        "128",
        "--epochs",
        "2",
        "--max-lr",
        "0.05",
        "--quiet",
        "--run-dir",
        run.to_str().unwrap(),
    ]));
}

#[test]
fn evaluate_reproduces_the_runs_figures_and_writes_its_page() {
    let run = temp_dir("evaluate").join("run");
    train(&run);
    let summary = record::Summary::read(&run.join("summary.json"))
        .unwrap()
        .expect("a summary");
    let out = ok(onecycle(&["evaluate", run.to_str().unwrap(), "--json"]));
    let printed: Evaluation = serde_json::from_str(&out).unwrap();
    let e = Evaluation::read(&run.join("evaluation.json")).unwrap();
    // (NaN precisions are null in JSON: compare as JSON.)
    let json = |e: &Evaluation| serde_json::to_value(e).unwrap();
    assert_eq!(json(&printed), json(&e));
    assert_eq!(e.accuracy, summary.accuracy);
    assert_eq!(e.loss, summary.valid_loss);
    assert_eq!(e.images, 128);
    assert_eq!(e.classes.len(), 10);
    assert_eq!(e.confusion.iter().flatten().sum::<usize>(), 128);
    let diagonal: usize = (0..10).map(|c| e.confusion[c][c]).sum();
    assert_eq!(diagonal as f64 / 128.0, e.accuracy);
    assert_eq!(e.per_class.iter().map(|c| c.support).sum::<usize>(), 128);
    assert_eq!(e.top_losses.len(), 16);
    assert!(e.top_losses.windows(2).all(|w| w[0].loss >= w[1].loss));
    let page = std::fs::read_to_string(run.join("evaluation.html")).unwrap();
    assert_eq!(page.matches("data:image/png;base64,").count(), 16);
    assert!(
        page.contains("<svg") && page.contains(&e.classes[0]),
        "page"
    );
    let report = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(
        report.contains("href=\"evaluation.html\""),
        "report links the page"
    );

    rendered_in_chromium(&run.join("evaluation.html"));

    // With TTA: the blend of plain and mirrored predictions.
    let text = ok(onecycle(&["evaluate", run.to_str().unwrap(), "--tta"]));
    assert!(text.contains("(TTA) on 128 images"), "{text}");
    assert!(text.contains("confusion"), "{text}");
    assert!(Evaluation::read(&run.join("evaluation.json")).unwrap().tta);
}

/// An image folder with `classes` classes of two 8×8 PNGs each, in train/ and valid/.
fn folder(root: &std::path::Path, classes: usize) {
    for split in ["train", "valid"] {
        for c in 0..classes {
            let dir = root.join(split).join(format!("class{c}"));
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..2u8 {
                let img = image::RgbImage::from_pixel(8, 8, image::Rgb([i * 90, c as u8 * 60, 7]));
                img.save(dir.join(format!("{i}.png"))).unwrap();
            }
        }
    }
}

#[test]
fn a_run_without_weights_or_data_with_other_classes_is_refused_in_one_line() {
    let dir = temp_dir("evaluate-bad");
    let err = fails(onecycle(&["evaluate", dir.to_str().unwrap()]));
    assert!(err.contains("is not a run folder"), "{err}");
    let run = dir.join("run");
    train(&run);
    let weights = run.join("checkpoints/last.safetensors");
    let kept = dir.join("kept.safetensors");
    std::fs::rename(&weights, &kept).unwrap();
    let err = fails(onecycle(&["evaluate", run.to_str().unwrap()]));
    assert!(err.contains("has no trained weights"), "{err}");
    std::fs::rename(&kept, &weights).unwrap();
    let three = dir.join("three");
    folder(&three, 3);
    let err = fails(onecycle(&[
        "evaluate",
        run.to_str().unwrap(),
        "--data",
        three.to_str().unwrap(),
    ]));
    assert!(
        err.contains("do not fit a small-cnn for the 3 classes"),
        "{err}"
    );
    assert!(!run.join("evaluation.json").exists());
}

#[test]
fn predict_labels_image_files_as_the_run_validated_them() {
    let dir = temp_dir("predict");
    let run = dir.join("run");
    train(&run);
    ok(onecycle(&["evaluate", run.to_str().unwrap(), "--json"]));
    let e = Evaluation::read(&run.join("evaluation.json")).unwrap();
    // Two validation images saved as PNG files: predict gives the evaluation's answer for them.
    let (_, valid) = vision::sample::cifar10_sample();
    let picked = &e.top_losses[..2];
    let files = saved_as_png(&dir, picked);
    let mut argv = vec!["predict", run.to_str().unwrap(), "--json", "--top", "3"];
    argv.extend(files.iter().map(String::as_str));
    let out = ok(onecycle(&argv));
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for (line, t) in lines.iter().zip(picked) {
        let top = line["top"].as_array().unwrap();
        assert_eq!(top.len(), 3);
        assert_eq!(top[0][0].as_str().unwrap(), e.classes[t.predicted]);
        let p = top[0][1].as_f64().unwrap();
        assert!((p - t.probability).abs() < 1e-5, "{p} vs {}", t.probability);
    }
    // A folder (searched below it) gives a CSV, one row per image in name order.
    let folder = dir.join("folder");
    std::fs::create_dir_all(folder.join("sub")).unwrap();
    for (k, f) in files.iter().enumerate() {
        let to = if k == 0 {
            folder.join("a.png")
        } else {
            folder.join("sub/b.png")
        };
        std::fs::copy(f, to).unwrap();
    }
    let csv = dir.join("predictions.csv");
    let run_s = run.to_str().unwrap();
    let folder_s = folder.to_str().unwrap();
    let csv_s = csv.to_str().unwrap();
    ok(onecycle(&[
        "predict", run_s, folder_s, "--top", "2", "--csv", csv_s,
    ]));
    let text = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows[0], "path,class,probability,class_2,probability_2");
    assert_eq!(rows.len(), 3);
    assert!(
        rows[1].contains("a.png,") && rows[2].contains("b.png,"),
        "{text}"
    );
    let first_class = rows[1].split(',').nth(1).unwrap();
    assert_eq!(first_class, e.classes[picked[0].predicted]);

    // A CIFAR-10 binary file: each record is predicted as FILE#index.
    let bin = dir.join("two.bin");
    let mut bytes = Vec::new();
    for t in picked {
        bytes.push(valid.label(t.index));
        bytes.extend_from_slice(valid.image(t.index));
    }
    std::fs::write(&bin, bytes).unwrap();
    let bin_s = bin.to_str().unwrap();
    let out = ok(onecycle(&["predict", run_s, bin_s, "--json"]));
    for (k, (line, t)) in out.lines().zip(picked).enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["path"].as_str().unwrap(), format!("{bin_s}#{k}"));
        assert_eq!(v["top"][0][0].as_str().unwrap(), e.classes[t.predicted]);
        assert!((v["top"][0][1].as_f64().unwrap() - t.probability).abs() < 1e-5);
    }

    // A larger picture is resized to 32×32; plain output names the file and its class.
    let big = dir.join("big.png");
    image::imageops::resize(
        &valid.picture(0),
        96,
        96,
        image::imageops::FilterType::Triangle,
    )
    .save(&big)
    .unwrap();
    let text = ok(onecycle(&[
        "predict",
        run.to_str().unwrap(),
        big.to_str().unwrap(),
    ]));
    assert!(text.starts_with(big.to_str().unwrap()), "{text}");
    // A file that is not an image: one line naming it.
    let bad = dir.join("notes.png");
    std::fs::write(&bad, b"not a png").unwrap();
    let err = fails(onecycle(&[
        "predict",
        run.to_str().unwrap(),
        bad.to_str().unwrap(),
    ]));
    assert!(
        err.contains("notes.png: not an image that can be decoded"),
        "{err}"
    );
}

#[test]
fn predict_with_tta_blends_the_views_the_run_names_as_evaluate_does() {
    let dir = temp_dir("predict-tta");
    let run = dir.join("run");
    train(&run);
    // The run asks for airbench's six views (top-level keys go before any table).
    let config = run.join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("tta_views = \"mirror-translate\"\n{text}")).unwrap();
    let run_s = run.to_str().unwrap();
    ok(onecycle(&["evaluate", run_s, "--tta"]));
    let e = Evaluation::read(&run.join("evaluation.json")).unwrap();
    assert!(e.tta);
    let picked = &e.top_losses[..3];
    let mut argv = vec!["predict", run_s, "--tta", "--json", "--top", "1"];
    let files = saved_as_png(&dir, picked);
    argv.extend(files.iter().map(String::as_str));
    let out = ok(onecycle(&argv));
    for (line, t) in out.lines().zip(picked) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["top"][0][0].as_str().unwrap(), e.classes[t.predicted]);
        let p = v["top"][0][1].as_f64().unwrap();
        assert!((p - t.probability).abs() < 1e-5, "{p} vs {}", t.probability);
    }
}

/// The embedded sample's validation images of `picked`, saved as PNG files in `dir`.
fn saved_as_png(dir: &std::path::Path, picked: &[TopLoss]) -> Vec<String> {
    let (_, valid) = vision::sample::cifar10_sample();
    picked
        .iter()
        .map(|t| {
            let path = dir.join(format!("image{}.png", t.index));
            valid.picture(t.index).save(&path).unwrap();
            path.to_str().unwrap().to_string()
        })
        .collect()
}

/// The tensor names of a safetensors file (its JSON header).
fn safetensors_names(path: &std::path::Path) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    header
        .keys()
        .filter(|k| *k != "__metadata__")
        .cloned()
        .collect()
}

#[test]
fn export_writes_pytorch_names_and_refuses_a_model_without_a_counterpart() {
    let dir = temp_dir("export");
    let small = dir.join("small");
    train(&small);
    let out = dir.join("small.safetensors");
    let err = fails(onecycle(&[
        "export",
        small.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(
        err.contains("small-cnn has no PyTorch counterpart"),
        "{err}"
    );
    assert!(!out.exists());
    let run = dir.join("resnet20");
    ok(onecycle(&[
        "fit",
        "--batch",
        "16",
        "--limit-train",
        "96",
        "--limit-valid",
        "32",
        "--epochs",
        "1",
        "--quiet",
        "--run-dir",
        run.to_str().unwrap(),
    ]));
    let out = dir.join("resnet20.safetensors");
    let text = ok(onecycle(&[
        "export",
        run.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(text.contains("tensors"), "{text}");
    let names = safetensors_names(&out);
    for name in [
        "stem.conv.weight",
        "stem.bn.num_batches_tracked",
        "stage3.2.bn2.running_var",
        "head.fc.bias",
    ] {
        assert!(names.iter().any(|n| n == name), "{name} missing: {names:?}");
    }
    // 19 convolutions, 19 batch norms (weight, bias, mean, variance, count) and the classifier:
    // no optimizer state.
    assert_eq!(names.len(), 19 + 19 * 5 + 2);
}

/// Where Debian's Chromium is installed (`scripts/screenshot.sh` installs it), the page renders:
/// the heat map's blues and the pictures' many colours are on the screenshot.
fn rendered_in_chromium(page: &std::path::Path) {
    if !std::path::Path::new("/usr/bin/chromium").is_file() {
        eprintln!("skipped the screenshot: no /usr/bin/chromium");
        return;
    }
    let shot = page.with_extension("png");
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/screenshot.sh");
    let status = std::process::Command::new(script)
        .args([
            page.to_str().unwrap(),
            shot.to_str().unwrap(),
            "1100",
            "1700",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let img = image::open(&shot).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (1100, 1700));
    let blue = img
        .pixels()
        .filter(|p| p[2] as i32 > p[0] as i32 + 40 && p[2] > 100)
        .count();
    assert!(blue > 2000, "{blue} heat-map pixels");
    let colours: std::collections::HashSet<[u8; 3]> = img.pixels().map(|p| p.0).collect();
    assert!(
        colours.len() > 2000,
        "{} colours: are the pictures shown?",
        colours.len()
    );
}
