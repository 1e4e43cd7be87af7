//! resource.Quantity's canonical String(): `1Gi`, `1536Mi`, `500m`, `1k`.
//! Stored objects may carry a quantity in any accepted spelling (`1024Mi`,
//! `0.5`); upstream prints the canonical form.

use serde_json::Value;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    BinarySI,
    DecimalSI,
    DecimalExponent,
}

struct Parsed {
    value: i128,
    scale: i32,
    format: Format,
}

fn pow10(n: u32) -> Option<i128> {
    10i128.checked_pow(n)
}

fn parse(s: &str) -> Option<Parsed> {
    let s = s.trim();
    let (negative, rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let num_end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(num_end);
    let (int_part, frac_part) = match number.split_once('.') {
        Some((i, f)) => (i, f),
        None => (number, ""),
    };
    if (int_part.is_empty() && frac_part.is_empty()) || frac_part.contains('.') {
        return None;
    }
    let digits = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    // Beyond i128 upstream switches to arbitrary precision; print as given.
    if digits.len() > 30 {
        return None;
    }
    let mut value: i128 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    let mut scale = -i32::try_from(frac_part.len()).ok()?;
    let format = match suffix {
        "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => {
            let n = match suffix {
                "Ki" => 1,
                "Mi" => 2,
                "Gi" => 3,
                "Ti" => 4,
                "Pi" => 5,
                _ => 6,
            };
            value = value.checked_mul(1024i128.checked_pow(n)?)?;
            Format::BinarySI
        }
        "" | "n" | "u" | "m" | "k" | "M" | "G" | "T" | "P" | "E" => {
            scale += match suffix {
                "n" => -9,
                "u" => -6,
                "m" => -3,
                "k" => 3,
                "M" => 6,
                "G" => 9,
                "T" => 12,
                "P" => 15,
                "E" => 18,
                _ => 0,
            };
            Format::DecimalSI
        }
        _ => {
            let exp = suffix
                .strip_prefix('e')
                .or_else(|| suffix.strip_prefix('E'))?;
            let exp: i32 = exp.parse().ok()?;
            scale = scale.checked_add(exp)?;
            Format::DecimalExponent
        }
    };
    // Upstream keeps nano precision, rounding the rest up (away from zero).
    if scale < -9 {
        let div = pow10(u32::try_from(-9 - scale).ok()?)?;
        let q = value / div;
        value = if value % div != 0 { q + 1 } else { q };
        scale = -9;
    }
    if negative {
        value = -value;
    }
    Some(Parsed {
        value,
        scale,
        format,
    })
}

fn remove_factors(mut v: i128, base: i128) -> (i128, i32) {
    let mut times = 0;
    while v != 0 && v % base == 0 {
        v /= base;
        times += 1;
    }
    (v, times)
}

fn decimal_suffix(exp: i32, format: Format) -> String {
    if format == Format::DecimalSI {
        let si = match exp {
            -9 => Some("n"),
            -6 => Some("u"),
            -3 => Some("m"),
            0 => Some(""),
            3 => Some("k"),
            6 => Some("M"),
            9 => Some("G"),
            12 => Some("T"),
            15 => Some("P"),
            18 => Some("E"),
            _ => None,
        };
        if let Some(s) = si {
            return s.to_string();
        }
    }
    if exp == 0 {
        String::new()
    } else {
        format!("e{exp}")
    }
}

/// The value as an integer when it has no fractional part.
fn as_integer(p: &Parsed) -> Option<i128> {
    if p.scale >= 0 {
        p.value.checked_mul(pow10(u32::try_from(p.scale).ok()?)?)
    } else {
        let div = pow10(u32::try_from(-p.scale).ok()?)?;
        (p.value % div == 0).then_some(p.value / div)
    }
}

/// Canonical text of a quantity string; None when it does not parse.
pub(crate) fn canonical(s: &str) -> Option<String> {
    let p = parse(s)?;
    if p.value == 0 {
        return Some("0".to_string());
    }
    let mut format = p.format;
    let mut binary_value = None;
    if format == Format::BinarySI {
        match as_integer(&p) {
            // Small or fractional binary values print in decimal SI.
            Some(n) if !(-1024 < n && n < 1024) => binary_value = Some(n),
            _ => format = Format::DecimalSI,
        }
    }
    if let Some(n) = binary_value {
        let (mut amount, mut exp) = remove_factors(n, 1024);
        // No suffix beyond Ei: fold the excess back into the number.
        while exp > 6 {
            amount = amount.checked_mul(1024)?;
            exp -= 1;
        }
        let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
            .get(usize::try_from(exp).ok()?)
            .copied()
            .unwrap_or("");
        return Some(format!("{amount}{suffix}"));
    }
    let (mut amount, times) = remove_factors(p.value, 10);
    let mut exp = p.scale + times;
    match exp % 3 {
        1 | -2 => {
            amount = amount.checked_mul(10)?;
            exp -= 1;
        }
        2 | -1 => {
            amount = amount.checked_mul(100)?;
            exp -= 2;
        }
        _ => {}
    }
    Some(format!("{amount}{}", decimal_suffix(exp, format)))
}

/// A quantity field rendered like Quantity.String(); `missing` is what an
/// absent field prints as (`0` for a map entry, `<nil>` for a nil pointer).
pub(crate) fn display(v: Option<&Value>, missing: &str) -> String {
    match v {
        None | Some(Value::Null) => missing.to_string(),
        Some(Value::String(s)) => canonical(s).unwrap_or_else(|| s.clone()),
        Some(Value::Number(n)) => {
            let s = n.to_string();
            canonical(&s).unwrap_or(s)
        }
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::canonical;

    #[test]
    fn canonical_forms() {
        let cases = [
            ("1Gi", "1Gi"),
            ("1024Mi", "1Gi"),
            ("1.5Gi", "1536Mi"),
            ("500Mi", "500Mi"),
            ("512", "512"),
            ("100m", "100m"),
            ("0.1", "100m"),
            ("1.5", "1500m"),
            ("1000", "1k"),
            ("1500", "1500"),
            ("2000M", "2G"),
            ("1e3", "1e3"),
            ("1.5e3", "1500"),
            ("0", "0"),
            ("0Gi", "0"),
            ("0.5Ki", "512"),
            ("100Ki", "100Ki"),
            ("1023", "1023"),
            ("1024", "1024"),
            ("2048Ki", "2Mi"),
            ("-1Gi", "-1Gi"),
            ("1n", "1n"),
            ("0.1n", "1n"),
            ("10", "10"),
            ("25k", "25k"),
        ];
        for (input, want) in cases {
            assert_eq!(canonical(input).as_deref(), Some(want), "input {input}");
        }
        assert_eq!(canonical("abc"), None);
        assert_eq!(canonical("1Qi"), None);
        assert_eq!(canonical(""), None);
    }
}
