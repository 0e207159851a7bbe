//! Transcripts: the terminal output the book shows is produced by tests,
//! normalised (ids, times, pids, versions), and committed under
//! `book/src/transcripts/`. A test calls [`check`]; when the output drifts
//! from the committed file, CI fails (`CI` is set) and elsewhere a warning
//! names the file — on a cgroup v2 VM paths legitimately differ.
//! `UPDATE_TRANSCRIPTS=1 scripts/test.sh` rewrites them.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use regex::Regex;

/// `book/src/transcripts/` of this repository.
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../book/src/transcripts")
}

/// Runs `line` in a long-lived shell (`input` its stdin, `output` its
/// stdout with stderr merged), as a reader types it in a terminal: its
/// output and its exit status. `number` makes the end marker unique.
/// Braces: the line runs in the shell itself (variables, functions, `cd`
/// stay); its stdin is /dev/null, so nothing reads the shell's own script.
pub fn run_in_shell(
    input: &mut impl Write,
    output: &mut impl BufRead,
    number: usize,
    line: &str,
) -> (String, i32) {
    let marker = format!("__transcript_marker_{number}__");
    let script = format!("{{ {line}\n}} </dev/null\nprintf '\\n{marker} %d\\n' $?\n");
    input.write_all(script.as_bytes()).unwrap();
    input.flush().unwrap();
    let mut collected = Vec::new();
    loop {
        let mut buffer = Vec::new();
        let read = output.read_until(b'\n', &mut buffer).unwrap();
        assert!(
            read > 0,
            "the shell ended (timed out?) while running: {line}\n{}",
            String::from_utf8_lossy(&collected)
        );
        let text = String::from_utf8_lossy(&buffer);
        if let Some(status) = text.strip_prefix(&format!("{marker} ")) {
            // The printf's leading newline is ours, not the command's.
            if collected.last() == Some(&b'\n') {
                collected.pop();
            }
            let mut out = String::from_utf8_lossy(&collected).into_owned();
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            return (out, status.trim().parse().unwrap());
        }
        collected.extend_from_slice(&buffer);
    }
}

/// Replaces what changes from run to run with stable placeholders.
pub fn normalize(text: &str) -> String {
    let rules: &[(&str, &str)] = &[
        (r"[0-9a-f]{64}", "<id>"),
        (r"\b[0-9a-f]{12}\b", "<short-id>"),
        (
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)",
            "<time>",
        ),
        (r"\b\d+ms\b", "<n>ms"),
        (r"Docker-Client/[0-9.]+", "Docker-Client/<version>"),
        (r"minidocker-ch01/[0-9.]+", "minidocker-ch01/<version>"),
        (r"/tmp/[^\s/]+", "/tmp/<dir>"),
    ];
    replace(text, rules)
}

/// Applies `(regex, replacement)` rules in order; `${1}` refers to a group.
pub fn replace(text: &str, rules: &[(&str, &str)]) -> String {
    let mut text = text.to_string();
    for (pattern, replacement) in rules {
        let re = Regex::new(pattern).unwrap_or_else(|e| panic!("transcript rule {pattern:?}: {e}"));
        text = re.replace_all(&text, *replacement).into_owned();
    }
    text
}

/// Placeholders change the widths of table cells (`ps`, `images`): lays
/// out again, as the program would, every table that starts with a line
/// beginning with one of `headers` and runs to the next `$ ` command line.
pub fn realign_tables(session: &str, headers: &[&str]) -> String {
    let mut out = String::new();
    let mut table: Vec<Vec<String>> = Vec::new();
    let cell_gap = Regex::new(r" {3,}").expect("valid pattern");
    for line in session.lines() {
        let header = headers.iter().any(|h| line.starts_with(h));
        if header || (!table.is_empty() && !line.starts_with('$')) {
            table.push(cell_gap.split(line).map(str::to_string).collect());
            continue;
        }
        out.push_str(&crate::table::format_table(&table));
        table.clear();
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(&crate::table::format_table(&table));
    out
}

/// Compares `actual` (already normalised) with `book/src/transcripts/NAME`.
pub fn check(name: &str, actual: &str) {
    let path = dir().join(name);
    if std::env::var_os("UPDATE_TRANSCRIPTS").is_some_and(|v| v != "0") {
        std::fs::create_dir_all(dir()).expect("creating book/src/transcripts");
        std::fs::write(&path, actual).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        eprintln!("transcript updated: book/src/transcripts/{name}");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected == actual {
        return;
    }
    let message = format!(
        "transcript drift: book/src/transcripts/{name} differs from this run \
         (regenerate with UPDATE_TRANSCRIPTS=1 scripts/test.sh)\n--- committed\n{expected}\n--- this run\n{actual}"
    );
    if std::env::var_os("CI").is_some() {
        panic!("{message}");
    }
    // Straight to stderr: the test harness captures `eprintln!` of passing
    // tests, and this warning is meant to be seen.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "warning: {message}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_what_varies() {
        let id = "ab12".repeat(16);
        let text = format!(
            "c1 POST /v1.50/containers/{id}/start 204 3ms at 2025-11-28T00:48:30.691427000Z by Docker-Client/28.2.2 ({})",
            &id[..12]
        );
        assert_eq!(
            normalize(&text),
            "c1 POST /v1.50/containers/<id>/start 204 <n>ms at <time> by Docker-Client/<version> (<short-id>)"
        );
    }
}
