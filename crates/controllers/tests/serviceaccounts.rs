//! End-to-end: the ServiceAccount controller and the root CA publisher against a real minato
//! API server (run with `--no-controllers`; the test runs `run_all_with` itself, with the CA
//! taken from the client configuration), plus the API server's ServiceAccount admission as the
//! ReplicaSet controller sees it.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Pod, ServiceAccount};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;

use minato_controllers::rootca::{self, CA_KEY, DESCRIPTION, DESCRIPTION_ANNOTATION};
use minato_testkit::TestServer as Server;

/// Starts a server and the controllers; returns the server and the CA bundle they publish.
async fn start() -> (Server, String) {
    let server = Server::start(&["--no-controllers", "--no-scheduler"]).await;
    let kc = kube::config::Kubeconfig::read_from(&server.kubeconfig).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("client config");
    let ca = rootca::ca_bundle_from_config(&config).expect("the admin kubeconfig names a CA");
    let settings = minato_controllers::ControllerConfig {
        root_ca: Some(ca.clone()),
        ..Default::default()
    };
    let c = server.client.clone();
    tokio::spawn(async move {
        if let Err(e) = minato_controllers::run_all_with(c, settings).await {
            panic!("controllers ended: {e}");
        }
    });
    (server, ca)
}

async fn create_ns(client: &Client, name: &str) {
    let nss: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    nss.create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
}

/// Polls `f` until it returns `Some` or `timeout` passes.
async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_service_account_is_created_and_recreated() {
    let (server, _) = start().await;
    let client = server.client.clone();
    // Namespaces that existed before the controller started get one too.
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "kube-system");
    eventually("kube-system/default", Duration::from_secs(10), || async {
        sas.get_opt("default").await.ok().flatten()
    })
    .await;

    create_ns(&client, "sa-a").await;
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "sa-a");
    let first = eventually("sa-a/default", Duration::from_secs(5), || async {
        sas.get_opt("default").await.ok().flatten()
    })
    .await;
    sas.delete("default", &DeleteParams::default())
        .await
        .expect("delete the default account");
    let second = eventually("sa-a/default recreated", Duration::from_secs(5), || async {
        sas.get_opt("default")
            .await
            .ok()
            .flatten()
            .filter(|sa| sa.uid() != first.uid())
    })
    .await;
    assert_ne!(second.uid(), first.uid());

    // A terminating namespace gets no new account: its deletion completes.
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.delete("sa-a", &DeleteParams::default())
        .await
        .expect("delete namespace");
    eventually("sa-a gone", Duration::from_secs(20), || async {
        match nss.get_opt("sa-a").await {
            Ok(None) => Some(()),
            _ => None,
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_ca_configmap_is_published_and_restored() {
    let (server, ca) = start().await;
    let client = server.client.clone();
    create_ns(&client, "ca-a").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "ca-a");
    let cm = eventually("ca-a/kube-root-ca.crt", Duration::from_secs(5), || async {
        cms.get_opt("kube-root-ca.crt").await.ok().flatten()
    })
    .await;
    assert_eq!(cm.data.as_ref().unwrap()[CA_KEY], ca);
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(cm.annotations()[DESCRIPTION_ANNOTATION], DESCRIPTION);

    // An edit is undone.
    let mut edited = cm.clone();
    edited.data = Some([(CA_KEY.to_string(), "tampered".to_string())].into());
    cms.replace("kube-root-ca.crt", &PostParams::default(), &edited)
        .await
        .expect("edit the configmap");
    eventually("edit undone", Duration::from_secs(5), || async {
        cms.get_opt("kube-root-ca.crt")
            .await
            .ok()
            .flatten()
            .filter(|c| c.data.as_ref().is_some_and(|d| d[CA_KEY] == ca))
    })
    .await;

    // A deletion is undone.
    cms.delete("kube-root-ca.crt", &DeleteParams::default())
        .await
        .expect("delete the configmap");
    eventually("configmap recreated", Duration::from_secs(5), || async {
        cms.get_opt("kube-root-ca.crt")
            .await
            .ok()
            .flatten()
            .filter(|c| c.uid() != cm.uid())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_right_after_namespace_creation_and_missing_accounts() {
    let (server, _) = start().await;
    let client = server.client.clone();
    create_ns(&client, "adm-a").await;
    // Created at once: admission waits briefly for the controller's `default` account.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "adm-a");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}
    }))
    .unwrap();
    let created = pods
        .create(&PostParams::default(), &pod)
        .await
        .expect("a pod right after its namespace is admitted");
    assert_eq!(
        created.spec.unwrap().service_account_name.as_deref(),
        Some("default")
    );

    // A pod naming an account that does not exist is refused as upstream refuses it.
    let missing: Pod = serde_json::from_value(json!({
        "metadata": {"name": "x"},
        "spec": {"serviceAccountName": "missing", "containers": [{"name": "c", "image": "busybox"}]}
    }))
    .unwrap();
    match pods.create(&PostParams::default(), &missing).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 403);
            assert_eq!(
                s.message,
                "pods \"x\" is forbidden: error looking up service account adm-a/missing: serviceaccount \"missing\" not found"
            );
        }
        other => panic!("expected 403, got {other:?}"),
    }

    // A ReplicaSet whose template names it reports FailedCreate with that message.
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "adm-a");
    let rs: ReplicaSet = serde_json::from_value(json!({
        "metadata": {"name": "myapp"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "myapp"}},
            "template": {
                "metadata": {"labels": {"app": "myapp"}},
                "spec": {"serviceAccountName": "missing", "containers": [{"name": "c", "image": "busybox"}]}
            }
        }
    }))
    .unwrap();
    rss.create(&PostParams::default(), &rs)
        .await
        .expect("create replicaset");
    let events: Api<Event> = Api::namespaced(client.clone(), "adm-a");
    let message = eventually("FailedCreate event", Duration::from_secs(10), || async {
        events
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("FailedCreate"))
            .and_then(|e| e.message)
    })
    .await;
    assert!(
        message.contains(
            "error looking up service account adm-a/missing: serviceaccount \"missing\" not found"
        ),
        "{message}"
    );
    let condition = eventually(
        "ReplicaFailure condition",
        Duration::from_secs(10),
        || async {
            rss.get("myapp")
                .await
                .ok()?
                .status?
                .conditions?
                .into_iter()
                .find(|c| c.type_ == "ReplicaFailure")
        },
    )
    .await;
    assert_eq!(condition.reason.as_deref(), Some("FailedCreate"));
}
