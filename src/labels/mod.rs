//! QR sticker sheets for the asset register: each label carries a QR code that opens the
//! fault report for its device, the tag in large type and a short text, laid out for the
//! common A4 sticker sheets. Two renderings, both written here without a graphics crate:
//!
//! - **SVG** is the complete one: the caption in Chinese (and anything else) set in the
//!   viewer's CJK font; one A4 page per file.
//! - **PDF** is a minimal PDF 1.4 written by hand (the QR drawn as filled squares, the
//!   text in the built-in Helvetica). Helvetica has no Chinese, and embedding a CJK font
//!   would add megabytes, so the PDF carries the QR, the tag and the ASCII parts of the
//!   text only; print the SVG for the Chinese caption.

mod pdf;
mod svg;

pub use pdf::pdf;
pub use svg::svg_pages;

use qrcode::{EcLevel, QrCode};

/// What one sticker says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// The asset tag, in large type.
    pub tag: String,
    /// The link the QR code opens.
    pub link: String,
    /// The short invitation (`设备故障？扫码报修`).
    pub caption: String,
    /// A detail line: model and location.
    pub detail: String,
}

/// A sticker sheet's geometry, in millimetres on A4 (210 × 297).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sheet {
    /// Its name on the command line.
    pub name: &'static str,
    /// Labels across.
    pub columns: u32,
    /// Labels down.
    pub rows: u32,
    /// Label width.
    pub width: f64,
    /// Label height.
    pub height: f64,
    /// Left margin.
    pub left: f64,
    /// Top margin.
    pub top: f64,
    /// Gap between columns.
    pub gap_x: f64,
    /// Gap between rows.
    pub gap_y: f64,
}

/// The sheets supported: the common A4 label stocks sold in China and Europe.
pub const SHEETS: [Sheet; 4] = [
    // 24 per sheet, 70 × 37 mm, edge to edge.
    Sheet {
        name: "a4-3x8",
        columns: 3,
        rows: 8,
        width: 70.0,
        height: 37.0,
        left: 0.0,
        top: 0.5,
        gap_x: 0.0,
        gap_y: 0.0,
    },
    // 21 per sheet, 63.5 × 38.1 mm (Avery L7160 and its equivalents).
    Sheet {
        name: "a4-3x7",
        columns: 3,
        rows: 7,
        width: 63.5,
        height: 38.1,
        left: 7.2,
        top: 15.15,
        gap_x: 2.5,
        gap_y: 0.0,
    },
    // 14 per sheet, 99.1 × 38.1 mm (Avery L7163).
    Sheet {
        name: "a4-2x7",
        columns: 2,
        rows: 7,
        width: 99.1,
        height: 38.1,
        left: 4.65,
        top: 15.15,
        gap_x: 2.5,
        gap_y: 0.0,
    },
    // 65 per sheet, 38.1 × 21.2 mm (Avery L7651): small devices.
    Sheet {
        name: "a4-5x13",
        columns: 5,
        rows: 13,
        width: 38.1,
        height: 21.2,
        left: 4.75,
        top: 10.7,
        gap_x: 2.5,
        gap_y: 0.0,
    },
];

/// A4 in millimetres.
pub const PAGE: (f64, f64) = (210.0, 297.0);

/// The sheet named `name`.
pub fn sheet(name: &str) -> Option<Sheet> {
    SHEETS.iter().copied().find(|s| s.name == name)
}

impl Sheet {
    /// Labels per page.
    pub fn per_page(&self) -> usize {
        (self.columns * self.rows) as usize
    }

    /// The top-left corner of label `i` (0-based, across then down) on its page.
    pub fn origin(&self, i: usize) -> (f64, f64) {
        let i = i % self.per_page();
        let (c, r) = (
            (i as u32 % self.columns) as f64,
            (i as u32 / self.columns) as f64,
        );
        (
            self.left + c * (self.width + self.gap_x),
            self.top + r * (self.height + self.gap_y),
        )
    }
}

/// Why labels cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    /// The link is too long for a QR code.
    #[error("the link for {0} is too long for a QR code")]
    TooLong(String),
    /// Nothing selected.
    #[error("no assets match: there are no labels to print")]
    Nothing,
}

/// Where one label's parts go on the page, in millimetres from its top left: the same for
/// every format.
pub(crate) struct Layout {
    /// The top-left corners of the QR code's dark modules.
    pub(crate) squares: Vec<(f64, f64)>,
    /// A module's side.
    pub(crate) unit: f64,
    /// Where the text column starts.
    pub(crate) text_x: f64,
    /// The text column's width.
    pub(crate) room: f64,
    /// The three lines (tag, caption, detail): baseline and font size.
    pub(crate) lines: [(f64, f64); 3],
}

impl Layout {
    /// Lays out `label` with its top-left corner at (`x`, `y`) on `sheet`.
    pub(crate) fn of(label: &Label, sheet: Sheet, x: f64, y: f64) -> Result<Layout, LabelError> {
        let m = modules(label)?;
        let pad = (sheet.height * 0.08).min(2.5);
        let side = sheet.height - 2.0 * pad;
        // Four modules of quiet zone around the code, inside the square.
        let unit = side / (m.width + 8) as f64;
        let (qx, qy) = (x + pad + 4.0 * unit, y + pad + 4.0 * unit);
        let squares = (0..m.width * m.width)
            .filter(|i| m.dark[*i])
            .map(|i| {
                let (row, col) = (i / m.width, i % m.width);
                (qx + col as f64 * unit, qy + row as f64 * unit)
            })
            .collect();
        let text_x = x + pad + side + pad * 0.5;
        let room = (x + sheet.width - pad - text_x).max(1.0);
        let tag_size =
            (sheet.height * 0.18).min(room / (label.tag.chars().count().max(1) as f64 * 0.62));
        let small = (sheet.height * 0.1).min(3.2);
        let top = y + pad + tag_size;
        Ok(Layout {
            squares,
            unit,
            text_x,
            room,
            lines: [
                (top, tag_size),
                (top + small * 1.9, small),
                (top + small * 3.4, small * 0.85),
            ],
        })
    }
}

/// A QR code's modules: `width` × `width`, dark ones true.
pub(crate) struct Modules {
    pub(crate) width: usize,
    pub(crate) dark: Vec<bool>,
}

fn modules(label: &Label) -> Result<Modules, LabelError> {
    // M: a sticker gets scratched; 15 % of it may be lost and it still scans.
    let code = QrCode::with_error_correction_level(label.link.as_bytes(), EcLevel::M)
        .map_err(|_| LabelError::TooLong(label.tag.clone()))?;
    Ok(Modules {
        width: code.width(),
        dark: code
            .to_colors()
            .into_iter()
            .map(|c| c == qrcode::Color::Dark)
            .collect(),
    })
}

/// At most `n` characters of `text` (an ellipsis marks a cut).
pub(crate) fn fit(text: &str, n: usize) -> String {
    if text.chars().count() <= n {
        text.to_owned()
    } else {
        let mut s: String = text.chars().take(n.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(tag: &str) -> Label {
        Label {
            tag: tag.into(),
            link: format!("https://it.example.com/r/{tag}"),
            caption: "设备故障？扫码报修".into(),
            detail: "HP M404 · 总部 A座 301".into(),
        }
    }

    #[test]
    fn every_sheet_fits_on_a4() {
        for s in SHEETS {
            let (x, y) = s.origin(s.per_page() - 1);
            assert!(x + s.width <= PAGE.0 + 0.01, "{} too wide", s.name);
            assert!(y + s.height <= PAGE.1 + 0.01, "{} too tall", s.name);
            assert_eq!(
                s.origin(s.per_page()),
                s.origin(0),
                "{} wraps to a new page",
                s.name
            );
        }
        assert!(sheet("a4-3x8").is_some());
        assert!(sheet("letter").is_none());
    }

    #[test]
    fn svg_pages_carry_qr_tag_and_chinese_caption() {
        let labels: Vec<Label> = (0..30).map(|i| label(&format!("PC-{i:04}"))).collect();
        let pages = svg_pages(&labels, sheet("a4-3x8").unwrap()).unwrap();
        assert_eq!(pages.len(), 2, "24 on the first page, 6 on the second");
        assert!(pages[0].starts_with("<?xml"));
        assert!(pages[0].contains("width=\"210mm\""));
        assert!(pages[0].contains("PC-0000") && pages[0].contains("PC-0023"));
        assert!(!pages[0].contains("PC-0024") && pages[1].contains("PC-0024"));
        assert!(pages[0].contains("设备故障？扫码报修"));
        assert_eq!(pages[0].matches("<g class=\"label\"").count(), 24);
        let escaped = svg_pages(&[label("A&B<1>")], sheet("a4-3x8").unwrap()).unwrap();
        assert!(escaped[0].contains("A&amp;B&lt;1&gt;"));
    }

    #[test]
    fn the_pdf_is_well_formed() {
        let labels: Vec<Label> = (0..70).map(|i| label(&format!("PRN-{i:03}"))).collect();
        let bytes = pdf(&labels, sheet("a4-5x13").unwrap()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.starts_with("%PDF-1.4"));
        assert!(text.trim_end().ends_with("%%EOF"));
        assert_eq!(text.matches("/Type /Page ").count(), 2);
        assert!(text.contains("(PRN-000)"));
        // The cross-reference table points at each object.
        let xref = text.find("\nxref\n").expect("xref");
        let startxref: usize = text
            .rsplit("startxref\n")
            .next()
            .and_then(|t| t.lines().next())
            .and_then(|n| n.trim().parse().ok())
            .expect("startxref");
        assert_eq!(startxref, xref + 1);
        for line in text[xref..]
            .lines()
            .skip(3)
            .take_while(|l| l.ends_with(" n "))
        {
            let at: usize = line[..10].parse().expect("offset");
            assert!(
                text[at..].starts_with(|c: char| c.is_ascii_digit()),
                "object at {at}"
            );
        }
        assert_eq!(pdf(&[], sheet("a4-3x8").unwrap()), Err(LabelError::Nothing));
    }

    #[test]
    fn text_is_fitted() {
        assert_eq!(fit("abc", 5), "abc");
        assert_eq!(fit("abcdef", 4), "abc…");
    }
}
