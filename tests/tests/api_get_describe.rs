//! Acceptance tests (issue 2): `kubectl get` output formats and upstream's server-side columns,
//! `describe`, discovery commands, `explain`, `auth can-i`, `cluster-info`.

use minato_e2e::{stderr, stdout, Server};
use serde_json::Value;

/// The header line of a `kubectl get` table, split into column names.
fn header(table: &str) -> Vec<String> {
    let first = table.lines().next().unwrap_or("");
    // Column names are separated by 2+ spaces; some names contain one space ("LAST SCHEDULE").
    first
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

/// Runs of blanks collapsed to one space (describe aligns columns per section).
fn squash(s: &str) -> String {
    s.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

fn has(text: &str, needle: &str) -> bool {
    squash(text).contains(&squash(needle))
}

fn row<'a>(table: &'a str, name: &str) -> Vec<&'a str> {
    table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no row {name} in:\n{table}"))
        .split_whitespace()
        .collect()
}

const DEPLOY: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        ports:
        - containerPort: 80
      - name: sidecar
        image: busybox:1.36
        command: [sleep, "3600"]
"#;

#[test]
fn builtin_kinds_print_upstreams_columns() {
    let s = Server::start();
    s.apply(DEPLOY);
    let t = s.ok(&["get", "deployments"]);
    assert_eq!(
        header(&t),
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        "{t}"
    );
    // READY is ready/desired (a deployment controller may fill the other counters).
    assert!(row(&t, "web")[1].ends_with("/3"), "{t}");
    let t = s.ok(&["get", "deployments", "-o", "wide"]);
    assert_eq!(
        header(&t),
        [
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ],
        "{t}"
    );
    let r = row(&t, "web");
    assert_eq!(
        r[5..],
        ["nginx,sidecar", "nginx:1.25,busybox:1.36", "app=web"],
        "{t}"
    );

    // Services, ClusterIP and NodePort.
    s.ok(&["create", "service", "clusterip", "cip", "--tcp=80:8080"]);
    s.ok(&[
        "create",
        "service",
        "nodeport",
        "np",
        "--tcp=8443:443",
        "--node-port=30080",
    ]);
    let t = s.ok(&["get", "services", "-o", "wide"]);
    assert_eq!(
        header(&t),
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE",
            "SELECTOR"
        ],
        "{t}"
    );
    let r = row(&t, "np");
    assert_eq!(r[1], "NodePort", "{t}");
    assert_eq!(r[3], "<none>", "{t}");
    assert_eq!(r[4], "8443:30080/TCP", "{t}");
    assert_eq!(r[6], "app=np", "{t}");
    let r = row(&t, "cip");
    assert_eq!((r[1], r[4]), ("ClusterIP", "80/TCP"), "{t}");

    // Pods (nothing runs them: Pending, no node).
    s.ok(&[
        "run",
        "p1",
        "--image=busybox:1.36",
        "--labels=app=p",
        "--",
        "sleep",
        "1",
    ]);
    let t = s.ok(&["get", "pods", "-o", "wide"]);
    assert_eq!(
        header(&t),
        [
            "NAME",
            "READY",
            "STATUS",
            "RESTARTS",
            "AGE",
            "IP",
            "NODE",
            "NOMINATED NODE",
            "READINESS GATES"
        ],
        "{t}"
    );
    let r = row(&t, "p1");
    assert_eq!(r[1..4], ["0/1", "Pending", "0"], "{t}");

    // ConfigMaps, Secrets, Namespaces.
    s.ok(&[
        "create",
        "configmap",
        "cm",
        "--from-literal=a=1",
        "--from-literal=b=2",
    ]);
    let t = s.ok(&["get", "configmap", "cm"]);
    assert_eq!(header(&t), ["NAME", "DATA", "AGE"], "{t}");
    assert_eq!(row(&t, "cm")[1], "2", "{t}");
    s.ok(&["create", "secret", "generic", "sec", "--from-literal=pw=x"]);
    let t = s.ok(&["get", "secret", "sec"]);
    assert_eq!(header(&t), ["NAME", "TYPE", "DATA", "AGE"], "{t}");
    assert_eq!(row(&t, "sec")[1..3], ["Opaque", "1"], "{t}");
    let t = s.ok(&["get", "namespace", "default"]);
    assert_eq!(header(&t), ["NAME", "STATUS", "AGE"], "{t}");

    // Jobs and CronJobs.
    s.ok(&["create", "job", "j1", "--image=busybox:1.36", "--", "true"]);
    let t = s.ok(&["get", "jobs", "-o", "wide"]);
    assert_eq!(
        header(&t),
        [
            "NAME",
            "STATUS",
            "COMPLETIONS",
            "DURATION",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ],
        "{t}"
    );
    s.ok(&[
        "create",
        "cronjob",
        "cj",
        "--image=busybox:1.36",
        "--schedule=*/5 * * * *",
        "--",
        "true",
    ]);
    let t = s.ok(&["get", "cronjobs"]);
    assert_eq!(
        header(&t),
        [
            "NAME",
            "SCHEDULE",
            "TIMEZONE",
            "SUSPEND",
            "ACTIVE",
            "LAST SCHEDULE",
            "AGE"
        ],
        "{t}"
    );
    let r = row(&t, "cj");
    assert_eq!(
        r[1..8],
        ["*/5", "*", "*", "*", "*", "<none>", "False"],
        "{t}"
    );

    // A Node object (nothing reports its status).
    s.apply("apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n  labels: {node-role.kubernetes.io/control-plane: \"\"}\n");
    let t = s.ok(&["get", "nodes"]);
    assert_eq!(
        header(&t),
        ["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
        "{t}"
    );
    let r = row(&t, "n1");
    assert_eq!(r[1..3], ["Unknown", "control-plane"], "{t}");
}

#[test]
fn output_formats_name_jsonpath_custom_columns_yaml() {
    let s = Server::start();
    s.apply(DEPLOY);
    assert_eq!(
        s.ok(&["get", "deployment", "web", "-o", "name"]).trim(),
        "deployment.apps/web"
    );
    assert_eq!(
        s.ok(&[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[*].name}"
        ]),
        "nginx sidecar"
    );
    let t = s.ok(&[
        "get",
        "deployments",
        "-o",
        "custom-columns=NAME:.metadata.name,REPLICAS:.spec.replicas,IMAGE:.spec.template.spec.containers[0].image",
    ]);
    let lines: Vec<Vec<&str>> = t.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines[0], ["NAME", "REPLICAS", "IMAGE"], "{t}");
    assert_eq!(lines[1], ["web", "3", "nginx:1.25"], "{t}");
    let y: Value =
        serde_yaml::from_str(&s.ok(&["get", "deployment", "web", "-o", "yaml"])).unwrap();
    assert_eq!(y["kind"], "Deployment");
    assert_eq!(y["apiVersion"], "apps/v1");
    // A list read as JSON is a List of typed items.
    let l = s.get_json(&["deployments"]);
    assert_eq!(l["kind"], "List");
    assert_eq!(l["items"][0]["kind"], "Deployment");
    assert_eq!(l["items"][0]["apiVersion"], "apps/v1");
    // -A adds the NAMESPACE column; the kubernetes Service lives in default.
    let t = s.ok(&["get", "services", "-A"]);
    assert_eq!(header(&t)[0..2], ["NAMESPACE", "NAME"], "{t}");
    assert!(
        t.lines()
            .any(|l| l.starts_with("default") && l.contains("kubernetes")),
        "{t}"
    );
    // --show-labels on the server-side table.
    let t = s.ok(&["get", "deployments", "--show-labels"]);
    assert_eq!(header(&t).last().unwrap(), "LABELS", "{t}");
    assert!(t.contains("app=web"), "{t}");
    // -L adds a label column.
    let t = s.ok(&["get", "deployments", "-L", "app"]);
    assert_eq!(header(&t).last().unwrap(), "APP", "{t}");
}

#[test]
fn chunked_table_lists_every_item_once() {
    let s = Server::start();
    for i in 0..7 {
        s.ok(&["create", "configmap", &format!("c{i}")]);
    }
    let t = s.ok(&["get", "configmaps", "--chunk-size=2"]);
    let names: Vec<&str> = t
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap())
        .filter(|n| n.starts_with('c') && n.len() == 2)
        .collect();
    assert_eq!(names, ["c0", "c1", "c2", "c3", "c4", "c5", "c6"], "{t}");
    // Only one header line even though the table came in 4 chunks.
    assert_eq!(t.matches("NAME").count(), 1, "{t}");
    // The raw list carries a continue token and remainingItemCount.
    let l: Value = serde_json::from_str(&s.ok(&[
        "get",
        "--raw",
        "/api/v1/namespaces/default/configmaps?limit=2",
    ]))
    .unwrap();
    assert_eq!(l["items"].as_array().unwrap().len(), 2);
    assert!(
        l["metadata"]["continue"]
            .as_str()
            .is_some_and(|c| !c.is_empty()),
        "{l}"
    );
    let remaining = l["metadata"]["remainingItemCount"]
        .as_i64()
        .expect("remainingItemCount");
    assert!(remaining >= 5, "{l}");
}

#[test]
fn get_watch_prints_table_rows_as_things_change() {
    let s = Server::start();
    s.ok(&["create", "configmap", "w1", "--from-literal=a=1"]);
    let mut child = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&s.kubeconfig)
        .args(["get", "configmaps", "-w", "--request-timeout=15s"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    s.ok(&[
        "create",
        "configmap",
        "w2",
        "--from-literal=a=1",
        "--from-literal=b=2",
    ]);
    s.ok(&["delete", "configmap", "w1"]);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(header(lines[0]), ["NAME", "DATA", "AGE"], "{text}");
    let names: Vec<(&str, &str)> = lines[1..]
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0], f[1])
        })
        .collect();
    assert!(names.contains(&("w1", "1")), "{text}");
    assert!(names.contains(&("w2", "2")), "{text}");
    // The deletion is printed as one more w1 row.
    assert_eq!(
        names.iter().filter(|(n, _)| *n == "w1").count(),
        2,
        "{text}"
    );
}

#[test]
fn describe_main_kinds() {
    let s = Server::start();
    s.apply(DEPLOY);
    let d = s.ok(&["describe", "deployment", "web"]);
    for needle in [
        "Name:                   web",
        "Namespace:              default",
        "Selector:               app=web",
        "Replicas:               3 desired |",
        "StrategyType:           RollingUpdate",
        "RollingUpdateStrategy:  25% max unavailable, 25% max surge",
        "Image:         nginx:1.25",
        "Port:          80/TCP",
    ] {
        assert!(
            has(&d, needle),
            "describe deployment lacks {needle:?}:\n{d}"
        );
    }
    s.ok(&["run", "p1", "--image=busybox:1.36", "--", "sleep", "1"]);
    let p = s.ok(&["describe", "pod", "p1"]);
    for needle in [
        "Name:             p1",
        "Status:           Pending",
        "Image:",
        "busybox:1.36",
        "QoS Class:                   BestEffort",
        "Tolerations:",
    ] {
        assert!(has(&p, needle), "describe pod lacks {needle:?}:\n{p}");
    }
    let svc = s.ok(&["describe", "service", "kubernetes"]);
    for needle in [
        "Type:                     ClusterIP",
        "IP:                       10.96.0.1",
        "Port:                     https  443/TCP",
    ] {
        assert!(
            has(&svc, needle),
            "describe service lacks {needle:?}:\n{svc}"
        );
    }
    let ns = s.ok(&["describe", "namespace", "default"]);
    assert!(has(&ns, "Status: Active"), "{ns}");
    assert!(ns.contains("kubernetes.io/metadata.name=default"), "{ns}");
    s.ok(&["create", "configmap", "cm", "--from-literal=key=value"]);
    let cm = s.ok(&["describe", "configmap", "cm"]);
    assert!(cm.contains("key:\n----\nvalue"), "{cm}");
    s.ok(&[
        "create",
        "secret",
        "generic",
        "sec",
        "--from-literal=pw=hunter2",
    ]);
    let sec = s.ok(&["describe", "secret", "sec"]);
    assert!(sec.contains("pw:  7 bytes"), "{sec}");
    assert!(!sec.contains("hunter2"), "{sec}");
    s.apply("apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n");
    let n = s.ok(&["describe", "node", "n1"]);
    assert!(has(&n, "Name: n1"), "{n}");
    assert!(n.contains("Non-terminated Pods:"), "{n}");
}

#[test]
fn api_resources_and_versions_columns() {
    let s = Server::start();
    let t = s.ok(&["api-resources"]);
    assert_eq!(
        header(&t),
        ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"],
        "{t}"
    );
    let r = row(&t, "deployments");
    assert_eq!(
        r,
        ["deployments", "deploy", "apps/v1", "true", "Deployment"],
        "{t}"
    );
    let r = row(&t, "namespaces");
    assert_eq!(r, ["namespaces", "ns", "v1", "false", "Namespace"], "{t}");
    let r = row(&t, "selfsubjectaccessreviews");
    assert_eq!(
        r[1..],
        [
            "authorization.k8s.io/v1",
            "false",
            "SelfSubjectAccessReview"
        ],
        "{t}"
    );
    let t = s.ok(&["api-resources", "--namespaced=false", "-o", "name"]);
    assert!(t.lines().any(|l| l == "nodes"), "{t}");
    assert!(!t.lines().any(|l| l == "pods"), "{t}");
    let t = s.ok(&["api-resources", "--api-group=apps", "-o", "wide"]);
    let r = row(&t, "deployments");
    assert_eq!(
        r[5..],
        [
            "create,delete,deletecollection,get,list,patch,update,watch",
            "all"
        ],
        "{t}"
    );
    let v = s.ok(&["api-versions"]);
    for gv in [
        "v1",
        "apps/v1",
        "batch/v1",
        "networking.k8s.io/v1",
        "rbac.authorization.k8s.io/v1",
        "apiextensions.k8s.io/v1",
        "coordination.k8s.io/v1",
        "storage.k8s.io/v1",
        "policy/v1",
    ] {
        assert!(v.lines().any(|l| l == gv), "api-versions lacks {gv}:\n{v}");
    }
}

#[test]
fn explain_uses_real_schemas() {
    let s = Server::start();
    let e = s.ok(&["explain", "deployment.spec.strategy.rollingUpdate.maxSurge"]);
    assert!(e.contains("GROUP:      apps"), "{e}");
    assert!(e.contains("KIND:       Deployment"), "{e}");
    assert!(e.contains("FIELD: maxSurge <IntOrString>"), "{e}");
    assert!(e.contains("Defaults to 25%"), "{e}");
    let e = s.ok(&["explain", "pods.spec.containers", "--recursive"]);
    assert!(e.contains("FIELD: containers <[]Container>"), "{e}");
    for needle in [
        "  name\t<string> -required-",
        "  livenessProbe\t<Probe>",
        "    httpGet\t<HTTPGetAction>",
        "  imagePullPolicy\t<string>",
    ] {
        assert!(
            e.contains(needle),
            "explain --recursive lacks {needle:?}:\n{e}"
        );
    }
    // The enum values of the Go types' `+enum` markers, as upstream's OpenAPI lists them.
    let e = s.ok(&["explain", "pod.spec.restartPolicy"]);
    assert!(
        e.contains("Restart policy for all containers within the pod"),
        "{e}"
    );
    assert!(
        e.contains("ENUM:\n    Always\n    Never\n    OnFailure\n"),
        "{e}"
    );
    let e = s.ok(&["explain", "deployment.spec.strategy.type"]);
    assert!(
        e.contains("ENUM:\n    Recreate\n    RollingUpdate\n"),
        "{e}"
    );
    let out = s.kubectl(&["explain", "pods.spec.nope"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("field \"nope\" does not exist"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn version_cluster_info_and_auth_can_i() {
    let s = Server::start();
    let v = s.ok(&["version"]);
    assert!(v.contains("Server Version: v1.33"), "{v}");
    let info = s.ok(&["cluster-info"]);
    assert!(info.contains(&s.url), "{info}");
    for (verb, res) in [
        ("create", "deployments"),
        ("delete", "nodes"),
        ("get", "secrets"),
        ("*", "*"),
        ("list", "widgets.example.com"),
    ] {
        let out = s.kubectl(&["auth", "can-i", verb, res, "-A"]);
        assert_eq!(
            stdout(&out).trim(),
            "yes",
            "can-i {verb} {res}: {}",
            stderr(&out)
        );
        assert!(out.status.success());
    }
    let out = s.kubectl(&["auth", "can-i", "get", "/healthz"]);
    assert_eq!(stdout(&out).trim(), "yes", "{}", stderr(&out));
    let l = s.ok(&["auth", "can-i", "--list"]);
    let lines: Vec<Vec<&str>> = l.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(
        lines[0],
        [
            "Resources",
            "Non-Resource",
            "URLs",
            "Resource",
            "Names",
            "Verbs"
        ],
        "{l}"
    );
    assert!(lines.contains(&vec!["*.*", "[]", "[]", "[*]"]), "{l}");
    assert!(lines.contains(&vec!["[*]", "[]", "[*]"]), "{l}");
    let who: Value = serde_json::from_str(&s.ok(&["auth", "whoami", "-o", "json"])).unwrap();
    let groups = who["status"]["userInfo"]["groups"].to_string();
    assert!(groups.contains("system:masters"), "{who}");
}
