//! `evaluation.html` (`onecycle evaluate`): accuracy and loss, per-class precision and recall, the
//! confusion matrix as a heat map, and the images with the highest loss shown with their true
//! and predicted classes. Self-contained: the heat map is inline SVG, the images data URIs.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use base64::Engine;
use record::evaluation::Evaluation;
use record::RunDir;

use crate::html::{escape, folder_name, key_values, page, table};

/// Writes `dir/evaluation.html` atomically; `pictures[i]` is the PNG of `top_losses[i]`.
pub fn write_evaluation_page(dir: &Path, e: &Evaluation, pictures: &[Vec<u8>]) -> Result<PathBuf> {
    let name = folder_name(dir);
    let mut body = format!("<h1>{}: evaluation</h1>\n", escape(&name));
    let tta = if e.tta { " with TTA (mirror)" } else { "" };
    body.push_str(&key_values(&[
        ("images".into(), e.images.to_string()),
        (format!("accuracy{tta}"), format!("{:.4}", e.accuracy)),
        (format!("loss{tta}"), format!("{:.4}", e.loss)),
    ]));
    body.push_str("<h2>Per class</h2>\n");
    let rows: Vec<Vec<String>> = e
        .per_class
        .iter()
        .map(|c| {
            vec![
                c.class.clone(),
                share(c.precision),
                share(c.recall),
                c.support.to_string(),
            ]
        })
        .collect();
    let header = ["class", "precision", "recall", "images"].map(String::from);
    body.push_str(&table(&header, &rows, &[false, true, true, true]));
    body.push_str(
        "<h2>Confusion matrix</h2>\n<p class=\"note\">Rows: true class; columns: predicted.</p>\n",
    );
    body.push_str(&heat_map(&e.classes, &e.confusion));
    body.push_str(&top_losses(e, pictures));
    let out = RunDir::new(dir).evaluation_html();
    record::write_atomic(&out, page(&format!("{name}: evaluation"), &body).as_bytes())?;
    Ok(out)
}

fn share(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.3}")
    } else {
        "–".into()
    }
}

const CELL: usize = 44;
const LABEL: usize = 110;

/// The confusion matrix as an SVG grid, each cell shaded by its share of the true class's images.
fn heat_map(classes: &[String], confusion: &[Vec<usize>]) -> String {
    let n = classes.len();
    let side = LABEL + n * CELL;
    let mut svg = format!(
        "<figure><svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {side} {side}\" \
         style=\"max-width:{side}px\" font-size=\"12\" font-family=\"sans-serif\">\n"
    );
    for (t, row) in confusion.iter().enumerate() {
        let total = row.iter().sum::<usize>().max(1) as f64;
        let y = LABEL + t * CELL;
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            LABEL - 6,
            y + CELL / 2 + 4,
            escape(&classes[t])
        );
        for (p, &count) in row.iter().enumerate() {
            let x = LABEL + p * CELL;
            let share = count as f64 / total;
            let (fill, ink) = shade(share);
            let _ = writeln!(
                svg,
                "<rect x=\"{x}\" y=\"{y}\" width=\"{CELL}\" height=\"{CELL}\" fill=\"{fill}\" \
                 stroke=\"#fff\"><title>{} as {}: {count}</title></rect>\
                 <text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"{ink}\">{count}</text>",
                escape(&classes[t]),
                escape(&classes[p]),
                x + CELL / 2,
                y + CELL / 2 + 4
            );
        }
    }
    for (p, class) in classes.iter().enumerate() {
        let x = LABEL + p * CELL + CELL / 2;
        let _ = writeln!(
            svg,
            "<text transform=\"translate({x},{}) rotate(-60)\">{}</text>",
            LABEL - 6,
            escape(class)
        );
    }
    svg.push_str("</svg></figure>\n");
    svg
}

/// A blue from white (0) to dark (1), and a text colour that reads on it.
fn shade(share: f64) -> (String, &'static str) {
    let s = share.clamp(0.0, 1.0);
    let mix = |light: f64, dark: f64| (light + (dark - light) * s).round() as u8;
    let fill = format!(
        "#{:02x}{:02x}{:02x}",
        mix(255.0, 8.0),
        mix(255.0, 48.0),
        mix(255.0, 107.0)
    );
    (fill, if s > 0.5 { "#fff" } else { "#222" })
}

/// The highest-loss images as pictures with their true and predicted classes.
fn top_losses(e: &Evaluation, pictures: &[Vec<u8>]) -> String {
    if e.top_losses.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "<h2>The {} highest losses</h2>\n<div class=\"row\">\n",
        e.top_losses.len()
    );
    let b64 = base64::engine::general_purpose::STANDARD;
    for (t, png) in e.top_losses.iter().zip(pictures) {
        let _ = writeln!(
            out,
            "<figure style=\"margin:0;width:120px;font-size:12px\">\
             <img alt=\"validation image {}\" src=\"data:image/png;base64,{}\" \
             style=\"width:112px;height:112px;object-fit:contain;image-rendering:pixelated;\
             border:1px solid #ddd\"><figcaption>#{}: true <b>{}</b>, predicted <b>{}</b> \
             ({:.2}), loss {:.2}</figcaption></figure>",
            t.index,
            b64.encode(png),
            t.index,
            escape(&e.classes[t.target]),
            escape(&e.classes[t.predicted]),
            t.probability,
            t.loss
        );
    }
    out.push_str("</div>\n");
    out
}
