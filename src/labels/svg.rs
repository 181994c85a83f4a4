//! Label sheets as SVG: one A4 page per document, sizes in millimetres.

use std::fmt::Write;

use super::{Label, LabelError, PAGE, Sheet, fit, modules};

/// Escapes text for XML.
fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The pages of labels, one SVG document each.
pub fn svg_pages(labels: &[Label], sheet: Sheet) -> Result<Vec<String>, LabelError> {
    if labels.is_empty() {
        return Err(LabelError::Nothing);
    }
    labels
        .chunks(sheet.per_page())
        .map(|page| {
            let mut out = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
                 <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}mm\" height=\"{h}mm\" viewBox=\"0 0 {w} {h}\">\n\
                 <style>text{{font-family:'Noto Sans CJK SC','Source Han Sans SC','WenQuanYi Micro Hei','Microsoft YaHei','PingFang SC',sans-serif;fill:#000}}.tag{{font-family:'DejaVu Sans Mono',Consolas,monospace;font-weight:bold}}</style>\n",
                w = PAGE.0,
                h = PAGE.1
            );
            for (i, label) in page.iter().enumerate() {
                let (x, y) = sheet.origin(i);
                label_svg(&mut out, label, sheet, x, y)?;
            }
            out.push_str("</svg>\n");
            Ok(out)
        })
        .collect()
}

fn label_svg(
    out: &mut String,
    label: &Label,
    sheet: Sheet,
    x: f64,
    y: f64,
) -> Result<(), LabelError> {
    let m = modules(label)?;
    let pad = (sheet.height * 0.08).min(2.5);
    let side = sheet.height - 2.0 * pad;
    // Four modules of quiet zone around the code, inside the square.
    let unit = side / (m.width + 8) as f64;
    let (qx, qy) = (x + pad + 4.0 * unit, y + pad + 4.0 * unit);
    let _ = writeln!(out, "<g class=\"label\">");
    let mut path = String::new();
    for row in 0..m.width {
        for col in 0..m.width {
            if m.dark[row * m.width + col] {
                let _ = write!(
                    path,
                    "M{:.3} {:.3}h{u:.3}v{u:.3}h-{u:.3}z",
                    qx + col as f64 * unit,
                    qy + row as f64 * unit,
                    u = unit
                );
            }
        }
    }
    let _ = writeln!(out, "<path d=\"{path}\" fill=\"#000\"/>");
    let tx = x + pad + side + pad * 0.5;
    let room = (x + sheet.width - pad - tx).max(1.0);
    let tag_size =
        (sheet.height * 0.18).min(room / (label.tag.chars().count().max(1) as f64 * 0.62));
    let small = (sheet.height * 0.1).min(3.2);
    // Characters that fit across the text column (a CJK character is about one em).
    let fits = |size: f64| (room / size).floor().max(1.0) as usize;
    let lines = [
        (y + pad + tag_size, tag_size, "tag", label.tag.clone()),
        (
            y + pad + tag_size + small * 1.9,
            small,
            "",
            fit(&label.caption, fits(small)),
        ),
        (
            y + pad + tag_size + small * 3.4,
            small * 0.85,
            "",
            fit(&label.detail, fits(small * 0.85) * 2),
        ),
    ];
    for (ty, size, class, text) in lines {
        if text.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "<text x=\"{tx:.2}\" y=\"{ty:.2}\" font-size=\"{size:.2}\"{}>{}</text>",
            if class.is_empty() {
                String::new()
            } else {
                format!(" class=\"{class}\"")
            },
            xml(&text)
        );
    }
    let _ = writeln!(out, "</g>");
    Ok(())
}
