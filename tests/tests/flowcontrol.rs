//! API Priority and Fairness with the real kubectl and a real client: upstream's bootstrap
//! FlowSchemas and priority levels, the headers naming what a request matched, `Dangling`
//! status, validation, and 429 with Retry-After when a level's seats are taken.

use std::time::Duration;

use minato_e2e::{wait_for, Server};

fn uid(s: &Server, kind: &str, name: &str) -> String {
    s.ok(&["get", kind, name, "-o", "jsonpath={.metadata.uid}"])
        .trim()
        .to_string()
}

async fn client(s: &Server, token: Option<&str>) -> kube::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kc = kube::config::Kubeconfig::read_from(&s.kubeconfig).expect("read kubeconfig");
    let mut config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .expect("config");
    if let Some(t) = token {
        // The token alone: the admin certificate would win over it.
        config.auth_info = kube::config::AuthInfo {
            token: Some(t.to_string().into()),
            ..Default::default()
        };
    }
    // The tests look at each response, 429s included; kube would retry those.
    config.default_retry = false;
    kube::Client::try_from(config).expect("client")
}

/// The cells of one level's row in the priority-level dump.
fn level_counters(s: &Server, level: &str) -> Vec<String> {
    let dump = s.ok(&[
        "get",
        "--raw",
        "/debug/api_priority_and_fairness/dump_priority_levels",
    ]);
    dump.lines()
        .map(|l| {
            l.split(',')
                .map(|c| c.trim().to_string())
                .collect::<Vec<_>>()
        })
        .find(|cells| cells[0] == level)
        .unwrap_or_else(|| panic!("no {level} in {dump}"))
}

/// Status, the two APF headers and the Retry-After header of a GET.
async fn get(c: &kube::Client, path: &str) -> (u16, String, String, Option<String>, String) {
    let req = http::Request::get(path)
        .body(kube::client::Body::empty())
        .expect("request");
    let resp = c.send(req).await.expect("send");
    let h = |n: &str| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let fs = h("X-Kubernetes-PF-FlowSchema-UID").unwrap_or_default();
    let pl = h("X-Kubernetes-PF-PriorityLevel-UID").unwrap_or_default();
    let retry = h("Retry-After");
    let status = resp.status().as_u16();
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
        .unwrap_or_default();
    (status, fs, pl, retry, body)
}

#[test]
fn upstreams_bootstrap_configuration_classifies_requests() {
    let s = Server::start_with(&["--no-controllers", "--no-scheduler"]);
    // Written in the background after start.
    wait_for(Duration::from_secs(10), "the bootstrap objects", || {
        let fs = s.ok(&["get", "flowschemas", "-o", "name"]).lines().count();
        let pl = s
            .ok(&["get", "prioritylevelconfigurations", "-o", "name"])
            .lines()
            .count();
        (fs == 11 && pl == 8).then_some(())
    });
    let schemas = s.ok(&[
        "get",
        "flowschemas",
        "-o",
        "custom-columns=NAME:.metadata.name,PL:.spec.priorityLevelConfiguration.name,P:.spec.matchingPrecedence,D:.spec.distinguisherMethod.type",
        "--sort-by=.spec.matchingPrecedence",
        "--no-headers",
    ]);
    let rows: Vec<Vec<&str>> = schemas
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let expected = [
        ["exempt", "exempt", "1", "<none>"],
        ["probes", "exempt", "2", "<none>"],
        ["system-leader-election", "leader-election", "100", "ByUser"],
        ["system-node-high", "node-high", "400", "ByUser"],
        ["system-nodes", "system", "500", "ByUser"],
        [
            "kube-controller-manager",
            "workload-high",
            "800",
            "ByNamespace",
        ],
        ["kube-scheduler", "workload-high", "800", "ByNamespace"],
        [
            "kube-system-service-accounts",
            "workload-high",
            "900",
            "ByNamespace",
        ],
        ["service-accounts", "workload-low", "9000", "ByUser"],
        ["global-default", "global-default", "9900", "ByUser"],
        ["catch-all", "catch-all", "10000", "ByUser"],
    ];
    let mut got: Vec<Vec<&str>> = rows.clone();
    let mut want: Vec<Vec<&str>> = expected.iter().map(|r| r.to_vec()).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "{schemas}");

    let levels = s.ok(&["get", "prioritylevelconfigurations", "--no-headers"]);
    let mut names: Vec<String> = levels
        .lines()
        .map(|l| l.split_whitespace().take(6).collect::<Vec<_>>().join(" "))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "catch-all Limited 5 <none> <none> <none>",
            "exempt Exempt <none> <none> <none> <none>",
            "global-default Limited 20 128 6 50",
            "leader-election Limited 10 16 4 50",
            "node-high Limited 40 64 6 50",
            "system Limited 30 64 6 50",
            "workload-high Limited 40 128 6 50",
            "workload-low Limited 100 128 6 50",
        ],
        "{levels}"
    );
    // Every schema's level exists: the controller marks them not dangling.
    wait_for(
        Duration::from_secs(10),
        "Dangling=False on every schema",
        || {
            let out = s.ok(&["get", "flowschemas", "--no-headers"]);
            out.lines()
                .all(|l| l.trim_end().ends_with("False"))
                .then_some(())
        },
    );
    let fs = s.get_json(&["flowschema", "global-default"]);
    assert_eq!(
        fs["metadata"]["annotations"]["apf.kubernetes.io/autoupdate-spec"],
        "true"
    );
    let dangling = &fs["status"]["conditions"][0];
    assert_eq!(
        (&dangling["type"], &dangling["status"], &dangling["reason"]),
        (&"Dangling".into(), &"False".into(), &"Found".into())
    );
    assert_eq!(
        dangling["message"],
        "This FlowSchema references the PriorityLevelConfiguration object named \"global-default\" and it exists"
    );

    // The admin (system:masters) is exempt; a service account is workload-low.
    s.ok(&["create", "serviceaccount", "app"]);
    let token = s.ok(&["create", "token", "app"]).trim().to_string();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let exempt_uid = uid(&s, "flowschema", "exempt");
    // The server reloads its configuration from the objects just after they are stored.
    let (admin, sa) = wait_for(Duration::from_secs(10), "the stored objects in use", || {
        let (admin, sa) = rt.block_on(async {
            let admin = get(&client(&s, None).await, "/api/v1/namespaces/default/pods").await;
            let sa = get(
                &client(&s, Some(&token)).await,
                "/api/v1/namespaces/default/pods",
            )
            .await;
            (admin, sa)
        });
        (admin.1 == exempt_uid).then_some((admin, sa))
    });
    assert_eq!(admin.0, 200);
    assert_eq!(admin.1, uid(&s, "flowschema", "exempt"));
    assert_eq!(admin.2, uid(&s, "prioritylevelconfiguration", "exempt"));
    assert_eq!(sa.0, 200, "{}", sa.4);
    assert_eq!(sa.1, uid(&s, "flowschema", "service-accounts"));
    assert_eq!(sa.2, uid(&s, "prioritylevelconfiguration", "workload-low"));

    // Deleted bootstrap objects come back, as upstream's ensurer brings them back.
    let before = uid(&s, "flowschema", "global-default");
    s.ok(&["delete", "flowschema", "global-default"]);
    s.ok(&["delete", "prioritylevelconfiguration", "catch-all"]);
    wait_for(Duration::from_secs(10), "global-default recreated", || {
        let out = s.kubectl(&[
            "get",
            "flowschema",
            "global-default",
            "-o",
            "jsonpath={.metadata.uid}",
        ]);
        let now = minato_e2e::stdout(&out);
        (out.status.success() && !now.is_empty() && now != before).then_some(())
    });
    wait_for(Duration::from_secs(10), "catch-all recreated", || {
        s.kubectl(&["get", "prioritylevelconfiguration", "catch-all"])
            .status
            .success()
            .then_some(())
    });
}

#[test]
fn dangling_references_and_invalid_objects() {
    let s = Server::start_with(&["--no-controllers", "--no-scheduler"]);
    s.apply(
        r#"apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata:
  name: team-a
spec:
  priorityLevelConfiguration:
    name: team-a
  distinguisherMethod:
    type: ByUser
  rules:
  - subjects:
    - kind: Group
      group:
        name: team-a
    resourceRules:
    - verbs: ["*"]
      apiGroups: ["*"]
      resources: ["*"]
      namespaces: ["*"]
"#,
    );
    // Defaulted as upstream.
    assert_eq!(
        s.ok(&[
            "get",
            "flowschema",
            "team-a",
            "-o",
            "jsonpath={.spec.matchingPrecedence}"
        ]),
        "1000"
    );
    let missing = |want: &str| {
        let want = want.to_string();
        wait_for(
            Duration::from_secs(10),
            &format!("MISSINGPL {want}"),
            || {
                let row = s.ok(&["get", "flowschema", "team-a", "--no-headers"]);
                row.trim_end().ends_with(&want).then_some(())
            },
        )
    };
    missing("True");
    let message = s.ok(&[
        "get",
        "flowschema",
        "team-a",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Dangling\")].message}",
    ]);
    assert_eq!(
        message,
        "This FlowSchema references the PriorityLevelConfiguration object named \"team-a\" but there is no such object"
    );
    s.apply(
        r#"apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: PriorityLevelConfiguration
metadata:
  name: team-a
spec:
  type: Limited
  limited:
    limitResponse:
      type: Queue
      queuing: {}
"#,
    );
    missing("False");
    let pl = s.get_json(&["prioritylevelconfiguration", "team-a"]);
    assert_eq!(pl["spec"]["limited"]["nominalConcurrencyShares"], 30);
    assert_eq!(
        pl["spec"]["limited"]["limitResponse"]["queuing"],
        serde_json::json!({"handSize": 8, "queueLengthLimit": 50, "queues": 64})
    );

    let err = s.apply_fails(
        r#"apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: PriorityLevelConfiguration
metadata:
  name: lopsided
spec:
  type: Limited
  limited:
    nominalConcurrencyShares: 5
    limitResponse:
      type: Queue
      queuing: {queues: 4, handSize: 8, queueLengthLimit: 0}
"#,
    );
    assert!(
        err.contains("spec.limited.limitResponse.queuing.handSize: Invalid value: 8: should not be greater than queues (4)"),
        "{err}"
    );
    assert!(
        err.contains("spec.limited.limitResponse.queuing.queueLengthLimit: Invalid value: 0: must be positive"),
        "{err}"
    );
    let err = s.apply_fails(
        r#"apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata:
  name: first
spec:
  matchingPrecedence: 1
  priorityLevelConfiguration: {name: team-a}
  rules:
  - subjects: []
"#,
    );
    assert!(
        err.contains("spec.matchingPrecedence: Invalid value: 1: only the schema named 'exempt' may have matchingPrecedence 1"),
        "{err}"
    );
    assert!(
        err.contains(
            "spec.rules[0].subjects: Required value: subjects must contain at least one value"
        ),
        "{err}"
    );
}

#[test]
fn a_full_priority_level_queues_or_answers_429_while_exempt_requests_pass() {
    // One seat per limited level keeps the test small: every level's share rounds up to 1.
    let s = Server::start_with(&[
        "--no-controllers",
        "--no-scheduler",
        "--max-requests-inflight",
        "1",
        "--max-mutating-requests-inflight",
        "0",
    ]);
    s.apply(
        r#"apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: PriorityLevelConfiguration
metadata:
  name: one-seat
spec:
  type: Limited
  limited:
    nominalConcurrencyShares: 1
    limitResponse:
      type: Reject
---
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata:
  name: flood
spec:
  priorityLevelConfiguration:
    name: one-seat
  matchingPrecedence: 50
  distinguisherMethod:
    type: ByUser
  rules:
  - subjects:
    - kind: ServiceAccount
      serviceAccount: {namespace: default, name: flood}
    resourceRules:
    - verbs: ["*"]
      apiGroups: ["*"]
      resources: ["*"]
      namespaces: ["*"]
      clusterScope: true
---
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: PriorityLevelConfiguration
metadata:
  name: one-seat-queued
spec:
  type: Limited
  limited:
    nominalConcurrencyShares: 1
    limitResponse:
      type: Queue
      queuing: {queues: 4, handSize: 1, queueLengthLimit: 100}
---
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata:
  name: patient
spec:
  priorityLevelConfiguration:
    name: one-seat-queued
  matchingPrecedence: 50
  rules:
  - subjects:
    - kind: ServiceAccount
      serviceAccount: {namespace: default, name: patient}
    resourceRules:
    - verbs: ["*"]
      apiGroups: ["*"]
      resources: ["*"]
      namespaces: ["*"]
"#,
    );
    // Requests that take a while: a list of 150 ConfigMaps of 8 KiB each.
    let mut list = String::from("apiVersion: v1\nkind: List\nitems:\n");
    let filler = "x".repeat(8192);
    for i in 0..150 {
        list.push_str(&format!(
            "- apiVersion: v1\n  kind: ConfigMap\n  metadata: {{name: cm-{i}, namespace: default}}\n  data: {{v: {filler}}}\n"
        ));
    }
    s.apply(&list);
    s.ok(&["create", "serviceaccount", "flood"]);
    let token = s.ok(&["create", "token", "flood"]).trim().to_string();
    let flood_uid = uid(&s, "flowschema", "flood");
    let level_uid = uid(&s, "prioritylevelconfiguration", "one-seat");
    wait_for(Duration::from_secs(10), "the flood schema in use", || {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async {
            let c = client(&s, Some(&token)).await;
            let r = get(&c, "/api/v1/namespaces/default/configmaps?limit=1").await;
            (r.1 == flood_uid).then_some(())
        })
    });

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (results, admin) = rt.block_on(async {
        let sa = client(&s, Some(&token)).await;
        let admin = client(&s, None).await;
        let flood = futures::future::join_all(
            (0..48).map(|_| get(&sa, "/api/v1/namespaces/default/configmaps")),
        );
        let exempt = async {
            let mut out = Vec::new();
            for _ in 0..5 {
                out.push(
                    get(&admin, "/api/v1/namespaces/default/configmaps?limit=5")
                        .await
                        .0,
                );
            }
            out
        };
        futures::join!(flood, exempt)
    });
    let rejected: Vec<_> = results.iter().filter(|r| r.0 == 429).collect();
    let served = results.iter().filter(|r| r.0 == 200).count();
    assert!(!rejected.is_empty(), "no request was rejected");
    assert!(served >= 1, "none of the flood was served");
    assert_eq!(rejected.len() + served, results.len());
    for r in &rejected {
        assert_eq!(r.3.as_deref(), Some("1"), "Retry-After");
        assert_eq!(r.4, "Too many requests, please try again later.\n");
        assert_eq!(
            (r.1.as_str(), r.2.as_str()),
            (flood_uid.as_str(), level_uid.as_str())
        );
    }
    assert_eq!(admin, vec![200; 5], "exempt requests are never rejected");
    assert_eq!(
        level_counters(&s, "one-seat")[7],
        rejected.len().to_string(),
        "RejectedRequests"
    );

    // The same flood at a level that queues: every request waits its turn and is served.
    s.ok(&["create", "serviceaccount", "patient"]);
    let token = s.ok(&["create", "token", "patient"]).trim().to_string();
    let results = rt.block_on(async {
        let sa = client(&s, Some(&token)).await;
        futures::future::join_all(
            (0..48).map(|_| get(&sa, "/api/v1/namespaces/default/configmaps")),
        )
        .await
    });
    let codes: Vec<u16> = results.iter().map(|r| r.0).collect();
    assert_eq!(codes, vec![200; 48]);
    let patient = uid(&s, "flowschema", "patient");
    assert!(results.iter().all(|r| r.1 == patient));
    let cells = level_counters(&s, "one-seat-queued");
    // Dispatched 48, rejected 0, none waiting or executing now.
    assert_eq!(
        (&*cells[4], &*cells[5], &*cells[6], &*cells[7]),
        ("0", "0", "48", "0"),
        "{cells:?}"
    );
}

/// The scheduler, the controllers and simulated nodes in the server's process talk to it with
/// identities of their own, as upstream's do, and fair queuing classifies them as it would
/// upstream's: workload-high for the scheduler and controllers, system and node-high for nodes.
#[test]
fn in_process_components_have_upstreams_identities_and_levels() {
    let s = Server::start_with(&["--simulated-nodes", "1"]);
    for (file, user) in [
        ("scheduler.kubeconfig", "system:kube-scheduler"),
        (
            "controller-manager.kubeconfig",
            "system:kube-controller-manager",
        ),
        ("simulated-nodes.kubeconfig", "system:node:minato-simulator"),
    ] {
        let kubeconfig = s.dir.path().join(file);
        let out = std::process::Command::new("kubectl")
            .args([
                "auth",
                "whoami",
                "-o",
                "jsonpath={.status.userInfo.username}",
            ])
            .env("KUBECONFIG", &kubeconfig)
            .output()
            .expect("kubectl");
        assert_eq!(String::from_utf8_lossy(&out.stdout), user, "{file}");
    }
    s.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx:1.25",
        "--replicas=2",
    ]);
    s.ok(&[
        "wait",
        "--for=condition=Available",
        "deployment/web",
        "--timeout=60s",
    ]);
    // Column 6 is DispatchedRequests.
    for level in ["workload-high", "system", "node-high"] {
        let dispatched: u64 = level_counters(&s, level)[6].parse().expect("a count");
        assert!(dispatched > 0, "nothing dispatched at {level}");
    }
}
