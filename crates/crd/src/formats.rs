//! String formats upstream validates for CRDs (the kube-openapi `strfmt` registry, minus the
//! formats apiextensions strips). Unknown formats are not checked, as upstream.

use std::net::IpAddr;
use std::sync::OnceLock;

use base64::Engine;
use regex::Regex;

fn re(cell: &'static OnceLock<Option<Regex>>, pattern: &str) -> Option<&'static Regex> {
    cell.get_or_init(|| Regex::new(pattern).ok()).as_ref()
}

macro_rules! matches_re {
    ($pattern:expr, $s:expr) => {{
        static CELL: OnceLock<Option<Regex>> = OnceLock::new();
        re(&CELL, $pattern).is_some_and(|r| r.is_match($s))
    }};
}

/// Whether `s` is a valid `format`; `None` when the format is not one upstream checks.
pub fn check(format: &str, s: &str) -> Option<bool> {
    let name: String = format
        .chars()
        .filter(|c| *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect();
    let ok = match name.as_str() {
        "byte" => base64::engine::general_purpose::STANDARD.decode(s).is_ok(),
        "date" => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() && s.len() == 10,
        "datetime" => is_date_time(s),
        "uuid" => matches_re!(
            r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$",
            s
        ),
        "uuid3" => matches_re!(
            r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$",
            s
        ),
        "uuid4" => matches_re!(
            r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$",
            s
        ),
        "uuid5" => matches_re!(
            r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$",
            s
        ),
        "ipv4" => s.contains('.') && s.parse::<IpAddr>().is_ok(),
        "ipv6" => s.contains(':') && s.parse::<IpAddr>().is_ok(),
        "cidr" => is_cidr(s),
        "mac" => is_mac(s),
        "hostname" => is_hostname(s),
        "email" => matches_re!(r"^[^@\s<>]+@[^@\s<>]+$", s),
        "uri" => is_request_uri(s),
        "duration" => is_duration(s),
        "hexcolor" => matches_re!(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$", s),
        "rgbcolor" => matches_re!(
            r"^rgb\(\s*([01]?\d?\d|2[0-4]\d|25[0-5])\s*,\s*([01]?\d?\d|2[0-4]\d|25[0-5])\s*,\s*([01]?\d?\d|2[0-4]\d|25[0-5])\s*\)$",
            s
        ),
        "bsonobjectid" => s.len() == 24 && s.chars().all(|c| c.is_ascii_hexdigit()),
        "ssn" => matches_re!(r"^\d{3}[- ]?\d{2}[- ]?\d{4}$", s),
        "password" => true,
        _ => return None,
    };
    Some(ok)
}

fn is_date_time(s: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(s).is_ok()
        || chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
}

fn is_cidr(s: &str) -> bool {
    let Some((ip, bits)) = s.split_once('/') else {
        return false;
    };
    let Ok(ip) = ip.parse::<IpAddr>() else {
        return false;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    !bits.is_empty()
        && bits.len() <= 3
        && bits.chars().all(|c| c.is_ascii_digit())
        && bits.parse::<u32>().is_ok_and(|b| b <= max)
}

fn is_mac(s: &str) -> bool {
    let groups_ok = |sep: char, width: usize| {
        let parts: Vec<&str> = s.split(sep).collect();
        let n = parts.len();
        let valid_count = if width == 2 {
            matches!(n, 6 | 8 | 20)
        } else {
            matches!(n, 3 | 4 | 10)
        };
        valid_count
            && parts
                .iter()
                .all(|p| p.len() == width && p.chars().all(|c| c.is_ascii_hexdigit()))
    };
    groups_ok(':', 2) || groups_ok('-', 2) || groups_ok('.', 4)
}

fn is_hostname(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 255
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// Like Go's `url.ParseRequestURI`: an absolute URI or an absolute path, no spaces or
/// control characters.
fn is_request_uri(s: &str) -> bool {
    if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    s.starts_with('/') || matches_re!(r"^[a-zA-Z][a-zA-Z0-9+.\-]*:.+$", s)
}

/// Go `time.ParseDuration` syntax, or the Scala-like `<n> <unit>` strfmt also takes.
fn is_duration(s: &str) -> bool {
    matches_re!(
        r"^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+$|^0$",
        s
    ) || matches_re!(
        r"^\d+\s*(ns|us|µs|ms|s|m|h|d|w|nanoseconds?|microseconds?|milliseconds?|seconds?|minutes?|hours?|days?|weeks?)$",
        s
    )
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn known_formats() {
        assert_eq!(check("date-time", "2024-01-02T03:04:05Z"), Some(true));
        assert_eq!(check("date-time", "yesterday"), Some(false));
        assert_eq!(check("date", "2024-02-30"), Some(false));
        assert_eq!(check("date", "2024-02-28"), Some(true));
        assert_eq!(check("byte", "aGVsbG8="), Some(true));
        assert_eq!(check("byte", "not base64!"), Some(false));
        assert_eq!(check("ipv4", "10.0.0.1"), Some(true));
        assert_eq!(check("ipv4", "::1"), Some(false));
        assert_eq!(check("ipv6", "::1"), Some(true));
        assert_eq!(check("cidr", "10.0.0.0/8"), Some(true));
        assert_eq!(check("cidr", "10.0.0.0/33"), Some(false));
        assert_eq!(
            check("uuid", "123e4567-e89b-12d3-a456-426614174000"),
            Some(true)
        );
        assert_eq!(check("mac", "00:1a:2b:3c:4d:5e"), Some(true));
        assert_eq!(check("uri", "https://example.com/x"), Some(true));
        assert_eq!(check("uri", "example com"), Some(false));
        assert_eq!(check("duration", "1h30m"), Some(true));
        assert_eq!(check("duration", "soon"), Some(false));
        assert_eq!(check("hostname", "a.example.com"), Some(true));
        assert_eq!(check("hostname", "-bad.com"), Some(false));
        assert_eq!(check("int32", "x"), None);
        assert_eq!(check("whatever", "x"), None);
    }
}
