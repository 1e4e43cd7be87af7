//! The k8s-openapi types behind the built-in kinds, keyed by group, version and kind.
//!
//! The GVK comes from each type's `Resource` constants, so the table cannot disagree with the
//! types it names.

use k8s_openapi::api;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1 as apiregistration;
use k8s_openapi::Resource;
use schemars::{JsonSchema, Schema, SchemaGenerator};

/// Adds a type's schema (and everything it refers to) to the generator and returns a `$ref`
/// to it.
pub(crate) type Generate = fn(&mut SchemaGenerator) -> Schema;

/// One built-in kind and its generator.
pub(crate) struct KindType {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub generate: Generate,
}

fn kind<T: Resource + JsonSchema>() -> KindType {
    KindType {
        group: T::GROUP,
        version: T::VERSION,
        kind: T::KIND,
        generate: SchemaGenerator::subschema_for::<T>,
    }
}

/// Every GA kind of Kubernetes 1.33 that k8s-openapi models, including the ones only used as
/// subresource bodies (Scale, Eviction, Binding, TokenRequest).
pub(crate) fn kinds() -> Vec<KindType> {
    vec![
        kind::<api::admissionregistration::v1::MutatingWebhookConfiguration>(),
        kind::<api::admissionregistration::v1::ValidatingAdmissionPolicy>(),
        kind::<api::admissionregistration::v1::ValidatingAdmissionPolicyBinding>(),
        kind::<api::admissionregistration::v1::ValidatingWebhookConfiguration>(),
        kind::<api::apps::v1::ControllerRevision>(),
        kind::<api::apps::v1::DaemonSet>(),
        kind::<api::apps::v1::Deployment>(),
        kind::<api::apps::v1::ReplicaSet>(),
        kind::<api::apps::v1::StatefulSet>(),
        kind::<api::authentication::v1::SelfSubjectReview>(),
        kind::<api::authentication::v1::TokenRequest>(),
        kind::<api::authentication::v1::TokenReview>(),
        kind::<api::authorization::v1::LocalSubjectAccessReview>(),
        kind::<api::authorization::v1::SelfSubjectAccessReview>(),
        kind::<api::authorization::v1::SelfSubjectRulesReview>(),
        kind::<api::authorization::v1::SubjectAccessReview>(),
        kind::<api::autoscaling::v1::HorizontalPodAutoscaler>(),
        kind::<api::autoscaling::v1::Scale>(),
        kind::<api::autoscaling::v2::HorizontalPodAutoscaler>(),
        kind::<api::batch::v1::CronJob>(),
        kind::<api::batch::v1::Job>(),
        kind::<api::certificates::v1::CertificateSigningRequest>(),
        kind::<api::coordination::v1::Lease>(),
        kind::<api::core::v1::Binding>(),
        kind::<api::core::v1::ComponentStatus>(),
        kind::<api::core::v1::ConfigMap>(),
        kind::<api::core::v1::Endpoints>(),
        kind::<api::core::v1::Event>(),
        kind::<api::core::v1::LimitRange>(),
        kind::<api::core::v1::Namespace>(),
        kind::<api::core::v1::Node>(),
        kind::<api::core::v1::PersistentVolume>(),
        kind::<api::core::v1::PersistentVolumeClaim>(),
        kind::<api::core::v1::Pod>(),
        kind::<api::core::v1::PodTemplate>(),
        kind::<api::core::v1::ReplicationController>(),
        kind::<api::core::v1::ResourceQuota>(),
        kind::<api::core::v1::Secret>(),
        kind::<api::core::v1::Service>(),
        kind::<api::core::v1::ServiceAccount>(),
        kind::<api::discovery::v1::EndpointSlice>(),
        kind::<api::events::v1::Event>(),
        kind::<api::flowcontrol::v1::FlowSchema>(),
        kind::<api::flowcontrol::v1::PriorityLevelConfiguration>(),
        kind::<api::networking::v1::IPAddress>(),
        kind::<api::networking::v1::Ingress>(),
        kind::<api::networking::v1::IngressClass>(),
        kind::<api::networking::v1::NetworkPolicy>(),
        kind::<api::networking::v1::ServiceCIDR>(),
        kind::<api::node::v1::RuntimeClass>(),
        kind::<api::policy::v1::Eviction>(),
        kind::<api::policy::v1::PodDisruptionBudget>(),
        kind::<api::rbac::v1::ClusterRole>(),
        kind::<api::rbac::v1::ClusterRoleBinding>(),
        kind::<api::rbac::v1::Role>(),
        kind::<api::rbac::v1::RoleBinding>(),
        kind::<api::scheduling::v1::PriorityClass>(),
        kind::<api::storage::v1::CSIDriver>(),
        kind::<api::storage::v1::CSINode>(),
        kind::<api::storage::v1::CSIStorageCapacity>(),
        kind::<api::storage::v1::StorageClass>(),
        kind::<api::storage::v1::VolumeAttachment>(),
        kind::<apiextensions::CustomResourceDefinition>(),
        kind::<apiregistration::APIService>(),
    ]
}

/// The meta types every document refers to from its operations.
pub(crate) struct MetaTypes {
    pub object_meta: Generate,
    pub list_meta: Generate,
    pub delete_options: Generate,
    pub status: Generate,
    pub patch: Generate,
    pub api_resource_list: Generate,
}

pub(crate) fn meta_types() -> MetaTypes {
    MetaTypes {
        object_meta: SchemaGenerator::subschema_for::<meta::ObjectMeta>,
        list_meta: SchemaGenerator::subschema_for::<meta::ListMeta>,
        delete_options: SchemaGenerator::subschema_for::<meta::DeleteOptions>,
        status: SchemaGenerator::subschema_for::<meta::Status>,
        patch: SchemaGenerator::subschema_for::<meta::Patch>,
        api_resource_list: SchemaGenerator::subschema_for::<meta::APIResourceList>,
    }
}
