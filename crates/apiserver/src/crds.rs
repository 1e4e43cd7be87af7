//! Serving CustomResourceDefinitions: keeps the registry's custom resources in step with the
//! stored CRDs, marks new ones Established (as upstream's establishing controller does), and
//! removes a deleted CRD's objects.

use std::sync::Arc;

use futures::StreamExt;
use minato_store::Event;
use serde_json::Value;

use crate::meta;
use crate::resource::from_stored;
use crate::server::State;

const PREFIX: &str = "/registry/apiextensions.k8s.io/customresourcedefinitions/";

/// Reads every stored CRD and serves its versions; writes Established status where missing.
pub async fn sync(state: &State) -> Result<(), minato_store::StoreError> {
    let page = state.store.range(PREFIX, Default::default()).await?;
    let mut entries = Vec::new();
    let mut schemas = minato_openapi::CustomSchemas::new();
    for kv in &page.kvs {
        let Ok(crd) = from_stored(kv) else { continue };
        if meta::is_deleting(&crd) {
            continue;
        }
        entries.extend(minato_crd::served_resources(&crd));
        let group = crd
            .pointer("/spec/group")
            .and_then(Value::as_str)
            .unwrap_or("");
        let kind = crd
            .pointer("/spec/names/kind")
            .and_then(Value::as_str)
            .unwrap_or("");
        for v in crd
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(name), Some(schema)) = (
                v.get("name").and_then(Value::as_str),
                v.pointer("/schema/openAPIV3Schema"),
            ) else {
                continue;
            };
            schemas.insert(minato_openapi::Gvk::new(group, name, kind), schema.clone());
        }
        let status = minato_crd::crd_status(&crd);
        if crd.get("status") != Some(&status) {
            let mut updated = crd.clone();
            meta::strip_resource_version(&mut updated);
            if let Some(m) = updated.as_object_mut() {
                m.insert("status".into(), status);
            }
            if let Ok(bytes) = serde_json::to_vec(&updated) {
                // A concurrent write wins; the next sync retries.
                let _ = state.store.update(&kv.key, bytes, kv.mod_revision).await;
            }
        }
    }
    let changed = {
        let current = state.registry.all();
        let before: Vec<_> = current
            .iter()
            .filter(|e| e.info.custom)
            .map(|e| e.info.clone())
            .collect();
        let after: Vec<_> = entries.iter().map(|e| e.info.clone()).collect();
        before != after
            || *state
                .custom_schemas
                .read()
                .unwrap_or_else(|e| e.into_inner())
                != schemas
    };
    if changed {
        state.registry.set_custom(entries);
        *state
            .custom_schemas
            .write()
            .unwrap_or_else(|e| e.into_inner()) = schemas;
        // The documents describe the served resources: rebuild them on next use.
        *state.openapi.write().unwrap_or_else(|e| e.into_inner()) = None;
    }
    Ok(())
}

/// Removes every object of a deleted CRD's resource.
async fn cleanup(state: &State, crd: &Value) {
    let group = crd
        .pointer("/spec/group")
        .and_then(Value::as_str)
        .unwrap_or("");
    let plural = crd
        .pointer("/spec/names/plural")
        .and_then(Value::as_str)
        .unwrap_or("");
    if group.is_empty() || plural.is_empty() {
        return;
    }
    let prefix = format!("/registry/{group}/{plural}/");
    if let Ok(page) = state.store.range(&prefix, Default::default()).await {
        for kv in page.kvs {
            let _ = state.store.delete(&kv.key, None).await;
        }
    }
}

/// Follows CRD changes for as long as the server runs.
pub fn spawn(state: Arc<State>) {
    tokio::spawn(async move {
        loop {
            let from = match state.store.current_revision().await {
                Ok(r) => r,
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    continue;
                }
            };
            if let Err(e) = sync(&state).await {
                tracing::warn!(error = %e, "cannot sync custom resource definitions");
            }
            let mut stream = match state.store.watch(PREFIX, from).await {
                Ok(s) => s,
                Err(_) => continue,
            };
            while let Some(ev) = stream.next().await {
                match ev.as_deref() {
                    Ok(Event::Delete { kv }) => {
                        if let Ok(crd) = from_stored(kv) {
                            cleanup(&state, &crd).await;
                        }
                        let _ = sync(&state).await;
                    }
                    Ok(Event::Put { .. }) => {
                        let _ = sync(&state).await;
                    }
                    Err(_) => break,
                }
            }
        }
    });
}
