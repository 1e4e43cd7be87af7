//! Controller references: which objects a controller owns, adopts or releases (upstream's
//! `ControllerRefManager`), and the patches that adopt and release.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::podutil::controller_ref;

/// What a controller does with one candidate object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Already ours and selected.
    Owned,
    /// An orphan the selector matches: take it.
    Adopt,
    /// Ours but no longer selected: let go.
    Release,
    /// Someone else's, or nothing to do.
    Ignore,
}

/// Decides the claim of `obj` by the controller `owner`, given whether its selector
/// matches the object's labels.
pub fn claim(owner: &ObjectMeta, selected: bool, obj: &ObjectMeta) -> Claim {
    let owner_deleting = owner.deletion_timestamp.is_some();
    if let Some(r) = controller_ref(obj) {
        if Some(&r.uid) != owner.uid.as_ref() {
            return Claim::Ignore;
        }
        if selected {
            return Claim::Owned;
        }
        if owner_deleting {
            return Claim::Ignore;
        }
        return Claim::Release;
    }
    if owner_deleting || !selected || obj.deletion_timestamp.is_some() {
        return Claim::Ignore;
    }
    if owner.namespace.is_some() && owner.namespace != obj.namespace {
        return Claim::Ignore;
    }
    Claim::Adopt
}

/// Adds the controller reference with a strategic merge patch (the object's UID guards it).
pub async fn adopt<K>(api: &Api<K>, obj: &ObjectMeta, owner: &OwnerReference) -> kube::Result<K>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let patch = json!({"metadata": {"ownerReferences": [owner], "uid": obj.uid}});
    api.patch(
        obj.name.as_deref().unwrap_or_default(),
        &PatchParams::default(),
        &Patch::Strategic(patch),
    )
    .await
}

/// Removes the owner's reference with a strategic merge `$patch: delete`.
pub async fn release<K>(api: &Api<K>, obj: &ObjectMeta, owner_uid: &str) -> kube::Result<K>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let patch = json!({"metadata": {
        "ownerReferences": [{"$patch": "delete", "uid": owner_uid}],
        "uid": obj.uid,
    }});
    api.patch(
        obj.name.as_deref().unwrap_or_default(),
        &PatchParams::default(),
        &Patch::Strategic(patch),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    fn meta(uid: &str, owner: Option<&str>) -> ObjectMeta {
        ObjectMeta {
            name: Some(uid.to_string()),
            namespace: Some("ns".into()),
            uid: Some(uid.to_string()),
            owner_references: owner.map(|o| {
                vec![OwnerReference {
                    api_version: "apps/v1".into(),
                    kind: "ReplicaSet".into(),
                    name: o.into(),
                    uid: o.into(),
                    controller: Some(true),
                    block_owner_deletion: Some(true),
                }]
            }),
            ..Default::default()
        }
    }

    #[test]
    fn claims_follow_upstream_rules() {
        let owner = meta("rs", None);
        assert_eq!(claim(&owner, true, &meta("p", Some("rs"))), Claim::Owned);
        assert_eq!(claim(&owner, false, &meta("p", Some("rs"))), Claim::Release);
        assert_eq!(
            claim(&owner, true, &meta("p", Some("other"))),
            Claim::Ignore
        );
        assert_eq!(claim(&owner, true, &meta("p", None)), Claim::Adopt);
        assert_eq!(claim(&owner, false, &meta("p", None)), Claim::Ignore);
        let mut deleting = meta("p", None);
        deleting.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
        assert_eq!(claim(&owner, true, &deleting), Claim::Ignore);
        let mut owner_deleting = owner.clone();
        owner_deleting.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
        assert_eq!(
            claim(&owner_deleting, false, &meta("p", Some("rs"))),
            Claim::Ignore
        );
        assert_eq!(
            claim(&owner_deleting, true, &meta("p", None)),
            Claim::Ignore
        );
        let mut other_ns = meta("p", None);
        other_ns.namespace = Some("elsewhere".into());
        assert_eq!(claim(&owner, true, &other_ns), Claim::Ignore);
    }
}
