//! Every seed manifest applies as it would on upstream Kubernetes 1.33.

use std::path::Path;

use minato_e2e::{seeds_dir, stderr, stdout, Server};

fn apply_file(s: &Server, path: &Path) -> std::process::Output {
    s.kubectl(&["apply", "-f", path.to_str().unwrap()])
}

fn seed(name: &str) -> std::path::PathBuf {
    seeds_dir().join(name)
}

/// Expected failures: file → text that must appear in kubectl's error output.
const EXPECTED_FAILURES: &[(&str, &str)] = &[
    // policy/v1beta1 was removed in 1.25.
    (
        "002-10-pod-security-policy.yaml",
        "no matches for kind \"PodSecurityPolicy\" in version \"policy/v1beta1\"",
    ),
    // minAvailable and maxUnavailable together.
    (
        "004-05-k8s-manifests__pdb.yaml",
        "minAvailable and maxUnavailable cannot be both set",
    ),
    // A ConfigMap whose data holds a list.
    (
        "002-01-cluster-config.yaml",
        "cannot be handled as a ConfigMap",
    ),
    // A kustomize patch: not a whole Deployment.
    (
        "003-04-k8s__overlays__production__deployment-patch.yaml",
        "spec.selector: Required value",
    ),
    // Kustomization files are not API objects.
    (
        "003-02-k8s__base__kustomization.yaml",
        "no matches for kind \"Kustomization\"",
    ),
    (
        "003-03-k8s__overlays__production__kustomization.yaml",
        "no matches for kind \"Kustomization\"",
    ),
];

/// Kinds served only once their CRDs are installed.
const NEEDS_CRDS: &[&str] = &[
    "002-11-external-secrets.yaml",
    "002-13-vpa.yaml",
    "003-06-argocd__application.yaml",
    "003-07-argocd__applicationset.yaml",
    "003-08-k8s__base__rollout.yaml",
    "003-09-istio__virtual-service.yaml",
    "003-12-block.yaml",
];

#[test]
fn seed_manifests_apply_like_upstream() {
    let s = Server::start();
    // Namespaces first, as a user would.
    for ns in [
        "001-01-k8s__namespace.yaml",
        "002-02-namespaces.yaml",
        "004-01-k8s-manifests__namespace.yaml",
    ] {
        let out = apply_file(&s, &seed(ns));
        assert!(out.status.success(), "{ns}: {}", stderr(&out));
    }
    s.ok(&["create", "namespace", "argocd"]);
    let mut files: Vec<_> = std::fs::read_dir(seeds_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut problems = Vec::new();
    for f in &files {
        let name = f.file_name().unwrap().to_str().unwrap();
        let out = apply_file(&s, f);
        let text = format!("{}{}", stdout(&out), stderr(&out));
        if let Some((_, expect)) = EXPECTED_FAILURES.iter().find(|(n, _)| *n == name) {
            if out.status.success() || !text.contains(expect) {
                problems.push(format!(
                    "{name}: expected failure containing {expect:?}, got: {text}"
                ));
            }
        } else if NEEDS_CRDS.contains(&name) {
            if out.status.success() || !text.contains("no matches for kind") {
                problems.push(format!(
                    "{name}: expected 'no matches for kind' before CRDs, got: {text}"
                ));
            }
        } else if !out.status.success() {
            problems.push(format!("{name}: {text}"));
        }
    }
    assert!(
        problems.is_empty(),
        "seed problems:\n{}",
        problems.join("\n")
    );

    // With the CRDs installed, the custom resources are accepted.
    let crds = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/crds");
    let out = s.kubectl(&["apply", "-f", crds.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    s.ok(&[
        "wait",
        "--for=condition=Established",
        "crd",
        "--all",
        "--timeout=30s",
    ]);
    for name in NEEDS_CRDS {
        let out = apply_file(&s, &seed(name));
        let text = format!("{}{}", stdout(&out), stderr(&out));
        if *name == "003-12-block.yaml" {
            // One document: an ExternalSecret with a stray top-level `containers` field from the
            // article's "bad example"; strict field validation refuses it, as upstream does.
            assert!(
                !out.status.success()
                    && text.contains("strict decoding error: unknown field \"containers\""),
                "{name}: {text}"
            );
            continue;
        }
        assert!(out.status.success(), "{name}: {text}");
    }
    let apps = s.ok(&["get", "applications.argoproj.io", "-A"]);
    assert!(apps.contains("argocd"), "{apps}");
}

#[test]
fn configmap_with_a_list_is_rejected_with_upstreams_message() {
    let s = Server::start();
    let out = apply_file(&s, &seed("002-01-cluster-config.yaml"));
    let text = stderr(&out);
    assert!(!out.status.success());
    assert!(
        text.contains("cannot be handled as a ConfigMap") && text.contains("cannot unmarshal"),
        "{text}"
    );
}

#[test]
fn services_get_cluster_ips_and_node_ports() {
    let s = Server::start();
    let out = apply_file(&s, &seed("000-01-nodejs-app-deployment.yaml"));
    assert!(out.status.success(), "{}", stderr(&out));
    let svcs = s.get_json(&["services"]);
    let mut ips = std::collections::HashSet::new();
    for svc in svcs["items"].as_array().unwrap() {
        let ip = svc["spec"]["clusterIP"].as_str().unwrap().to_string();
        assert!(ip.starts_with("10.9") || ip == "None", "{ip}");
        assert!(ips.insert(ip), "duplicate ClusterIP");
        if svc["spec"]["type"] == "NodePort" {
            let np = svc["spec"]["ports"][0]["nodePort"].as_u64().unwrap();
            assert!((30000..=32767).contains(&np));
        }
    }
}

/// The documents of a multi-document seed file, as YAML strings.
fn documents(name: &str) -> Vec<String> {
    let text = std::fs::read_to_string(seed(name)).unwrap();
    text.split("\n---")
        .map(|d| d.trim().to_string())
        .filter(|d| d.lines().any(|l| l.starts_with("kind:")))
        .collect()
}

#[test]
fn kustomize_base_and_overlay() {
    let s = Server::start();
    // Seed 003's tree: k8s/base (deployment, service, hpa, pdb) and k8s/overlays/production.
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("k8s/base");
    let prod = dir.path().join("k8s/overlays/production");
    std::fs::create_dir_all(&base).unwrap();
    std::fs::create_dir_all(&prod).unwrap();
    let docs = documents("003-01-k8s__base__deployment.yaml");
    assert_eq!(docs.len(), 3, "deployment, service, hpa");
    std::fs::write(base.join("deployment.yaml"), &docs[0]).unwrap();
    std::fs::write(base.join("service.yaml"), &docs[1]).unwrap();
    std::fs::write(base.join("hpa.yaml"), &docs[2]).unwrap();
    std::fs::copy(seed("003-05-k8s__base__pdb.yaml"), base.join("pdb.yaml")).unwrap();
    std::fs::copy(
        seed("003-02-k8s__base__kustomization.yaml"),
        base.join("kustomization.yaml"),
    )
    .unwrap();
    std::fs::copy(
        seed("003-03-k8s__overlays__production__kustomization.yaml"),
        prod.join("kustomization.yaml"),
    )
    .unwrap();
    std::fs::copy(
        seed("003-04-k8s__overlays__production__deployment-patch.yaml"),
        prod.join("deployment-patch.yaml"),
    )
    .unwrap();
    // The overlay names an HPA patch the seed does not show; a small one of ours.
    std::fs::write(
        prod.join("hpa-patch.yaml"),
        "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: myapp\nspec:\n  minReplicas: 5\n",
    )
    .unwrap();
    s.ok(&["create", "namespace", "production"]);
    let out = s.kubectl(&["apply", "-k", prod.to_str().unwrap()]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let d = s.get_json(&["deployment", "myapp", "-n", "production"]);
    assert_eq!(d["spec"]["replicas"], 5);
    assert_eq!(
        d["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "kustomize"
    );
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/myorg/myapp:v1.2.3"
    );
    let cms = s.ok(&["get", "configmaps", "-n", "production", "-o", "name"]);
    assert!(cms.contains("configmap/myapp-config-"), "{cms}");
    // Re-applying changes nothing. (kubectl still sends a patch for the Deployment, since the
    // overlay's `cpu: 1000m` is stored canonically as `1`, as upstream does; the patch is a no-op.)
    let before = s.get_json(&["deployment", "myapp", "-n", "production"]);
    let again = s.kubectl(&["apply", "-k", prod.to_str().unwrap()]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stdout(&again).contains("service/myapp unchanged"),
        "{}",
        stdout(&again)
    );
    let after = s.get_json(&["deployment", "myapp", "-n", "production"]);
    assert_eq!(
        before["metadata"]["resourceVersion"],
        after["metadata"]["resourceVersion"]
    );
    assert_eq!(
        after["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"],
        "1"
    );
}
