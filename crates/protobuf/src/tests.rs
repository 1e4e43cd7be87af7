use std::collections::BTreeMap;

use k8s_pb::api::apps::v1 as apps;
use k8s_pb::api::batch::v1 as batch;
use k8s_pb::api::core::v1 as core;
use k8s_pb::api::networking::v1 as net;
use k8s_pb::api::policy::v1 as policy;
use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::{RawExtension, TypeMeta, Unknown};
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use prost::Message;
use serde_json::json;

use super::*;

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

fn smap(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Wraps an object the way client-go's protobuf serializer does.
fn wrap(api_version: &str, kind: &str, obj: &impl Message) -> Vec<u8> {
    let unk = Unknown {
        type_meta: Some(TypeMeta {
            api_version: s(api_version),
            kind: s(kind),
        }),
        raw: Some(obj.encode_to_vec()),
        content_encoding: s(""),
        content_type: s(""),
    };
    let mut body = MAGIC.to_vec();
    body.extend(unk.encode_to_vec());
    body
}

fn meta(name: &str, labels: &[(&str, &str)]) -> Option<meta::ObjectMeta> {
    Some(meta::ObjectMeta {
        name: s(name),
        namespace: s("default"),
        labels: smap(labels),
        ..Default::default()
    })
}

fn int(i: i32) -> Option<IntOrString> {
    Some(IntOrString {
        r#type: Some(0),
        int_val: Some(i),
        str_val: None,
    })
}

fn string(v: &str) -> Option<IntOrString> {
    Some(IntOrString {
        r#type: Some(1),
        int_val: None,
        str_val: s(v),
    })
}

fn qty(v: &str) -> Quantity {
    Quantity { string: s(v) }
}

// Captured from kubectl 1.32 `create namespace ns1` (kubectl-wire-spec §8.2).
const NAMESPACE_BODY: &[u8] = b"k8s\x00\n\x0f\n\x02v1\x12\tNamespace\x12\x1b\n\x13\n\x03ns1\x12\x00\x1a\x00\"\x00*\x002\x008\x00B\x00\x12\x00\x1a\x02\n\x00\x1a\x00\"\x00";

// Captured from kubectl 1.32 `auth can-i create deployments` (§8.2).
const SSAR_BODY: &[u8] = b"k8s\x00\n2\n\x17authorization.k8s.io/v1\x12\x17SelfSubjectAccessReview\x12J\n\x10\n\x00\x12\x00\x1a\x00\"\x00*\x002\x008\x00B\x00\x12,\n*\n\x07default\x12\x06create\x1a\x04apps\"\x00*\x0bdeployments2\x00:\x00\x1a\x08\x08\x00\x12\x00\x1a\x00 \x00\x1a\x00\"\x00";

#[test]
fn captured_namespace() {
    let v = decode(NAMESPACE_BODY).unwrap();
    assert_eq!(
        v,
        json!({"kind": "Namespace", "apiVersion": "v1",
               "metadata": {"name": "ns1", "creationTimestamp": null},
               "spec": {}, "status": {}})
    );
    // kind and apiVersion lead, as in Go's output.
    let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["kind", "apiVersion", "metadata", "spec", "status"]);
}

#[test]
fn captured_self_subject_access_review() {
    let v = decode(SSAR_BODY).unwrap();
    assert_eq!(
        v,
        json!({"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
               "metadata": {"creationTimestamp": null},
               "spec": {"resourceAttributes": {"namespace": "default", "verb": "create",
                                               "group": "apps", "resource": "deployments"}},
               "status": {"allowed": false}})
    );
}

#[test]
fn deployment_round_trip() {
    let labels = [("app", "web")];
    let container = core::Container {
        name: s("nginx"),
        image: s("nginx:1.25"),
        ports: vec![core::ContainerPort {
            container_port: Some(80),
            protocol: s("TCP"),
            ..Default::default()
        }],
        env: vec![core::EnvVar {
            name: s("A"),
            value: s("1"),
            ..Default::default()
        }],
        resources: Some(core::ResourceRequirements {
            limits: [
                ("cpu".to_string(), qty("500m")),
                ("memory".to_string(), qty("128Mi")),
            ]
            .into(),
            requests: [("cpu".to_string(), qty("100m"))].into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let d = apps::Deployment {
        metadata: meta("web", &labels),
        spec: Some(apps::DeploymentSpec {
            replicas: Some(3),
            selector: Some(meta::LabelSelector {
                match_labels: smap(&labels),
                ..Default::default()
            }),
            template: Some(core::PodTemplateSpec {
                metadata: Some(meta::ObjectMeta {
                    labels: smap(&labels),
                    ..Default::default()
                }),
                spec: Some(core::PodSpec {
                    containers: vec![container],
                    ..Default::default()
                }),
            }),
            strategy: Some(apps::DeploymentStrategy {
                r#type: s("RollingUpdate"),
                rolling_update: Some(apps::RollingUpdateDeployment {
                    max_surge: string("25%"),
                    max_unavailable: int(0),
                }),
            }),
            ..Default::default()
        }),
        status: None,
    };
    let v = decode(&wrap("apps/v1", "Deployment", &d)).unwrap();
    assert_eq!(
        v,
        json!({
            "kind": "Deployment", "apiVersion": "apps/v1",
            "metadata": {"name": "web", "namespace": "default", "creationTimestamp": null,
                         "labels": {"app": "web"}},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
                    "spec": {"containers": [{
                        "name": "nginx", "image": "nginx:1.25",
                        "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        "env": [{"name": "A", "value": "1"}],
                        "resources": {"limits": {"cpu": "500m", "memory": "128Mi"},
                                      "requests": {"cpu": "100m"}}
                    }]}
                },
                "strategy": {"type": "RollingUpdate",
                             "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}}
            },
            "status": {}
        })
    );
}

#[test]
fn deployment_replicas_zero_is_kept_and_absent_is_omitted() {
    let mut d = apps::Deployment {
        metadata: meta("z", &[]),
        spec: Some(apps::DeploymentSpec {
            replicas: Some(0),
            ..Default::default()
        }),
        status: None,
    };
    let v = decode(&wrap("apps/v1", "Deployment", &d)).unwrap();
    assert_eq!(v["spec"]["replicas"], json!(0));
    // `selector` has no omitempty: a nil pointer is written as null.
    assert_eq!(v["spec"]["selector"], Value::Null);
    assert!(v["spec"].as_object().unwrap().contains_key("selector"));
    d.spec.as_mut().unwrap().replicas = None;
    let v = decode(&wrap("apps/v1", "Deployment", &d)).unwrap();
    assert!(!v["spec"].as_object().unwrap().contains_key("replicas"));
    // Zero-valued template still appears, with the required `containers` as null.
    assert_eq!(
        v["spec"]["template"],
        json!({"metadata": {"creationTimestamp": null}, "spec": {"containers": null}})
    );
}

#[test]
fn secret_bytes_are_base64() {
    let sec = core::Secret {
        metadata: meta("s", &[]),
        data: [
            ("a".to_string(), b"b".to_vec()),
            ("bin".to_string(), vec![0, 255, 10]),
        ]
        .into(),
        string_data: smap(&[("plain", "text")]),
        r#type: s("Opaque"),
        immutable: None,
    };
    let v = decode(&wrap("v1", "Secret", &sec)).unwrap();
    assert_eq!(
        v,
        json!({"kind": "Secret", "apiVersion": "v1",
               "metadata": {"name": "s", "namespace": "default", "creationTimestamp": null},
               "data": {"a": "Yg==", "bin": "AP8K"},
               "stringData": {"plain": "text"},
               "type": "Opaque"})
    );
}

#[test]
fn configmap_maps() {
    let cm = core::ConfigMap {
        metadata: meta("cm", &[("x", "y")]),
        data: smap(&[("z", "1"), ("a", "2"), ("empty", "")]),
        binary_data: [("bin".to_string(), vec![1, 2, 3])].into(),
        immutable: Some(false),
    };
    let v = decode(&wrap("v1", "ConfigMap", &cm)).unwrap();
    assert_eq!(
        v,
        json!({"kind": "ConfigMap", "apiVersion": "v1",
               "metadata": {"name": "cm", "namespace": "default", "creationTimestamp": null,
                            "labels": {"x": "y"}},
               "immutable": false,
               "data": {"a": "2", "empty": "", "z": "1"},
               "binaryData": {"bin": "AQID"}})
    );
    // encoding/json sorts map keys.
    let keys: Vec<_> = v["data"].as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["a", "empty", "z"]);
}

#[test]
fn service_target_port_int_and_string() {
    let svc = core::Service {
        metadata: meta("web", &[]),
        spec: Some(core::ServiceSpec {
            ports: vec![
                core::ServicePort {
                    name: s("http"),
                    port: Some(80),
                    target_port: int(8080),
                    protocol: s("TCP"),
                    ..Default::default()
                },
                core::ServicePort {
                    name: s("https"),
                    port: Some(443),
                    target_port: string("https"),
                    ..Default::default()
                },
                core::ServicePort {
                    port: Some(9000),
                    ..Default::default()
                },
            ],
            selector: smap(&[("app", "web")]),
            r#type: s("ClusterIP"),
            ..Default::default()
        }),
        status: None,
    };
    let v = decode(&wrap("v1", "Service", &svc)).unwrap();
    assert_eq!(
        v["spec"],
        json!({"ports": [
                   {"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080},
                   {"name": "https", "port": 443, "targetPort": "https"},
                   // A zero IntOrString value field is written as 0.
                   {"port": 9000, "targetPort": 0}],
               "selector": {"app": "web"}, "type": "ClusterIP"})
    );
    assert_eq!(v["status"], json!({"loadBalancer": {}}));
}

fn job_spec(image: &str) -> batch::JobSpec {
    batch::JobSpec {
        backoff_limit: Some(2),
        template: Some(core::PodTemplateSpec {
            metadata: None,
            spec: Some(core::PodSpec {
                containers: vec![core::Container {
                    name: s("job"),
                    image: s(image),
                    command: vec!["sh".into(), "-c".into(), "date".into()],
                    ..Default::default()
                }],
                restart_policy: s("OnFailure"),
                ..Default::default()
            }),
        }),
        ..Default::default()
    }
}

fn job_template_json(image: &str) -> Value {
    json!({"backoffLimit": 2,
           "template": {"metadata": {"creationTimestamp": null},
                        "spec": {"containers": [{"name": "job", "image": image,
                                                 "command": ["sh", "-c", "date"],
                                                 "resources": {}}],
                                 "restartPolicy": "OnFailure"}}})
}

#[test]
fn job() {
    let job = batch::Job {
        metadata: meta("j", &[]),
        spec: Some(job_spec("busybox")),
        status: None,
    };
    let v = decode(&wrap("batch/v1", "Job", &job)).unwrap();
    assert_eq!(v["spec"], job_template_json("busybox"));
    assert_eq!(v["status"], json!({}));
}

#[test]
fn cronjob() {
    let cj = batch::CronJob {
        metadata: meta("cj", &[]),
        spec: Some(batch::CronJobSpec {
            schedule: s("*/5 * * * *"),
            suspend: Some(false),
            job_template: Some(batch::JobTemplateSpec {
                metadata: Some(meta::ObjectMeta {
                    name: s("cj"),
                    ..Default::default()
                }),
                spec: Some(job_spec("alpine")),
            }),
            ..Default::default()
        }),
        status: None,
    };
    let v = decode(&wrap("batch/v1", "CronJob", &cj)).unwrap();
    assert_eq!(
        v["spec"],
        json!({"schedule": "*/5 * * * *", "suspend": false,
               "jobTemplate": {"metadata": {"name": "cj", "creationTimestamp": null},
                               "spec": job_template_json("alpine")}})
    );
}

#[test]
fn ingress_inline_rule_value() {
    let backend = |port: Option<net::ServiceBackendPort>| net::IngressBackend {
        service: Some(net::IngressServiceBackend {
            name: s("web"),
            port,
        }),
        resource: None,
    };
    let ing = net::Ingress {
        metadata: meta("ing", &[]),
        spec: Some(net::IngressSpec {
            ingress_class_name: s("nginx"),
            default_backend: Some(backend(Some(net::ServiceBackendPort {
                name: s("http"),
                number: None,
            }))),
            rules: vec![net::IngressRule {
                host: s("example.com"),
                ingress_rule_value: Some(net::IngressRuleValue {
                    http: Some(net::HttpIngressRuleValue {
                        paths: vec![net::HttpIngressPath {
                            path: s("/"),
                            path_type: s("Prefix"),
                            backend: Some(backend(Some(net::ServiceBackendPort {
                                name: None,
                                number: Some(80),
                            }))),
                        }],
                    }),
                }),
            }],
            ..Default::default()
        }),
        status: None,
    };
    let v = decode(&wrap("networking.k8s.io/v1", "Ingress", &ing)).unwrap();
    assert_eq!(
        v["spec"],
        json!({"ingressClassName": "nginx",
               "defaultBackend": {"service": {"name": "web", "port": {"name": "http"}}},
               // IngressRuleValue is embedded inline: `http` sits beside `host`.
               "rules": [{"host": "example.com",
                          "http": {"paths": [{"path": "/", "pathType": "Prefix",
                                              "backend": {"service": {"name": "web",
                                                                      "port": {"number": 80}}}}]}}]})
    );
    assert_eq!(v["status"], json!({"loadBalancer": {}}));
}

#[test]
fn pdb_min_available() {
    let pdb = |min: Option<IntOrString>| policy::PodDisruptionBudget {
        metadata: meta("pdb", &[]),
        spec: Some(policy::PodDisruptionBudgetSpec {
            min_available: min,
            selector: Some(meta::LabelSelector {
                match_expressions: vec![meta::LabelSelectorRequirement {
                    key: s("app"),
                    operator: s("In"),
                    values: vec!["a".into(), "b".into()],
                }],
                ..Default::default()
            }),
            ..Default::default()
        }),
        status: None,
    };
    let v = decode(&wrap("policy/v1", "PodDisruptionBudget", &pdb(int(2)))).unwrap();
    assert_eq!(
        v["spec"],
        json!({"minAvailable": 2,
               "selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["a", "b"]}]}})
    );
    // Required status fields without omitempty appear as zero values.
    assert_eq!(
        v["status"],
        json!({"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0})
    );
    let v = decode(&wrap(
        "policy/v1",
        "PodDisruptionBudget",
        &pdb(string("50%")),
    ))
    .unwrap();
    assert_eq!(v["spec"]["minAvailable"], json!("50%"));
}

#[test]
fn times_and_inline_volume_source() {
    let pod = core::Pod {
        metadata: Some(meta::ObjectMeta {
            name: s("p"),
            creation_timestamp: Some(meta::Time {
                seconds: Some(1_704_067_200),
                nanos: Some(999_999_999),
            }),
            deletion_timestamp: Some(meta::Time {
                seconds: Some(0),
                nanos: Some(0),
            }),
            managed_fields: vec![meta::ManagedFieldsEntry {
                manager: s("kubectl"),
                operation: s("Apply"),
                fields_type: s("FieldsV1"),
                fields_v1: Some(meta::FieldsV1 {
                    raw: Some(br#"{"f:spec":{}}"#.to_vec()),
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        spec: Some(core::PodSpec {
            volumes: vec![core::Volume {
                name: s("cfg"),
                volume_source: Some(core::VolumeSource {
                    config_map: Some(core::ConfigMapVolumeSource {
                        local_object_reference: Some(core::LocalObjectReference { name: s("cm") }),
                        default_mode: Some(0o644),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
            }],
            containers: vec![core::Container {
                name: s("c"),
                ..Default::default()
            }],
            ..Default::default()
        }),
        status: None,
    };
    let v = decode(&wrap("v1", "Pod", &pod)).unwrap();
    // Time keeps whole seconds only, like metav1.Time's protobuf Unmarshal.
    assert_eq!(
        v["metadata"]["creationTimestamp"],
        json!("2024-01-01T00:00:00Z")
    );
    assert_eq!(
        v["metadata"]["deletionTimestamp"],
        json!("1970-01-01T00:00:00Z")
    );
    assert_eq!(
        v["metadata"]["managedFields"],
        json!([{"manager": "kubectl", "operation": "Apply", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:spec": {}}}])
    );
    assert_eq!(
        v["spec"]["volumes"],
        json!([{"name": "cfg", "configMap": {"name": "cm", "defaultMode": 420}}])
    );
}

#[test]
fn micro_time() {
    let ev = k8s_pb::api::events::v1::Event {
        metadata: meta("e", &[]),
        event_time: Some(meta::MicroTime {
            seconds: Some(1_704_067_200),
            nanos: Some(123_456_789),
        }),
        ..Default::default()
    };
    let v = decode(&wrap("events.k8s.io/v1", "Event", &ev)).unwrap();
    assert_eq!(v["eventTime"], json!("2024-01-01T00:00:00.123456Z"));
}

#[test]
fn raw_extension_json_and_nested_envelope() {
    let nested = wrap(
        "v1",
        "Namespace",
        &core::Namespace {
            metadata: meta("inner", &[]),
            ..Default::default()
        },
    );
    for (raw, want) in [
        (br#"{"a":1}"#.to_vec(), json!({"a": 1})),
        (
            nested,
            json!({"kind": "Namespace", "apiVersion": "v1",
                   "metadata": {"name": "inner", "namespace": "default", "creationTimestamp": null},
                   "spec": {}, "status": {}}),
        ),
    ] {
        let cr = apps::ControllerRevision {
            metadata: meta("cr", &[]),
            data: Some(RawExtension { raw: Some(raw) }),
            revision: Some(1),
        };
        let v = decode(&wrap("apps/v1", "ControllerRevision", &cr)).unwrap();
        assert_eq!(v["data"], want);
        assert_eq!(v["revision"], json!(1));
    }
}

#[test]
fn user_extra_named_slice() {
    let tr = k8s_pb::api::authentication::v1::TokenReview {
        metadata: None,
        spec: None,
        status: Some(k8s_pb::api::authentication::v1::TokenReviewStatus {
            authenticated: Some(true),
            user: Some(k8s_pb::api::authentication::v1::UserInfo {
                username: s("u"),
                extra: [(
                    "scopes".to_string(),
                    k8s_pb::api::authentication::v1::ExtraValue {
                        items: vec!["a".into(), "b".into()],
                    },
                )]
                .into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
    };
    let v = decode(&wrap("authentication.k8s.io/v1", "TokenReview", &tr)).unwrap();
    assert_eq!(
        v["status"],
        json!({"authenticated": true, "user": {"username": "u", "extra": {"scopes": ["a", "b"]}}})
    );
    assert_eq!(v["spec"], json!({}));
}

#[test]
fn meta_kinds_and_defaults() {
    let opts = meta::DeleteOptions {
        grace_period_seconds: Some(0),
        propagation_policy: s("Foreground"),
        ..Default::default()
    };
    let v = decode(&wrap("v1", "DeleteOptions", &opts)).unwrap();
    assert_eq!(
        v,
        json!({"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
               "propagationPolicy": "Foreground"})
    );
    // An envelope without kind/apiVersion takes them from the request.
    let mut body = MAGIC.to_vec();
    body.extend(
        Unknown {
            raw: Some(core::Namespace::default().encode_to_vec()),
            ..Default::default()
        }
        .encode_to_vec(),
    );
    assert!(matches!(decode(&body), Err(ProtobufError::MissingKind)));
    let v = decode_with_defaults(&body, "v1", "Namespace").unwrap();
    assert_eq!(v["kind"], json!("Namespace"));
    assert_eq!(v["metadata"], json!({"creationTimestamp": null}));
}

#[test]
fn errors() {
    assert!(matches!(decode(b""), Err(ProtobufError::Empty)));
    assert!(matches!(decode(b"k8s\0"), Err(ProtobufError::Empty)));
    assert!(matches!(
        decode(b"{\"kind\":\"Namespace\"}"),
        Err(ProtobufError::NotProtobuf)
    ));
    let err = decode(&wrap(
        "example.com/v1",
        "Widget",
        &core::Namespace::default(),
    ))
    .unwrap_err();
    assert!(
        matches!(err, ProtobufError::UnsupportedKind { .. }),
        "{err}"
    );
    assert!(
        supports("v1", "Namespace")
            && supports("rbac.authorization.k8s.io/v1", "ClusterRoleBinding")
    );
    assert!(!supports("example.com/v1", "Widget"));
    // Wrong wire type for ObjectMeta.name (varint instead of bytes).
    let raw = vec![0x0a, 0x02, 0x08, 0x01];
    let mut body = MAGIC.to_vec();
    body.extend(
        Unknown {
            type_meta: Some(TypeMeta {
                api_version: s("v1"),
                kind: s("Namespace"),
            }),
            raw: Some(raw),
            ..Default::default()
        }
        .encode_to_vec(),
    );
    assert!(matches!(decode(&body), Err(ProtobufError::Malformed(_))));
}

#[test]
fn nesting_is_bounded() {
    let mut body = wrap("v1", "Namespace", &core::Namespace::default());
    for _ in 0..200 {
        body = wrap(
            "apps/v1",
            "ControllerRevision",
            &apps::ControllerRevision {
                data: Some(RawExtension { raw: Some(body) }),
                ..Default::default()
            },
        );
    }
    assert!(matches!(decode(&body), Err(ProtobufError::TooDeep(_))));
}

#[test]
fn truncated_and_mutated_bodies_never_panic() {
    let mut bodies = vec![NAMESPACE_BODY.to_vec(), SSAR_BODY.to_vec()];
    bodies.push(wrap(
        "v1",
        "Secret",
        &core::Secret {
            metadata: meta("s", &[("a", "b")]),
            data: [("k".to_string(), vec![1, 2])].into(),
            ..Default::default()
        },
    ));
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for body in &bodies {
        for len in 0..body.len() {
            let _ = decode(&body[..len]);
        }
        for _ in 0..2000 {
            let mut b = body.clone();
            for _ in 0..3 {
                seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let pos = 4 + (seed >> 33) as usize % (b.len() - 4);
                b[pos] = (seed >> 13) as u8;
            }
            let _ = decode(&b);
        }
    }
}

#[test]
fn go_duration_strings() {
    for (ns, want) in [
        (0, "0s"),
        (1, "1ns"),
        (1_500, "1.5µs"),
        (2_000_000, "2ms"),
        (1_500_000_000, "1.5s"),
        (90_000_000_000, "1m30s"),
        (3_600_000_000_000, "1h0m0s"),
        (-5_000_000_000, "-5s"),
    ] {
        assert_eq!(decode::go_duration(ns), want);
    }
}
