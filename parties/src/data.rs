//! Reading a member's own CSV. Errors name the file, the line and the column; the file
//! is only ever opened for reading.

use std::path::Path;

use consort_protocols::stats::{LocalColumns, StatsError, StatsSpec};

use crate::error::NodeError;

/// Checks that `path` opens and its header has every one of `columns`, each once,
/// without reading the rows: a node runs this before it waits for its peers.
pub fn check_header(path: &Path, columns: &[String]) -> Result<(), NodeError> {
    let mut reader = open(path)?;
    column_index(path, &header(path, &mut reader)?, columns).map(|_| ())
}

fn open(path: &Path) -> Result<csv::Reader<std::fs::File>, NodeError> {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| NodeError::file(path, format!("cannot open: {e}")))
}

/// The header line, refused when empty or when a name repeats (the reader would
/// silently use the first of two columns with one name).
fn header(path: &Path, reader: &mut csv::Reader<std::fs::File>) -> Result<csv::StringRecord, NodeError> {
    let headers =
        reader.headers().map_err(|e| NodeError::file(path, format!("cannot read the header line: {e}")))?.clone();
    if headers.is_empty() {
        return Err(NodeError::file(path, "the file is empty (no header line)".into()));
    }
    for (j, name) in headers.iter().enumerate() {
        if let Some(i) = headers.iter().take(j).position(|h| h == name) {
            return Err(NodeError::file(
                path,
                format!("column '{name}' appears twice in the header (columns {} and {})", i + 1, j + 1),
            ));
        }
    }
    Ok(headers)
}

/// The position of each of `columns` in the header.
fn column_index(path: &Path, headers: &csv::StringRecord, columns: &[String]) -> Result<Vec<usize>, NodeError> {
    columns
        .iter()
        .map(|c| {
            headers.iter().position(|h| h == c).ok_or_else(|| NodeError::Cell {
                path: path.to_path_buf(),
                line: 1,
                column: c.clone(),
                msg: format!(
                    "no such column in the header (it has: {})",
                    headers.iter().collect::<Vec<_>>().join(", ")
                ),
            })
        })
        .collect()
}

/// Loads the spec's columns from `path` (a header line, then one row per line).
pub fn load_columns(path: &Path, columns: &[String]) -> Result<LocalColumns, NodeError> {
    let mut reader = open(path)?;
    let index = column_index(path, &header(path, &mut reader)?, columns)?;
    let mut out = LocalColumns { columns: vec![Vec::new(); columns.len()] };
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            NodeError::File { path: path.to_path_buf(), msg: format!("line {line}: {e}") }
        })?;
        let line = record.position().map_or(0, |p| p.line());
        for ((col, &i), dest) in columns.iter().zip(&index).zip(out.columns.iter_mut()) {
            let cell = record.get(i).unwrap_or("");
            let value: f64 = cell.parse().map_err(|_| NodeError::Cell {
                path: path.to_path_buf(),
                line,
                column: col.clone(),
                msg: if cell.is_empty() {
                    "empty cell (a number is required)".into()
                } else {
                    format!("'{cell}' is not a number")
                },
            })?;
            if !value.is_finite() {
                return Err(NodeError::Cell {
                    path: path.to_path_buf(),
                    line,
                    column: col.clone(),
                    msg: format!("'{cell}' is not a finite number"),
                });
            }
            dest.push(value);
        }
    }
    if out.rows() == 0 {
        return Err(NodeError::file(path, "no data rows after the header line".into()));
    }
    Ok(out)
}

/// Checks a member's values against the range of the stats protocol, mapping a bad
/// value back to its file line.
pub fn check_values(path: &Path, spec: &StatsSpec, data: &LocalColumns) -> Result<(), NodeError> {
    consort_protocols::stats::check(spec, data).map(|_| ()).map_err(|e| match e {
        StatsError::ValueOutOfRange { column, row, value, limit } => NodeError::Cell {
            path: path.to_path_buf(),
            // Data row 0 is on line 2, after the header (the files have no multi-line cells).
            line: row as u64 + 2,
            column,
            msg: format!("{value} is outside the supported range (|x| < {limit})"),
        },
        StatsError::TooManyRows { .. } => NodeError::file(path, e.to_string()),
        other => NodeError::from(other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.csv");
        std::fs::write(&p, text).unwrap();
        (dir, p)
    }

    fn cols(c: &[&str]) -> Vec<String> {
        c.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn reads_the_requested_columns_in_spec_order() {
        let (_d, p) = csv("a,b,c\n1,2,3\n4,5.5,6\n");
        let t = load_columns(&p, &cols(&["c", "a"])).unwrap();
        assert_eq!(t.columns, vec![vec![3.0, 6.0], vec![1.0, 4.0]]);
    }

    #[test]
    fn every_bad_input_names_file_line_and_column() {
        let cases = [
            ("a,b\n1,2\n", vec!["z"], "line 1, column 'z': no such column in the header (it has: a, b)"),
            ("a,b\n1,2\n3,x\n", vec!["b"], "line 3, column 'b': 'x' is not a number"),
            ("a,b\n1,2\n3,\n", vec!["b"], "line 3, column 'b': empty cell (a number is required)"),
            ("a,b\n1,inf\n", vec!["b"], "line 2, column 'b': 'inf' is not a finite number"),
            ("a,b\n", vec!["a"], "no data rows after the header line"),
            ("", vec!["a"], "the file is empty (no header line)"),
            ("a,b\n1,2,3\n", vec!["a"], "line 2: CSV error"),
            ("a,b,x,c,d,e,x\n1,2,3,4,5,6,7\n", vec!["a"], "column 'x' appears twice in the header (columns 3 and 7)"),
        ];
        for (text, want, msg) in cases {
            let (_d, p) = csv(text);
            let before = std::fs::read(&p).unwrap();
            let err = load_columns(&p, &cols(&want)).unwrap_err().to_string();
            assert!(err.starts_with(&p.display().to_string()), "{err}");
            assert!(err.contains(msg), "{text:?}: {err}");
            assert_eq!(std::fs::read(&p).unwrap(), before, "input file modified");
        }
    }

    #[test]
    fn out_of_range_values_are_mapped_to_their_line() {
        let (_d, p) = csv("a\n1\n2\n2e12\n");
        let spec = StatsSpec { columns: cols(&["a"]), frac_bits: Default::default(), histograms: Default::default() };
        let t = load_columns(&p, &spec.columns).unwrap();
        let err = check_values(&p, &spec, &t).unwrap_err().to_string();
        assert!(
            err.contains("line 4, column 'a': 2000000000000 is outside the supported range (|x| < 1099511627776)"),
            "{err}"
        );
    }

    #[test]
    fn the_header_check_reads_no_rows_and_names_the_culprit() {
        // A bad cell is the full read's business; the header check passes it.
        let (_d, p) = csv("a, b\n1,x\n");
        check_header(&p, &cols(&["b", "a"])).unwrap();
        let err = check_header(&p, &cols(&["c"])).unwrap_err().to_string();
        assert_eq!(err, format!("{}, line 1, column 'c': no such column in the header (it has: a, b)", p.display()));
        let (_d, p) = csv("a,b,a\n1,2,3\n");
        let err = check_header(&p, &cols(&["b"])).unwrap_err().to_string();
        assert_eq!(err, format!("{}: column 'a' appears twice in the header (columns 1 and 3)", p.display()));
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = load_columns(Path::new("/nonexistent/m.csv"), &cols(&["a"])).unwrap_err().to_string();
        assert!(err.starts_with("/nonexistent/m.csv: cannot open"), "{err}");
    }
}
