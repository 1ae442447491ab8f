//! HTML building blocks of the reports: escaping, the page and its CSS, tables, inline charts,
//! and how numbers are printed.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;

use crate::plot::{self, Figure};

/// Escapes `text` for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Whether smaller values of `metric` are better (losses, error rates, perplexity); accuracies
/// and the like are better when larger.
pub fn lower_is_better(metric: &str) -> bool {
    let m = metric.to_ascii_lowercase();
    ["loss", "error", "perplexity", "mse", "mae", "rmse"]
        .iter()
        .any(|w| m.contains(w))
}

/// A metric value as the reports print it: four decimals.
pub fn format_metric(v: f64) -> String {
    format!("{v:.4}")
}

/// Seconds as the reports print them: one decimal.
pub fn format_seconds(v: f64) -> String {
    format!("{v:.1}")
}

pub(crate) fn folder_name(dir: &Path) -> String {
    std::fs::canonicalize(dir)
        .ok()
        .as_deref()
        .unwrap_or(dir)
        .file_name()
        .map_or_else(|| "run".into(), |n| n.to_string_lossy().into_owned())
}

/// The page around `body`: inline CSS, nothing loaded from elsewhere.
pub(crate) fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        escape(title)
    )
}

const CSS: &str = "\
body { font-family: 'DejaVu Sans', 'Liberation Sans', Arial, sans-serif; color: #222; \
margin: 24px auto; max-width: 1040px; padding: 0 16px; line-height: 1.4; }
h1 { font-size: 26px; margin-bottom: 4px; }
h2 { font-size: 20px; margin-top: 32px; border-bottom: 1px solid #ccc; padding-bottom: 4px; }
p.note { color: #555; font-size: 14px; margin-top: 4px; }
table { border-collapse: collapse; font-size: 14px; margin: 8px 0; }
th, td { border: 1px solid #ccc; padding: 4px 10px; }
th { background: #f2f2f2; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td:first-child { white-space: nowrap; }
.row { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
pre { background: #f7f7f7; border: 1px solid #ddd; padding: 8px 12px; font-size: 13px; \
overflow-x: auto; margin: 8px 0; }
figure { margin: 16px 0; }
figure svg { width: 100%; height: auto; display: block; border: 1px solid #eee; }
details summary { cursor: pointer; color: #335; margin: 8px 0; }
";

/// `figure` as an inline `<svg>` element (the XML prolog dropped).
pub(crate) fn inline_svg(figure: &impl Figure) -> Result<String> {
    let svg = plot::to_svg(figure)?;
    let start = svg.find("<svg").unwrap_or(0);
    Ok(format!("<figure>\n{}\n</figure>\n", &svg[start..]))
}

/// A two-column table of names and values.
pub(crate) fn key_values(rows: &[(String, String)]) -> String {
    let mut out = String::from("<table>\n");
    for (k, v) in rows {
        let _ = writeln!(
            out,
            "<tr><th>{}</th><td class=\"num\">{}</td></tr>",
            escape(k),
            escape(v)
        );
    }
    out.push_str("</table>\n");
    out
}

/// A table with a header row; `numeric[i]` right-aligns column `i`.
pub(crate) fn table(header: &[String], rows: &[Vec<String>], numeric: &[bool]) -> String {
    let mut out = String::from("<table>\n<tr>");
    for h in header {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr>\n");
    for row in rows {
        out.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            let class = if numeric.get(i).copied().unwrap_or(false) {
                " class=\"num\""
            } else {
                ""
            };
            let _ = write!(out, "<td{class}>{}</td>", escape(cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    out
}

/// The index of the best finite value (the largest, or the smallest for `lower`), if any.
pub(crate) fn best_index(values: &[f64], lower: bool) -> Option<usize> {
    values
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_finite())
        .fold(None, |best: Option<(usize, f64)>, (i, &v)| match best {
            Some((_, b)) if (lower && v >= b) || (!lower && v <= b) => best,
            _ => Some((i, v)),
        })
        .map(|(i, _)| i)
}
