//! Label sheets as a minimal PDF 1.4, written by hand: the QR codes as filled squares,
//! the text in the standard Helvetica fonts (which every reader has, so nothing is
//! embedded). Helvetica has no Chinese: only the ASCII words of the caption and detail
//! are set (see the module's notes).

use std::fmt::Write;

use super::{Label, LabelError, Layout, PAGE, Sheet, fit};

/// Millimetres to PDF points.
const PT: f64 = 72.0 / 25.4;

/// Text for a PDF string in a standard font: the words that are all printable ASCII,
/// with `(`, `)` and `\` escaped.
fn ascii_words(text: &str) -> String {
    text.split_whitespace()
        .filter(|w| w.chars().all(|c| c.is_ascii_graphic()))
        .collect::<Vec<_>>()
        .join(" ")
        .replace('\\', "\\\\")
        .replace('(', "\\(")
        .replace(')', "\\)")
}

/// The labels as one PDF, a page per sheet.
pub fn pdf(labels: &[Label], sheet: Sheet) -> Result<Vec<u8>, LabelError> {
    if labels.is_empty() {
        return Err(LabelError::Nothing);
    }
    let pages: Vec<String> = labels
        .chunks(sheet.per_page())
        .map(|page| {
            let mut s = String::new();
            for (i, label) in page.iter().enumerate() {
                let (x, y) = sheet.origin(i);
                label_content(&mut s, label, sheet, x, y)?;
            }
            Ok(s)
        })
        .collect::<Result<_, LabelError>>()?;
    // Objects: 1 catalog, 2 page tree, 3 Helvetica, 4 Helvetica-Bold, then a page and
    // its content stream for each page.
    let n = pages.len();
    let mut objects: Vec<String> = Vec::with_capacity(4 + 2 * n);
    objects.push("<< /Type /Catalog /Pages 2 0 R >>".into());
    let kids: Vec<String> = (0..n).map(|i| format!("{} 0 R", 5 + 2 * i)).collect();
    objects.push(format!(
        "<< /Type /Pages /Kids [{}] /Count {n} >>",
        kids.join(" ")
    ));
    objects.push("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".into());
    objects.push("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold >>".into());
    for (i, content) in pages.iter().enumerate() {
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {:.2} {:.2}] \
             /Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {} 0 R >>",
            PAGE.0 * PT,
            PAGE.1 * PT,
            6 + 2 * i
        ));
        objects.push(format!(
            "<< /Length {} >>\nstream\n{content}endstream",
            content.len()
        ));
    }
    let mut out = String::from("%PDF-1.4\n");
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        let _ = write!(out, "{} 0 obj\n{body}\nendobj\n", i + 1);
    }
    let xref = out.len();
    let _ = write!(out, "xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for at in offsets {
        let _ = writeln!(out, "{at:010} 00000 n ");
    }
    let _ = write!(
        out,
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    );
    Ok(out.into_bytes())
}

fn label_content(
    out: &mut String,
    label: &Label,
    sheet: Sheet,
    x: f64,
    y: f64,
) -> Result<(), LabelError> {
    let l = Layout::of(label, sheet, x, y)?;
    // PDF's origin is the bottom left.
    let up = |y_mm: f64| (PAGE.1 - y_mm) * PT;
    out.push_str("0 g\n");
    for (sx, sy) in &l.squares {
        let _ = writeln!(
            out,
            "{:.2} {:.2} {:.2} {:.2} re",
            sx * PT,
            up(sy + l.unit),
            l.unit * PT,
            l.unit * PT
        );
    }
    out.push_str("f\n");
    let fits = |size: f64| (l.room / (size * 0.5)).floor().max(1.0) as usize;
    let [(tag_y, tag_size), (caption_y, small), (detail_y, smaller)] = l.lines;
    let lines = [
        ("F2", tag_y, tag_size, ascii_words(&label.tag)),
        (
            "F1",
            caption_y,
            small,
            fit(&ascii_words(&label.caption), fits(small)),
        ),
        (
            "F1",
            detail_y,
            smaller,
            fit(&ascii_words(&label.detail), fits(smaller)),
        ),
    ]
    // The standard fonts' encoding has no `…`.
    .map(|(f, y, s, t)| (f, y, s, t.replace('…', "...")));
    for (font, ty, size, text) in lines {
        if text.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "BT /{font} {:.2} Tf {:.2} {:.2} Td ({text}) Tj ET",
            size * PT,
            l.text_x * PT,
            up(ty)
        );
    }
    Ok(())
}
