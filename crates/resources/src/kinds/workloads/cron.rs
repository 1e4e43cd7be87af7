//! CronJob schedules, checked as upstream's `cron.ParseStandard` (robfig/cron v3) does, with
//! its error messages, and the `timeZone` field's checks.

use serde_json::Value;

use crate::field::{FieldError, FieldPath};

struct Bounds {
    min: u32,
    max: u32,
    names: &'static [(&'static str, u32)],
}

const MINUTES: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
const HOURS: Bounds = Bounds {
    min: 0,
    max: 23,
    names: &[],
};
const DOM: Bounds = Bounds {
    min: 1,
    max: 31,
    names: &[],
};
const MONTHS: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        ("jan", 1),
        ("feb", 2),
        ("mar", 3),
        ("apr", 4),
        ("may", 5),
        ("jun", 6),
        ("jul", 7),
        ("aug", 8),
        ("sep", 9),
        ("oct", 10),
        ("nov", 11),
        ("dec", 12),
    ],
};
const DOW: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &[
        ("sun", 0),
        ("mon", 1),
        ("tue", 2),
        ("wed", 3),
        ("thu", 4),
        ("fri", 5),
        ("sat", 6),
    ],
};

/// Parses a standard (5-field or descriptor) schedule; the error is robfig/cron's message.
pub fn parse_standard(spec: &str) -> Result<(), String> {
    let mut spec = spec.trim();
    if spec.is_empty() {
        return Err("empty spec string".to_string());
    }
    // A leading TZ=/CRON_TZ= names the location (the CronJob check forbids it separately).
    if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
        match spec.find(' ') {
            Some(i) => spec = spec[i..].trim(),
            None => return Err(format!("provided bad location {spec}")),
        }
    }
    if let Some(descriptor) = spec.strip_prefix('@') {
        return parse_descriptor(descriptor, spec);
    }
    let fields: Vec<&str> = spec.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "expected exactly 5 fields, found {}: [{}]",
            fields.len(),
            fields.join(" ")
        ));
    }
    for (field, bounds) in fields.iter().zip([&MINUTES, &HOURS, &DOM, &MONTHS, &DOW]) {
        for range in field.split(',').filter(|r| !r.is_empty()) {
            get_range(range, bounds)?;
        }
    }
    Ok(())
}

fn parse_descriptor(descriptor: &str, spec: &str) -> Result<(), String> {
    match descriptor {
        "yearly" | "annually" | "monthly" | "weekly" | "daily" | "midnight" | "hourly" => Ok(()),
        d if d.starts_with("every ") => {
            let dur = d["every ".len()..].trim();
            if crate::duration::parse_signed(dur).is_some() {
                Ok(())
            } else {
                Err(format!(
                    "failed to parse duration {spec}: time: invalid duration \"{dur}\""
                ))
            }
        }
        _ => Err(format!("unrecognized descriptor: {spec}")),
    }
}

fn get_range(expr: &str, r: &Bounds) -> Result<(), String> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_and_high: Vec<&str> = range_and_step[0].split('-').collect();
    let single = low_and_high.len() == 1;
    let (start, mut end);
    if low_and_high[0] == "*" || low_and_high[0] == "?" {
        start = r.min;
        end = r.max;
    } else {
        start = parse_int_or_name(low_and_high[0], r)?;
        end = match low_and_high.len() {
            1 => start,
            2 => parse_int_or_name(low_and_high[1], r)?,
            _ => return Err(format!("too many hyphens: {expr}")),
        };
    }
    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            let step = must_parse_int(range_and_step[1])?;
            if single {
                end = r.max;
            }
            step
        }
        _ => return Err(format!("too many slashes: {expr}")),
    };
    if start < r.min {
        return Err(format!(
            "beginning of range ({start}) below minimum ({}): {expr}",
            r.min
        ));
    }
    if end > r.max {
        return Err(format!(
            "end of range ({end}) above maximum ({}): {expr}",
            r.max
        ));
    }
    if start > end {
        return Err(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        ));
    }
    if step == 0 {
        return Err(format!("step of range should be a positive number: {expr}"));
    }
    Ok(())
}

fn parse_int_or_name(expr: &str, r: &Bounds) -> Result<u32, String> {
    let lower = expr.to_lowercase();
    if let Some((_, v)) = r.names.iter().find(|(n, _)| *n == lower) {
        return Ok(*v);
    }
    must_parse_int(expr)
}

fn must_parse_int(expr: &str) -> Result<u32, String> {
    let digits = expr.strip_prefix(['+', '-']).unwrap_or(expr);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "failed to parse int from {expr}: strconv.Atoi: parsing {expr:?}: invalid syntax"
        ));
    }
    let n: i64 = expr.parse().map_err(|_| {
        format!(
            "failed to parse int from {expr}: strconv.Atoi: parsing {expr:?}: value out of range"
        )
    })?;
    if n < 0 {
        return Err(format!("negative number ({n}) not allowed: {expr}"));
    }
    u32::try_from(n).map_err(|_| format!("end of range ({n}) above maximum: {expr}"))
}

/// `validateTimeZone`: set means non-empty, explicit and well-formed.
pub fn validate_time_zone(tz: Option<&Value>, path: &FieldPath) -> Vec<FieldError> {
    let Some(tz) = tz.and_then(Value::as_str) else {
        return Vec::new();
    };
    if tz.is_empty() {
        return vec![FieldError::invalid(
            path,
            tz,
            "timeZone must be nil or non-empty string",
        )];
    }
    if tz.eq_ignore_ascii_case("local") {
        return vec![FieldError::invalid(
            path,
            tz,
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
        )];
    }
    let bad_part = tz.split('/').any(|part| {
        part == "."
            || part == ".."
            || part.starts_with('-')
            || part.is_empty()
            || part.len() > 14
            || !part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '+' | '_'))
    });
    if bad_part {
        return vec![FieldError::invalid(
            path,
            tz,
            format!("unknown time zone {tz}"),
        )];
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_schedules_parse() {
        for s in [
            "*/5 * * * *",
            "0 0 * * 0",
            "@hourly",
            "@every 1h30m",
            "0 9-17 * JAN-jun mon-FRI",
            "15,45 */2 1 * ?",
            "TZ=UTC 0 * * * *",
        ] {
            assert_eq!(parse_standard(s), Ok(()), "{s}");
        }
    }

    #[test]
    fn bad_schedules_fail_with_robfig_messages() {
        assert_eq!(
            parse_standard("* * *"),
            Err("expected exactly 5 fields, found 3: [* * *]".to_string())
        );
        assert_eq!(
            parse_standard("60 * * * *"),
            Err("end of range (60) above maximum (59): 60".to_string())
        );
        assert_eq!(
            parse_standard("* * 0 * *"),
            Err("beginning of range (0) below minimum (1): 0".to_string())
        );
        assert_eq!(
            parse_standard("5-1 * * * *"),
            Err("beginning of range (5) beyond end of range (1): 5-1".to_string())
        );
        assert_eq!(
            parse_standard("@fortnightly"),
            Err("unrecognized descriptor: @fortnightly".to_string())
        );
        assert_eq!(
            parse_standard("x * * * *"),
            Err(
                "failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax"
                    .to_string()
            )
        );
        assert_eq!(
            parse_standard("*/0 * * * *"),
            Err("step of range should be a positive number: */0".to_string())
        );
    }

    #[test]
    fn time_zones() {
        let p = FieldPath::new("spec.timeZone");
        assert!(validate_time_zone(Some(&Value::from("Europe/Paris")), &p).is_empty());
        assert_eq!(
            validate_time_zone(Some(&Value::from("Local")), &p)[0].to_string(),
            "spec.timeZone: Invalid value: \"Local\": timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"
        );
        assert_eq!(
            validate_time_zone(Some(&Value::from("")), &p)[0].to_string(),
            "spec.timeZone: Invalid value: \"\": timeZone must be nil or non-empty string"
        );
    }
}
