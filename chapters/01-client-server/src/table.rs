//! Text tables as the docker CLI prints them (`docker ps`, `docker images`):
//! left-aligned columns, padded like Go's tabwriter.

/// Columns as wide as their widest cell plus three spaces, like the docker
/// CLI's tabwriter.
pub fn format_table(rows: &[Vec<String>]) -> String {
    let width = |column: usize| {
        rows.iter()
            .filter_map(|r| r.get(column))
            .map(|s| s.chars().count())
            .max()
            .unwrap_or(0)
    };
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (column, cell) in row.iter().enumerate() {
            line.push_str(cell);
            line.push_str(&" ".repeat(width(column) - cell.chars().count() + 3));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_as_wide_as_their_widest_cell_plus_three() {
        let row = |cells: &[&str]| cells.iter().map(|c| c.to_string()).collect();
        let rows = vec![
            row(&["REPOSITORY", "TAG", "SIZE"]),
            row(&["busybox", "latest", "2.1MB"]),
        ];
        assert_eq!(
            format_table(&rows),
            "REPOSITORY   TAG      SIZE\nbusybox      latest   2.1MB\n"
        );
        assert_eq!(format_table(&[]), "");
    }
}
