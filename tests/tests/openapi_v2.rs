//! `/openapi/v2` in protobuf, as kubectl asks for it: explain from v2, client-side apply taking
//! strategic merge metadata from v2 (`KUBECTL_OPENAPIV3_PATCH=false`), and unknown kinds.

use std::path::Path;
use std::process::{Command, Output};

use minato_e2e::{stderr, stdout, Server};

/// kubectl against `s` with extra environment, its own cache (so each run fetches documents).
fn kubectl_env(s: &Server, env: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&s.kubeconfig)
        .arg("--cache-dir")
        .arg(s.dir.path().join("kubectl-cache-v2"))
        .envs(env.iter().copied())
        .args(args)
        .output()
        .expect("kubectl on PATH")
}

/// Whether kubectl's log (`-v=6` or more) shows a successful GET of `/openapi/v2`.
fn read_v2(log: &str) -> bool {
    log.lines()
        .any(|l| l.contains("verb=\"GET\"") && l.contains("/openapi/v2?") && l.contains("200 OK"))
}

fn deployment(containers: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: default\n\
         spec:\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      \
         labels: {{app: web}}\n    spec:\n      containers:\n{containers}"
    )
}

#[test]
fn kubectl_reads_the_v2_document() {
    let s = Server::start();
    let dir = tempfile::tempdir().expect("tempdir");

    // explain from v2 parses every definition; one it cannot read and it fails.
    let out = kubectl_env(
        &s,
        &[],
        &[
            "explain",
            "--output=plaintext-openapiv2",
            "deployment.spec.template.spec.containers",
        ],
    );
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(text.contains("KIND:     Deployment"), "{text}");
    assert!(text.contains("RESOURCE: containers <[]Object>"), "{text}");
    assert!(text.contains("image\t<string>"), "{text}");

    // An unknown kind: no definition in v2 either, and the mapping fails as upstream's does.
    let gadget = dir.path().join("gadget.yaml");
    std::fs::write(
        &gadget,
        "apiVersion: example.com/v1\nkind: Gadget\nmetadata:\n  name: g\n  namespace: default\n",
    )
    .expect("write manifest");
    let out = kubectl_env(
        &s,
        &[],
        &["apply", "-f", gadget.to_str().expect("path"), "-v=6"],
    );
    let log = stderr(&out);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(
        log.contains("no matches for kind \"Gadget\" in version \"example.com/v1\""),
        "{log}"
    );
    assert!(read_v2(&log), "kubectl did not read /openapi/v2:\n{log}");

    // Client-side apply with v3 patching off: kubectl fetches v2 (protobuf) and computes the
    // strategic merge patch from it.
    let manifest = dir.path().join("web.yaml");
    let path = manifest.to_str().expect("path");
    std::fs::write(
        &manifest,
        deployment(
            "      - name: web\n        image: nginx\n      - name: sidecar\n        image: busybox\n",
        ),
    )
    .expect("write manifest");
    let out = kubectl_env(&s, &[], &["apply", "-f", path]);
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::write(
        &manifest,
        deployment("      - name: web\n        image: nginx:2\n"),
    )
    .expect("write manifest");
    let out = kubectl_env(
        &s,
        &[("KUBECTL_OPENAPIV3_PATCH", "false")],
        &["apply", "-f", path, "-v=9"],
    );
    let log = stderr(&out);
    assert!(
        out.status.success() && stdout(&out).contains("deployment.apps/web configured"),
        "{}{log}",
        stdout(&out)
    );
    assert!(read_v2(&log), "kubectl did not read /openapi/v2:\n{log}");
    // klog prints the body as a quoted string: `"Request Body" body="{\"metadata\":…}"`.
    let body: String = log
        .lines()
        .filter_map(|l| l.split_once("\"Request Body\" body=").map(|(_, b)| b))
        .filter_map(|b| serde_json::from_str::<String>(b).ok())
        .find(|b| !b.is_empty())
        .unwrap_or_else(|| panic!("no request body logged:\n{log}"));
    let patch: serde_json::Value = serde_json::from_str(&body).expect("patch JSON");
    let spec = &patch["spec"]["template"]["spec"];
    assert_eq!(
        spec["$setElementOrder/containers"],
        serde_json::json!([{"name": "web"}]),
        "{patch}"
    );
    assert!(
        spec["containers"].as_array().is_some_and(
            |c| c.contains(&serde_json::json!({"$patch": "delete", "name": "sidecar"}))
        ),
        "{patch}"
    );
    let d = s.get_json(&["deployment", "web"]);
    let containers = &d["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers.as_array().map(Vec::len), Some(1), "{d}");
    assert_eq!(containers[0]["image"], "nginx:2");

    // With the CRDs installed their schemas join v2, and kubectl still reads all of it.
    let crds = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/crds");
    let out = s.kubectl(&["apply", "-f", crds.to_str().expect("path")]);
    assert!(out.status.success(), "{}", stderr(&out));
    s.ok(&[
        "wait",
        "--for=condition=Established",
        "crd",
        "--all",
        "--timeout=30s",
    ]);
    let out = kubectl_env(
        &s,
        &[],
        &["explain", "--output=plaintext-openapiv2", "rollouts.spec"],
    );
    assert!(
        out.status.success() && stdout(&out).contains("KIND:     Rollout"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
}
