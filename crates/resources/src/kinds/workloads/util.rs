//! Small helpers the Pod and workload strategies share: tolerant JSON access (objects are user
//! input, so every accessor copes with odd shapes), exact resource quantities, and Go's `%#v`
//! formatting for the few upstream messages that print Go values.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::field::{ErrorType, FieldError, FieldPath};

// ---------------------------------------------------------------------------------------------
// JSON access
// ---------------------------------------------------------------------------------------------

/// The string at `key`, or "" (Go's zero value).
pub fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The integer at `key`, if it is one.
pub fn int_of(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}

/// The array at `key`, or an empty slice.
pub fn arr_of<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The object at `key`, if it is one.
pub fn obj_of<'a>(v: &'a Value, key: &str) -> Option<&'a Map<String, Value>> {
    v.get(key).and_then(Value::as_object)
}

/// Whether `key` holds something other than null.
pub fn has(v: &Value, key: &str) -> bool {
    v.get(key).is_some_and(|x| !x.is_null())
}

/// The boolean at `key`, false when absent.
pub fn bool_of(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// The object at `key`, created when missing or null. `None` when something else is there
/// (decode already rejected that shape; never panic on it anyway).
pub fn child_obj<'a>(
    m: &'a mut Map<String, Value>,
    key: &str,
) -> Option<&'a mut Map<String, Value>> {
    let slot = m.entry(key.to_string()).or_insert(Value::Null);
    if slot.is_null() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut()
}

/// Sets `key` when it is missing or null (defaulting of a pointer field).
pub fn default_ptr(m: &mut Map<String, Value>, key: &str, value: Value) {
    if m.get(key).is_none_or(Value::is_null) {
        m.insert(key.to_string(), value);
    }
}

/// Sets `key` when it is missing, null or "" (defaulting of a string field).
pub fn default_str(m: &mut Map<String, Value>, key: &str, value: &str) {
    if m.get(key)
        .is_none_or(|v| v.is_null() || v.as_str() == Some(""))
    {
        m.insert(key.to_string(), Value::String(value.to_string()));
    }
}

/// Sets `key` when it is missing, null or 0 (defaulting of a plain integer field).
pub fn default_nonzero(m: &mut Map<String, Value>, key: &str, value: i64) {
    if m.get(key)
        .is_none_or(|v| v.is_null() || v.as_i64() == Some(0))
    {
        m.insert(key.to_string(), Value::from(value));
    }
}

/// Mutable elements of the array at `key` that are objects.
pub fn each_obj_mut<'a>(
    m: &'a mut Map<String, Value>,
    key: &str,
) -> impl Iterator<Item = &'a mut Map<String, Value>> {
    m.get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flat_map(|a| a.iter_mut().filter_map(Value::as_object_mut))
}

/// A copy without nulls and empty arrays, so that values equal in Go's semantic comparison
/// (nil and empty slices are the same there) compare equal here.
pub fn normalized(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, x)| !x.is_null() && !x.as_array().is_some_and(Vec::is_empty))
                .map(|(k, x)| (k.clone(), normalized(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(normalized).collect()),
        other => other.clone(),
    }
}

/// Go's semantic equality for two JSON fragments.
pub fn semantic_eq(a: &Value, b: &Value) -> bool {
    normalized(a) == normalized(b)
}

// ---------------------------------------------------------------------------------------------
// Field errors with Go-formatted values
// ---------------------------------------------------------------------------------------------

/// An error whose bad value is printed verbatim (a Go `%#v` rendering), not JSON-quoted.
pub fn raw_error(kind: ErrorType, path: &FieldPath, raw: &str, detail: &str) -> FieldError {
    let detail = if detail.is_empty() {
        raw.to_string()
    } else {
        format!("{raw}: {detail}")
    };
    FieldError::new(kind, path, None, detail)
}

/// `%q` of a Go string.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `%#v` of a `map[string]string` (keys sorted as fmt does; nil when absent).
pub fn go_string_map(v: Option<&Value>) -> String {
    let Some(m) = v.and_then(Value::as_object) else {
        return "map[string]string(nil)".to_string();
    };
    let mut entries: Vec<(&String, &str)> = m
        .iter()
        .map(|(k, v)| (k, v.as_str().unwrap_or("")))
        .collect();
    entries.sort();
    let body = entries
        .iter()
        .map(|(k, v)| format!("{}:{}", go_quote(k), go_quote(v)))
        .collect::<Vec<_>>()
        .join(", ");
    format!("map[string]string{{{body}}}")
}

/// `%#v` of a `[]string`.
fn go_string_slice(v: Option<&Value>) -> String {
    match v.and_then(Value::as_array) {
        None => "[]string(nil)".to_string(),
        Some(a) => format!(
            "[]string{{{}}}",
            a.iter()
                .map(|s| go_quote(s.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `%#v` of a `metav1.LabelSelector` (how upstream prints an immutable selector).
pub fn go_label_selector(sel: &Value) -> String {
    let exprs = match sel.get("matchExpressions").and_then(Value::as_array) {
        None => "[]v1.LabelSelectorRequirement(nil)".to_string(),
        Some(a) => format!(
            "[]v1.LabelSelectorRequirement{{{}}}",
            a.iter()
                .map(|e| format!(
                    "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{}}}",
                    go_quote(str_of(e, "key")),
                    go_quote(str_of(e, "operator")),
                    go_string_slice(e.get("values"))
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    format!(
        "v1.LabelSelector{{MatchLabels:{}, MatchExpressions:{}}}",
        go_string_map(sel.get("matchLabels")),
        exprs
    )
}

/// An int-or-string as its `String()` prints it (`0`, `25%`).
pub fn int_or_string_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Null => "0".to_string(),
        other => other.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Exact quantities
// ---------------------------------------------------------------------------------------------

/// How a quantity was written, which decides how it is printed back (upstream's Format).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuantityFormat {
    DecimalSI,
    BinarySI,
    DecimalExponent,
}

/// A resource quantity held exactly, in nano units (enough for every suffix upstream accepts;
/// values beyond ±1.7e29 saturate, far past anything a resource can hold).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quantity {
    pub nanos: i128,
    pub format: QuantityFormat,
}

const NANO: i128 = 1_000_000_000;

impl Quantity {
    /// Parses `500m`, `1.5Gi`, `2e3`; `None` when it is not a quantity.
    pub fn parse(s: &str) -> Option<Quantity> {
        let s = s.trim();
        let (negative, rest) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, suffix) = rest.split_at(num_len);
        let (int_part, frac_part) = match num.split_once('.') {
            Some((i, f)) => (i, f),
            None => (num, ""),
        };
        if int_part.is_empty() && frac_part.is_empty() || frac_part.contains('.') {
            return None;
        }
        // Digits as one integer mantissa, with the decimal point as a power of ten.
        let mut mantissa: i128 = 0;
        let mut scale: i32 = 0;
        let mut saturated = false;
        for (i, c) in int_part.chars().chain(frac_part.chars()).enumerate() {
            let d = i128::from(c.to_digit(10)? as u8);
            match mantissa.checked_mul(10).and_then(|m| m.checked_add(d)) {
                Some(m) if !saturated => mantissa = m,
                _ => {
                    // Keep the magnitude; drop precision that cannot matter.
                    saturated = true;
                    if i < int_part.len() {
                        scale += 1;
                    }
                    continue;
                }
            }
            if i >= int_part.len() {
                scale -= 1;
            }
        }
        let (format, pow10, pow1024) = match suffix {
            "" => (QuantityFormat::DecimalSI, 0, 0),
            "n" => (QuantityFormat::DecimalSI, -9, 0),
            "u" => (QuantityFormat::DecimalSI, -6, 0),
            "m" => (QuantityFormat::DecimalSI, -3, 0),
            "k" => (QuantityFormat::DecimalSI, 3, 0),
            "M" => (QuantityFormat::DecimalSI, 6, 0),
            "G" => (QuantityFormat::DecimalSI, 9, 0),
            "T" => (QuantityFormat::DecimalSI, 12, 0),
            "P" => (QuantityFormat::DecimalSI, 15, 0),
            "E" => (QuantityFormat::DecimalSI, 18, 0),
            "Ki" => (QuantityFormat::BinarySI, 0, 1),
            "Mi" => (QuantityFormat::BinarySI, 0, 2),
            "Gi" => (QuantityFormat::BinarySI, 0, 3),
            "Ti" => (QuantityFormat::BinarySI, 0, 4),
            "Pi" => (QuantityFormat::BinarySI, 0, 5),
            "Ei" => (QuantityFormat::BinarySI, 0, 6),
            other => {
                let exp = other.strip_prefix(['e', 'E'])?;
                let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let e: i32 = exp.parse().ok()?;
                (QuantityFormat::DecimalExponent, e, 0)
            }
        };
        let mut nanos = mantissa;
        for _ in 0..pow1024 {
            nanos = nanos.saturating_mul(1024);
        }
        nanos = scale_pow10(nanos, scale + pow10 + 9);
        Some(Quantity {
            nanos: if negative { -nanos } else { nanos },
            format,
        })
    }

    /// A quantity from JSON: strings parsed, plain numbers taken as decimal values.
    pub fn from_value(v: &Value) -> Option<Quantity> {
        match v {
            Value::String(s) => Quantity::parse(s),
            Value::Number(n) => Quantity::parse(&n.to_string()),
            _ => None,
        }
    }

    pub fn is_negative(&self) -> bool {
        self.nanos < 0
    }

    pub fn is_integer(&self) -> bool {
        self.nanos % NANO == 0
    }

    /// Upstream's `RoundUp(-3)`: resources keep at most milli precision.
    pub fn round_up_milli(self) -> Quantity {
        let r = self.nanos.rem_euclid(1_000_000);
        let nanos = if r == 0 {
            self.nanos
        } else {
            self.nanos.saturating_add(1_000_000 - r)
        };
        Quantity { nanos, ..self }
    }

    /// The canonical text upstream stores and prints (`1000m` → `1`, `1024Mi` → `1Gi`).
    pub fn canonical(&self) -> String {
        let sign = if self.nanos < 0 { "-" } else { "" };
        let abs = self.nanos.unsigned_abs();
        if self.format == QuantityFormat::BinarySI
            && abs.is_multiple_of(NANO as u128)
            && abs >= 1024 * NANO as u128
        {
            let mut v = abs / NANO as u128;
            let mut i = 0;
            while i < 6 && v.is_multiple_of(1024) {
                v /= 1024;
                i += 1;
            }
            let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][i];
            return format!("{sign}{v}{suffix}");
        }
        if abs == 0 {
            return "0".to_string();
        }
        // Largest multiple-of-three exponent (from nano up) that keeps the mantissa whole.
        let mut v = abs;
        let mut exp: i32 = -9;
        while exp < 18 && v.is_multiple_of(1000) {
            v /= 1000;
            exp += 3;
        }
        if self.format == QuantityFormat::DecimalExponent {
            return if exp == 0 {
                format!("{sign}{v}")
            } else {
                format!("{sign}{v}e{exp}")
            };
        }
        let suffix = match exp {
            -9 => "n",
            -6 => "u",
            -3 => "m",
            0 => "",
            3 => "k",
            6 => "M",
            9 => "G",
            12 => "T",
            15 => "P",
            _ => "E",
        };
        format!("{sign}{v}{suffix}")
    }
}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.nanos.cmp(&other.nanos))
    }
}

fn scale_pow10(v: i128, exp: i32) -> i128 {
    if exp >= 0 {
        let mut out = v;
        for _ in 0..exp.min(60) {
            out = out.saturating_mul(10);
        }
        out
    } else {
        // Below a nano: round up, as upstream keeps no finer precision either.
        let mut out = v;
        for _ in 0..(-exp).min(60) {
            let r = out % 10;
            out /= 10;
            if r != 0 {
                out += 1;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(s: &str) -> String {
        Quantity::parse(s)
            .map(|q| q.canonical())
            .unwrap_or_default()
    }

    #[test]
    fn quantities_print_canonically() {
        assert_eq!(canon("1000m"), "1");
        assert_eq!(canon("0.5"), "500m");
        assert_eq!(canon("1.5"), "1500m");
        assert_eq!(canon("100m"), "100m");
        assert_eq!(canon("128Mi"), "128Mi");
        assert_eq!(canon("1024Mi"), "1Gi");
        assert_eq!(canon("1.5Gi"), "1536Mi");
        assert_eq!(canon("1000"), "1k");
        assert_eq!(canon("512"), "512");
        assert_eq!(canon("129e6"), "129e6");
        assert_eq!(canon("0"), "0");
        assert_eq!(canon("-2"), "-2");
        assert!(Quantity::parse("1.2.3").is_none());
        assert!(Quantity::parse("abc").is_none());
        assert!(Quantity::parse("5Xi").is_none());
        assert!(Quantity::parse("").is_none());
    }

    #[test]
    fn quantities_compare_exactly() {
        let a = Quantity::parse("500m");
        let b = Quantity::parse("0.5");
        assert_eq!(a.map(|q| q.nanos), b.map(|q| q.nanos));
        let one = Quantity::parse("1").map(|q| q.nanos).unwrap_or(0);
        let two = Quantity::parse("2").map(|q| q.nanos).unwrap_or(0);
        assert!(two > one);
        let sub = Quantity::parse("1n").map(|q| q.round_up_milli().canonical());
        assert_eq!(sub.as_deref(), Some("1m"));
    }

    #[test]
    fn go_formatting_matches_fmt() {
        assert_eq!(
            go_string_map(Some(&json!({"b": "2", "a": "1"}))),
            r#"map[string]string{"a":"1", "b":"2"}"#
        );
        assert_eq!(go_string_map(None), "map[string]string(nil)");
        assert_eq!(
            go_label_selector(&json!({"matchLabels": {"app": "a"}})),
            r#"v1.LabelSelector{MatchLabels:map[string]string{"app":"a"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}"#
        );
        assert_eq!(
            go_label_selector(
                &json!({"matchExpressions": [{"key": "k", "operator": "In", "values": ["x"]}]})
            ),
            r#"v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement{v1.LabelSelectorRequirement{Key:"k", Operator:"In", Values:[]string{"x"}}}}"#
        );
    }
}
