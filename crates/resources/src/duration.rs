//! Go's `time.ParseDuration`, which Kubernetes uses for durations in query parameters
//! (`?timeout=32s`) and fields (a CronJob's `@every 1h30m`).

use std::time::Duration;

/// Parses a Go duration (`300ms`, `1.5h`, `2h45m`, `-5s`, `0`): whether it is negative, and
/// its size. `None` when it is not one.
pub fn parse_signed(s: &str) -> Option<(bool, Duration)> {
    let (negative, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some((negative, Duration::ZERO));
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_len];
        // Digits before or after the point, at most one point.
        if !num.bytes().any(|b| b.is_ascii_digit()) || num.matches('.').count() > 1 {
            return None;
        }
        let n: f64 = num.parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * scale;
        rest = &rest[unit_len..];
    }
    Some((negative, Duration::try_from_secs_f64(total).ok()?))
}

/// A non-negative Go duration.
pub fn parse(s: &str) -> Option<Duration> {
    match parse_signed(s)? {
        (true, d) if !d.is_zero() => None,
        (_, d) => Some(d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse("32s"), Some(Duration::from_secs(32)));
        assert_eq!(parse("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse(".5s"), Some(Duration::from_millis(500)));
        assert_eq!(parse("2µs"), Some(Duration::from_micros(2)));
        assert_eq!(parse("2μs"), Some(Duration::from_micros(2)));
        assert_eq!(parse("0"), Some(Duration::ZERO));
        assert_eq!(parse("+5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse("-5s"), None);
        assert_eq!(parse_signed("-5s"), Some((true, Duration::from_secs(5))));
        for bad in ["", "5", "s", ".s", "1..5s", "5x", "soon", "-", "5s5"] {
            assert_eq!(parse_signed(bad), None, "{bad}");
        }
    }
}
