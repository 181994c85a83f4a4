//! Label sheets as SVG: one A4 page per document, sizes in millimetres.

use std::fmt::Write;

use super::{Label, LabelError, Layout, PAGE, Sheet, fit};

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
    let l = Layout::of(label, sheet, x, y)?;
    let _ = writeln!(out, "<g class=\"label\">");
    let mut path = String::new();
    for (sx, sy) in &l.squares {
        let _ = write!(path, "M{sx:.3} {sy:.3}h{u:.3}v{u:.3}h-{u:.3}z", u = l.unit);
    }
    let _ = writeln!(out, "<path d=\"{path}\" fill=\"#000\"/>");
    // Characters that fit across the text column (a CJK character is about one em).
    let fits = |size: f64| (l.room / size).floor().max(1.0) as usize;
    let [(tag_y, tag_size), (caption_y, small), (detail_y, smaller)] = l.lines;
    let lines = [
        (tag_y, tag_size, "tag", label.tag.clone()),
        (caption_y, small, "", fit(&label.caption, fits(small))),
        (detail_y, smaller, "", fit(&label.detail, fits(smaller) * 2)),
    ];
    for (ty, size, class, text) in lines {
        if text.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "<text x=\"{:.2}\" y=\"{ty:.2}\" font-size=\"{size:.2}\"{}>{}</text>",
            l.text_x,
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
