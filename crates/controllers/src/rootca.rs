//! Root CA publisher (kube-controller-manager's `root-ca-cert-publisher`): every namespace gets
//! the ConfigMap `kube-root-ca.crt` whose `ca.crt` is the cluster CA bundle, so pods can verify
//! the API server (the projected `kube-api-access-*` volume mounts it). Edits and deletions are
//! undone.
//!
//! Where the CA comes from: [`crate::ControllerConfig::root_ca`] (upstream's `--root-ca-file`).
//! A `kube::Client` does not expose its TLS roots, so the caller that builds the client passes
//! them; [`ca_bundle_from_config`] turns a `kube::Config`'s roots (the kubeconfig's
//! `certificate-authority[-data]`, upstream's fallback) into the PEM bundle. Without a CA the
//! publisher does not run (a warning says so).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use kube::runtime::controller::{Action as Requeue, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};

use crate::Error;

/// Name of the published ConfigMap.
pub const ROOT_CA_CONFIGMAP: &str = "kube-root-ca.crt";
/// Key of the bundle in its data.
pub const CA_KEY: &str = "ca.crt";
/// Annotation upstream puts on the ConfigMap.
pub const DESCRIPTION_ANNOTATION: &str = "kubernetes.io/description";
/// Its value, word for word as upstream.
pub const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

const ERROR_RETRY: Duration = Duration::from_secs(2);

/// The PEM bundle of a client configuration's trusted roots, if it has any.
pub fn ca_bundle_from_config(config: &kube::Config) -> Option<String> {
    use base64::Engine;
    let roots = config.root_cert.as_ref()?;
    let mut pem = String::new();
    for der in roots {
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(chunk));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    (!pem.is_empty()).then_some(pem)
}

/// What to do about a namespace's ConfigMap.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Create(ConfigMap),
    Update(ConfigMap),
    Nothing,
}

/// Decides whether the ConfigMap must be created or corrected: as upstream, the data must be
/// exactly `{ca.crt: bundle}` and the description annotation present (other annotations,
/// labels and binaryData are left alone).
pub fn desired(ns: &str, existing: Option<&ConfigMap>, ca: &str) -> Action {
    let data = BTreeMap::from([(CA_KEY.to_string(), ca.to_string())]);
    match existing {
        None => Action::Create(ConfigMap {
            metadata: ObjectMeta {
                name: Some(ROOT_CA_CONFIGMAP.to_string()),
                namespace: Some(ns.to_string()),
                annotations: Some(BTreeMap::from([(
                    DESCRIPTION_ANNOTATION.to_string(),
                    DESCRIPTION.to_string(),
                )])),
                ..Default::default()
            },
            data: Some(data),
            ..Default::default()
        }),
        Some(cm) => {
            let described = cm
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(DESCRIPTION_ANNOTATION))
                .is_some_and(|d| !d.is_empty());
            if cm.data.as_ref() == Some(&data) && described {
                return Action::Nothing;
            }
            let mut cm = cm.clone();
            cm.data = Some(data);
            cm.metadata
                .annotations
                .get_or_insert_with(BTreeMap::new)
                .insert(DESCRIPTION_ANNOTATION.to_string(), DESCRIPTION.to_string());
            Action::Update(cm)
        }
    }
}

struct Ctx {
    client: Client,
    ca: String,
}

/// Runs the publisher until its watches end. `ca` is the PEM bundle to publish.
pub async fn run_root_ca_publisher(client: Client, ca: String) -> Result<(), Error> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let maps: Api<ConfigMap> = Api::all(client.clone());
    let ctx = Arc::new(Ctx { client, ca });
    Controller::new(namespaces, watcher::Config::default())
        // A changed or deleted ConfigMap wakes its namespace, which restores it.
        .watches(
            maps,
            watcher::Config::default().fields(&format!("metadata.name={ROOT_CA_CONFIGMAP}")),
            |cm: ConfigMap| cm.namespace().map(|ns| ObjectRef::<Namespace>::new(&ns)),
        )
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "root CA publisher reconcile failed");
            }
        })
        .await;
    Ok(())
}

fn error_policy(ns: Arc<Namespace>, err: &Error, _ctx: Arc<Ctx>) -> Requeue {
    tracing::warn!(namespace = %ns.name_any(), error = %err, "root CA publish failed");
    Requeue::requeue(ERROR_RETRY)
}

/// A create or update refused because the namespace is gone or terminating is not retried.
fn namespace_gone(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404 || (s.code == 403 && s.message.contains("terminat")))
}

async fn reconcile(ns: Arc<Namespace>, ctx: Arc<Ctx>) -> Result<Requeue, Error> {
    if ns.metadata.deletion_timestamp.is_some() {
        return Ok(Requeue::await_change());
    }
    let name = ns.name_any();
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &name);
    let existing = api.get_opt(ROOT_CA_CONFIGMAP).await?;
    let result = match desired(&name, existing.as_ref(), &ctx.ca) {
        Action::Nothing => return Ok(Requeue::await_change()),
        Action::Create(cm) => api.create(&PostParams::default(), &cm).await.map(|_| ()),
        Action::Update(cm) => api
            .replace(ROOT_CA_CONFIGMAP, &PostParams::default(), &cm)
            .await
            .map(|_| ()),
    };
    match result {
        Ok(()) => Ok(Requeue::await_change()),
        Err(e) if namespace_gone(&e) => Ok(Requeue::await_change()),
        // Another writer raced us (409): look again soon.
        Err(kube::Error::Api(s)) if s.code == 409 => {
            Ok(Requeue::requeue(Duration::from_millis(200)))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_configmap_is_created_with_bundle_and_description() {
        let Action::Create(cm) = desired("x", None, "PEM") else {
            panic!("expected a create");
        };
        assert_eq!(cm.metadata.name.as_deref(), Some(ROOT_CA_CONFIGMAP));
        assert_eq!(cm.data.unwrap()[CA_KEY], "PEM");
        assert_eq!(
            cm.metadata.annotations.unwrap()[DESCRIPTION_ANNOTATION],
            DESCRIPTION
        );
    }

    #[test]
    fn edited_data_or_missing_annotation_is_restored_keeping_other_metadata() {
        let Action::Create(good) = desired("x", None, "PEM") else {
            panic!("expected a create");
        };
        assert_eq!(desired("x", Some(&good), "PEM"), Action::Nothing);

        let mut edited = good.clone();
        edited.data = Some(BTreeMap::from([
            (CA_KEY.to_string(), "PEM".to_string()),
            ("extra".to_string(), "x".to_string()),
        ]));
        edited
            .metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert("keep".into(), "me".into());
        let Action::Update(fixed) = desired("x", Some(&edited), "PEM") else {
            panic!("expected an update");
        };
        assert_eq!(fixed.data, good.data);
        assert_eq!(fixed.metadata.labels.unwrap()["keep"], "me");

        let mut bare = good.clone();
        bare.metadata.annotations = None;
        assert!(matches!(
            desired("x", Some(&bare), "PEM"),
            Action::Update(_)
        ));
        assert!(matches!(
            desired("x", Some(&good), "OTHER"),
            Action::Update(_)
        ));
    }

    #[test]
    fn config_roots_become_a_pem_bundle() {
        let mut config = kube::Config::new("https://127.0.0.1:6443".parse().unwrap());
        assert_eq!(ca_bundle_from_config(&config), None);
        config.root_cert = Some(vec![vec![1, 2, 3]]);
        assert_eq!(
            ca_bundle_from_config(&config).unwrap(),
            "-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n"
        );
    }
}
