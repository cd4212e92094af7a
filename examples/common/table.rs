//! The examples' result tables, printed as Markdown. A row is given as its cells separated by
//! ` | ` (`"LSTM | 97.1% | 12 s"`); the printer adds the outer bars and the header's separator.

/// Prints the header row `columns` and the separator row below it.
pub fn header(columns: &str) {
    row(columns);
    println!("|{}", "---|".repeat(columns.split(" | ").count()));
}

/// Prints one row.
pub fn row(cells: &str) {
    println!("| {cells} |");
}

/// Prints a whole table: the header row `columns`, the separator, then `rows`.
pub fn print(columns: &str, rows: impl IntoIterator<Item = String>) {
    header(columns);
    for cells in rows {
        row(&cells);
    }
}
