//! ServiceAccount controller (kube-controller-manager's `serviceaccount-controller`): every
//! active namespace has a ServiceAccount named `default`, recreated when deleted. Terminating
//! namespaces get none (the API server would refuse the create anyway).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use kube::runtime::controller::{Action as Requeue, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};

use crate::Error;

/// The account every namespace gets.
pub const DEFAULT_SERVICE_ACCOUNT: &str = "default";

const ERROR_RETRY: Duration = Duration::from_secs(2);

/// Whether a namespace should hold the default ServiceAccount (it is not being deleted).
pub fn namespace_active(ns: &Namespace) -> bool {
    ns.metadata.deletion_timestamp.is_none()
        && ns.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Terminating")
}

/// The ServiceAccount to create in namespace `ns`.
pub fn default_service_account(ns: &str) -> ServiceAccount {
    ServiceAccount {
        metadata: ObjectMeta {
            name: Some(DEFAULT_SERVICE_ACCOUNT.to_string()),
            namespace: Some(ns.to_string()),
            ..Default::default()
        },
        ..Default::default()
    }
}

struct Ctx {
    client: Client,
}

/// Runs the controller until its watches end.
pub async fn run_service_account_controller(client: Client) -> Result<(), Error> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let accounts: Api<ServiceAccount> = Api::all(client.clone());
    let ctx = Arc::new(Ctx { client });
    Controller::new(namespaces, watcher::Config::default())
        // A deleted `default` account wakes its namespace, which recreates it.
        .watches(
            accounts,
            watcher::Config::default().fields(&format!("metadata.name={DEFAULT_SERVICE_ACCOUNT}")),
            |sa: ServiceAccount| sa.namespace().map(|ns| ObjectRef::<Namespace>::new(&ns)),
        )
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "serviceaccount reconcile failed");
            }
        })
        .await;
    Ok(())
}

fn error_policy(ns: Arc<Namespace>, err: &Error, _ctx: Arc<Ctx>) -> Requeue {
    tracing::warn!(namespace = %ns.name_any(), error = %err, "serviceaccount sync failed");
    Requeue::requeue(ERROR_RETRY)
}

async fn reconcile(ns: Arc<Namespace>, ctx: Arc<Ctx>) -> Result<Requeue, Error> {
    if !namespace_active(&ns) {
        return Ok(Requeue::await_change());
    }
    let name = ns.name_any();
    let api: Api<ServiceAccount> = Api::namespaced(ctx.client.clone(), &name);
    if api.get_opt(DEFAULT_SERVICE_ACCOUNT).await?.is_some() {
        return Ok(Requeue::await_change());
    }
    match api
        .create(&PostParams::default(), &default_service_account(&name))
        .await
    {
        Ok(_) => {
            tracing::debug!(namespace = %name, "created the default ServiceAccount");
            Ok(Requeue::await_change())
        }
        // Someone else created it first.
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(Requeue::await_change()),
        // The namespace started terminating between our read and the create.
        Err(kube::Error::Api(s)) if s.code == 403 && s.message.contains("terminat") => {
            Ok(Requeue::await_change())
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::NamespaceStatus;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    #[test]
    fn only_active_namespaces_get_the_account() {
        let mut ns = Namespace::default();
        assert!(namespace_active(&ns));
        ns.status = Some(NamespaceStatus {
            phase: Some("Terminating".into()),
            ..Default::default()
        });
        assert!(!namespace_active(&ns));
        let mut ns = Namespace::default();
        ns.metadata.deletion_timestamp = Some(Time(Default::default()));
        assert!(!namespace_active(&ns));
    }

    #[test]
    fn the_account_is_named_default_in_its_namespace() {
        let sa = default_service_account("x");
        assert_eq!(sa.metadata.name.as_deref(), Some("default"));
        assert_eq!(sa.metadata.namespace.as_deref(), Some("x"));
    }
}
