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

/// Sizes as the docker CLI prints them (go-units'
/// `HumanSizeWithPrecision(size, 3)`): decimal units, three significant
/// digits, trailing zeros dropped as Go's `%.3g` drops them.
pub fn human_size(bytes: u64) -> String {
    human_size_with_precision(bytes, 3)
}

/// go-units' `HumanSizeWithPrecision`: `digits` significant digits
/// (`docker system df`'s summary uses `HumanSize`, which is 4).
pub fn human_size_with_precision(bytes: u64, digits: usize) -> String {
    go_size(
        bytes as f64,
        1000.0,
        &["B", "kB", "MB", "GB", "TB", "PB"],
        digits,
    )
}

/// go-units' `BytesSize`, which `docker stats` uses: binary units, four
/// significant digits: "64.63MiB", "192KiB", "0B".
pub fn binary_size(bytes: f64) -> String {
    go_size(bytes, 1024.0, &["B", "KiB", "MiB", "GiB", "TiB", "PiB"], 4)
}

/// `bytes` in the largest unit under `base`, with Go's `%.Ng`: `digits`
/// significant digits, trailing zeros dropped.
fn go_size(bytes: f64, base: f64, units: &[&str], digits: usize) -> String {
    let mut value = bytes;
    let mut unit = 0;
    while value >= base && unit < units.len() - 1 {
        value /= base;
        unit += 1;
    }
    let integer_digits = if value < 1.0 {
        1
    } else {
        value.log10() as usize + 1
    };
    let decimals = digits.saturating_sub(integer_digits);
    let text = format!("{value:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    format!("{text}{}", units[unit])
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

    #[test]
    fn sizes_like_docker() {
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1_234_567), "1.23MB");
        assert_eq!(human_size(1_506_000), "1.51MB");
        assert_eq!(human_size(12_345_678), "12.3MB");
        assert_eq!(human_size(123_456_789), "123MB");
        assert_eq!(human_size(2_000_000), "2MB");
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(4_000), "4kB");
    }

    #[test]
    fn four_digits_for_the_df_summary() {
        assert_eq!(human_size_with_precision(1_504_000, 4), "1.504MB");
        assert_eq!(human_size_with_precision(3_490_000, 4), "3.49MB");
        assert_eq!(human_size_with_precision(6, 4), "6B");
        assert_eq!(human_size(1_504_000), "1.5MB");
    }
}
