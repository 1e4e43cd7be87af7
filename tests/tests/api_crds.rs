//! Acceptance tests (issue 2): CustomResourceDefinitions end to end with kubectl.

use std::time::{Duration, Instant};

use minato_e2e::{stderr, stdout, Server};
use serde_json::{json, Value};

const CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
    listKind: WidgetList
    shortNames: [wd]
    categories: [all, gadgets]
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale:
        specReplicasPath: .spec.replicas
        statusReplicasPath: .status.replicas
        labelSelectorPath: .status.selector
    additionalPrinterColumns:
    - name: Size
      type: string
      jsonPath: .spec.size
    - name: Replicas
      type: integer
      jsonPath: .spec.replicas
    - name: Color
      type: string
      jsonPath: .spec.color
      priority: 1
    - name: Age
      type: date
      jsonPath: .metadata.creationTimestamp
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size:
                type: string
                enum: [small, medium, large]
              replicas:
                type: integer
                minimum: 0
                default: 1
              color:
                type: string
                default: blue
              email:
                type: string
                format: email
              tags:
                type: array
                maxItems: 2
                items: {type: string}
              free:
                type: object
                x-kubernetes-preserve-unknown-fields: true
          status:
            type: object
            properties:
              replicas: {type: integer}
              selector: {type: string}
  - name: v1beta1
    served: true
    storage: false
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"#;

fn install(s: &Server) {
    s.apply(CRD);
    s.ok(&[
        "wait",
        "--for=condition=Established",
        "crd/widgets.example.com",
        "--timeout=20s",
    ]);
}

fn widget(name: &str, spec: &str) -> String {
    format!("apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: {name}\nspec:\n{spec}")
}

#[test]
fn crd_status_conditions_and_discovery() {
    let s = Server::start();
    install(&s);
    let crd = s.get_json(&["crd", "widgets.example.com"]);
    let conds = crd["status"]["conditions"].as_array().unwrap();
    for t in ["NamesAccepted", "Established"] {
        let c = conds
            .iter()
            .find(|c| c["type"] == t)
            .unwrap_or_else(|| panic!("{t}: {conds:?}"));
        assert_eq!(c["status"], "True");
    }
    assert_eq!(crd["status"]["acceptedNames"]["kind"], "Widget");
    assert_eq!(crd["status"]["storedVersions"], json!(["v1"]));
    let r = s.ok(&["api-resources", "--api-group=example.com"]);
    let row: Vec<&str> = r.lines().nth(1).unwrap_or("").split_whitespace().collect();
    assert_eq!(
        row,
        ["widgets", "wd", "example.com/v1", "true", "Widget"],
        "{r}"
    );
    let v = s.ok(&["api-versions"]);
    assert!(v.lines().any(|l| l == "example.com/v1"), "{v}");
    assert!(v.lines().any(|l| l == "example.com/v1beta1"), "{v}");
    let gv: Value = serde_json::from_str(&s.ok(&["get", "--raw", "/apis/example.com/v1"])).unwrap();
    let names: Vec<&str> = gv["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["widgets", "widgets/status", "widgets/scale"],
        "{gv}"
    );
    let g: Value = serde_json::from_str(&s.ok(&["get", "--raw", "/apis/example.com"])).unwrap();
    assert_eq!(g["preferredVersion"]["version"], "v1", "{g}");
    // CRD printer columns for the CRDs themselves.
    let t = s.ok(&["get", "crds"]);
    assert!(t.starts_with("NAME") && t.contains("CREATED AT"), "{t}");
}

#[test]
fn defaults_validation_pruning_and_printer_columns() {
    let s = Server::start();
    install(&s);
    let out = s.kubectl_stdin(
        &["apply", "-f", "-"],
        Some(&widget("w1", "  size: small\n  free: {anything: [1, 2]}\n")),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("widget.example.com/w1 created"),
        "{}",
        stdout(&out)
    );
    let w = s.get_json(&["widget", "w1"]);
    assert_eq!(
        w["spec"],
        json!({"size":"small","replicas":1,"color":"blue","free":{"anything":[1,2]}})
    );
    assert_eq!(w["metadata"]["generation"], 1);
    // Printer columns; priority 1 only in -o wide.
    let t = s.ok(&["get", "widgets"]);
    let lines: Vec<Vec<&str>> = t.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines[0], ["NAME", "SIZE", "REPLICAS", "AGE"], "{t}");
    assert_eq!(lines[1][..3], ["w1", "small", "1"], "{t}");
    let t = s.ok(&["get", "wd", "-o", "wide"]);
    let lines: Vec<Vec<&str>> = t.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(
        lines[0],
        ["NAME", "SIZE", "REPLICAS", "COLOR", "AGE"],
        "{t}"
    );
    assert_eq!(lines[1][..4], ["w1", "small", "1", "blue"], "{t}");
    // Validation: types, enum, minimum, format, maxItems, all reported together.
    let out = s.kubectl_stdin(
        &["apply", "-f", "-"],
        Some(&widget(
            "w2",
            "  size: huge\n  replicas: -1\n  email: notanemail\n  tags: [a, b, c]\n  color: 5\n",
        )),
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    for needle in [
        "The Widget \"w2\" is invalid: ",
        "spec.size: Unsupported value: \"huge\": supported values: \"small\", \"medium\", \"large\"",
        "spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0",
        "spec.email: Invalid value: \"notanemail\": spec.email in body must be of type email: \"notanemail\"",
        "spec.tags: Too many: 3: must have at most 2 items",
        "spec.color: Invalid value: \"integer\": spec.color in body must be of type string: \"integer\"",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    let out = s.kubectl_stdin(
        &["apply", "-f", "-"],
        Some(&widget("w3", "  replicas: 2\n")),
    );
    assert!(
        stderr(&out).contains("The Widget \"w3\" is invalid: spec.size: Required value"),
        "{}",
        stderr(&out)
    );
    // Unknown fields: strict by default for kubectl, pruned with --validate=false.
    let unknown = widget("w4", "  size: large\n  junk: 1\n");
    let out = s.kubectl_stdin(&["apply", "-f", "-"], Some(&unknown));
    assert!(
        stderr(&out).contains("strict decoding error: unknown field \"spec.junk\""),
        "{}",
        stderr(&out)
    );
    let out = s.kubectl_stdin(&["create", "--validate=warn", "-f", "-"], Some(&unknown));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Warning: unknown field \"spec.junk\""),
        "{}",
        stderr(&out)
    );
    let w4 = s.get_json(&["widget", "w4"]);
    assert!(
        w4["spec"].get("junk").is_none(),
        "not pruned: {}",
        w4["spec"]
    );
    // Objects with metadata beyond name etc. are fine; a bad name is not.
    let out = s.kubectl_stdin(
        &["apply", "-f", "-"],
        Some(&widget("Bad_Name", "  size: small\n")),
    );
    assert!(
        stderr(&out).contains("metadata.name: Invalid value: \"Bad_Name\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn status_and_scale_subresources() {
    let s = Server::start();
    install(&s);
    s.apply(&widget("w", "  size: small\n"));
    assert!(s
        .ok(&["scale", "widget", "w", "--replicas=3"])
        .contains("widget.example.com/w scaled"));
    let w = s.get_json(&["widget", "w"]);
    assert_eq!(w["spec"]["replicas"], 3);
    assert_eq!(w["metadata"]["generation"], 2);
    s.ok(&[
        "patch",
        "widget",
        "w",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"replicas":3,"selector":"app=w"}}"#,
    ]);
    let scale: Value = serde_json::from_str(&s.ok(&[
        "get",
        "--raw",
        "/apis/example.com/v1/namespaces/default/widgets/w/scale",
    ]))
    .unwrap();
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["apiVersion"], "autoscaling/v1");
    assert_eq!(scale["spec"]["replicas"], 3);
    assert_eq!(scale["status"], json!({"replicas":3,"selector":"app=w"}));
    // Status via the main resource is ignored; generation is not bumped by status.
    let out = s.ok(&[
        "patch",
        "widget",
        "w",
        "--type=merge",
        "-p",
        r#"{"status":{"replicas":9}}"#,
    ]);
    assert!(out.contains("patched (no change)"), "{out}");
    let w = s.get_json(&["widget", "w"]);
    assert_eq!(w["status"]["replicas"], 3);
    assert_eq!(w["metadata"]["generation"], 2);
    let err = s.fails(&[
        "scale",
        "widget",
        "w",
        "--current-replicas=5",
        "--replicas=1",
    ]);
    assert!(err.contains("Expected replicas to be 5, was 3"), "{err}");
}

#[test]
fn versions_categories_cluster_scope_and_deletion() {
    let s = Server::start();
    install(&s);
    s.apply(&widget("w", "  size: medium\n"));
    // Served non-storage version reads the same object.
    let b = s.get_json(&["widgets.v1beta1.example.com", "w"]);
    assert_eq!(b["apiVersion"], "example.com/v1beta1");
    assert_eq!(b["spec"]["size"], "medium");
    // A watch at the non-storage version carries that version, with the write's revision.
    let rv = b["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    s.ok(&["label", "widget", "w", "colour=blue"]);
    let now = s.get_json(&["widget", "w"]);
    let path = format!(
        "/apis/example.com/v1beta1/namespaces/default/widgets?watch=true&resourceVersion={rv}&timeoutSeconds=2"
    );
    let out = s.ok(&["get", "--raw", &path]);
    let events: Vec<Value> = out
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(events.len(), 1, "{out}");
    assert_eq!(events[0]["type"], "MODIFIED");
    let o = &events[0]["object"];
    assert_eq!(o["apiVersion"], "example.com/v1beta1", "{out}");
    assert_eq!(o["metadata"]["labels"]["colour"], "blue");
    assert_eq!(
        o["metadata"]["resourceVersion"],
        now["metadata"]["resourceVersion"]
    );
    // Categories.
    let all = s.ok(&["get", "all"]);
    assert!(all.contains("widget.example.com/w"), "{all}");
    let g = s.ok(&["get", "gadgets"]);
    assert!(g.contains("w "), "{g}");
    // A cluster-scoped CRD.
    s.apply(
        r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: regions.geo.example.com
spec:
  group: geo.example.com
  scope: Cluster
  names: {plural: regions, singular: region, kind: Region}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              code: {type: string}
"#,
    );
    s.ok(&[
        "wait",
        "--for=condition=Established",
        "crd/regions.geo.example.com",
        "--timeout=20s",
    ]);
    s.apply(
        "apiVersion: geo.example.com/v1\nkind: Region\nmetadata:\n  name: eu\nspec:\n  code: EU\n",
    );
    let r = s.get_json(&["region", "eu"]);
    assert!(
        r["metadata"].get("namespace").is_none(),
        "{}",
        r["metadata"]
    );
    assert!(s
        .ok(&["get", "--raw", "/apis/geo.example.com/v1/regions/eu"])
        .contains("\"code\":\"EU\""));
    // Deleting the CRD removes the resource and its objects.
    s.ok(&["delete", "crd", "widgets.example.com", "--timeout=30s"]);
    let start = Instant::now();
    loop {
        let out = s.kubectl(&["get", "widgets"]);
        if !out.status.success() {
            // With kubectl's discovery cache still naming widgets the server answers 404.
            assert!(
                stderr(&out).contains("the server doesn't have a resource type \"widgets\"")
                    || stderr(&out).contains("Unable to list \"example.com/v1, Resource=widgets\": the server could not find the requested resource"),
                "{}",
                stderr(&out)
            );
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "widgets still served"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    // Re-creating the CRD does not bring the old objects back.
    install(&s);
    let out = s.ok(&["get", "widgets", "-o", "name"]);
    assert_eq!(out.trim(), "", "old objects survived CRD deletion: {out}");
}

#[test]
fn explain_and_openapi_of_a_crd() {
    let s = Server::start();
    install(&s);
    let e = s.ok(&["explain", "widget.spec.size"]);
    assert!(e.contains("FIELD: size <string>"), "{e}");
    assert!(e.contains("ENUM:\n    small\n    medium\n    large"), "{e}");
    let e = s.ok(&["explain", "widgets.spec"]);
    assert!(e.contains("size\t<string> -required-"), "{e}");
    assert!(e.contains("replicas\t<integer>"), "{e}");
}

#[test]
fn invalid_crds_are_rejected() {
    let s = Server::start();
    // Not structural: a property without a type.
    let out = s.kubectl_stdin(
        &["apply", "-f", "-"],
        Some(
            r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: bads.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: bads, singular: bad, kind: Bad}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {}
"#,
        ),
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields"),
        "{}",
        stderr(&out)
    );
    // Name must be plural.group.
    let out = s.kubectl_stdin(
        &["apply", "-f", "-"],
        Some(
            r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: wrong.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: things, singular: thing, kind: Thing}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object}
"#,
        ),
    );
    assert!(
        stderr(&out).contains("metadata.name: Invalid value: \"wrong.example.com\": must be spec.names.plural+\".\"+spec.group"),
        "{}",
        stderr(&out)
    );
}
