//! Upstream's apimachinery duration formatting (HumanDuration, ShortHumanDuration).

use chrono::TimeDelta;

/// Seconds truncated toward zero, like Go's int(d.Seconds()).
fn whole_seconds(d: TimeDelta) -> i64 {
    d.num_milliseconds() / 1000
}

/// A succinct duration with ~2-3 significant figures: `45s`, `5m30s`,
/// `3h2m`, `2d4h`, `1y20d`. Up to two seconds in the future count as now
/// (clock skew); further in the future is `<invalid>`.
pub fn human_duration(d: TimeDelta) -> String {
    let seconds = whole_seconds(d);
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if seconds < 0 {
        return "0s".to_string();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        if s == 0 {
            return format!("{minutes}m");
        }
        return format!("{minutes}m{s}s");
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            return format!("{hours}h");
        }
        return format!("{hours}h{m}m");
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            return format!("{}d", hours / 24);
        }
        return format!("{}d{h}h", hours / 24);
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            return format!("{}y", hours / 24 / 365);
        }
        return format!("{}y{dy}d", hours / 24 / 365);
    }
    format!("{}y", hours / 24 / 365)
}

/// One unit only: `45s`, `5m`, `3h`, `2d`, `1y`.
pub fn short_human_duration(d: TimeDelta) -> String {
    let seconds = whole_seconds(d);
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if seconds < 0 {
        return "0s".to_string();
    }
    if seconds < 60 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 60 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 24 {
        return format!("{hours}h");
    }
    if hours < 24 * 365 {
        return format!("{}d", hours / 24);
    }
    format!("{}y", hours / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: i64) -> TimeDelta {
        TimeDelta::seconds(secs)
    }

    #[test]
    fn human_duration_boundaries() {
        let cases: &[(TimeDelta, &str)] = &[
            (TimeDelta::milliseconds(-2000), "<invalid>"),
            (TimeDelta::milliseconds(-1999), "0s"),
            (TimeDelta::milliseconds(-1), "0s"),
            (s(0), "0s"),
            (TimeDelta::milliseconds(1999), "1s"),
            (s(59), "59s"),
            (s(119), "119s"),
            (s(120), "2m"),
            (s(150), "2m30s"),
            (s(9 * 60 + 59), "9m59s"),
            (s(10 * 60), "10m"),
            (s(10 * 60 + 59), "10m"),
            (s(179 * 60), "179m"),
            (s(3 * 3600), "3h"),
            (s(3 * 3600 + 2 * 60 + 30), "3h2m"),
            (s(7 * 3600 + 59 * 60), "7h59m"),
            (s(8 * 3600 + 30 * 60), "8h"),
            (s(47 * 3600), "47h"),
            (s(48 * 3600), "2d"),
            (s(52 * 3600), "2d4h"),
            (s(7 * 86400 + 23 * 3600), "7d23h"),
            (s(8 * 86400), "8d"),
            (s(729 * 86400), "729d"),
            (s(730 * 86400), "2y"),
            (s(750 * 86400), "2y20d"),
            (s(8 * 365 * 86400 + 100 * 86400), "8y"),
        ];
        for (d, want) in cases {
            assert_eq!(human_duration(*d), *want, "duration {d:?}");
        }
    }

    #[test]
    fn short_human_duration_boundaries() {
        let cases: &[(TimeDelta, &str)] = &[
            (s(-5), "<invalid>"),
            (s(-1), "0s"),
            (s(59), "59s"),
            (s(60), "1m"),
            (s(3599), "59m"),
            (s(3600), "1h"),
            (s(86400), "1d"),
            (s(364 * 86400), "364d"),
            (s(365 * 86400), "1y"),
        ];
        for (d, want) in cases {
            assert_eq!(short_human_duration(*d), *want, "duration {d:?}");
        }
    }
}
