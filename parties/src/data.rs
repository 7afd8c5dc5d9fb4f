//! Reading a member's own CSV. Errors name the file, the line and the column; the file
//! is only ever opened for reading.

use std::path::Path;

use consort_protocols::stats::{LocalColumns, StatsError, StatsSpec};

use crate::error::NodeError;

/// Loads the spec's columns from `path` (a header line, then one row per line).
pub fn load_columns(path: &Path, columns: &[String]) -> Result<LocalColumns, NodeError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| NodeError::file(path, format!("cannot open: {e}")))?;
    let headers =
        reader.headers().map_err(|e| NodeError::file(path, format!("cannot read the header line: {e}")))?.clone();
    if headers.is_empty() {
        return Err(NodeError::file(path, "the file is empty (no header line)".into()));
    }
    let mut index = Vec::with_capacity(columns.len());
    for c in columns {
        let i = headers.iter().position(|h| h == c).ok_or_else(|| NodeError::Cell {
            path: path.to_path_buf(),
            line: 1,
            column: c.clone(),
            msg: format!("no such column in the header (it has: {})", headers.iter().collect::<Vec<_>>().join(", ")),
        })?;
        index.push(i);
    }
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

/// Computes the local aggregates, mapping range errors back to the file line.
pub fn local_aggregates(
    path: &Path,
    spec: &StatsSpec,
    data: &LocalColumns,
    members: usize,
) -> Result<Vec<u64>, NodeError> {
    consort_protocols::stats::local_aggregates(spec, data, members).map_err(|e| match e {
        StatsError::ValueOutOfRange { column, row, value, limit } => NodeError::Cell {
            path: path.to_path_buf(),
            // Data row 0 is on line 2, after the header (the files have no multi-line cells).
            line: row as u64 + 2,
            column,
            msg: format!("{value} is outside the supported range (|x| < {limit}; x² must fit the fixed-point ring)"),
        },
        StatsError::SubtotalOverflow { .. } => NodeError::file(path, e.to_string()),
        other => NodeError::from(other),
    })
}
