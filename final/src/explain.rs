//! How a trace reads (`minidocker run --explain`, `minidocker explain`,
//! `minidockerd --explain`): one line per step, in order of time, indented
//! by layer, each with when it began, how long it took and the page of the
//! book that builds it.
//!
//! ```text
//!       at     took  minidocker  POST /v1.50/containers/ID/start → 204 …
//!   16.82ms   5.90ms    minidockerd  starts minishim: …
//!   17.11ms   4.33ms      minishim  runs `minirunc create`: exit status: 0
//! ```

use api::trace::Step;

/// The label that asks the daemon to trace a container (`minidocker run
/// --explain` sets it; `docker run --label minidocker.explain …` too).
pub const LABEL: &str = "minidocker.explain";

// ANCHOR: render
/// The lines of `steps` (in order of time), times from `origin`.
pub fn render(steps: &[Step], origin: u64) -> Vec<String> {
    steps
        .iter()
        .map(|step| {
            let took = if step.took == 0 {
                "·".to_string() // a moment
            } else {
                millis(step.took)
            };
            let indent = "  ".repeat(step.who as usize);
            format!(
                "{:>9} {:>8}  {indent}{:<11}  {}  [{}]",
                millis(step.at.saturating_sub(origin)),
                took,
                step.who.name(),
                short_ids(&step.what),
                step.page
            )
        })
        .collect()
}
// ANCHOR_END: render

/// IDs and digests as `docker ps` shows them: their first 12 characters.
fn short_ids(text: &str) -> String {
    let mut short = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| c.is_ascii_hexdigit()) {
        short.push_str(&rest[..start]);
        rest = &rest[start..];
        let run = rest
            .find(|c: char| !c.is_ascii_hexdigit())
            .unwrap_or(rest.len());
        short.push_str(if run == 64 { &rest[..12] } else { &rest[..run] });
        rest = &rest[run..];
    }
    short.push_str(rest);
    short
}

/// The heading the lines go under.
pub fn heading() -> String {
    format!(
        "{:>9} {:>8}  {:<11}  what (and the book's page on it)",
        "at", "took", "who"
    )
}

/// `12.34ms`.
pub fn millis(nanos: u64) -> String {
    format!("{:.2}ms", nanos as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::trace::Layer;

    #[test]
    fn ids_are_cut_to_twelve_characters() {
        let id = "2b5283826e2a4a9dce79f9f408e5bb192821ecbb436f35392ff81ea214065cbb";
        assert_eq!(
            short_ids(&format!(
                "POST /v1.50/containers/{id}/start, sha256:{id}, cafe 12"
            )),
            "POST /v1.50/containers/2b5283826e2a/start, sha256:2b5283826e2a, cafe 12"
        );
    }

    #[test]
    fn a_line_says_when_how_long_who_and_where_to_read() {
        let steps = [
            Step {
                at: 1_000_000,
                took: 2_500_000,
                who: Layer::Minidocker,
                what: "POST /v1.50/containers/create → 201 Created".into(),
                page: "ch01-client-server.md#the-api-is-http-with-two-twists".into(),
            },
            Step {
                at: 1_500_000,
                took: 0,
                who: Layer::Minishim,
                what: "waitpid(2): pid 7 exited with status 0".into(),
                page: "ch05-runtime.md#minishim-the-process-that-stays".into(),
            },
        ];
        let lines = render(&steps, 1_000_000);
        assert_eq!(
            lines[0],
            "   0.00ms   2.50ms  minidocker   POST /v1.50/containers/create → 201 Created  \
             [ch01-client-server.md#the-api-is-http-with-two-twists]"
        );
        assert_eq!(
            lines[1],
            "   0.50ms        ·      minishim     waitpid(2): pid 7 exited with status 0  \
             [ch05-runtime.md#minishim-the-process-that-stays]"
        );
    }
}
