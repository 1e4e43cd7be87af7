//! Strict field validation of PATCH requests (`?fieldValidation=Strict|Warn`), as upstream's
//! patch handler does it: the patch document itself is checked for duplicate keys (and, for a
//! JSON patch, for keys an operation does not have), then the patched object for unknown
//! fields; under Strict all of it is one 422 naming the `patch`.

use serde_json::Value;

use crate::request::duplicate_fields;

pub const MERGE: &str = "application/merge-patch+json";
pub const STRATEGIC: &str = "application/strategic-merge-patch+json";
pub const JSON: &str = "application/json-patch+json";

/// What the patch document breaks, worded as upstream's strict decoder words it, in document
/// order. Malformed documents yield nothing here: parsing the patch reports them.
pub fn document_errors(patch_type: &str, body: &[u8]) -> Vec<String> {
    match patch_type {
        MERGE | STRATEGIC => duplicate_fields(body)
            .into_iter()
            .map(|p| format!("duplicate field \"{p}\""))
            .collect(),
        JSON => json_patch_errors(body),
        _ => Vec::new(),
    }
}

/// The fields of a JSON patch operation; anything else is unknown.
const OP_FIELDS: &[&str] = &["op", "path", "from", "value"];

fn json_patch_errors(body: &[u8]) -> Vec<String> {
    let Ok(Value::Array(ops)) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    let dups = duplicate_fields(body);
    let mut out = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        if let Some(m) = op.as_object() {
            for k in m.keys().filter(|k| !OP_FIELDS.contains(&k.as_str())) {
                out.push(format!("json patch unknown field \"[{i}].{k}\""));
            }
        }
        let prefix = format!("[{i}].");
        for d in dups.iter().filter(|d| d.starts_with(&prefix)) {
            out.push(format!("json patch duplicate field \"{d}\""));
        }
    }
    out
}

/// A value as Go's `fmt` prints a decoded JSON map with `%+v` (`map[a:1 b:[x y]]`): upstream
/// shows a strategic merge patch that way in its strict error.
pub fn go_print(v: &Value) -> String {
    let mut s = String::new();
    go_print_into(v, &mut s);
    s
}

fn go_print_into(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => out.push_str(&i.to_string()),
            (None, Some(u), _) => out.push_str(&u.to_string()),
            (_, _, Some(f)) => out.push_str(&go_float(f)),
            _ => out.push_str(&n.to_string()),
        },
        Value::String(s) => out.push_str(s),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                go_print_into(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            // Go prints maps with their keys sorted.
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push_str("map[");
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                go_print_into(&m[k], out);
            }
            out.push(']');
        }
    }
}

/// `%v` of a float64 (strconv's shortest `%g`): exponent form (`1e+06`) when the decimal
/// exponent is below -4 or at least 6.
fn go_float(f: f64) -> String {
    if f == 0.0 || !f.is_finite() {
        return format!("{f}");
    }
    let exp = f.abs().log10().floor() as i32;
    if !(-4..6).contains(&exp) {
        // Rust prints `1e6`; Go `1e+06`.
        let e = format!("{f:e}");
        if let Some((mant, ex)) = e.split_once('e') {
            let (sign, digits) = match ex.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', ex),
            };
            return format!("{mant}e{sign}{digits:0>2}");
        }
        return e;
    }
    format!("{f}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_and_strategic_patches_report_their_duplicate_keys() {
        let body = br#"{"spec":{"paused":true,"paused":false,"template":{"spec":{"containers":[{"name":"n","imagePullPolicy":"Always","imagePullPolicy":"Never"}]}}}}"#;
        let want = [
            "duplicate field \"spec.paused\"",
            "duplicate field \"spec.template.spec.containers[0].imagePullPolicy\"",
        ];
        assert_eq!(document_errors(MERGE, body), want);
        assert_eq!(document_errors(STRATEGIC, body), want);
        assert!(document_errors(MERGE, br#"{"a":1}"#).is_empty());
    }

    #[test]
    fn json_patches_report_unknown_and_duplicate_operation_fields() {
        // Upstream's integration test: an unknown key in op 0, a repeated path in op 1.
        let body = br#"[{"op":"add","path":"/spec/unknown1","value":"val1","foo":"bar"},
            {"op":"add","path":"/spec/unknown2","path":"/spec/unknown3","value":"val1"},
            {"op":"add","path":"/metadata/labels","value":{"a":"1","a":"2"}}]"#;
        assert_eq!(
            document_errors(JSON, body),
            [
                "json patch unknown field \"[0].foo\"",
                "json patch duplicate field \"[1].path\"",
                "json patch duplicate field \"[2].value.a\"",
            ]
        );
        assert!(document_errors(JSON, b"not json").is_empty());
    }

    #[test]
    fn values_print_as_go_prints_a_decoded_map() {
        let v = json!({"spec": {"replicas": 3, "b": [1, "x", true, null], "f": 0.5, "big": 1e21},
                       "a": {}});
        assert_eq!(
            go_print(&v),
            "map[a:map[] spec:map[b:[1 x true <nil>] big:1e+21 f:0.5 replicas:3]]"
        );
        assert_eq!(go_float(1e-5), "1e-05");
        assert_eq!(go_float(123456.0), "123456");
        assert_eq!(go_float(1234567.0), "1.234567e+06");
    }
}
