//! Acceptance tests (issue 2): object semantics, defaulting, validation, fieldValidation,
//! warnings, subresources, dry-run, size limits, and the create/edit/set/delete commands.

use minato_e2e::{stderr, stdout, Server};
use serde_json::{json, Value};

/// A raw HTTPS request with the admin client certificate: (status, headers, body).
fn raw(
    s: &Server,
    method: &str,
    path: &str,
    ctype: &str,
    body: Option<&str>,
) -> (u16, String, String) {
    let tls = s.dir.path().join("tls");
    let mut cmd = std::process::Command::new("curl");
    cmd.args(["-sS", "-X", method, "-D", "-", "--cacert"])
        .arg(tls.join("ca.crt"))
        .arg("--cert")
        .arg(tls.join("admin.crt"))
        .arg("--key")
        .arg(tls.join("admin.key"))
        .args(["-H", &format!("Content-Type: {ctype}")]);
    // Bodies go through a file: a large one would not fit on a command line.
    let body_file = tempfile::NamedTempFile::new().expect("temp file");
    if let Some(b) = body {
        std::fs::write(body_file.path(), b).expect("write body");
        cmd.arg("--data-binary")
            .arg(format!("@{}", body_file.path().display()));
    }
    cmd.arg(format!("{}{}", s.url, path));
    let out = cmd.output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no status in {text:?} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    (status, head.to_lowercase(), body.to_string())
}

fn rv(v: &Value) -> String {
    v["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string()
}

const CM_PATH: &str = "/api/v1/namespaces/default/configmaps";

#[test]
fn deployment_and_pod_defaults() {
    let s = Server::start_with(&["--no-controllers"]);
    s.apply(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  selector:
    matchLabels: {app: d}
  template:
    metadata:
      labels: {app: d}
    spec:
      containers:
      - name: latest
        image: nginx
      - name: tagged
        image: nginx:1.25
      - name: explicit-latest
        image: nginx:latest
        ports:
        - containerPort: 80
"#,
    );
    let d = s.get_json(&["deployment", "d"]);
    let spec = &d["spec"];
    assert_eq!(spec["replicas"], 1);
    assert_eq!(spec["revisionHistoryLimit"], 10);
    assert_eq!(spec["progressDeadlineSeconds"], 600);
    assert_eq!(
        spec["strategy"],
        json!({"type":"RollingUpdate","rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"}})
    );
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Always");
    assert_eq!(pod["dnsPolicy"], "ClusterFirst");
    assert_eq!(pod["schedulerName"], "default-scheduler");
    assert_eq!(pod["terminationGracePeriodSeconds"], 30);
    assert_eq!(pod["securityContext"], json!({}));
    let c = &pod["containers"];
    assert_eq!(c[0]["imagePullPolicy"], "Always");
    assert_eq!(c[1]["imagePullPolicy"], "IfNotPresent");
    assert_eq!(c[2]["imagePullPolicy"], "Always");
    assert_eq!(c[0]["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(c[0]["terminationMessagePolicy"], "File");
    assert_eq!(c[2]["ports"][0]["protocol"], "TCP");
    // A bare pod also gets enableServiceLinks, priority, and the not-ready/unreachable tolerations.
    s.ok(&["run", "p", "--image=busybox:1.36"]);
    let p = s.get_json(&["pod", "p"]);
    assert_eq!(p["spec"]["enableServiceLinks"], true, "{}", p["spec"]);
    assert_eq!(p["spec"]["priority"], 0, "{}", p["spec"]);
    assert_eq!(
        p["spec"]["preemptionPolicy"], "PreemptLowerPriority",
        "{}",
        p["spec"]
    );
    let tol = p["spec"]["tolerations"].to_string();
    assert!(
        tol.contains("node.kubernetes.io/not-ready")
            && tol.contains("node.kubernetes.io/unreachable"),
        "{tol}"
    );
    assert_eq!(p["status"]["phase"], "Pending");
    assert_eq!(p["status"]["qosClass"], "BestEffort", "{}", p["status"]);
}

#[test]
fn service_secret_and_job_defaults() {
    let s = Server::start_with(&["--no-controllers"]);
    s.apply("apiVersion: v1\nkind: Service\nmetadata:\n  name: svc\nspec:\n  selector: {app: a}\n  ports:\n  - port: 80\n");
    let svc = s.get_json(&["service", "svc"]);
    let sp = &svc["spec"];
    assert_eq!(sp["type"], "ClusterIP");
    assert_eq!(sp["sessionAffinity"], "None");
    assert_eq!(sp["internalTrafficPolicy"], "Cluster");
    assert_eq!(sp["ipFamilyPolicy"], "SingleStack");
    assert_eq!(sp["ipFamilies"], json!(["IPv4"]));
    assert_eq!(sp["ports"][0]["protocol"], "TCP");
    assert_eq!(sp["ports"][0]["targetPort"], 80);
    assert_eq!(sp["clusterIPs"][0], sp["clusterIP"]);
    s.apply("apiVersion: v1\nkind: Service\nmetadata:\n  name: np\nspec:\n  type: NodePort\n  selector: {app: a}\n  ports:\n  - port: 80\n");
    let np = s.get_json(&["service", "np"]);
    assert_eq!(np["spec"]["externalTrafficPolicy"], "Cluster");
    let port = np["spec"]["ports"][0]["nodePort"].as_i64().unwrap();
    assert!((30000..=32767).contains(&port), "{port}");

    s.apply("apiVersion: v1\nkind: Secret\nmetadata:\n  name: sd\nstringData:\n  user: admin\ndata:\n  pw: aHVudGVyMg==\n");
    let sec = s.get_json(&["secret", "sd"]);
    assert_eq!(sec["type"], "Opaque");
    assert_eq!(sec["data"], json!({"user":"YWRtaW4=","pw":"aHVudGVyMg=="}));
    assert!(sec.get("stringData").is_none(), "{sec}");

    s.ok(&["create", "job", "j", "--image=busybox:1.36", "--", "true"]);
    let j = s.get_json(&["job", "j"]);
    assert_eq!(j["spec"]["backoffLimit"], 6);
    assert_eq!(j["spec"]["completions"], 1);
    assert_eq!(j["spec"]["parallelism"], 1);
    assert_eq!(j["spec"]["completionMode"], "NonIndexed");
    assert_eq!(j["spec"]["suspend"], false);
    assert_eq!(j["spec"]["podReplacementPolicy"], "TerminatingOrFailed");
    let uid = j["metadata"]["uid"].as_str().unwrap();
    assert_eq!(
        j["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"],
        uid
    );
    assert_eq!(
        j["spec"]["template"]["metadata"]["labels"]["batch.kubernetes.io/job-name"],
        "j"
    );
    assert_eq!(j["spec"]["template"]["spec"]["restartPolicy"], "Never");
    s.ok(&[
        "create",
        "cronjob",
        "cj",
        "--image=busybox:1.36",
        "--schedule=0 * * * *",
    ]);
    let cj = s.get_json(&["cronjob", "cj"]);
    assert_eq!(cj["spec"]["concurrencyPolicy"], "Allow");
    assert_eq!(cj["spec"]["successfulJobsHistoryLimit"], 3);
    assert_eq!(cj["spec"]["failedJobsHistoryLimit"], 1);
    assert_eq!(cj["spec"]["suspend"], false);
}

#[test]
fn validation_errors_name_upstreams_fields() {
    let s = Server::start_with(&["--no-controllers"]);
    let bad = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: bad
spec:
  replicas: -1
  selector:
    matchLabels: {app: one}
  template:
    metadata:
      labels: {app: two}
    spec:
      containers:
      - name: Bad_Name
        image: ""
"#;
    let err = s.apply_fails(bad);
    for needle in [
        "The Deployment \"bad\" is invalid: ",
        "* spec.replicas: Invalid value: -1: must be greater than or equal to 0",
        "* spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"two\"}: `selector` does not match template `labels`",
        "* spec.template.spec.containers[0].name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 label must consist of",
        "* spec.template.spec.containers[0].image: Required value",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    // The status code and the causes on the wire.
    let (code, _, body) = raw(
        &s,
        "POST",
        CM_PATH,
        "application/json",
        Some(r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Bad_Name"}}"#),
    );
    assert_eq!(code, 422, "{body}");
    let st: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(st["reason"], "Invalid");
    assert_eq!(st["details"]["name"], "Bad_Name");
    assert_eq!(st["details"]["kind"], "ConfigMap");
    assert_eq!(st["details"]["causes"][0]["field"], "metadata.name");
    assert_eq!(st["details"]["causes"][0]["reason"], "FieldValueInvalid");
    // Services: unsupported protocol, duplicate port.
    let out = s.kubectl_stdin(
        &["apply", "-f", "-"],
        Some("apiVersion: v1\nkind: Service\nmetadata:\n  name: sv\nspec:\n  ports:\n  - port: 80\n    protocol: XYZ\n"),
    );
    assert!(
        stderr(&out).contains("The Service \"sv\" is invalid: spec.ports[0].protocol: Unsupported value: \"XYZ\": supported values: \"SCTP\", \"TCP\", \"UDP\""),
        "{}",
        stderr(&out)
    );
    // Immutable fields.
    s.ok(&["create", "service", "clusterip", "imm", "--tcp=80"]);
    let out = s.kubectl(&[
        "patch",
        "service",
        "imm",
        "-p",
        r#"{"spec":{"clusterIP":"10.96.100.100","clusterIPs":["10.96.100.100"]}}"#,
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("spec.clusterIPs[0]: Invalid value: []string{\"10.96.100.100\"}: may not change once set"),
        "{}",
        stderr(&out)
    );
    s.ok(&["create", "deployment", "imm", "--image=nginx"]);
    let out = s.kubectl(&[
        "patch",
        "deployment",
        "imm",
        "--type=merge",
        "-p",
        r#"{"spec":{"selector":{"matchLabels":{"app":"other"}},"template":{"metadata":{"labels":{"app":"other"}}}}}"#,
    ]);
    assert!(
        stderr(&out).contains("spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"other\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn object_metadata_generation_and_resource_version() {
    let s = Server::start_with(&["--no-controllers"]);
    s.ok(&["create", "deployment", "g", "--image=nginx:1.25"]);
    let d0 = s.get_json(&["deployment", "g"]);
    let uid = d0["metadata"]["uid"].as_str().unwrap().to_string();
    assert_eq!(uid.len(), 36, "{uid}");
    assert!(d0["metadata"]["creationTimestamp"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    assert_eq!(d0["metadata"]["generation"], 1);
    // Labels and annotations do not bump generation; the resourceVersion changes.
    s.ok(&["label", "deployment", "g", "x=y"]);
    s.ok(&["annotate", "deployment", "g", "a=b"]);
    let d1 = s.get_json(&["deployment", "g"]);
    assert_eq!(d1["metadata"]["generation"], 1);
    assert_ne!(rv(&d0), rv(&d1));
    // Spec changes do.
    s.ok(&["scale", "deployment", "g", "--replicas=3"]);
    s.ok(&["set", "image", "deployment/g", "nginx=nginx:1.26"]);
    let d2 = s.get_json(&["deployment", "g"]);
    assert_eq!(d2["metadata"]["generation"], 3);
    assert_eq!(d2["metadata"]["uid"], uid.as_str());
    // A no-op PUT keeps the resourceVersion and writes nothing.
    let body = d2.to_string();
    let (code, _, out) = raw(
        &s,
        "PUT",
        "/apis/apps/v1/namespaces/default/deployments/g",
        "application/json",
        Some(&body),
    );
    assert_eq!(code, 200, "{out}");
    let same: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rv(&same), rv(&d2));
    // Status sent to the main resource is ignored; /status ignores spec changes.
    let mut with_status = d2.clone();
    with_status["status"] = json!({"replicas": 7, "observedGeneration": 3});
    with_status["spec"]["replicas"] = json!(5);
    let (_, _, out) = raw(
        &s,
        "PUT",
        "/apis/apps/v1/namespaces/default/deployments/g",
        "application/json",
        Some(&with_status.to_string()),
    );
    let after: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(after["spec"]["replicas"], 5);
    assert!(
        after["status"].get("replicas").is_none(),
        "{}",
        after["status"]
    );
    assert_eq!(after["metadata"]["generation"], 4);
    let mut st = after.clone();
    st["status"] = json!({"replicas": 7, "observedGeneration": 4});
    st["spec"]["replicas"] = json!(1);
    let (code, _, out) = raw(
        &s,
        "PUT",
        "/apis/apps/v1/namespaces/default/deployments/g/status",
        "application/json",
        Some(&st.to_string()),
    );
    assert_eq!(code, 200, "{out}");
    let after: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(after["status"]["replicas"], 7);
    assert_eq!(after["spec"]["replicas"], 5);
    assert_eq!(after["metadata"]["generation"], 4);
    // kubectl patch --subresource=status.
    let patch_status = |patch: &str| {
        s.ok(&[
            "patch",
            "deployment",
            "g",
            "--subresource=status",
            "--type=merge",
            "-p",
            patch,
        ])
    };
    patch_status(r#"{"status":{"readyReplicas":2}}"#);
    assert_eq!(
        s.get_json(&["deployment", "g"])["status"]["readyReplicas"],
        2
    );
    // As upstream's Deployment status strategy: annotations written through /status stay,
    // labels do not (the Deployment controller writes its revision annotation this way).
    patch_status(
        r#"{"metadata":{"annotations":{"example.com/note":"via-status"},"labels":{"via":"status"}}}"#,
    );
    let g = s.get_json(&["deployment", "g"]);
    assert_eq!(
        g["metadata"]["annotations"]["example.com/note"],
        "via-status"
    );
    assert!(
        g["metadata"]["labels"].get("via").is_none(),
        "{}",
        g["metadata"]
    );
    let (code, _, out) = raw(
        &s,
        "PATCH",
        "/apis/apps/v1/namespaces/default/deployments/g/status",
        "application/merge-patch+json",
        Some(r#"{"metadata":{"annotations":{"bad key!":"x"}}}"#),
    );
    assert_eq!(code, 422, "{out}");
    assert!(out.contains("metadata.annotations"), "{out}");
    // Upstream leaves metadata.generation unset on kinds without a spec.
    s.ok(&["create", "configmap", "nogen", "--from-literal=a=b"]);
    let cm = s.get_json(&["configmap", "nogen"]);
    assert!(
        cm["metadata"].get("generation").is_none(),
        "{}",
        cm["metadata"]
    );
}

/// What a status write may change in `metadata` differs by kind, as upstream's status
/// strategies: most keep labels, annotations, finalizers and ownerReferences; Pods keep their
/// ownerReferences as stored; FlowSchemas keep all metadata as stored.
#[test]
fn status_writes_keep_the_metadata_each_kind_lets_through() {
    let s = Server::start_with(&["--no-controllers"]);
    let patch_status = |kind: &str, name: &str, patch: &str| {
        s.ok(&[
            "patch",
            kind,
            name,
            "--subresource=status",
            "--type=merge",
            "-p",
            patch,
        ])
    };
    let owner = r#"[{"apiVersion":"v1","kind":"ConfigMap","name":"o","uid":"11111111-2222-3333-4444-555555555555"}]"#;
    let meta_patch = format!(
        r#"{{"metadata":{{"labels":{{"via":"status"}},"annotations":{{"example.com/via":"status"}},"finalizers":["example.com/hold"],"ownerReferences":{owner}}}}}"#
    );

    s.ok(&["create", "service", "clusterip", "svc", "--tcp=80:80"]);
    patch_status("service", "svc", &meta_patch);
    let m = &s.get_json(&["service", "svc"])["metadata"];
    assert_eq!(m["labels"]["via"], "status", "{m}");
    assert_eq!(m["annotations"]["example.com/via"], "status", "{m}");
    assert_eq!(m["finalizers"], json!(["example.com/hold"]), "{m}");
    assert_eq!(m["ownerReferences"][0]["name"], "o", "{m}");
    // What a status write lets through is validated as on any update.
    let (code, _, out) = raw(
        &s,
        "PATCH",
        "/api/v1/namespaces/default/services/svc/status",
        "application/merge-patch+json",
        Some(r#"{"metadata":{"labels":{"bad key!":"x"}}}"#),
    );
    assert_eq!(code, 422, "{out}");
    assert!(out.contains("metadata.labels"), "{out}");
    s.ok(&[
        "patch",
        "service",
        "svc",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ]);

    s.ok(&["run", "p", "--image=busybox", "--restart=Never"]);
    patch_status("pod", "p", &meta_patch);
    let m = &s.get_json(&["pod", "p"])["metadata"];
    assert_eq!(m["labels"]["via"], "status", "{m}");
    assert_eq!(m["annotations"]["example.com/via"], "status", "{m}");
    assert_eq!(m["finalizers"], json!(["example.com/hold"]), "{m}");
    assert!(m.get("ownerReferences").is_none(), "{m}");
    s.ok(&[
        "patch",
        "pod",
        "p",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ]);

    s.apply(
        r#"
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata: {name: fs-status}
spec:
  priorityLevelConfiguration: {name: global-default}
  rules:
  - subjects: [{kind: Group, group: {name: example}}]
    nonResourceRules: [{verbs: ["get"], nonResourceURLs: ["/x"]}]
"#,
    );
    patch_status("flowschema", "fs-status", &meta_patch);
    let m = &s.get_json(&["flowschema", "fs-status"])["metadata"];
    assert!(m.get("labels").is_none(), "{m}");
    assert!(m["annotations"].get("example.com/via").is_none(), "{m}");
    assert!(m.get("finalizers").is_none(), "{m}");
    assert!(m.get("ownerReferences").is_none(), "{m}");
}

/// `fieldValidation` on PATCH, with upstream's own integration-test patches: the patch's
/// duplicate keys (and a JSON patch's unknown operation fields) come first, then the patched
/// object's unknown fields; Strict answers 422 naming the `patch`, Warn one warning each.
#[test]
fn patches_are_validated_strictly_as_upstream() {
    let s = Server::start_with(&["--no-controllers"]);
    s.ok(&["create", "deployment", "nginx", "--image=nginx:latest"]);
    let path = "/apis/apps/v1/namespaces/default/deployments/nginx";
    let merge = r#"{"spec":{"unknown1":"val1","unknownDupe":"valDupe","unknownDupe":"valDupe2","paused":true,"paused":false,"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:latest","unknownNested":"val1","imagePullPolicy":"Always","imagePullPolicy":"Never"}]}}}}"#;
    let merge_errors = [
        r#"duplicate field "spec.unknownDupe""#,
        r#"duplicate field "spec.paused""#,
        r#"duplicate field "spec.template.spec.containers[0].imagePullPolicy""#,
        r#"unknown field "spec.template.spec.containers[0].unknownNested""#,
        r#"unknown field "spec.unknown1""#,
        r#"unknown field "spec.unknownDupe""#,
    ];
    let json_patch = r#"[{"op":"add","path":"/spec/unknown1","value":"val1","foo":"bar"},
        {"op":"add","path":"/spec/unknown2","path":"/spec/unknown3","value":"val1"},
        {"op":"add","path":"/spec/unknownDupe","value":"valDupe"},
        {"op":"add","path":"/spec/unknownDupe","value":"valDupe2"},
        {"op":"add","path":"/spec/paused","value":true},
        {"op":"add","path":"/spec/paused","value":false},
        {"op":"add","path":"/spec/template/spec/containers/0/unknownNested","value":"val1"},
        {"op":"add","path":"/spec/template/spec/containers/0/imagePullPolicy","value":"Always"},
        {"op":"add","path":"/spec/template/spec/containers/0/imagePullPolicy","value":"Never"}]"#;
    let json_errors = [
        r#"json patch unknown field "[0].foo""#,
        r#"json patch duplicate field "[1].path""#,
        r#"unknown field "spec.template.spec.containers[0].unknownNested""#,
        r#"unknown field "spec.unknown1""#,
        r#"unknown field "spec.unknown3""#,
        r#"unknown field "spec.unknownDupe""#,
    ];
    let cases: [(&str, &str, &[&str]); 3] = [
        ("application/merge-patch+json", merge, &merge_errors),
        (
            "application/strategic-merge-patch+json",
            merge,
            &merge_errors,
        ),
        ("application/json-patch+json", json_patch, &json_errors),
    ];
    for (ctype, patch, errors) in cases {
        let (code, _, body) = raw(
            &s,
            "PATCH",
            &format!("{path}?fieldValidation=Strict"),
            ctype,
            Some(patch),
        );
        assert_eq!(code, 422, "{ctype}: {body}");
        let status: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(status["reason"], "Invalid", "{body}");
        assert_eq!(status["details"]["causes"][0]["field"], "patch", "{body}");
        let msg = status["message"].as_str().unwrap();
        assert!(
            msg.starts_with(r#" "" is invalid: patch: Invalid value: ""#),
            "{msg}"
        );
        let want = format!("strict decoding error: {}", errors.join(", "));
        assert!(msg.ends_with(&want), "{ctype}:\n{msg}\nwant: {want}");

        let (code, head, body) = raw(
            &s,
            "PATCH",
            &format!("{path}?fieldValidation=Warn"),
            ctype,
            Some(patch),
        );
        assert_eq!(code, 200, "{ctype}: {body}");
        let warnings: Vec<&str> = head
            .lines()
            .filter_map(|l| l.strip_prefix("warning: 299 - \""))
            .map(|l| l.trim_end().strip_suffix('"').unwrap_or(l))
            .collect();
        let want: Vec<String> = errors
            .iter()
            .map(|e| e.replace('"', "\\\"").to_lowercase())
            .collect();
        assert_eq!(warnings, want, "{ctype}");

        let (code, head, body) = raw(
            &s,
            "PATCH",
            &format!("{path}?fieldValidation=Ignore"),
            ctype,
            Some(patch),
        );
        assert_eq!(code, 200, "{ctype}: {body}");
        assert!(!head.contains("warning:"), "{head}");
    }
    // A strategic merge patch is shown as Go prints the decoded patch.
    let (code, _, body) = raw(
        &s,
        "PATCH",
        &format!("{path}?fieldValidation=Strict"),
        "application/strategic-merge-patch+json",
        Some(r#"{"spec":{"bogus":1,"replicas":2}}"#),
    );
    assert_eq!(code, 422, "{body}");
    let status: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        status["message"],
        r#" "" is invalid: patch: Invalid value: "map[spec:map[bogus:1 replicas:2]]": strict decoding error: unknown field "spec.bogus""#
    );
    // kubectl patch leaves fieldValidation to the server's default, Warn.
    let out = s.kubectl(&[
        "patch",
        "deployment",
        "nginx",
        "-p",
        r#"{"spec":{"bogus":1}}"#,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(r#"Warning: unknown field "spec.bogus""#),
        "{}",
        stderr(&out)
    );
    // kubectl apply sends its changes as a strategic merge patch under Strict.
    let manifest = |extra: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  a: \"1\"\n{extra}"
        )
    };
    s.apply(&manifest(""));
    let err = s.apply_fails(&manifest("bogus: 1\n"));
    assert!(
        err.contains(r#"is invalid: patch: Invalid value: "map[bogus:1"#)
            && err.contains(r#"strict decoding error: unknown field "bogus""#),
        "{err}"
    );
}

#[test]
fn field_validation_strict_warn_ignore() {
    let s = Server::start_with(&["--no-controllers"]);
    let unknown = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"NAME"},"bogus":1,"data":{"a":"1"}}"#;
    let dup = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"NAME"},"data":{"a":"1","a":"2"}}"#;
    let (code, _, body) = raw(
        &s,
        "POST",
        &format!("{CM_PATH}?fieldValidation=Strict"),
        "application/json",
        Some(&unknown.replace("NAME", "s1")),
    );
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains(r#"ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: unknown field \"bogus\""#),
        "{body}"
    );
    let (code, _, body) = raw(
        &s,
        "POST",
        &format!("{CM_PATH}?fieldValidation=Strict"),
        "application/json",
        Some(&dup.replace("NAME", "s2")),
    );
    assert_eq!(code, 400, "duplicate field accepted under Strict: {body}");
    assert!(
        body.contains(r#"strict decoding error: duplicate field \"data.a\""#),
        "{body}"
    );
    let (code, head, body) = raw(
        &s,
        "POST",
        &format!("{CM_PATH}?fieldValidation=Warn"),
        "application/json",
        Some(&unknown.replace("NAME", "w1")),
    );
    assert_eq!(code, 201, "{body}");
    assert!(
        head.contains(r#"warning: 299 - "unknown field \"bogus\"""#),
        "{head}"
    );
    let (code, head, body) = raw(
        &s,
        "POST",
        &format!("{CM_PATH}?fieldValidation=Warn"),
        "application/json",
        Some(&dup.replace("NAME", "w2")),
    );
    assert_eq!(code, 201, "{body}");
    assert!(
        head.contains(r#"warning: 299 - "duplicate field \"data.a\"""#),
        "{head}"
    );
    let (code, head, body) = raw(
        &s,
        "POST",
        &format!("{CM_PATH}?fieldValidation=Ignore"),
        "application/json",
        Some(&unknown.replace("NAME", "i1")),
    );
    assert_eq!(code, 201, "{body}");
    assert!(!head.contains("warning:"), "{head}");
    let (code, _, body) = raw(
        &s,
        "POST",
        &format!("{CM_PATH}?fieldValidation=Bogus"),
        "application/json",
        Some(&unknown.replace("NAME", "b1")),
    );
    assert_eq!(code, 422, "{body}");
    assert!(
        body.contains(r#"fieldValidation: Unsupported value: \"Bogus\""#),
        "{body}"
    );

    // kubectl: apply (strict by default) fails, --validate=warn warns, --validate=false is silent.
    let manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: k1\nbogus: 1\n";
    let err = s.apply_fails(manifest);
    assert!(
        err.contains("strict decoding error: unknown field \"bogus\""),
        "{err}"
    );
    let out = s.kubectl_stdin(&["create", "--validate=warn", "-f", "-"], Some(manifest));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Warning: unknown field \"bogus\""),
        "{}",
        stderr(&out)
    );
    let out = s.kubectl_stdin(
        &["create", "--validate=false", "-f", "-"],
        Some(&manifest.replace("k1", "k2")),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("Warning"), "{}", stderr(&out));
}

#[test]
fn deprecation_warnings_reach_kubectl() {
    let s = Server::start_with(&["--no-controllers"]);
    let out = s.kubectl_stdin(
        &["apply", "-f", "-"],
        Some(
            r#"apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: ing
  annotations:
    kubernetes.io/ingress.class: nginx
spec:
  defaultBackend:
    service:
      name: web
      port:
        number: 80
"#,
        ),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Warning: annotation \"kubernetes.io/ingress.class\" is deprecated, please use 'spec.ingressClassName' instead"),
        "{}",
        stderr(&out)
    );
    // A pod using a deprecated seccomp annotation.
    let out = s.kubectl_stdin(
        &["apply", "-f", "-"],
        Some("apiVersion: v1\nkind: Pod\nmetadata:\n  name: sp\n  annotations:\n    seccomp.security.alpha.kubernetes.io/pod: runtime/default\nspec:\n  containers:\n  - name: c\n    image: busybox\n"),
    );
    assert!(
        stderr(&out).contains("Warning: metadata.annotations[seccomp.security.alpha.kubernetes.io/pod]: non-functional in v1.27+; use the \"seccompProfile\" field instead"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
}

#[test]
fn dry_run_server_changes_nothing() {
    let s = Server::start_with(&["--no-controllers"]);
    let out = s.ok(&[
        "create",
        "deployment",
        "dr",
        "--image=nginx",
        "--dry-run=server",
        "-o",
        "json",
    ]);
    let d: Value = serde_json::from_str(&out).unwrap();
    // The dry-run answer is defaulted like a real create.
    assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
    assert!(!s.kubectl(&["get", "deployment", "dr"]).status.success());
    s.ok(&["create", "configmap", "keep", "--from-literal=a=1"]);
    let before = s.get_json(&["configmap", "keep"]);
    s.ok(&["label", "configmap", "keep", "x=y", "--dry-run=server"]);
    let out = s.ok(&["delete", "configmap", "keep", "--dry-run=server"]);
    assert!(
        out.contains("configmap \"keep\" deleted (server dry run)"),
        "{out}"
    );
    let after = s.get_json(&["configmap", "keep"]);
    assert_eq!(rv(&before), rv(&after));
    assert!(after["metadata"].get("labels").is_none());
}

#[test]
fn too_large_objects_are_refused() {
    let s = Server::start_with(&["--no-controllers"]);
    let f = s.dir.path().join("big.txt");
    std::fs::write(&f, "a".repeat(2 * 1024 * 1024)).unwrap();
    let out = s.kubectl(&[
        "create",
        "configmap",
        "big",
        &format!("--from-file=big.txt={}", f.display()),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(
            "ConfigMap \"big\" is invalid: []: Too long: may not be more than 1048576 bytes"
        ),
        "{}",
        stderr(&out)
    );
    // A kind without a size check of its own (a 1.6 MiB Event message) hits the store limit.
    let msg = "m".repeat(1_600_000);
    let ev = json!({"apiVersion":"v1","kind":"Event","metadata":{"name":"big-ev"},
        "involvedObject":{"kind":"ConfigMap","name":"x","namespace":"default"},"message":msg,"reason":"R","type":"Normal"});
    let (code, _, body) = raw(
        &s,
        "POST",
        "/api/v1/namespaces/default/events",
        "application/json",
        Some(&ev.to_string()),
    );
    assert!(code >= 400, "1.6 MiB event accepted: {code}");
    assert!(body.to_lowercase().contains("too large"), "{code} {body}");
    assert!(!s.kubectl(&["get", "configmap", "big"]).status.success());
}

#[test]
fn create_subcommands_build_upstreams_objects() {
    let s = Server::start_with(&["--no-controllers"]);
    // secret generic, docker-registry, tls
    s.ok(&[
        "create",
        "secret",
        "generic",
        "g",
        "--from-literal=a=b",
        "--type=example.com/t",
    ]);
    let g = s.get_json(&["secret", "g"]);
    assert_eq!(g["type"], "example.com/t");
    assert_eq!(g["data"]["a"], "Yg==");
    s.ok(&[
        "create",
        "secret",
        "docker-registry",
        "reg",
        "--docker-server=r.example.com",
        "--docker-username=u",
        "--docker-password=p",
    ]);
    let r = s.get_json(&["secret", "reg"]);
    assert_eq!(r["type"], "kubernetes.io/dockerconfigjson");
    assert!(r["data"][".dockerconfigjson"].is_string());
    let dir = s.dir.path();
    let gen = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=x",
            "-keyout",
        ])
        .arg(dir.join("k.pem"))
        .arg("-out")
        .arg(dir.join("c.pem"))
        .output()
        .expect("openssl");
    assert!(gen.status.success());
    s.ok(&[
        "create",
        "secret",
        "tls",
        "tls",
        &format!("--cert={}", dir.join("c.pem").display()),
        &format!("--key={}", dir.join("k.pem").display()),
    ]);
    let t = s.get_json(&["secret", "tls"]);
    assert_eq!(t["type"], "kubernetes.io/tls");
    assert!(t["data"]["tls.crt"].is_string() && t["data"]["tls.key"].is_string());
    // A tls Secret without tls.key is invalid.
    let out = s.kubectl_stdin(
        &["create", "-f", "-"],
        Some("apiVersion: v1\nkind: Secret\nmetadata:\n  name: badtls\ntype: kubernetes.io/tls\ndata:\n  tls.crt: eA==\n"),
    );
    assert!(
        stderr(&out).contains("The Secret \"badtls\" is invalid: data[tls.key]: Required value"),
        "{}",
        stderr(&out)
    );
    // expose
    s.ok(&["create", "deployment", "web", "--image=nginx", "--port=80"]);
    assert!(s
        .ok(&[
            "expose",
            "deployment",
            "web",
            "--port=8080",
            "--target-port=80"
        ])
        .contains("service/web exposed"));
    let svc = s.get_json(&["service", "web"]);
    assert_eq!(svc["spec"]["selector"], json!({"app":"web"}));
    assert_eq!(svc["spec"]["ports"][0]["port"], 8080);
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], 80);
    // set resources / env
    s.ok(&[
        "set",
        "resources",
        "deployment",
        "web",
        "--limits=cpu=200m,memory=512Mi",
        "--requests=cpu=100m",
    ]);
    s.ok(&["set", "env", "deployment/web", "MODE=prod"]);
    let d = s.get_json(&["deployment", "web"]);
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        c["resources"]["limits"],
        json!({"cpu":"200m","memory":"512Mi"})
    );
    assert_eq!(c["resources"]["requests"], json!({"cpu":"100m"}));
    assert_eq!(c["env"], json!([{"name":"MODE","value":"prod"}]));
    // Quantities are canonicalised: 1000m → 1, 1024Mi → 1Gi.
    s.ok(&[
        "set",
        "resources",
        "deployment",
        "web",
        "--limits=cpu=1000m,memory=1024Mi",
    ]);
    let d = s.get_json(&["deployment", "web"]);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"],
        json!({"cpu":"1","memory":"1Gi"})
    );
}

#[test]
fn edit_with_an_editor_script() {
    let s = Server::start_with(&["--no-controllers"]);
    s.ok(&["create", "configmap", "ed", "--from-literal=mode=old"]);
    let script = s.dir.path().join("editor.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nsed -i 's/mode: old/mode: new/' \"$1\"\n",
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&script)
        .status()
        .unwrap();
    let out = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&s.kubeconfig)
        .args(["edit", "configmap", "ed"])
        .env("EDITOR", &script)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("configmap/ed edited"),
        "{}",
        stdout(&out)
    );
    assert_eq!(s.get_json(&["configmap", "ed"])["data"]["mode"], "new");
    // An edit that makes the object invalid is refused and the file kept.
    std::fs::write(
        &script,
        "#!/bin/sh\nsed -i 's/name: ed/name: Bad_Name/' \"$1\"\n",
    )
    .unwrap();
    let out = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&s.kubeconfig)
        .args(["edit", "configmap", "ed"])
        .env("EDITOR", &script)
        .output()
        .unwrap();
    assert!(!out.status.success());
    // Upstream refuses a rename by edit.
    assert!(
        stderr(&out).contains("error: At least one of apiVersion, kind and name was changed"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
}

#[test]
fn delete_wait_and_finalizers() {
    let s = Server::start_with(&["--no-controllers"]);
    s.apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  finalizers: [example.com/hold]\n");
    // --wait with a timeout reports the timeout while the finalizer holds.
    let out = s.kubectl(&["delete", "configmap", "held", "--timeout=2s"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("error: timed out waiting for the condition on configmaps/held"),
        "{}",
        stderr(&out)
    );
    let cm = s.get_json(&["configmap", "held"]);
    assert!(cm["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(cm["metadata"]["deletionGracePeriodSeconds"], 0);
    // New finalizers may not be added once deleting.
    let out = s.kubectl(&[
        "patch",
        "configmap",
        "held",
        "--type=json",
        "-p",
        r#"[{"op":"add","path":"/metadata/finalizers/-","value":"example.com/more"}]"#,
    ]);
    assert!(
        stderr(&out)
            .contains("Forbidden: no new finalizers can be added if the object is being deleted"),
        "{}",
        stderr(&out)
    );
    s.ok(&[
        "patch",
        "configmap",
        "held",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ]);
    assert!(!s.kubectl(&["get", "configmap", "held"]).status.success());
    // Deleting something absent: NotFound, and --ignore-not-found silences it.
    let err = s.fails(&["delete", "configmap", "absent"]);
    assert!(
        err.contains("Error from server (NotFound): configmaps \"absent\" not found"),
        "{err}"
    );
    assert_eq!(
        s.ok(&["delete", "configmap", "absent", "--ignore-not-found"]),
        ""
    );
    // delete by label, and --all
    for n in ["l1", "l2", "l3"] {
        s.ok(&["create", "configmap", n]);
    }
    s.ok(&["label", "configmap", "l1", "l2", "del=yes"]);
    let out = s.ok(&["delete", "configmap", "-l", "del=yes"]);
    assert!(
        out.contains("configmap \"l1\" deleted") && out.contains("configmap \"l2\" deleted"),
        "{out}"
    );
    assert!(s.kubectl(&["get", "configmap", "l3"]).status.success());
}
