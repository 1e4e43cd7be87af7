use std::collections::BTreeMap;

use minato_selectors::{
    fields::{escape_value, unescape_value},
    format_label_selector, parse, FieldOperator, FieldSelector, LabelSelector, Operator,
    SelectorError,
};
use serde_json::{json, Value};

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn parse_err(s: &str) -> String {
    parse(s).expect_err("should not parse").to_string()
}

const NAME_PART_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

#[test]
fn kubectl_set_based_example() {
    // kubectl -l 'app in (web,multi),!foo,tier notin (db)', as it arrives URL-decoded.
    let s = parse("app in (web,multi),!foo,tier notin (db)").unwrap();
    assert_eq!(s.to_string(), "app in (multi,web),!foo,tier notin (db)");
    let ops: Vec<Operator> = s.requirements().iter().map(|r| r.operator()).collect();
    assert_eq!(ops, [Operator::In, Operator::DoesNotExist, Operator::NotIn]);
    assert_eq!(s.requirements()[0].values(), ["multi", "web"]);

    assert!(s.matches(&labels(&[("app", "web"), ("tier", "fe")])));
    assert!(s.matches(&labels(&[("app", "multi")])));
    assert!(!s.matches(&labels(&[("app", "web"), ("foo", "")])));
    assert!(!s.matches(&labels(&[("app", "other")])));
    assert!(!s.matches(&labels(&[("app", "multi"), ("tier", "db")])));
    assert!(!s.matches(&labels(&[])));
    // The same through JSON labels.
    assert!(s.matches(&json!({"app": "web", "tier": "x"})));
    assert!(!s.matches(&Value::Null));
}

#[test]
fn equality_and_existence() {
    let s = parse("app=web, tier==fe,env!=prod,release").unwrap();
    assert_eq!(s.to_string(), "app=web,env!=prod,release,tier==fe");
    assert!(s.matches(&labels(&[("app", "web"), ("tier", "fe"), ("release", "1")])));
    assert!(!s.matches(&labels(&[
        ("app", "web"),
        ("tier", "fe"),
        ("release", "1"),
        ("env", "prod")
    ])));
    assert!(!s.matches(&labels(&[("app", "web"), ("tier", "fe")])));
    assert_eq!(s.requires_exact_match("app"), Some("web"));
    assert_eq!(s.requires_exact_match("env"), None);

    let empty_value = parse("app=").unwrap();
    assert!(empty_value.matches(&labels(&[("app", "")])));
    assert!(!empty_value.matches(&labels(&[])));

    let empty = parse("").unwrap();
    assert!(empty.is_empty());
    assert!(empty.matches(&labels(&[])));
    assert_eq!(empty.to_string(), "");
    assert!(parse("   ").unwrap().is_empty());
}

#[test]
fn set_value_lists() {
    assert_eq!(
        parse("a in (x,,y)").unwrap().requirements()[0].values(),
        ["", "x", "y"]
    );
    let s = parse("a in ()").unwrap();
    assert!(s.matches(&labels(&[("a", "")])));
    assert!(!s.matches(&labels(&[("a", "b")])));
    assert_eq!(
        parse("a notin (b,b,a)").unwrap().to_string(),
        "a notin (a,b)"
    );
    // `in` and `notin` are plain words where keys and values are expected.
    assert_eq!(parse("in in (in)").unwrap().to_string(), "in in (in)");
    assert_eq!(parse("a=notin").unwrap().to_string(), "a=notin");
}

#[test]
fn numeric_comparisons() {
    let s = parse("replicas>2,replicas<5").unwrap();
    assert!(s.matches(&labels(&[("replicas", "3")])));
    assert!(!s.matches(&labels(&[("replicas", "5")])));
    assert!(!s.matches(&labels(&[("replicas", "x")])));
    assert_eq!(
        parse_err("a>b"),
        "unable to parse requirement: values[0]: Invalid value: \"b\": for 'Gt', 'Lt' operators, the value must be an integer"
    );
}

#[test]
fn syntax_errors_match_upstream() {
    assert_eq!(
        parse_err("a b"),
        "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"
    );
    assert_eq!(
        parse_err(",a"),
        "found ',', expected: !, identifier, or 'end of string'"
    );
    assert_eq!(parse_err("a,"), "found '', expected: identifier after ','");
    assert_eq!(
        parse_err("a in (b"),
        "unable to parse requirement: found '', expected: ',' or ')'"
    );
    assert_eq!(
        parse_err("a in b"),
        "unable to parse requirement: found 'b' expected: '('"
    );
    assert_eq!(
        parse_err("!a=b"),
        "found '=', expected: ',' or 'end of string'"
    );
    assert_eq!(
        parse_err("a=(b)"),
        "unable to parse requirement: found '(', expected: identifier"
    );
    assert_eq!(
        parse_err("a=b c"),
        "found 'c', expected: ',' or 'end of string'"
    );
    assert!(matches!(parse("a b"), Err(SelectorError::Parse(_))));
}

#[test]
fn validation_errors_match_upstream() {
    assert_eq!(
        parse_err("-a"),
        format!("unable to parse requirement: <nil>: Invalid value: \"-a\": {NAME_PART_MSG}")
    );
    assert_eq!(
        parse_err("a=b$c"),
        format!("unable to parse requirement: values[0][a]: Invalid value: \"b$c\": {VALUE_MSG}")
    );
    let long = "x".repeat(64);
    assert_eq!(
        parse_err(&format!("a={long}")),
        format!("unable to parse requirement: values[0][a]: Invalid value: \"{long}\": must be no more than 63 bytes")
    );
    assert!(parse("example.com/app=web").is_ok());
}

#[test]
fn label_selector_objects() {
    let object = json!({
        "matchLabels": {"tier": "x", "app": "web"},
        "matchExpressions": [
            {"key": "env", "operator": "In", "values": ["b", "a"]},
            {"key": "gone", "operator": "DoesNotExist"},
            {"key": "track", "operator": "NotIn", "values": ["canary"]},
            {"key": "owner", "operator": "Exists", "values": []}
        ]
    });
    let s = LabelSelector::from_label_selector_object(&object).unwrap();
    assert_eq!(
        s.to_string(),
        "app=web,env in (a,b),!gone,owner,tier=x,track notin (canary)"
    );
    assert!(s.matches(&labels(&[
        ("app", "web"),
        ("tier", "x"),
        ("env", "a"),
        ("owner", "me")
    ])));
    assert!(!s.matches(&labels(&[
        ("app", "web"),
        ("tier", "x"),
        ("env", "a"),
        ("owner", "me"),
        ("gone", "1")
    ])));

    // A missing selector matches nothing, an empty one everything.
    let nothing = LabelSelector::from_label_selector_object(&Value::Null).unwrap();
    assert!(nothing.is_nothing() && !nothing.is_empty());
    assert!(!nothing.matches(&labels(&[])));
    let everything = LabelSelector::from_label_selector_object(&json!({})).unwrap();
    assert!(everything.is_empty());
    assert!(everything.matches(&labels(&[("a", "b")])));
    let everything = LabelSelector::from_label_selector_object(
        &json!({"matchLabels": {}, "matchExpressions": []}),
    )
    .unwrap();
    assert!(everything.is_empty());
}

#[test]
fn label_selector_object_errors() {
    let err = |v: Value| {
        LabelSelector::from_label_selector_object(&v)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err(json!({"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]})),
        "\"Equals\" is not a valid label selector operator"
    );
    assert_eq!(
        err(json!({"matchExpressions": [{"key": "a", "operator": "In"}]})),
        "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty"
    );
    assert_eq!(
        err(json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]})),
        "values: Invalid value: [\"x\"]: values set must be empty for exists and does not exist"
    );
    assert_eq!(
        err(json!({"matchLabels": {"-x": "ok"}})),
        format!("key: Invalid value: \"-x\": {NAME_PART_MSG}")
    );
    assert_eq!(
        err(json!({"matchLabels": {"-x": "a b"}})),
        format!("[key: Invalid value: \"-x\": {NAME_PART_MSG}, values[0][-x]: Invalid value: \"a b\": {VALUE_MSG}]")
    );
}

#[test]
fn format_label_selector_like_printers() {
    assert_eq!(
        format_label_selector(&json!({"matchLabels": {"app": "web"}})),
        "app=web"
    );
    assert_eq!(
        format_label_selector(&json!({"matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]},
                                 {"key": "env", "operator": "NotIn", "values": ["x"]}]})),
        "app=web,env notin (x),tier in (a,b)"
    );
    assert_eq!(format_label_selector(&json!({})), "<none>");
    assert_eq!(format_label_selector(&Value::Null), "<none>");
    assert_eq!(
        format_label_selector(&json!({"matchExpressions": [{"key": "a", "operator": "Bad"}]})),
        "<error>"
    );
}

#[test]
fn display_round_trips() {
    for s in [
        "app in (multi,web),!foo,tier notin (db)",
        "a=b,c!=d,e==f",
        "x>1,y<2",
        "a in (,b)",
    ] {
        let parsed = parse(s).unwrap();
        assert_eq!(parsed.to_string(), s);
        assert_eq!(parse(&parsed.to_string()).unwrap(), parsed);
    }
    let from_str: LabelSelector = "b=1,a=2".parse().unwrap();
    assert_eq!(from_str.to_string(), "a=2,b=1");
}

#[test]
fn field_selectors_kubectl_sends() {
    let s = FieldSelector::parse("metadata.name=web").unwrap();
    assert_eq!(s.single_name(), Some("web"));
    assert_eq!(s.to_string(), "metadata.name=web");
    assert!(s.matches(|f| (f == "metadata.name").then(|| "web".to_string())));
    assert!(!s.matches(|f| (f == "metadata.name").then(|| "other".to_string())));

    let s =
        FieldSelector::parse("spec.nodeName=node-1,status.phase!=Succeeded,status.phase!=Failed")
            .unwrap();
    let fields: Vec<(&str, FieldOperator, &str)> = s
        .requirements()
        .iter()
        .map(|r| (r.field.as_str(), r.operator, r.value.as_str()))
        .collect();
    assert_eq!(
        fields,
        [
            ("spec.nodeName", FieldOperator::Equals, "node-1"),
            ("status.phase", FieldOperator::NotEquals, "Failed"),
            ("status.phase", FieldOperator::NotEquals, "Succeeded"),
        ]
    );
    assert_eq!(s.single_name(), None);
    let pod = |node: &str, phase: &str| {
        let (node, phase) = (node.to_string(), phase.to_string());
        move |f: &str| match f {
            "spec.nodeName" => Some(node.clone()),
            "status.phase" => Some(phase.clone()),
            _ => None,
        }
    };
    assert!(s.matches(pod("node-1", "Running")));
    assert!(!s.matches(pod("node-1", "Failed")));
    assert!(!s.matches(pod("node-2", "Running")));

    // Events: an empty value matches an empty or missing field.
    let s = FieldSelector::parse("involvedObject.name=web,involvedObject.namespace=").unwrap();
    assert!(s.matches(|f| (f == "involvedObject.name").then(|| "web".to_string())));
    // A missing field compares as "".
    assert!(FieldSelector::parse("status.phase!=Failed")
        .unwrap()
        .matches(|_| None));
    assert_eq!(
        FieldSelector::parse("metadata.name==x,metadata.namespace=default")
            .unwrap()
            .single_name(),
        Some("x")
    );
}

#[test]
fn field_selector_escaping_and_errors() {
    let s = FieldSelector::parse(r"metadata.name=a\,b\=c\\d").unwrap();
    assert_eq!(s.requirements()[0].value, r"a,b=c\d");
    assert_eq!(s.to_string(), r"metadata.name=a\,b\=c\\d");
    assert_eq!(escape_value(r"a,b=c\d"), r"a\,b\=c\\d");
    assert_eq!(unescape_value(&escape_value("x=,\\")).unwrap(), "x=,\\");

    let err = |s: &str| FieldSelector::parse(s).unwrap_err().to_string();
    assert_eq!(
        err("a=b=c"),
        "invalid field selector: unescaped character in value: 61"
    );
    assert_eq!(
        err(r"a=b\x"),
        r"invalid field selector: invalid escape sequence: \x"
    );
    assert_eq!(
        err(r"a=b\"),
        r"invalid field selector: invalid escape sequence: \"
    );
    assert_eq!(
        err("a=b,abc"),
        "invalid selector: 'a=b,abc'; can't understand 'abc'"
    );
    assert!(FieldSelector::parse("").unwrap().is_empty());
    assert_eq!(
        FieldSelector::parse("a=b,").unwrap().requirements().len(),
        1
    );
}
