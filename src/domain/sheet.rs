//! A register as the client keeps it: a spreadsheet saved as CSV, UTF-8 with or without a
//! BOM, or GBK as Excel on Chinese Windows saves it. Reading finds the columns by their
//! header (English or Chinese names), numbers every row by its line in the file, and says
//! exactly which line is wrong; writing makes a file Excel opens as is and that cannot
//! carry a formula.

/// Why a sheet cannot be read. `Display` is a sentence a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SheetError {
    /// Neither UTF-8 nor GBK.
    #[error(
        "the file is not text in UTF-8 or GBK; save it from Excel as \"CSV UTF-8\" and try again"
    )]
    Encoding,
    /// No header, or no rows under it.
    #[error("the file has no rows to import")]
    Empty,
    /// A column the register needs is not in the header.
    #[error("the header has no `{column}` column (it may also be called {aliases})")]
    MissingColumn {
        /// The column's name.
        column: &'static str,
        /// The other names it is recognised by.
        aliases: String,
    },
    /// One row is wrong: nothing of the file was imported.
    #[error("line {line}: {reason}; nothing was imported")]
    Row {
        /// The row's line in the file (from 1, the header being line 1).
        line: u64,
        /// What is wrong with it.
        reason: String,
    },
}

/// A column a register reads: its name and the other header texts that mean it.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// The canonical (English) name, also the export header.
    pub name: &'static str,
    /// Other header texts (Chinese and English) that mean this column.
    pub aliases: &'static [&'static str],
    /// Whether every file must have it.
    pub required: bool,
}

/// One data row: its line in the file and its cells in the order of the columns asked for
/// (empty where the file has no such column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Line in the file (the header is line 1).
    pub line: u64,
    /// Trimmed cells, one per column asked for.
    pub cells: Vec<String>,
}

impl Row {
    /// The cell of column `i`, `None` when blank.
    pub fn get(&self, i: usize) -> Option<&str> {
        self.cells
            .get(i)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// A refusal of this row.
    pub fn error(&self, reason: impl Into<String>) -> SheetError {
        SheetError::Row {
            line: self.line,
            reason: reason.into(),
        }
    }
}

/// The text of a file: UTF-8 (a BOM is dropped) or, failing that, GBK.
pub fn decode(bytes: &[u8]) -> Result<String, SheetError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok(text.to_owned());
    }
    let (text, had_errors) = encoding_rs::GBK.decode_without_bom_handling(bytes);
    if had_errors {
        Err(SheetError::Encoding)
    } else {
        Ok(text.into_owned())
    }
}

/// How a header text is compared: case, spaces, `_` and `-` do not matter.
fn header_key(h: &str) -> String {
    h.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '_' | '-' | '/'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Reads the rows of `text` (CSV with a header line) as `columns`; blank rows are skipped.
pub fn read(text: &str, columns: &[Column]) -> Result<Vec<Row>, SheetError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(text.as_bytes());
    let header = reader.headers().map_err(|e| SheetError::Row {
        line: 1,
        reason: format!("the header cannot be read: {e}"),
    })?;
    let found: Vec<String> = header.iter().map(header_key).collect();
    if found.iter().all(String::is_empty) {
        return Err(SheetError::Empty);
    }
    let mut at = Vec::with_capacity(columns.len());
    for c in columns {
        let i = std::iter::once(c.name)
            .chain(c.aliases.iter().copied())
            .map(header_key)
            .find_map(|k| found.iter().position(|f| *f == k));
        if i.is_none() && c.required {
            return Err(SheetError::MissingColumn {
                column: c.name,
                aliases: c
                    .aliases
                    .iter()
                    .map(|a| format!("`{a}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        at.push(i);
    }
    // The line of a byte offset, counted here: the CSV reader does not count blank lines.
    let newlines: Vec<usize> = text.match_indices('\n').map(|(i, _)| i).collect();
    // A record's position is where the reader stood, before any blank lines it skipped.
    let line_at = |byte: u64| {
        let mut at = usize::try_from(byte).unwrap_or(usize::MAX);
        while matches!(text.as_bytes().get(at), Some(b'\n' | b'\r')) {
            at += 1;
        }
        newlines.partition_point(|&n| n < at) as u64 + 1
    };
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| SheetError::Row {
            line: e.position().map_or(0, |p| line_at(p.byte())),
            reason: format!("not valid CSV ({e})"),
        })?;
        let line = record.position().map_or(0, |p| line_at(p.byte()));
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let cells = at
            .iter()
            .map(|i| {
                i.and_then(|i| record.get(i))
                    .map_or_else(String::new, |c| c.trim().to_owned())
            })
            .collect();
        rows.push(Row { line, cells });
    }
    if rows.is_empty() {
        return Err(SheetError::Empty);
    }
    Ok(rows)
}

/// A cell Excel will show as text, never run: one starting with `=`, `+`, `-` or `@`
/// (a formula) gets a leading `'`.
pub fn formula_safe(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

/// A CSV file Excel opens as is: UTF-8 with a BOM, RFC 4180 quoting, formula-safe cells.
pub fn write(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> Vec<u8> {
    let mut out = b"\xEF\xBB\xBF".to_vec();
    {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(&mut out);
        // Writing to a Vec cannot fail.
        let _ = w.write_record(header);
        for row in rows {
            let _ = w.write_record(row.iter().map(|c| formula_safe(c)));
        }
        let _ = w.flush();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLS: [Column; 2] = [
        Column {
            name: "name",
            aliases: &["姓名"],
            required: true,
        },
        Column {
            name: "room",
            aliases: &["房间"],
            required: false,
        },
    ];

    #[test]
    fn utf8_with_and_without_bom_and_gbk_read_the_same() {
        let text = "姓名,房间\n张伟,301\n";
        let plain = decode(text.as_bytes()).unwrap();
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(text.as_bytes());
        let (gbk, _, _) = encoding_rs::GBK.encode(text);
        assert_eq!(decode(&bom).unwrap(), plain);
        assert_eq!(decode(&gbk).unwrap(), plain);
        assert_eq!(decode(&[0xFF, 0xFF, 0xFF]), Err(SheetError::Encoding));
    }

    #[test]
    fn columns_are_found_by_any_name_and_rows_keep_their_line() {
        let rows = read("Room, NAME\n\n301,张伟\n,李娜\n", &COLS).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 3);
        assert_eq!(rows[0].get(0), Some("张伟"));
        assert_eq!(rows[0].get(1), Some("301"));
        assert_eq!(rows[1].get(1), None);
        let missing = read("房间\n301\n", &COLS).unwrap_err();
        assert!(matches!(
            missing,
            SheetError::MissingColumn { column: "name", .. }
        ));
        assert_eq!(read("姓名\n", &COLS), Err(SheetError::Empty));
    }

    #[test]
    fn export_is_excel_safe() {
        let out = write(
            &["tag", "notes"],
            vec![vec!["PC-1".into(), "=HYPERLINK(\"x\")".into()]],
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with('\u{feff}'));
        assert!(text.contains("'=HYPERLINK"));
        assert_eq!(formula_safe("-1"), "'-1");
        assert_eq!(formula_safe("@x"), "'@x");
        assert_eq!(formula_safe("+86"), "'+86");
        assert_eq!(formula_safe("ok"), "ok");
    }
}
