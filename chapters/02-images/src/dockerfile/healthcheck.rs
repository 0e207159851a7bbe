//! `HEALTHCHECK [OPTIONS] CMD command` and `HEALTHCHECK NONE`
//! (moby/buildkit `parser/line_parsers.go` `parseHealthConfig`,
//! `instructions/parse.go` `parseHealthcheck`).
//!
//! The options are checked as Docker checks them (a known name, a Go
//! duration of at least 1ms, retries at least 1) and kept, in nanoseconds,
//! for the image config's `Healthcheck`.

use super::flags::{self, FlagKind, Parts};
use super::line::LogicalLine;
use super::words;
use super::{Command, HealthCheck, ParseError};

/// `None` for `HEALTHCHECK NONE` (turn off a check inherited from the base
/// image), else the command to run.
pub fn parse(line: &LogicalLine, parts: &Parts) -> Result<Option<HealthCheck>, ParseError> {
    let rest = parts.args;
    if rest.is_empty() {
        return Err(line.error("HEALTHCHECK requires at least one argument"));
    }
    let kind_len = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let kind = rest[..kind_len].to_ascii_uppercase();
    let command = rest[kind_len..].trim_start();
    let command_at = parts.args_at + rest.len() - command.len();
    if kind == "NONE" {
        // Docker reads no options for NONE, and ignores any given.
        if !command.is_empty() {
            return Err(line.error("HEALTHCHECK NONE takes no arguments"));
        }
        return Ok(None);
    }
    let options = flags::check(
        line,
        "HEALTHCHECK",
        &parts.flags,
        &[
            ("interval", FlagKind::Value),
            ("timeout", FlagKind::Value),
            ("start-period", FlagKind::Value),
            ("start-interval", FlagKind::Value),
            ("retries", FlagKind::Value),
        ],
    )?;
    if kind != "CMD" {
        return Err(line.error(format!(
            "Unknown type \"{}\" in HEALTHCHECK (try CMD)",
            &rest[..kind_len]
        )));
    }
    let command =
        match words::json_array(command).map_err(|message| line.error_at(command_at, message))? {
            Some(argv) if argv.is_empty() => None,
            Some(argv) => Some(Command::Exec(argv)),
            None if command.is_empty() => None,
            None => Some(Command::Shell(command.to_string())),
        };
    let Some(command) = command else {
        return Err(line.error("Missing command after HEALTHCHECK CMD"));
    };
    let mut check = HealthCheck {
        command,
        interval: 0,
        timeout: 0,
        start_period: 0,
        start_interval: 0,
        retries: 0,
    };
    for (name, value) in &options {
        if value.is_empty() {
            continue;
        }
        let field = match name.as_str() {
            "retries" => &mut check.retries,
            "interval" => &mut check.interval,
            "timeout" => &mut check.timeout,
            "start-period" => &mut check.start_period,
            _ => &mut check.start_interval,
        };
        *field = if name == "retries" {
            check_retries(value)
        } else {
            check_interval(name, value)
        }
        .map_err(|message| line.error(message))?;
    }
    Ok(Some(check))
}

fn check_retries(value: &str) -> Result<i64, String> {
    match value.parse::<i32>() {
        Ok(retries) if retries < 1 => Err(format!("--retries must be at least 1 (not {retries})")),
        Ok(retries) => Ok(retries.into()),
        Err(_) => Err(format!("--retries={value}: not a whole number")),
    }
}

/// A duration option, in nanoseconds.
fn check_interval(name: &str, value: &str) -> Result<i64, String> {
    let nanoseconds = parse_duration(value)?;
    // Docker's container.MinimumDuration: 1ms.
    if nanoseconds < 1e6 {
        return Err(format!("Interval \"{name}\" cannot be less than 1ms"));
    }
    Ok(nanoseconds as i64)
}

/// Go's `time.ParseDuration`, in nanoseconds: an optional sign, then one or
/// more decimal numbers each with a unit (ns, us, µs, ms, s, m, h):
/// `1m30s`, `1.5h`, `300ms`. A bare `0` needs no unit.
pub fn parse_duration(text: &str) -> Result<f64, String> {
    let invalid = || format!("time: invalid duration {text:?}");
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0.0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..number_len];
        // At least one digit, at most one dot: "1", "1.", ".5".
        if number.matches('.').count() > 1 || !number.contains(|c: char| c.is_ascii_digit()) {
            return Err(invalid());
        }
        let value: f64 = number.parse().map_err(|_| invalid())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "" => return Err(format!("time: missing unit in duration {text:?}")),
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            unit => return Err(format!("time: unknown unit {unit:?} in duration {text:?}")),
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    Ok(if negative { -total } else { total })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(source: &str) -> Result<Option<HealthCheck>, ParseError> {
        let lines = super::super::line::split(source).unwrap();
        let line = &lines.lines[0];
        parse(line, &flags::split(&line.text, 0))
    }

    #[test]
    fn forms() {
        assert_eq!(health("HEALTHCHECK NONE").unwrap(), None);
        assert_eq!(
            health(
                "HEALTHCHECK --interval=5m --timeout=3s --retries=2 CMD curl -f http://localhost/ || exit 1"
            )
            .unwrap(),
            Some(HealthCheck {
                command: Command::Shell("curl -f http://localhost/ || exit 1".into()),
                interval: 300_000_000_000,
                timeout: 3_000_000_000,
                start_period: 0,
                start_interval: 0,
                retries: 2,
            })
        );
        assert_eq!(
            health(r#"HEALTHCHECK cmd ["/probe", "--ok"]"#)
                .unwrap()
                .map(|c| c.command),
            Some(Command::Exec(vec!["/probe".into(), "--ok".into()]))
        );
    }

    #[test]
    fn errors() {
        let message = |source| health(source).unwrap_err().message;
        assert_eq!(
            message("HEALTHCHECK"),
            "HEALTHCHECK requires at least one argument"
        );
        assert_eq!(
            message("HEALTHCHECK NONE x"),
            "HEALTHCHECK NONE takes no arguments"
        );
        assert_eq!(
            message("HEALTHCHECK CMD"),
            "Missing command after HEALTHCHECK CMD"
        );
        assert_eq!(
            message("HEALTHCHECK CMD []"),
            "Missing command after HEALTHCHECK CMD"
        );
        assert_eq!(
            message("HEALTHCHECK RUN x"),
            "Unknown type \"RUN\" in HEALTHCHECK (try CMD)"
        );
        assert_eq!(
            message("HEALTHCHECK --every=1s CMD x"),
            "unknown flag: every"
        );
        assert_eq!(
            message("HEALTHCHECK --interval=0s CMD x"),
            "Interval \"interval\" cannot be less than 1ms"
        );
        assert_eq!(
            message("HEALTHCHECK --timeout=5 CMD x"),
            "time: missing unit in duration \"5\""
        );
        assert_eq!(
            message("HEALTHCHECK --retries=0 CMD x"),
            "--retries must be at least 1 (not 0)"
        );
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("1m30s"), Ok(90e9));
        assert_eq!(parse_duration("1.5h"), Ok(5400e9));
        assert_eq!(parse_duration("300ms"), Ok(300e6));
        assert_eq!(parse_duration("2µs"), Ok(2e3));
        assert_eq!(parse_duration("0"), Ok(0.0));
        assert_eq!(parse_duration("-1s"), Ok(-1e9));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("1x").is_err());
        assert!(parse_duration("1..2s").is_err());
    }
}
