//! Label maps and LabelSelectors rendered the way apimachinery's labels
//! package prints them.

use serde_json::Value;

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// labels.FormatLabels: `a=b,c=d` sorted by key, `<none>` when empty.
pub fn format_labels(map: Option<&Value>) -> String {
    let mut pairs: Vec<(String, String)> = match map.and_then(Value::as_object) {
        Some(m) => m.iter().map(|(k, v)| (k.clone(), scalar_text(v))).collect(),
        None => Vec::new(),
    };
    if pairs.is_empty() {
        return "<none>".to_string();
    }
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The selector is invalid (bad operator, key or value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSelector;

/// A LabelSelector object rendered as selector text (`app=web,tier in (a,b)`); empty for a nil
/// selector. The rules are minato-selectors' (upstream's labels package).
pub fn label_selector_string(selector: Option<&Value>) -> Result<String, InvalidSelector> {
    let Some(sel) = selector.filter(|v| !v.is_null()) else {
        return Ok(String::new());
    };
    minato_selectors::LabelSelector::from_label_selector_object(sel)
        .map(|s| s.to_string())
        .map_err(|_| InvalidSelector)
}

/// metav1.FormatLabelSelector: `<none>` for an empty or nil selector,
/// `<error>` for an invalid one.
pub fn format_label_selector(selector: Option<&Value>) -> String {
    match selector.filter(|v| !v.is_null()) {
        Some(sel) => minato_selectors::format_label_selector(sel),
        None => "<none>".to_string(),
    }
}

/// The Go struct's generated String() (`&LabelSelector{MatchLabels:...}`),
/// which upstream prints for admission policy bindings' paramRef.selector.
pub(crate) fn go_struct_label_selector(sel: &Value) -> String {
    let mut labels: Vec<(String, String)> = sel
        .get("matchLabels")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), scalar_text(v))).collect())
        .unwrap_or_default();
    labels.sort();
    let mut out = String::from("&LabelSelector{MatchLabels:map[string]string{");
    for (k, v) in &labels {
        out.push_str(&format!("{k}: {v},"));
    }
    out.push_str("},MatchExpressions:[]LabelSelectorRequirement{");
    for e in sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        let values: Vec<String> = e
            .get("values")
            .and_then(Value::as_array)
            .map(|vs| vs.iter().map(scalar_text).collect())
            .unwrap_or_default();
        out.push_str(&format!(
            "LabelSelectorRequirement{{Key:{},Operator:{},Values:[{}],}},",
            e.get("key").and_then(Value::as_str).unwrap_or(""),
            e.get("operator").and_then(Value::as_str).unwrap_or(""),
            values.join(" ")
        ));
    }
    out.push_str("},}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_sorted_and_none() {
        assert_eq!(format_labels(Some(&json!({"b": "2", "a": "1"}))), "a=1,b=2");
        assert_eq!(format_labels(Some(&json!({}))), "<none>");
        assert_eq!(format_labels(None), "<none>");
    }

    #[test]
    fn selectors() {
        let sel = json!({"matchLabels": {"app": "web", "pod-template-hash": "abc"}});
        assert_eq!(
            format_label_selector(Some(&sel)),
            "app=web,pod-template-hash=abc"
        );
        let sel = json!({
            "matchLabels": {"tier": "db"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["prod", "dev"]},
                {"key": "zone", "operator": "NotIn", "values": ["b"]},
                {"key": "gpu", "operator": "Exists"},
                {"key": "legacy", "operator": "DoesNotExist"}
            ]
        });
        assert_eq!(
            format_label_selector(Some(&sel)),
            "env in (dev,prod),gpu,!legacy,tier=db,zone notin (b)"
        );
        assert_eq!(format_label_selector(Some(&json!({}))), "<none>");
        assert_eq!(format_label_selector(None), "<none>");
        let bad = json!({"matchExpressions": [{"key": "a", "operator": "Near"}]});
        assert_eq!(format_label_selector(Some(&bad)), "<error>");
        let bad = json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]});
        assert_eq!(format_label_selector(Some(&bad)), "<error>");
        let bad = json!({"matchLabels": {"a b": "c"}});
        assert!(label_selector_string(Some(&bad)).is_err());
        let ok = json!({"matchLabels": {"app.kubernetes.io/name": ""}});
        assert_eq!(format_label_selector(Some(&ok)), "app.kubernetes.io/name=");
    }

    #[test]
    fn go_struct_rendering() {
        let sel = json!({"matchLabels": {"b": "2", "a": "1"},
            "matchExpressions": [{"key": "k", "operator": "In", "values": ["x", "y"]}]});
        assert_eq!(
            go_struct_label_selector(&sel),
            "&LabelSelector{MatchLabels:map[string]string{a: 1,b: 2,},MatchExpressions:[]LabelSelectorRequirement{LabelSelectorRequirement{Key:k,Operator:In,Values:[x y],},},}"
        );
    }
}
