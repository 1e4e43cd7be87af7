//! Service accounts end to end with the real kubectl: the `default` account and the root CA
//! ConfigMap in every namespace (server with its controllers), ServiceAccount admission, and
//! TokenRequest tokens that the API server then authenticates; the node join token and the
//! public CA bundle agents join with.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use minato_e2e::{stderr, stdout, Server};

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// kubectl authenticating with `token` only: an empty kubeconfig, the server URL and the
/// cluster CA (the admin kubeconfig's client certificate would win over a token).
fn kubectl_with_token(s: &Server, token: &str, args: &[&str]) -> Output {
    let empty = s.dir.path().join("token.kubeconfig");
    std::fs::write(&empty, "apiVersion: v1\nkind: Config\n").expect("write kubeconfig");
    let ca = s.dir.path().join("tls").join("ca.crt");
    Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&empty)
        .arg("--server")
        .arg(&s.url)
        .arg("--certificate-authority")
        .arg(&ca)
        .arg("--token")
        .arg(token)
        .arg("--cache-dir")
        .arg(s.dir.path().join("token-cache"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("kubectl on PATH")
}

/// `kubectl auth whoami` authenticating with `token`: the user name, and the groups as JSON
/// text (tests look for `"group"` in it).
fn whoami_with_token(s: &Server, token: &str) -> (String, String) {
    let out = kubectl_with_token(s, token, &["auth", "whoami", "-o", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let review: serde_json::Value = serde_json::from_slice(&out.stdout).expect("whoami JSON");
    let user = &review["status"]["userInfo"];
    (
        user["username"].as_str().unwrap_or_default().to_string(),
        user["groups"].to_string(),
    )
}

fn exists(s: &Server, args: &[&str]) -> bool {
    s.kubectl(args).status.success()
}

#[test]
fn every_namespace_gets_a_default_service_account_recreated_when_deleted() {
    let s = Server::start();
    s.ok(&["create", "namespace", "x"]);
    wait_until("sa default in x", Duration::from_secs(5), || {
        exists(&s, &["get", "sa", "default", "-n", "x"])
    });
    let uid = s.ok(&[
        "get",
        "sa",
        "default",
        "-n",
        "x",
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    s.ok(&["delete", "sa", "default", "-n", "x"]);
    wait_until("sa default recreated", Duration::from_secs(5), || {
        let out = s.kubectl(&[
            "get",
            "sa",
            "default",
            "-n",
            "x",
            "-o",
            "jsonpath={.metadata.uid}",
        ]);
        out.status.success() && stdout(&out) != uid
    });
}

#[test]
fn every_namespace_gets_the_root_ca_configmap() {
    let s = Server::start();
    s.ok(&["create", "namespace", "x"]);
    wait_until("kube-root-ca.crt in x", Duration::from_secs(5), || {
        exists(&s, &["get", "cm", "kube-root-ca.crt", "-n", "x"])
    });
    let published = s.get_json(&["cm", "kube-root-ca.crt", "-n", "x"]);
    let ca = std::fs::read_to_string(s.dir.path().join("tls").join("ca.crt")).expect("ca.crt");
    assert_eq!(published["data"]["ca.crt"].as_str(), Some(ca.as_str()));
    assert!(
        published["metadata"]["annotations"]["kubernetes.io/description"]
            .as_str()
            .is_some_and(|d| d.starts_with("Contains a CA bundle"))
    );
}

#[test]
fn a_pod_naming_a_missing_service_account_is_forbidden() {
    let s = Server::start();
    let pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  serviceAccountName: missing\n  containers:\n  - name: c\n    image: busybox\n";
    let err = s.apply_fails(pod);
    assert!(
        err.contains("pods \"x\" is forbidden: error looking up service account default/missing: serviceaccount \"missing\" not found"),
        "{err}"
    );
    // Once the account exists the same pod is admitted, with the API-access volume.
    s.ok(&["create", "serviceaccount", "missing"]);
    s.apply(pod);
    let created = s.get_json(&["pod", "x"]);
    assert_eq!(created["spec"]["serviceAccountName"], "missing");
    assert!(created["spec"]["volumes"][0]["name"]
        .as_str()
        .is_some_and(|n| n.starts_with("kube-api-access-")));
}

fn jwt_claims(token: &str) -> serde_json::Value {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts: {token}");
    // base64url without padding, decoded by hand to keep the test's dependencies small.
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut n = 0;
    let mut bytes = Vec::new();
    for ch in parts[1].chars() {
        let v = alphabet.find(ch).expect("base64url") as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            bytes.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    serde_json::from_slice(&bytes).expect("JSON claims")
}

#[test]
fn create_token_issues_a_jwt_the_server_authenticates() {
    let s = Server::start();
    wait_until("sa default in default", Duration::from_secs(5), || {
        exists(&s, &["get", "sa", "default"])
    });
    let token = s.ok(&["create", "token", "default"]).trim().to_string();
    let claims = jwt_claims(&token);
    assert_eq!(claims["sub"], "system:serviceaccount:default:default");
    assert_eq!(
        claims["aud"],
        serde_json::json!(["https://kubernetes.default.svc.cluster.local"])
    );
    let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert_eq!(lifetime, 3600);

    let out = kubectl_with_token(&s, &token, &["get", "pods"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (username, groups) = whoami_with_token(&s, &token);
    assert_eq!(username, "system:serviceaccount:default:default");
    for g in [
        "system:serviceaccounts",
        "system:serviceaccounts:default",
        "system:authenticated",
    ] {
        assert!(groups.contains(&format!("\"{g}\"")), "{groups}");
    }

    // Garbage, a forged signature and a foreign audience are all 401.
    let unauthorized = |t: &str| {
        let out = kubectl_with_token(&s, t, &["get", "pods"]);
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(err.contains("Unauthorized"), "{err}");
    };
    unauthorized("not-a-token");
    let mut forged = token.clone();
    forged.pop();
    forged.push(if token.ends_with('A') { 'B' } else { 'A' });
    unauthorized(&forged);
    let other = s
        .ok(&[
            "create",
            "token",
            "default",
            "--audience",
            "https://vault.example",
        ])
        .trim()
        .to_string();
    assert_eq!(
        jwt_claims(&other)["aud"],
        serde_json::json!(["https://vault.example"])
    );
    unauthorized(&other);

    // A token outlives neither its account: the recreated `default` has another uid.
    s.ok(&["delete", "sa", "default"]);
    unauthorized(&token);
}

#[test]
fn token_requests_are_validated() {
    let s = Server::start();
    let err = s.fails(&["create", "token", "nobody"]);
    assert!(
        err.contains("serviceaccounts \"nobody\" not found"),
        "{err}"
    );
    wait_until("sa default in default", Duration::from_secs(5), || {
        exists(&s, &["get", "sa", "default"])
    });
    let err = s.fails(&["create", "token", "default", "--duration", "5m"]);
    assert!(
        err.contains("may not specify a duration less than 10 minutes"),
        "{err}"
    );
    let token = s.ok(&["create", "token", "default", "--duration", "2h"]);
    let claims = jwt_claims(token.trim());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        7200
    );
    // Bound to a pod: the claims name it, and the token dies with it.
    s.apply("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: busybox\n");
    let bound = s
        .ok(&[
            "create",
            "token",
            "default",
            "--bound-object-kind",
            "Pod",
            "--bound-object-name",
            "p",
        ])
        .trim()
        .to_string();
    assert_eq!(jwt_claims(&bound)["kubernetes.io"]["pod"]["name"], "p");
    assert!(kubectl_with_token(&s, &bound, &["get", "pods"])
        .status
        .success());
    s.ok(&["delete", "pod", "p", "--grace-period=0", "--force"]);
    wait_until("pod p gone", Duration::from_secs(10), || {
        !exists(&s, &["get", "pod", "p"])
    });
    assert!(!kubectl_with_token(&s, &bound, &["get", "pods"])
        .status
        .success());
}

#[test]
fn the_node_join_token_authenticates_and_the_ca_bundle_is_public() {
    let s = Server::start_with(&["--no-controllers"]);
    let path = s.dir.path().join("node-token");
    let token = std::fs::read_to_string(&path)
        .expect("node-token written on first start")
        .trim()
        .to_string();
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&path).expect("stat").permissions(),
    );
    assert_eq!(
        mode & 0o777,
        0o600,
        "the token is readable by its owner only"
    );
    let (hash, secret) = token
        .strip_prefix("K10")
        .and_then(|t| t.split_once("::node:"))
        .unwrap_or_else(|| panic!("k3s's token format: {token}"));

    // /cacerts needs no credentials and is the CA whose hash the token carries.
    let out = Command::new("curl")
        .args(["-sS", "--insecure", "--max-time", "10"])
        .arg(format!("{}/cacerts", s.url))
        .output()
        .expect("curl");
    assert!(out.status.success(), "{}", stderr(&out));
    let ca = std::fs::read(s.dir.path().join("tls").join("ca.crt")).expect("ca.crt");
    assert_eq!(out.stdout, ca);
    let out = Command::new("sha256sum")
        .arg(s.dir.path().join("tls").join("ca.crt"))
        .output()
        .expect("sha256sum");
    assert!(stdout(&out).starts_with(hash), "{} vs {hash}", stdout(&out));

    // The whole token authenticates, in the nodes' group; its secret alone does not.
    let (username, groups) = whoami_with_token(&s, &token);
    assert_eq!(username, "system:node-agent");
    assert!(groups.contains("\"system:nodes\""), "{groups}");
    let out = kubectl_with_token(&s, secret, &["get", "nodes"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    // kubectl words a 401 on its discovery request so.
    assert!(
        err.contains("Unauthorized") || err.contains("asked for the client to provide credentials"),
        "{err}"
    );

    // A restart keeps the token.
    let dir = s.kill9();
    let s = Server::start_in(dir, &["--no-controllers"]);
    let again = std::fs::read_to_string(s.dir.path().join("node-token")).expect("node-token");
    assert_eq!(again.trim(), token);
    let out = kubectl_with_token(&s, &token, &["get", "nodes"]);
    assert!(out.status.success(), "{}", stderr(&out));
}
