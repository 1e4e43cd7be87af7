//! PodSpec and PodTemplateSpec rules shared by Pod and the workload kinds: defaulting as
//! upstream's `SetDefaults_PodSpec` / `SetDefaults_Pod` and the generated nested defaulters,
//! and validation as upstream's `ValidatePodSpec` / `ValidatePodTemplateSpec` /
//! `ValidatePodUpdate`, with the same messages and field paths.
//!
//! Left to admission and controllers, as upstream does: the service-account token volume,
//! `serviceAccountName: default`, `priority`/`preemptionPolicy`, and the not-ready/unreachable
//! tolerations (the reference Pod in the upstream recording shows them; they are not defaults).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde_json::{json, Map, Value};

use super::meta::{
    inclusive_range_error, is_config_map_key, is_dns1123_label, is_dns1123_subdomain,
    is_qualified_name, is_valid_ip, is_valid_label_value, is_valid_port_name, is_valid_port_num,
    validate_annotations, validate_label_name, validate_label_selector, validate_labels,
    validate_nonnegative,
};
use super::workloads::util::{
    arr_of, bool_of, child_obj, default_nonzero, default_ptr, default_str, each_obj_mut, has,
    int_of, normalized, obj_of, semantic_eq, str_of, Quantity,
};
use crate::field::{FieldError, FieldPath};

const MAX_INT32: i64 = i32::MAX as i64;

// =============================================================================================
// Defaulting
// =============================================================================================

/// Defaults of a Pod object: the PodSpec defaults plus the ones upstream applies only to Pods
/// (requests from limits, `enableServiceLinks`, host-network ports).
pub fn default_pod(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    default_pod_spec(spec);
    for key in ["containers", "initContainers"] {
        for c in each_obj_mut(spec, key) {
            requests_from_limits(c);
        }
    }
    default_ptr(spec, "enableServiceLinks", Value::Bool(true));
    if spec.get("hostNetwork").and_then(Value::as_bool) == Some(true) {
        for key in ["containers", "initContainers"] {
            for c in each_obj_mut(spec, key) {
                for p in each_obj_mut(c, "ports") {
                    let container_port = p.get("containerPort").cloned().unwrap_or(Value::Null);
                    default_nonzero_value(p, "hostPort", container_port);
                }
            }
        }
    }
}

fn default_nonzero_value(m: &mut Map<String, Value>, key: &str, value: Value) {
    if m.get(key)
        .is_none_or(|v| v.is_null() || v.as_i64() == Some(0))
        && !value.is_null()
    {
        m.insert(key.to_string(), value);
    }
}

/// Requests default to limits for resources that have a limit and no request (Pods only:
/// upstream keeps templates as written).
fn requests_from_limits(c: &mut Map<String, Value>) {
    let Some(res) = c.get_mut("resources").and_then(Value::as_object_mut) else {
        return;
    };
    let Some(limits) = res.get("limits").and_then(Value::as_object).cloned() else {
        return;
    };
    let Some(requests) = child_obj(res, "requests") else {
        return;
    };
    for (k, v) in limits {
        requests.entry(k).or_insert(v);
    }
}

/// Defaults of a PodTemplateSpec (`{metadata, spec}`).
pub fn default_pod_template(template: &mut Value) {
    if let Some(spec) = template.get_mut("spec").and_then(Value::as_object_mut) {
        default_pod_spec(spec);
    }
}

/// `SetDefaults_PodSpec` and every defaulter upstream generates for what a PodSpec holds.
pub fn default_pod_spec(spec: &mut Map<String, Value>) {
    default_str(spec, "dnsPolicy", "ClusterFirst");
    default_str(spec, "restartPolicy", "Always");
    default_ptr(spec, "securityContext", json!({}));
    default_ptr(spec, "terminationGracePeriodSeconds", json!(30));
    default_str(spec, "schedulerName", "default-scheduler");
    for key in ["containers", "initContainers", "ephemeralContainers"] {
        for c in each_obj_mut(spec, key) {
            default_container(c);
        }
    }
    for v in each_obj_mut(spec, "volumes") {
        default_volume(v);
    }
    if let Some(res) = spec.get_mut("resources").and_then(Value::as_object_mut) {
        canonicalize_resource_lists(res);
    }
    if let Some(overhead) = spec.get_mut("overhead").and_then(Value::as_object_mut) {
        canonicalize_quantities(overhead);
    }
}

/// The image tag as upstream's `parsers.ParseImageName` sees it: `latest` when neither a tag
/// nor a digest is given, "" when the reference does not parse or only has a digest.
fn image_tag(image: &str) -> String {
    if image.is_empty() || image.chars().any(char::is_whitespace) {
        return String::new();
    }
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let last_slash = name.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (repo, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    };
    // Repository paths are lower case (the registry host part may not be).
    let path = match repo.split_once('/') {
        Some((host, rest)) if host.contains(['.', ':']) || host == "localhost" => rest,
        _ => repo,
    };
    if repo.is_empty() || path.chars().any(|c| c.is_ascii_uppercase()) {
        return String::new();
    }
    match (tag, digest) {
        (Some(t), _) => t.to_string(),
        (None, Some(_)) => String::new(),
        (None, None) => "latest".to_string(),
    }
}

fn default_container(c: &mut Map<String, Value>) {
    if c.get("imagePullPolicy")
        .is_none_or(|v| v.is_null() || v.as_str() == Some(""))
    {
        let image = c.get("image").and_then(Value::as_str).unwrap_or("");
        let policy = if image_tag(image) == "latest" {
            "Always"
        } else {
            "IfNotPresent"
        };
        c.insert("imagePullPolicy".into(), json!(policy));
    }
    default_str(c, "terminationMessagePath", "/dev/termination-log");
    default_str(c, "terminationMessagePolicy", "File");
    // `resources` is a struct, not a pointer, in Go: it is always written.
    if let Some(res) = child_obj(c, "resources") {
        canonicalize_resource_lists(res);
    }
    for p in each_obj_mut(c, "ports") {
        default_str(p, "protocol", "TCP");
    }
    for key in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = c.get_mut(key).and_then(Value::as_object_mut) {
            default_nonzero(p, "timeoutSeconds", 1);
            default_nonzero(p, "periodSeconds", 10);
            default_nonzero(p, "successThreshold", 1);
            default_nonzero(p, "failureThreshold", 3);
            default_handler(p);
        }
    }
    if let Some(lc) = c.get_mut("lifecycle").and_then(Value::as_object_mut) {
        for key in ["postStart", "preStop"] {
            if let Some(h) = lc.get_mut(key).and_then(Value::as_object_mut) {
                default_handler(h);
            }
        }
    }
    for e in each_obj_mut(c, "env") {
        if let Some(from) = e.get_mut("valueFrom").and_then(Value::as_object_mut) {
            default_value_source(from);
        }
    }
}

fn default_handler(h: &mut Map<String, Value>) {
    if let Some(http) = h.get_mut("httpGet").and_then(Value::as_object_mut) {
        default_str(http, "path", "/");
        default_str(http, "scheme", "HTTP");
    }
    if let Some(grpc) = h.get_mut("grpc").and_then(Value::as_object_mut) {
        default_ptr(grpc, "service", json!(""));
    }
}

/// fieldRef apiVersion v1; resourceFieldRef divisor (a Go struct, so always written as "0").
fn default_value_source(from: &mut Map<String, Value>) {
    if let Some(f) = from.get_mut("fieldRef").and_then(Value::as_object_mut) {
        default_str(f, "apiVersion", "v1");
    }
    if let Some(r) = from
        .get_mut("resourceFieldRef")
        .and_then(Value::as_object_mut)
    {
        default_ptr(r, "divisor", json!("0"));
        canonicalize_quantity_at(r, "divisor");
    }
}

const VOLUME_SOURCES: &[&str] = &[
    "hostPath",
    "emptyDir",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "persistentVolumeClaim",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "downwardAPI",
    "fc",
    "azureFile",
    "configMap",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "projected",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "csi",
    "ephemeral",
    "image",
];

fn default_volume(v: &mut Map<String, Value>) {
    if !VOLUME_SOURCES
        .iter()
        .any(|s| v.get(*s).is_some_and(|x| !x.is_null()))
    {
        v.insert("emptyDir".into(), json!({}));
    }
    for key in ["secret", "configMap", "downwardAPI", "projected"] {
        if let Some(src) = v.get_mut(key).and_then(Value::as_object_mut) {
            default_ptr(src, "defaultMode", json!(420));
        }
    }
    if let Some(d) = v.get_mut("downwardAPI").and_then(Value::as_object_mut) {
        default_downward_items(d);
    }
    if let Some(p) = v.get_mut("projected").and_then(Value::as_object_mut) {
        for src in each_obj_mut(p, "sources") {
            if let Some(t) = src
                .get_mut("serviceAccountToken")
                .and_then(Value::as_object_mut)
            {
                default_ptr(t, "expirationSeconds", json!(3600));
            }
            if let Some(d) = src.get_mut("downwardAPI").and_then(Value::as_object_mut) {
                default_downward_items(d);
            }
        }
    }
    if let Some(h) = v.get_mut("hostPath").and_then(Value::as_object_mut) {
        default_ptr(h, "type", json!(""));
    }
    if let Some(e) = v.get_mut("emptyDir").and_then(Value::as_object_mut) {
        canonicalize_quantity_at(e, "sizeLimit");
    }
    if let Some(i) = v.get_mut("iscsi").and_then(Value::as_object_mut) {
        default_str(i, "iscsiInterface", "default");
    }
    if let Some(r) = v.get_mut("rbd").and_then(Value::as_object_mut) {
        default_str(r, "pool", "rbd");
        default_str(r, "user", "admin");
        default_str(r, "keyring", "/etc/ceph/keyring");
    }
    if let Some(a) = v.get_mut("azureDisk").and_then(Value::as_object_mut) {
        default_ptr(a, "cachingMode", json!("ReadWrite"));
        default_ptr(a, "fsType", json!("ext4"));
        default_ptr(a, "readOnly", json!(false));
        default_ptr(a, "kind", json!("Shared"));
    }
    if let Some(s) = v.get_mut("scaleIO").and_then(Value::as_object_mut) {
        default_str(s, "storageMode", "ThinProvisioned");
        default_str(s, "fsType", "xfs");
    }
    if let Some(spec) = v
        .get_mut("ephemeral")
        .and_then(|e| e.get_mut("volumeClaimTemplate"))
        .and_then(|t| t.get_mut("spec"))
        .and_then(Value::as_object_mut)
    {
        default_pvc_spec(spec);
    }
}

fn default_downward_items(d: &mut Map<String, Value>) {
    for item in each_obj_mut(d, "items") {
        if let Some(f) = item.get_mut("fieldRef").and_then(Value::as_object_mut) {
            default_str(f, "apiVersion", "v1");
        }
        if let Some(r) = item
            .get_mut("resourceFieldRef")
            .and_then(Value::as_object_mut)
        {
            default_ptr(r, "divisor", json!("0"));
            canonicalize_quantity_at(r, "divisor");
        }
    }
}

/// `SetDefaults_PersistentVolumeClaimSpec`.
pub fn default_pvc_spec(spec: &mut Map<String, Value>) {
    default_ptr(spec, "volumeMode", json!("Filesystem"));
    if let Some(res) = spec.get_mut("resources").and_then(Value::as_object_mut) {
        canonicalize_resource_lists(res);
    }
}

/// Resource lists are rounded up to milli precision and stored in canonical form, as Go's
/// Quantity re-encodes them (`cpu: 0.5` is stored as `500m`).
fn canonicalize_resource_lists(res: &mut Map<String, Value>) {
    for key in ["limits", "requests"] {
        if let Some(list) = res.get_mut(key).and_then(Value::as_object_mut) {
            canonicalize_quantities(list);
        }
    }
}

fn canonicalize_quantities(list: &mut Map<String, Value>) {
    for v in list.values_mut() {
        if let Some(q) = Quantity::from_value(v) {
            *v = Value::String(q.round_up_milli().canonical());
        }
    }
}

fn canonicalize_quantity_at(m: &mut Map<String, Value>, key: &str) {
    if let Some(v) = m.get_mut(key) {
        if let Some(q) = Quantity::from_value(v) {
            *v = Value::String(q.canonical());
        }
    }
}

// =============================================================================================
// QoS class
// =============================================================================================

/// Upstream's `qos.GetPodQOS` over regular and init containers (cpu and memory only).
pub fn qos_class(spec: &Value) -> &'static str {
    let mut requests: BTreeMap<String, i128> = BTreeMap::new();
    let mut limits: BTreeMap<String, i128> = BTreeMap::new();
    let mut guaranteed = true;
    let containers = arr_of(spec, "containers")
        .iter()
        .chain(arr_of(spec, "initContainers"));
    for c in containers {
        let res = c.get("resources").unwrap_or(&Value::Null);
        for (name, q) in positive_compute(res.get("requests")) {
            *requests.entry(name).or_default() += q;
        }
        let mut found = BTreeSet::new();
        for (name, q) in positive_compute(res.get("limits")) {
            found.insert(name.clone());
            *limits.entry(name).or_default() += q;
        }
        if !(found.contains("cpu") && found.contains("memory")) {
            guaranteed = false;
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return "BestEffort";
    }
    if guaranteed {
        for (name, req) in &requests {
            if limits.get(name) != Some(req) {
                guaranteed = false;
                break;
            }
        }
    }
    if guaranteed && requests.len() == limits.len() {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

fn positive_compute(list: Option<&Value>) -> Vec<(String, i128)> {
    let Some(m) = list.and_then(Value::as_object) else {
        return Vec::new();
    };
    m.iter()
        .filter(|(k, _)| *k == "cpu" || *k == "memory")
        .filter_map(|(k, v)| Quantity::from_value(v).map(|q| (k.clone(), q.nanos)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

// =============================================================================================
// Validation
// =============================================================================================

/// What differs between validating a Pod and a PodSpec inside a template.
#[derive(Clone, Copy, Debug, Default)]
pub struct PodSpecOptions {
    /// Upstream's `ResourceIsPod`.
    pub is_pod: bool,
}

/// `ValidatePodTemplateSpec`: labels and annotations (at `<path>.labels`, as upstream names
/// them), the PodSpec, and no ephemeral containers.
pub fn validate_pod_template_spec(template: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let meta = template.get("metadata").unwrap_or(&Value::Null);
    if let Some(l) = meta.get("labels") {
        errs.extend(validate_labels(l, &path.child("labels")));
    }
    if let Some(a) = meta.get("annotations") {
        errs.extend(validate_annotations(a, &path.child("annotations")));
    }
    let spec = template.get("spec").unwrap_or(&Value::Null);
    errs.extend(validate_pod_spec(
        spec,
        &path.child("spec"),
        PodSpecOptions::default(),
    ));
    if !arr_of(spec, "ephemeralContainers").is_empty() {
        errs.push(FieldError::forbidden(
            &path.child("spec").child("ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
    errs
}

/// `ValidatePodSpec`.
pub fn validate_pod_spec(spec: &Value, path: &FieldPath, opts: PodSpecOptions) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let (vol_errs, volumes) = validate_volumes(arr_of(spec, "volumes"), &path.child("volumes"));
    errs.extend(vol_errs);
    let containers = arr_of(spec, "containers");
    errs.extend(validate_containers(
        containers,
        &volumes,
        &path.child("containers"),
    ));
    errs.extend(validate_init_containers(
        arr_of(spec, "initContainers"),
        containers,
        &volumes,
        &path.child("initContainers"),
    ));
    errs.extend(validate_host_network_deps(spec, path, opts));
    errs.extend(validate_enum(
        spec,
        "restartPolicy",
        &["Always", "OnFailure", "Never"],
        path,
    ));
    errs.extend(validate_enum(
        spec,
        "dnsPolicy",
        &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        path,
    ));
    if let Some(ns) = spec.get("nodeSelector") {
        errs.extend(validate_labels(ns, &path.child("nodeSelector")));
    }
    if let Some(sc) = spec.get("securityContext").filter(|v| !v.is_null()) {
        errs.extend(validate_pod_security_context(
            sc,
            &path.child("securityContext"),
        ));
    }
    // Upstream keeps hostPID inside its internal security context, hence the path.
    if spec.get("shareProcessNamespace") == Some(&Value::Bool(true))
        && spec.get("hostPID") == Some(&Value::Bool(true))
    {
        errs.push(FieldError::invalid(
            &path.child("securityContext").child("shareProcessNamespace"),
            true,
            "ShareProcessNamespace and HostPID cannot both be enabled",
        ));
    }
    errs.extend(validate_image_pull_secrets(
        arr_of(spec, "imagePullSecrets"),
        &path.child("imagePullSecrets"),
    ));
    if let Some(a) = spec.get("affinity").filter(|v| !v.is_null()) {
        errs.extend(validate_affinity(a, &path.child("affinity")));
    }
    errs.extend(validate_dns_config(spec, &path.child("dnsConfig")));
    for (i, g) in arr_of(spec, "readinessGates").iter().enumerate() {
        let t = str_of(g, "conditionType");
        for m in is_qualified_name(t) {
            errs.push(FieldError::invalid(
                &path.child("readinessGates").index(i).child("conditionType"),
                t,
                m,
            ));
        }
    }
    errs.extend(validate_scheduling_gates(
        arr_of(spec, "schedulingGates"),
        &path.child("schedulingGates"),
    ));
    errs.extend(validate_topology_spread(
        arr_of(spec, "topologySpreadConstraints"),
        &path.child("topologySpreadConstraints"),
    ));
    for key in ["serviceAccountName", "nodeName"] {
        let v = str_of(spec, key);
        if !v.is_empty() {
            for m in is_dns1123_subdomain(v) {
                errs.push(FieldError::invalid(&path.child(key), v, m));
            }
        }
    }
    if let Some(ads) = int_of(spec, "activeDeadlineSeconds") {
        if !(1..=MAX_INT32).contains(&ads) {
            errs.push(FieldError::invalid(
                &path.child("activeDeadlineSeconds"),
                ads,
                inclusive_range_error(1, MAX_INT32),
            ));
        }
    }
    for key in ["hostname", "subdomain"] {
        let v = str_of(spec, key);
        if !v.is_empty() {
            for m in is_dns1123_label(v) {
                errs.push(FieldError::invalid(&path.child(key), v, m));
            }
        }
    }
    errs.extend(validate_tolerations(
        arr_of(spec, "tolerations"),
        &path.child("tolerations"),
    ));
    for (i, alias) in arr_of(spec, "hostAliases").iter().enumerate() {
        let ip = str_of(alias, "ip");
        let p = path.child("hostAliases").index(i).child("ip");
        if ip.is_empty() {
            errs.push(FieldError::required(&p, ""));
        } else {
            for m in is_valid_ip(ip) {
                errs.push(FieldError::invalid(&p, ip, m));
            }
        }
    }
    let pcn = str_of(spec, "priorityClassName");
    if !pcn.is_empty() {
        for m in is_dns1123_subdomain(pcn) {
            errs.push(FieldError::invalid(
                &path.child("priorityClassName"),
                pcn,
                m,
            ));
        }
    }
    if has(spec, "preemptionPolicy") {
        errs.extend(validate_enum(
            spec,
            "preemptionPolicy",
            &["Never", "PreemptLowerPriority"],
            path,
        ));
    }
    if let Some(os) = spec.get("os").filter(|v| !v.is_null()) {
        let name = str_of(os, "name");
        let p = path.child("os").child("name");
        if name.is_empty() {
            errs.push(FieldError::required(&p, ""));
        } else if name != "linux" && name != "windows" {
            errs.push(FieldError::not_supported(&p, name, &["linux", "windows"]));
        }
    }
    errs
}

/// A string enum: `Required` when empty, `Unsupported value` when not one of `supported`.
fn validate_enum(obj: &Value, key: &str, supported: &[&str], path: &FieldPath) -> Vec<FieldError> {
    let v = str_of(obj, key);
    let p = path.child(key);
    if v.is_empty() {
        vec![FieldError::required(&p, "")]
    } else if !supported.contains(&v) {
        vec![FieldError::not_supported(&p, v, supported)]
    } else {
        Vec::new()
    }
}

// ---------------------------------------------------------------------------------------------
// Volumes
// ---------------------------------------------------------------------------------------------

const FILE_MODE_ERROR: &str = "must be a number between 0 and 0777 (octal), both inclusive";

/// `ValidateVolumes`: returns the errors and the names of the valid volumes.
fn validate_volumes(volumes: &[Value], path: &FieldPath) -> (Vec<FieldError>, HashSet<String>) {
    let mut errs = Vec::new();
    let mut names = HashSet::new();
    for (i, vol) in volumes.iter().enumerate() {
        let p = path.index(i);
        let name = str_of(vol, "name");
        let mut el = validate_volume_source(vol, &p);
        if name.is_empty() {
            el.push(FieldError::required(&p.child("name"), ""));
        } else {
            for m in is_dns1123_label(name) {
                el.push(FieldError::invalid(&p.child("name"), name, m));
            }
        }
        if names.contains(name) {
            el.push(FieldError::duplicate(&p.child("name"), name));
        }
        if el.is_empty() {
            names.insert(name.to_string());
        } else {
            errs.extend(el);
        }
    }
    (errs, names)
}

fn validate_volume_source(vol: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut count = 0;
    for src in VOLUME_SOURCES {
        let Some(s) = vol.get(*src).filter(|v| !v.is_null()) else {
            continue;
        };
        let p = path.child(src);
        if count > 0 {
            errs.push(FieldError::forbidden(
                &p,
                "may not specify more than 1 volume type",
            ));
            continue;
        }
        count += 1;
        match *src {
            "hostPath" => {
                if str_of(s, "path").is_empty() {
                    errs.push(FieldError::required(&p.child("path"), ""));
                } else {
                    errs.extend(no_backsteps(str_of(s, "path"), &p.child("path")));
                }
                let t = str_of(s, "type");
                const TYPES: &[&str] = &[
                    "",
                    "DirectoryOrCreate",
                    "Directory",
                    "FileOrCreate",
                    "File",
                    "Socket",
                    "CharDevice",
                    "BlockDevice",
                ];
                if !TYPES.contains(&t) {
                    errs.push(FieldError::not_supported(&p.child("type"), t, TYPES));
                }
            }
            "emptyDir" => {
                let neg = s
                    .get("sizeLimit")
                    .and_then(Quantity::from_value)
                    .is_some_and(|q| q.is_negative());
                if neg {
                    errs.push(FieldError::forbidden(
                        &p.child("sizeLimit"),
                        "SizeLimit field must be a valid resource quantity",
                    ));
                }
            }
            "secret" => {
                if str_of(s, "secretName").is_empty() {
                    errs.push(FieldError::required(&p.child("secretName"), ""));
                }
                errs.extend(validate_mode(s, "defaultMode", &p));
                errs.extend(validate_key_to_paths(s, &p));
            }
            "configMap" => {
                if str_of(s, "name").is_empty() {
                    errs.push(FieldError::required(&p.child("name"), ""));
                }
                errs.extend(validate_mode(s, "defaultMode", &p));
                errs.extend(validate_key_to_paths(s, &p));
            }
            "persistentVolumeClaim" if str_of(s, "claimName").is_empty() => {
                errs.push(FieldError::required(&p.child("claimName"), ""));
            }
            "nfs" => {
                if str_of(s, "server").is_empty() {
                    errs.push(FieldError::required(&p.child("server"), ""));
                }
                let np = str_of(s, "path");
                if np.is_empty() {
                    errs.push(FieldError::required(&p.child("path"), ""));
                } else if !np.starts_with('/') {
                    errs.push(FieldError::invalid(
                        &p.child("path"),
                        np,
                        "must be an absolute path",
                    ));
                }
            }
            "csi" if str_of(s, "driver").is_empty() => {
                errs.push(FieldError::required(&p.child("driver"), ""));
            }
            "downwardAPI" => {
                errs.extend(validate_mode(s, "defaultMode", &p));
                errs.extend(validate_downward_items(s, &p));
            }
            "projected" => errs.extend(validate_projected(s, &p)),
            "ephemeral" if !has(s, "volumeClaimTemplate") => {
                errs.push(FieldError::required(&p.child("volumeClaimTemplate"), ""));
            }
            _ => {}
        }
    }
    if count == 0 {
        errs.push(FieldError::required(path, "must specify a volume type"));
    }
    errs
}

fn validate_mode(src: &Value, key: &str, path: &FieldPath) -> Vec<FieldError> {
    match int_of(src, key) {
        Some(m) if !(0..=0o777).contains(&m) => {
            vec![FieldError::invalid(&path.child(key), m, FILE_MODE_ERROR)]
        }
        _ => Vec::new(),
    }
}

fn validate_key_to_paths(src: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, item) in arr_of(src, "items").iter().enumerate() {
        let p = path.child("items").index(i);
        if str_of(item, "key").is_empty() {
            errs.push(FieldError::required(&p.child("key"), ""));
        }
        errs.extend(validate_local_non_reserved_path(
            str_of(item, "path"),
            &p.child("path"),
        ));
        errs.extend(validate_mode(item, "mode", &p));
    }
    errs
}

fn validate_downward_items(src: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, item) in arr_of(src, "items").iter().enumerate() {
        let p = path.child("items").index(i);
        errs.extend(validate_local_non_reserved_path(
            str_of(item, "path"),
            &p.child("path"),
        ));
        errs.extend(validate_mode(item, "mode", &p));
        let field_ref = item.get("fieldRef").filter(|v| !v.is_null());
        let res_ref = item.get("resourceFieldRef").filter(|v| !v.is_null());
        if let Some(f) = field_ref {
            errs.extend(validate_object_field_selector(
                f,
                VOLUME_FIELD_PATHS,
                &p.child("fieldRef"),
            ));
            if res_ref.is_some() {
                errs.push(FieldError::invalid(
                    &p,
                    "resource",
                    "fieldRef and resourceFieldRef can not be specified simultaneously",
                ));
            }
        } else if res_ref.is_none() {
            errs.push(FieldError::required(
                &p,
                "one of fieldRef and resourceFieldRef is required",
            ));
        }
    }
    errs
}

fn validate_projected(src: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = validate_mode(src, "defaultMode", path);
    for (i, source) in arr_of(src, "sources").iter().enumerate() {
        let p = path.child("sources").index(i);
        let mut n = 0;
        for kind in [
            "secret",
            "configMap",
            "downwardAPI",
            "serviceAccountToken",
            "clusterTrustBundle",
            "podCertificate",
        ] {
            let Some(s) = source.get(kind).filter(|v| !v.is_null()) else {
                continue;
            };
            n += 1;
            let kp = p.child(kind);
            if n > 1 {
                errs.push(FieldError::forbidden(
                    &kp,
                    "may not specify more than 1 volume type per source",
                ));
                continue;
            }
            match kind {
                "secret" | "configMap" => {
                    if str_of(s, "name").is_empty() {
                        errs.push(FieldError::required(&kp.child("name"), ""));
                    }
                    errs.extend(validate_key_to_paths(s, &kp));
                }
                "downwardAPI" => errs.extend(validate_downward_items(s, &kp)),
                "serviceAccountToken" => {
                    if let Some(e) = int_of(s, "expirationSeconds") {
                        if e < 600 {
                            errs.push(FieldError::invalid(
                                &kp.child("expirationSeconds"),
                                e,
                                "may not specify a duration less than 10 minutes",
                            ));
                        } else if e > 1 << 32 {
                            errs.push(FieldError::invalid(
                                &kp.child("expirationSeconds"),
                                e,
                                "may not specify a duration larger than 2^32 seconds",
                            ));
                        }
                    }
                    errs.extend(validate_local_non_reserved_path(
                        str_of(s, "path"),
                        &kp.child("path"),
                    ));
                }
                _ => {}
            }
        }
        if n == 0 {
            errs.push(FieldError::required(
                &p,
                "must specify exactly 1 volume type",
            ));
        }
    }
    errs
}

/// `validatePathNoBacksteps`.
fn no_backsteps(path_str: &str, path: &FieldPath) -> Vec<FieldError> {
    if path_str.split(['/', '\\']).any(|p| p == "..") {
        vec![FieldError::invalid(path, path_str, "must not contain '..'")]
    } else {
        Vec::new()
    }
}

/// `validateLocalDescendingPath`.
fn validate_local_descending_path(p: &str, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if p.starts_with('/') {
        errs.push(FieldError::invalid(path, p, "must be a relative path"));
    }
    errs.extend(no_backsteps(p, path));
    errs
}

/// `validateLocalNonReservedPath`.
fn validate_local_non_reserved_path(p: &str, path: &FieldPath) -> Vec<FieldError> {
    if p.is_empty() {
        return vec![FieldError::required(path, "")];
    }
    let mut errs = validate_local_descending_path(p, path);
    if p.starts_with("..") {
        errs.push(FieldError::invalid(path, p, "must not start with '..'"));
    }
    errs
}

// ---------------------------------------------------------------------------------------------
// Containers
// ---------------------------------------------------------------------------------------------

const ENV_FIELD_PATHS: &[&str] = &[
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

const VOLUME_FIELD_PATHS: &[&str] = &[
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
];

/// Field paths upstream's `ConvertDownwardAPIFieldLabel` accepts for v1.
const CONVERTIBLE_FIELD_PATHS: &[&str] = &[
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.serviceAccountName",
    "spec.schedulerName",
    "status.phase",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

fn validate_containers(
    containers: &[Value],
    volumes: &HashSet<String>,
    path: &FieldPath,
) -> Vec<FieldError> {
    if containers.is_empty() {
        return vec![FieldError::required(path, "")];
    }
    let mut errs = Vec::new();
    let mut names = HashSet::new();
    for (i, c) in containers.iter().enumerate() {
        let p = path.index(i);
        errs.extend(validate_container_common(c, volumes, &p));
        let name = str_of(c, "name");
        if !names.insert(name) {
            errs.push(FieldError::duplicate(&p.child("name"), name));
        }
        errs.extend(validate_regular_probes_and_lifecycle(c, &p));
        if has(c, "restartPolicy") {
            errs.push(FieldError::forbidden(
                &p.child("restartPolicy"),
                "may not be set for non-init containers",
            ));
        }
    }
    errs.extend(check_host_port_conflicts(containers, path));
    errs
}

fn validate_regular_probes_and_lifecycle(c: &Value, p: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(lc) = c.get("lifecycle").filter(|v| !v.is_null()) {
        for key in ["postStart", "preStop"] {
            if let Some(h) = lc.get(key).filter(|v| !v.is_null()) {
                errs.extend(validate_handler(h, &p.child("lifecycle").child(key), true));
            }
        }
    }
    for (key, success_must_be_one) in [
        ("livenessProbe", true),
        ("readinessProbe", false),
        ("startupProbe", true),
    ] {
        let Some(probe) = c.get(key).filter(|v| !v.is_null()) else {
            continue;
        };
        let pp = p.child(key);
        errs.extend(validate_probe(probe, &pp));
        if success_must_be_one {
            let st = int_of(probe, "successThreshold").unwrap_or(0);
            if st != 1 {
                errs.push(FieldError::invalid(
                    &pp.child("successThreshold"),
                    st,
                    "must be 1",
                ));
            }
        } else if has(probe, "terminationGracePeriodSeconds") {
            let v = probe
                .get("terminationGracePeriodSeconds")
                .cloned()
                .unwrap_or(Value::Null);
            errs.push(FieldError::invalid(
                &pp.child("terminationGracePeriodSeconds"),
                v,
                "must not be set for readinessProbes",
            ));
        }
    }
    errs
}

fn validate_init_containers(
    containers: &[Value],
    regular: &[Value],
    volumes: &HashSet<String>,
    path: &FieldPath,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut names: HashSet<&str> = regular.iter().map(|c| str_of(c, "name")).collect();
    for (i, c) in containers.iter().enumerate() {
        let p = path.index(i);
        errs.extend(validate_container_common(c, volumes, &p));
        let mut restart_always = false;
        if has(c, "restartPolicy") {
            let rp = str_of(c, "restartPolicy");
            if rp == "Always" {
                restart_always = true;
            } else {
                errs.push(FieldError::not_supported(
                    &p.child("restartPolicy"),
                    rp,
                    &["Always"],
                ));
            }
        }
        let name = str_of(c, "name");
        if names.contains(name) {
            errs.push(FieldError::duplicate(&p.child("name"), name));
        } else if !name.is_empty() {
            names.insert(name);
        }
        errs.extend(check_host_port_conflicts(std::slice::from_ref(c), path));
        if restart_always {
            errs.extend(validate_regular_probes_and_lifecycle(c, &p));
        } else {
            for key in [
                "lifecycle",
                "livenessProbe",
                "readinessProbe",
                "startupProbe",
            ] {
                if has(c, key) {
                    errs.push(FieldError::forbidden(
                        &p.child(key),
                        "may not be set for init containers without restartPolicy=Always",
                    ));
                }
            }
        }
    }
    errs
}

/// `validateContainerCommon`.
fn validate_container_common(
    c: &Value,
    volumes: &HashSet<String>,
    p: &FieldPath,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = str_of(c, "name");
    if name.is_empty() {
        errs.push(FieldError::required(&p.child("name"), ""));
    } else {
        for m in is_dns1123_label(name) {
            errs.push(FieldError::invalid(&p.child("name"), name, m));
        }
    }
    if str_of(c, "image").is_empty() {
        errs.push(FieldError::required(&p.child("image"), ""));
    }
    let tmp = str_of(c, "terminationMessagePolicy");
    match tmp {
        "File" | "FallbackToLogsOnError" => {}
        "" => errs.push(FieldError::required(
            &p.child("terminationMessagePolicy"),
            "",
        )),
        other => errs.push(FieldError::not_supported(
            &p.child("terminationMessagePolicy"),
            other,
            &["File", "FallbackToLogsOnError"],
        )),
    }
    errs.extend(validate_container_ports(
        arr_of(c, "ports"),
        &p.child("ports"),
    ));
    errs.extend(validate_env(arr_of(c, "env"), &p.child("env")));
    errs.extend(validate_env_from(arr_of(c, "envFrom"), &p.child("envFrom")));
    errs.extend(validate_volume_mounts(c, volumes, &p.child("volumeMounts")));
    match str_of(c, "imagePullPolicy") {
        "Always" | "IfNotPresent" | "Never" => {}
        "" => errs.push(FieldError::required(&p.child("imagePullPolicy"), "")),
        other => errs.push(FieldError::not_supported(
            &p.child("imagePullPolicy"),
            other,
            &["Always", "IfNotPresent", "Never"],
        )),
    }
    if let Some(res) = c.get("resources").filter(|v| !v.is_null()) {
        errs.extend(validate_resource_requirements(res, &p.child("resources")));
    }
    if let Some(sc) = c.get("securityContext").filter(|v| !v.is_null()) {
        errs.extend(validate_container_security_context(
            sc,
            &p.child("securityContext"),
        ));
    }
    errs
}

fn validate_container_ports(ports: &[Value], path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut names = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        let p = path.index(i);
        let name = str_of(port, "name");
        if !name.is_empty() {
            let msgs = is_valid_port_name(name);
            if !msgs.is_empty() {
                for m in msgs {
                    errs.push(FieldError::invalid(&p.child("name"), name, m));
                }
            } else if !names.insert(name) {
                errs.push(FieldError::duplicate(&p.child("name"), name));
            }
        }
        let cp = int_of(port, "containerPort").unwrap_or(0);
        if cp == 0 {
            errs.push(FieldError::required(&p.child("containerPort"), ""));
        } else {
            for m in is_valid_port_num(cp) {
                errs.push(FieldError::invalid(&p.child("containerPort"), cp, m));
            }
        }
        let hp = int_of(port, "hostPort").unwrap_or(0);
        if hp != 0 {
            for m in is_valid_port_num(hp) {
                errs.push(FieldError::invalid(&p.child("hostPort"), hp, m));
            }
        }
        let proto = str_of(port, "protocol");
        if proto.is_empty() {
            errs.push(FieldError::required(&p.child("protocol"), ""));
        } else if !["SCTP", "TCP", "UDP"].contains(&proto) {
            errs.push(FieldError::not_supported(
                &p.child("protocol"),
                proto,
                &["SCTP", "TCP", "UDP"],
            ));
        }
    }
    errs
}

/// `checkHostPortConflicts`: a host port may be used once per protocol and host IP.
fn check_host_port_conflicts(containers: &[Value], path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut seen = HashSet::new();
    for (ci, c) in containers.iter().enumerate() {
        for (pi, port) in arr_of(c, "ports").iter().enumerate() {
            let hp = int_of(port, "hostPort").unwrap_or(0);
            if hp == 0 {
                continue;
            }
            let key = format!(
                "{}/{}/{}",
                str_of(port, "protocol"),
                str_of(port, "hostIP"),
                hp
            );
            if !seen.insert(key.clone()) {
                errs.push(FieldError::duplicate(
                    &path.index(ci).child("ports").index(pi).child("hostPort"),
                    key,
                ));
            }
        }
    }
    errs
}

fn validate_host_network_deps(
    spec: &Value,
    path: &FieldPath,
    opts: PodSpecOptions,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if !bool_of(spec, "hostNetwork") {
        return errs;
    }
    for (ci, c) in arr_of(spec, "containers").iter().enumerate() {
        for (pi, port) in arr_of(c, "ports").iter().enumerate() {
            let hp = int_of(port, "hostPort").unwrap_or(0);
            let cp = int_of(port, "containerPort").unwrap_or(0);
            // Templates may leave hostPort 0: the Pod's defaulting fills it in.
            if hp != cp && (opts.is_pod || hp != 0) {
                errs.push(FieldError::invalid(
                    &path
                        .child("containers")
                        .index(ci)
                        .child("ports")
                        .index(pi)
                        .child("hostPort"),
                    hp,
                    "must match `containerPort` when `hostNetwork` is true",
                ));
            }
        }
    }
    errs
}

/// `ValidateEnv` with upstream 1.33's relaxed names (RelaxedEnvironmentVariableValidation is on).
fn validate_env(env: &[Value], path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, e) in env.iter().enumerate() {
        let p = path.index(i);
        let name = str_of(e, "name");
        if name.is_empty() {
            errs.push(FieldError::required(&p.child("name"), ""));
        } else {
            for m in relaxed_env_var_name(name) {
                errs.push(FieldError::invalid(&p.child("name"), name, m));
            }
        }
        errs.extend(validate_env_value_from(e, &p.child("valueFrom")));
    }
    errs
}

fn relaxed_env_var_name(name: &str) -> Vec<String> {
    if name.chars().any(|c| !(' '..='~').contains(&c) || c == '=') {
        vec![
            "a valid environment variable name must consist only of printable ASCII characters other than '='"
                .to_string(),
        ]
    } else {
        Vec::new()
    }
}

fn validate_env_value_from(e: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(from) = e.get("valueFrom").filter(|v| !v.is_null()) else {
        return errs;
    };
    let mut n = 0;
    if let Some(f) = from.get("fieldRef").filter(|v| !v.is_null()) {
        n += 1;
        errs.extend(validate_object_field_selector(
            f,
            ENV_FIELD_PATHS,
            &path.child("fieldRef"),
        ));
    }
    if let Some(r) = from.get("resourceFieldRef").filter(|v| !v.is_null()) {
        n += 1;
        let p = path.child("resourceFieldRef");
        let res = str_of(r, "resource");
        const RES: &[&str] = &[
            "limits.cpu",
            "limits.ephemeral-storage",
            "limits.memory",
            "requests.cpu",
            "requests.ephemeral-storage",
            "requests.memory",
        ];
        if res.is_empty() {
            errs.push(FieldError::required(&p.child("resource"), ""));
        } else if !RES.contains(&res)
            && !res.starts_with("limits.hugepages-")
            && !res.starts_with("requests.hugepages-")
        {
            errs.push(FieldError::not_supported(&p.child("resource"), res, RES));
        }
    }
    for (key, name_key) in [("configMapKeyRef", "name"), ("secretKeyRef", "name")] {
        if let Some(r) = from.get(key).filter(|v| !v.is_null()) {
            n += 1;
            let p = path.child(key);
            let name = str_of(r, name_key);
            if name.is_empty() {
                errs.push(FieldError::required(&p.child("name"), ""));
            } else {
                for m in is_dns1123_subdomain(name) {
                    errs.push(FieldError::invalid(&p.child("name"), name, m));
                }
            }
            let k = str_of(r, "key");
            if k.is_empty() {
                errs.push(FieldError::required(&p.child("key"), ""));
            } else {
                for m in is_config_map_key(k) {
                    errs.push(FieldError::invalid(&p.child("key"), k, m));
                }
            }
        }
    }
    if n == 0 {
        errs.push(FieldError::invalid(
            path,
            "",
            "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
        ));
    } else if !str_of(e, "value").is_empty() {
        errs.push(FieldError::invalid(
            path,
            "",
            "may not be specified when `value` is not empty",
        ));
    } else if n > 1 {
        errs.push(FieldError::invalid(
            path,
            "",
            "may not have more than one field specified at a time",
        ));
    }
    errs
}

/// `validateObjectFieldSelector`.
fn validate_object_field_selector(
    f: &Value,
    allowed: &[&str],
    path: &FieldPath,
) -> Vec<FieldError> {
    let api_version = str_of(f, "apiVersion");
    let fp = str_of(f, "fieldPath");
    if api_version.is_empty() {
        return vec![FieldError::required(&path.child("apiVersion"), "")];
    }
    if fp.is_empty() {
        return vec![FieldError::required(&path.child("fieldPath"), "")];
    }
    if api_version != "v1" {
        return vec![FieldError::invalid(
            &path.child("fieldPath"),
            fp,
            format!("error converting fieldPath: unsupported pod version: {api_version}"),
        )];
    }
    // `metadata.labels['key']` and `metadata.annotations['key']`.
    if let Some((base, rest)) = fp.split_once("['") {
        if let Some(sub) = rest.strip_suffix("']") {
            if base != "metadata.labels" && base != "metadata.annotations" {
                return vec![FieldError::invalid(
                    &path.child("fieldPath"),
                    fp,
                    format!("error converting fieldPath: field label not supported: {fp}"),
                )];
            }
            let key = if base == "metadata.annotations" {
                sub.to_lowercase()
            } else {
                sub.to_string()
            };
            return is_qualified_name(&key)
                .into_iter()
                .map(|m| FieldError::invalid(path, sub, m))
                .collect();
        }
    }
    if !CONVERTIBLE_FIELD_PATHS.contains(&fp) {
        return vec![FieldError::invalid(
            &path.child("fieldPath"),
            fp,
            format!("error converting fieldPath: field label not supported: {fp}"),
        )];
    }
    if !allowed.contains(&fp) {
        return vec![FieldError::not_supported(
            &path.child("fieldPath"),
            fp,
            allowed,
        )];
    }
    Vec::new()
}

fn validate_env_from(from: &[Value], path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, ef) in from.iter().enumerate() {
        let p = path.index(i);
        let prefix = str_of(ef, "prefix");
        if !prefix.is_empty() {
            for m in relaxed_env_var_name(prefix) {
                errs.push(FieldError::invalid(&p.child("prefix"), prefix, m));
            }
        }
        let mut n = 0;
        for key in ["configMapRef", "secretRef"] {
            if let Some(r) = ef.get(key).filter(|v| !v.is_null()) {
                n += 1;
                let name = str_of(r, "name");
                if name.is_empty() {
                    errs.push(FieldError::required(&p.child(key).child("name"), ""));
                } else {
                    for m in is_dns1123_subdomain(name) {
                        errs.push(FieldError::invalid(&p.child(key).child("name"), name, m));
                    }
                }
            }
        }
        if n == 0 {
            errs.push(FieldError::invalid(
                &p,
                "",
                "must specify one of: `configMapRef` or `secretRef`",
            ));
        } else if n > 1 {
            errs.push(FieldError::invalid(
                &p,
                "",
                "may not have more than one field specified at a time",
            ));
        }
    }
    errs
}

fn validate_volume_mounts(
    c: &Value,
    volumes: &HashSet<String>,
    path: &FieldPath,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut mount_points = HashSet::new();
    let devices = arr_of(c, "volumeDevices");
    for (i, m) in arr_of(c, "volumeMounts").iter().enumerate() {
        let p = path.index(i);
        let name = str_of(m, "name");
        let mount_path = str_of(m, "mountPath");
        if name.is_empty() {
            errs.push(FieldError::required(&p.child("name"), ""));
        }
        if !volumes.contains(name) {
            errs.push(FieldError::not_found(&p.child("name"), name));
        }
        if mount_path.is_empty() {
            errs.push(FieldError::required(&p.child("mountPath"), ""));
        }
        if !mount_points.insert(mount_path) {
            errs.push(FieldError::invalid(
                &p.child("mountPath"),
                mount_path,
                "must be unique",
            ));
        }
        if devices.iter().any(|d| str_of(d, "name") == name) {
            errs.push(FieldError::invalid(
                &p.child("name"),
                name,
                "must not already exist in volumeDevices",
            ));
        }
        if devices
            .iter()
            .any(|d| str_of(d, "devicePath") == mount_path)
        {
            errs.push(FieldError::invalid(
                &p.child("mountPath"),
                mount_path,
                "must not already exist as a path in volumeDevices",
            ));
        }
        let sub = str_of(m, "subPath");
        if !sub.is_empty() {
            errs.extend(validate_local_descending_path(sub, &path.child("subPath")));
        }
        let sub_expr = str_of(m, "subPathExpr");
        if !sub_expr.is_empty() {
            if !sub.is_empty() {
                errs.push(FieldError::invalid(
                    &p.child("subPathExpr"),
                    sub_expr,
                    "subPathExpr and subPath are mutually exclusive",
                ));
            }
            errs.extend(validate_local_descending_path(
                sub_expr,
                &path.child("subPathExpr"),
            ));
        }
        if has(m, "mountPropagation") {
            let mp = str_of(m, "mountPropagation");
            const MODES: &[&str] = &["Bidirectional", "HostToContainer", "None"];
            if !MODES.contains(&mp) {
                errs.push(FieldError::not_supported(
                    &path.child("mountPropagation"),
                    mp,
                    MODES,
                ));
            }
        }
    }
    errs
}

/// `validateHandler`: exactly one action.
fn validate_handler(h: &Value, path: &FieldPath, lifecycle: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut n = 0;
    let kinds: &[&str] = if lifecycle {
        &["exec", "httpGet", "tcpSocket", "sleep"]
    } else {
        &["exec", "httpGet", "tcpSocket", "grpc"]
    };
    for kind in kinds {
        let Some(a) = h.get(*kind).filter(|v| !v.is_null()) else {
            continue;
        };
        let p = path.child(kind);
        if n > 0 {
            errs.push(FieldError::forbidden(
                &p,
                "may not specify more than 1 handler type",
            ));
            continue;
        }
        n += 1;
        match *kind {
            "exec" if arr_of(a, "command").is_empty() => {
                errs.push(FieldError::required(&p.child("command"), ""));
            }
            "httpGet" => {
                if str_of(a, "path").is_empty() {
                    errs.push(FieldError::required(&p.child("path"), ""));
                }
                errs.extend(validate_port_num_or_name(a.get("port"), &p.child("port")));
                let scheme = str_of(a, "scheme");
                if scheme != "HTTP" && scheme != "HTTPS" {
                    errs.push(FieldError::not_supported(
                        &p.child("scheme"),
                        scheme,
                        &["HTTP", "HTTPS"],
                    ));
                }
            }
            "tcpSocket" => errs.extend(validate_port_num_or_name(a.get("port"), &p.child("port"))),
            "grpc" => {
                let port = int_of(a, "port").unwrap_or(0);
                for m in is_valid_port_num(port) {
                    errs.push(FieldError::invalid(&p.child("port"), port, m));
                }
            }
            _ => {}
        }
    }
    if n == 0 {
        errs.push(FieldError::required(path, "must specify a handler type"));
    }
    errs
}

fn validate_port_num_or_name(port: Option<&Value>, path: &FieldPath) -> Vec<FieldError> {
    match port {
        Some(Value::String(s)) => is_valid_port_name(s)
            .into_iter()
            .map(|m| FieldError::invalid(path, s.as_str(), m))
            .collect(),
        Some(Value::Number(n)) => {
            let v = n.as_i64().unwrap_or(0);
            is_valid_port_num(v)
                .into_iter()
                .map(|m| FieldError::invalid(path, v, m))
                .collect()
        }
        _ => is_valid_port_num(0)
            .into_iter()
            .map(|m| FieldError::invalid(path, 0, m))
            .collect(),
    }
}

/// `validateProbe` (the defaulted thresholds are positive unless a client set them negative).
fn validate_probe(probe: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = validate_handler(probe, path, false);
    for key in [
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ] {
        errs.extend(validate_nonnegative(
            int_of(probe, key).unwrap_or(0),
            &path.child(key),
        ));
    }
    if let Some(t) = int_of(probe, "terminationGracePeriodSeconds") {
        if t <= 0 {
            errs.push(FieldError::invalid(
                &path.child("terminationGracePeriodSeconds"),
                t,
                "must be greater than 0",
            ));
        }
    }
    errs
}

fn is_standard_container_resource(name: &str) -> bool {
    matches!(name, "cpu" | "memory" | "ephemeral-storage") || name.starts_with("hugepages-")
}

/// `ValidateContainerResourceRequirements`: names, non-negative quantities, requests at most
/// the limits (errors name the whole `requests` map, as upstream's do).
fn validate_resource_requirements(res: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let lim_path = path.child("limits");
    let req_path = path.child("requests");
    let mut limits: BTreeMap<&str, Quantity> = BTreeMap::new();
    if let Some(l) = obj_of(res, "limits") {
        for (name, v) in l {
            let p = lim_path.key(name);
            errs.extend(validate_container_resource_name(name, &p));
            if let Some(q) = Quantity::from_value(v) {
                errs.extend(validate_resource_quantity(name, q, &p));
                limits.insert(name, q);
            }
        }
    }
    if let Some(r) = obj_of(res, "requests") {
        for (name, v) in r {
            let p = req_path.key(name);
            errs.extend(validate_container_resource_name(name, &p));
            let Some(q) = Quantity::from_value(v) else {
                continue;
            };
            errs.extend(validate_resource_quantity(name, q, &p));
            let overcommit = !name.starts_with("hugepages-") && is_native(name);
            match limits.get(name.as_str()) {
                Some(l) if q.nanos != l.nanos && !overcommit => errs.push(FieldError::invalid(
                    &req_path,
                    q.canonical(),
                    format!("must be equal to {name} limit of {}", l.canonical()),
                )),
                Some(l) if q.nanos > l.nanos => errs.push(FieldError::invalid(
                    &req_path,
                    q.canonical(),
                    format!(
                        "must be less than or equal to {name} limit of {}",
                        l.canonical()
                    ),
                )),
                None if !overcommit => errs.push(FieldError::required(
                    &lim_path,
                    "Limit must be set for non overcommitable resources",
                )),
                _ => {}
            }
        }
    }
    errs
}

/// Native resources have no domain or the `kubernetes.io/` one; others are extended resources,
/// which can not be overcommitted.
fn is_native(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

fn validate_container_resource_name(name: &str, path: &FieldPath) -> Vec<FieldError> {
    let mut errs: Vec<FieldError> = is_qualified_name(name)
        .into_iter()
        .map(|m| FieldError::invalid(path, name, m))
        .collect();
    if !name.contains('/') {
        if !is_standard_container_resource(name) {
            errs.push(FieldError::invalid(
                path,
                name,
                "must be a standard resource for containers",
            ));
        }
    } else if !is_native(name) && name.starts_with("requests.") {
        errs.push(FieldError::invalid(
            path,
            name,
            "doesn't follow extended resource name standard",
        ));
    }
    errs
}

fn validate_resource_quantity(name: &str, q: Quantity, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if q.is_negative() {
        errs.push(FieldError::invalid(
            path,
            q.canonical(),
            "must be greater than or equal to 0",
        ));
    }
    let integer_resource = !is_standard_container_resource(name) && !is_native(name);
    if integer_resource && !q.is_integer() {
        errs.push(FieldError::invalid(
            path,
            q.canonical(),
            "must be an integer",
        ));
    }
    errs
}

fn validate_id_range(sc: &Value, key: &str, path: &FieldPath) -> Vec<FieldError> {
    match int_of(sc, key) {
        Some(v) if !(0..=MAX_INT32).contains(&v) => vec![FieldError::invalid(
            &path.child(key),
            v,
            inclusive_range_error(0, MAX_INT32),
        )],
        _ => Vec::new(),
    }
}

fn validate_seccomp(sc: &Value, path: &FieldPath) -> Vec<FieldError> {
    let Some(prof) = sc.get("seccompProfile").filter(|v| !v.is_null()) else {
        return Vec::new();
    };
    let p = path.child("seccompProfile");
    let t = str_of(prof, "type");
    let local = str_of(prof, "localhostProfile");
    match t {
        "Localhost" => {
            if local.is_empty() {
                vec![FieldError::required(
                    &p.child("localhostProfile"),
                    "must be set when seccomp type is Localhost",
                )]
            } else {
                Vec::new()
            }
        }
        "RuntimeDefault" | "Unconfined" => {
            if local.is_empty() {
                Vec::new()
            } else {
                vec![FieldError::invalid(
                    &p.child("localhostProfile"),
                    local,
                    "can only be set when seccomp type is Localhost",
                )]
            }
        }
        "" => vec![FieldError::required(&p.child("type"), "")],
        other => vec![FieldError::not_supported(
            &p.child("type"),
            other,
            &["Localhost", "RuntimeDefault", "Unconfined"],
        )],
    }
}

fn validate_pod_security_context(sc: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for key in ["fsGroup", "runAsUser", "runAsGroup"] {
        errs.extend(validate_id_range(sc, key, path));
    }
    for (i, g) in arr_of(sc, "supplementalGroups").iter().enumerate() {
        if let Some(v) = g.as_i64().filter(|v| !(0..=MAX_INT32).contains(v)) {
            errs.push(FieldError::invalid(
                &path.child("supplementalGroups").index(i),
                v,
                inclusive_range_error(0, MAX_INT32),
            ));
        }
    }
    if has(sc, "fsGroupChangePolicy") {
        let v = str_of(sc, "fsGroupChangePolicy");
        const P: &[&str] = &["OnRootMismatch", "Always"];
        if !P.contains(&v) {
            errs.push(FieldError::not_supported(
                &path.child("fsGroupChangePolicy"),
                v,
                P,
            ));
        }
    }
    for (i, s) in arr_of(sc, "sysctls").iter().enumerate() {
        let name = str_of(s, "name");
        if name.is_empty() {
            errs.push(FieldError::required(
                &path.child("sysctls").index(i).child("name"),
                "",
            ));
        }
    }
    errs.extend(validate_seccomp(sc, path));
    errs
}

fn validate_container_security_context(sc: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for key in ["runAsUser", "runAsGroup"] {
        errs.extend(validate_id_range(sc, key, path));
    }
    if has(sc, "procMount") {
        let v = str_of(sc, "procMount");
        if v != "Default" && v != "Unmasked" {
            errs.push(FieldError::not_supported(
                &path.child("procMount"),
                v,
                &["Default", "Unmasked"],
            ));
        }
    }
    let no_escalation = sc.get("allowPrivilegeEscalation").and_then(Value::as_bool) == Some(false);
    if no_escalation && bool_of(sc, "privileged") {
        errs.push(FieldError::invalid(
            path,
            sc.clone(),
            "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
        ));
    }
    if no_escalation {
        let adds_sys_admin = sc
            .get("capabilities")
            .map(|c| arr_of(c, "add"))
            .unwrap_or(&[])
            .iter()
            .any(|c| c.as_str() == Some("SYS_ADMIN") || c.as_str() == Some("CAP_SYS_ADMIN"));
        if adds_sys_admin {
            errs.push(FieldError::invalid(
                path,
                sc.clone(),
                "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN",
            ));
        }
    }
    errs.extend(validate_seccomp(sc, path));
    errs
}

fn validate_image_pull_secrets(secrets: &[Value], path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, s) in secrets.iter().enumerate() {
        let only_name = s
            .as_object()
            .is_some_and(|m| m.iter().all(|(k, v)| k == "name" || v.is_null()));
        if !only_name {
            errs.push(FieldError::invalid(
                &path.index(i),
                s.clone(),
                "only name may be set",
            ));
        }
    }
    errs
}

fn validate_dns_config(spec: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let config = spec.get("dnsConfig").filter(|v| !v.is_null());
    if str_of(spec, "dnsPolicy") == "None" {
        match config {
            None => {
                return vec![FieldError::required(
                    path,
                    "must provide `dnsConfig` when `dnsPolicy` is None",
                )]
            }
            Some(c) if arr_of(c, "nameservers").is_empty() => {
                return vec![FieldError::required(
                    &path.child("nameservers"),
                    "must provide at least one DNS nameserver when `dnsPolicy` is None",
                )]
            }
            _ => {}
        }
    }
    let Some(c) = config else {
        return errs;
    };
    let ns = arr_of(c, "nameservers");
    if ns.len() > 3 {
        errs.push(FieldError::invalid(
            &path.child("nameservers"),
            Value::Array(ns.to_vec()),
            "must not have more than 3 nameservers",
        ));
    }
    for (i, n) in ns.iter().enumerate() {
        let s = n.as_str().unwrap_or("");
        if !is_valid_ip(s).is_empty() {
            errs.push(FieldError::invalid(
                &path.child("nameservers").index(i),
                s,
                "must be valid IP address",
            ));
        }
    }
    let searches = arr_of(c, "searches");
    if searches.len() > 32 {
        errs.push(FieldError::invalid(
            &path.child("searches"),
            Value::Array(searches.to_vec()),
            "must not have more than 32 search paths",
        ));
    }
    errs
}

fn validate_scheduling_gates(gates: &[Value], path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut seen = HashSet::new();
    for (i, g) in gates.iter().enumerate() {
        let name = str_of(g, "name");
        for m in is_qualified_name(name) {
            errs.push(FieldError::invalid(&path.index(i), name, m));
        }
        if !seen.insert(name) {
            errs.push(FieldError::duplicate(&path.index(i), name));
        }
    }
    errs
}

/// `validateTolerations`.
pub fn validate_tolerations(tolerations: &[Value], path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, t) in tolerations.iter().enumerate() {
        let p = path.index(i);
        let key = str_of(t, "key");
        let op = str_of(t, "operator");
        let effect = str_of(t, "effect");
        if !key.is_empty() {
            errs.extend(validate_label_name(key, &p.child("key")));
        }
        if key.is_empty() && op != "Exists" {
            errs.push(FieldError::invalid(
                &p.child("operator"),
                op,
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if has(t, "tolerationSeconds") && effect != "NoExecute" {
            errs.push(FieldError::invalid(
                &p.child("effect"),
                effect,
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        match op {
            "Equal" | "" => {
                let v = str_of(t, "value");
                let msgs = is_valid_label_value(v);
                if !msgs.is_empty() {
                    errs.push(FieldError::invalid(&p.child("operator"), v, msgs.join(";")));
                }
            }
            "Exists" => {
                if !str_of(t, "value").is_empty() {
                    errs.push(FieldError::invalid(
                        &p.child("operator"),
                        t.clone(),
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(
                &p.child("operator"),
                other,
                &["Equal", "Exists"],
            )),
        }
        if !effect.is_empty() && !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect)
        {
            errs.push(FieldError::not_supported(
                &p.child("effect"),
                effect,
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            ));
        }
    }
    errs
}

fn validate_node_selector_requirements(reqs: &[Value], path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, r) in reqs.iter().enumerate() {
        let p = path.index(i);
        let values = arr_of(r, "values");
        match str_of(r, "operator") {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errs.push(FieldError::required(
                        &p.child("values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errs.push(FieldError::forbidden(
                        &p.child("values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            "Gt" | "Lt" => {
                if values.len() != 1 {
                    errs.push(FieldError::required(
                        &p.child("values"),
                        "must be specified single value when `operator` is 'Lt' or 'Gt'",
                    ));
                }
            }
            other => errs.push(FieldError::invalid(
                &p.child("operator"),
                other,
                "not a valid selector operator",
            )),
        }
        errs.extend(validate_label_name(str_of(r, "key"), &p.child("key")));
    }
    errs
}

fn validate_node_selector_term(term: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = validate_node_selector_requirements(
        arr_of(term, "matchExpressions"),
        &path.child("matchExpressions"),
    );
    for (i, f) in arr_of(term, "matchFields").iter().enumerate() {
        let p = path.child("matchFields").index(i);
        let key = str_of(f, "key");
        if key != "metadata.name" {
            errs.push(FieldError::invalid(
                &p.child("key"),
                key,
                "not a valid field selector key",
            ));
        }
        let op = str_of(f, "operator");
        if op != "In" && op != "NotIn" {
            errs.push(FieldError::invalid(
                &p.child("operator"),
                op,
                "not a valid selector operator",
            ));
        }
        if arr_of(f, "values").len() != 1 {
            errs.push(FieldError::required(
                &p.child("values"),
                "must be only one value when `operator` is 'In' or 'NotIn' for node field selector",
            ));
        }
    }
    errs
}

fn validate_weight(term: &Value, path: &FieldPath) -> Vec<FieldError> {
    let w = int_of(term, "weight").unwrap_or(0);
    if (1..=100).contains(&w) {
        Vec::new()
    } else {
        vec![FieldError::invalid(
            &path.child("weight"),
            w,
            "must be in the range 1-100",
        )]
    }
}

fn validate_pod_affinity_term(term: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(s) = term.get("labelSelector").filter(|v| !v.is_null()) {
        errs.extend(validate_label_selector(s, &path.child("labelSelector")));
    }
    if let Some(s) = term.get("namespaceSelector").filter(|v| !v.is_null()) {
        errs.extend(validate_label_selector(s, &path.child("namespaceSelector")));
    }
    for (i, ns) in arr_of(term, "namespaces").iter().enumerate() {
        let name = ns.as_str().unwrap_or("");
        for m in is_dns1123_label(name) {
            errs.push(FieldError::invalid(
                &path.child("namespaces").index(i),
                name,
                m,
            ));
        }
    }
    let tk = str_of(term, "topologyKey");
    if tk.is_empty() {
        errs.push(FieldError::required(
            &path.child("topologyKey"),
            "can not be empty",
        ));
    } else {
        errs.extend(validate_label_name(tk, &path.child("topologyKey")));
    }
    errs
}

fn validate_affinity(a: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(na) = a.get("nodeAffinity").filter(|v| !v.is_null()) {
        let p = path.child("nodeAffinity");
        if let Some(req) = na
            .get("requiredDuringSchedulingIgnoredDuringExecution")
            .filter(|v| !v.is_null())
        {
            let rp = p.child("requiredDuringSchedulingIgnoredDuringExecution");
            let terms = arr_of(req, "nodeSelectorTerms");
            if terms.is_empty() {
                errs.push(FieldError::required(
                    &rp.child("nodeSelectorTerms"),
                    "must have at least one node selector term",
                ));
            }
            for (i, t) in terms.iter().enumerate() {
                errs.extend(validate_node_selector_term(
                    t,
                    &rp.child("nodeSelectorTerms").index(i),
                ));
            }
        }
        let pp = p.child("preferredDuringSchedulingIgnoredDuringExecution");
        for (i, t) in arr_of(na, "preferredDuringSchedulingIgnoredDuringExecution")
            .iter()
            .enumerate()
        {
            errs.extend(validate_weight(t, &pp.index(i)));
            errs.extend(validate_node_selector_term(
                t.get("preference").unwrap_or(&Value::Null),
                &pp.index(i).child("preference"),
            ));
        }
    }
    for kind in ["podAffinity", "podAntiAffinity"] {
        let Some(pa) = a.get(kind).filter(|v| !v.is_null()) else {
            continue;
        };
        let p = path.child(kind);
        let rp = p.child("requiredDuringSchedulingIgnoredDuringExecution");
        for (i, t) in arr_of(pa, "requiredDuringSchedulingIgnoredDuringExecution")
            .iter()
            .enumerate()
        {
            errs.extend(validate_pod_affinity_term(t, &rp.index(i)));
        }
        let pp = p.child("preferredDuringSchedulingIgnoredDuringExecution");
        for (i, t) in arr_of(pa, "preferredDuringSchedulingIgnoredDuringExecution")
            .iter()
            .enumerate()
        {
            errs.extend(validate_weight(t, &pp.index(i)));
            errs.extend(validate_pod_affinity_term(
                t.get("podAffinityTerm").unwrap_or(&Value::Null),
                &pp.index(i).child("podAffinityTerm"),
            ));
        }
    }
    errs
}

fn validate_topology_spread(constraints: &[Value], path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, c) in constraints.iter().enumerate() {
        let p = path.index(i);
        let skew = int_of(c, "maxSkew").unwrap_or(0);
        if skew <= 0 {
            errs.push(FieldError::invalid(
                &p.child("maxSkew"),
                skew,
                "must be greater than zero",
            ));
        }
        let tk = str_of(c, "topologyKey");
        if tk.is_empty() {
            errs.push(FieldError::required(
                &p.child("topologyKey"),
                "can not be empty",
            ));
        } else {
            errs.extend(validate_label_name(tk, &p.child("topologyKey")));
        }
        let wu = str_of(c, "whenUnsatisfiable");
        if !["DoNotSchedule", "ScheduleAnyway"].contains(&wu) {
            errs.push(FieldError::not_supported(
                &p.child("whenUnsatisfiable"),
                wu,
                &["DoNotSchedule", "ScheduleAnyway"],
            ));
        }
        let repeated = constraints[i + 1..]
            .iter()
            .any(|o| str_of(o, "topologyKey") == tk && str_of(o, "whenUnsatisfiable") == wu);
        if repeated {
            errs.push(FieldError::duplicate(
                &p.child("{topologyKey, whenUnsatisfiable}"),
                format!("{{{tk}, {wu}}}"),
            ));
        }
        if let Some(md) = int_of(c, "minDomains") {
            if md <= 0 {
                errs.push(FieldError::invalid(
                    &p.child("minDomains"),
                    md,
                    "must be greater than zero",
                ));
            }
            if wu != "DoNotSchedule" {
                errs.push(FieldError::invalid(
                    &p.child("minDomains"),
                    md,
                    format!("can only use minDomains if whenUnsatisfiable=DoNotSchedule, not {wu}"),
                ));
            }
        }
        for key in ["nodeAffinityPolicy", "nodeTaintsPolicy"] {
            if has(c, key) {
                let v = str_of(c, key);
                if v != "Honor" && v != "Ignore" {
                    errs.push(FieldError::not_supported(
                        &p.child(key),
                        v,
                        &["Honor", "Ignore"],
                    ));
                }
            }
        }
        if let Some(s) = c.get("labelSelector").filter(|v| !v.is_null()) {
            errs.extend(validate_label_selector(s, &p.child("labelSelector")));
        }
    }
    errs
}

// ---------------------------------------------------------------------------------------------
// Pod create / update / status
// ---------------------------------------------------------------------------------------------

/// `ValidatePodCreate` without the ObjectMeta part (the strategy checks that).
pub fn validate_pod_create(pod: &Value) -> Vec<FieldError> {
    let spec = pod.get("spec").unwrap_or(&Value::Null);
    let path = FieldPath::new("spec");
    let mut errs = validate_pod_spec(spec, &path, PodSpecOptions { is_pod: true });
    if !arr_of(spec, "ephemeralContainers").is_empty() {
        errs.push(FieldError::forbidden(
            &path.child("ephemeralContainers"),
            "cannot be set on create",
        ));
    }
    errs
}

const UPDATABLE_POD_FIELDS: &str = "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// `ValidatePodUpdate` for the spec: only images, activeDeadlineSeconds (down), tolerations
/// (additions), terminationGracePeriodSeconds (negative → 1) and scheduling gates (removals)
/// may change.
pub fn validate_pod_spec_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let spec_path = FieldPath::new("spec");
    let null = Value::Null;
    let new_spec = new.get("spec").unwrap_or(&null);
    let old_spec = old.get("spec").unwrap_or(&null);
    let mut errs = validate_pod_spec(new_spec, &spec_path, PodSpecOptions { is_pod: true });
    for key in ["containers", "initContainers"] {
        let (n, o) = (arr_of(new_spec, key), arr_of(old_spec, key));
        let p = spec_path.child(key);
        if n.len() != o.len() {
            errs.push(FieldError::forbidden(
                &p,
                "pod updates may not add or remove containers",
            ));
            return errs;
        }
        for (i, c) in n.iter().enumerate() {
            let image = str_of(c, "image");
            if image.trim() != image {
                errs.push(FieldError::invalid(
                    &p.index(i).child("image"),
                    image,
                    "must not have leading or trailing whitespace",
                ));
            }
        }
    }
    let ads_path = spec_path.child("activeDeadlineSeconds");
    match (
        int_of(new_spec, "activeDeadlineSeconds"),
        int_of(old_spec, "activeDeadlineSeconds"),
    ) {
        (Some(n), _) if !(0..=MAX_INT32).contains(&n) => {
            errs.push(FieldError::invalid(
                &ads_path,
                n,
                inclusive_range_error(0, MAX_INT32),
            ));
            return errs;
        }
        (Some(n), Some(o)) if o < n => {
            errs.push(FieldError::invalid(
                &ads_path,
                n,
                "must be less than or equal to previous value",
            ));
            return errs;
        }
        (None, Some(_)) => errs.push(FieldError::invalid(
            &ads_path,
            Value::Null,
            "must not update from a positive integer to nil value",
        )),
        _ => {}
    }
    let new_tol = arr_of(new_spec, "tolerations");
    for ot in arr_of(old_spec, "tolerations") {
        let found = new_tol.iter().any(|nt| {
            let mut clone = ot.clone();
            if let Some(m) = clone.as_object_mut() {
                m.remove("tolerationSeconds");
                if let Some(s) = nt.get("tolerationSeconds") {
                    m.insert("tolerationSeconds".into(), s.clone());
                }
            }
            semantic_eq(&clone, nt)
        });
        if !found {
            errs.push(FieldError::forbidden(
                &spec_path.child("tolerations"),
                "existing toleration can not be modified except its tolerationSeconds",
            ));
            break;
        }
    }
    let new_gates: Vec<&str> = arr_of(new_spec, "schedulingGates")
        .iter()
        .map(|g| str_of(g, "name"))
        .collect();
    let old_gates: Vec<&str> = arr_of(old_spec, "schedulingGates")
        .iter()
        .map(|g| str_of(g, "name"))
        .collect();
    let gates_removed_only = new_gates.iter().all(|g| old_gates.contains(g));
    if !gates_removed_only {
        errs.push(FieldError::forbidden(
            &spec_path.child("schedulingGates"),
            "only deletion is allowed, but found new scheduling gate",
        ));
    }
    if semantic_eq(new_spec, old_spec) {
        return errs;
    }
    // Munge the allowed changes back to the old values; anything left differing is forbidden.
    let mut munged = normalized(new_spec);
    if let Some(m) = munged.as_object_mut() {
        for key in ["containers", "initContainers"] {
            let olds = arr_of(old_spec, key);
            if let Some(list) = m.get_mut(key).and_then(Value::as_array_mut) {
                for (c, o) in list.iter_mut().zip(olds) {
                    if let (Some(c), Some(img)) = (c.as_object_mut(), o.get("image")) {
                        c.insert("image".into(), img.clone());
                    }
                }
            }
        }
        for key in ["activeDeadlineSeconds", "tolerations"] {
            match old_spec.get(key) {
                Some(v) => m.insert(key.into(), v.clone()),
                None => m.remove(key),
            };
        }
        let old_grace = int_of(old_spec, "terminationGracePeriodSeconds");
        if old_grace.is_some_and(|g| g < 0)
            && int_of(new_spec, "terminationGracePeriodSeconds") == Some(1)
        {
            m.insert("terminationGracePeriodSeconds".into(), json!(old_grace));
        }
        if gates_removed_only {
            match old_spec.get("schedulingGates") {
                Some(v) => m.insert("schedulingGates".into(), v.clone()),
                None => m.remove("schedulingGates"),
            };
        }
    }
    if !semantic_eq(&munged, old_spec) {
        errs.push(FieldError::forbidden(
            &spec_path,
            format!("pod updates may not change fields other than {UPDATABLE_POD_FIELDS}"),
        ));
    }
    errs
}

/// `ValidatePodStatusUpdate`, the parts a client can get wrong: IPs and condition types.
pub fn validate_pod_status(status: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let path = FieldPath::new("status");
    for key in ["podIPs", "hostIPs"] {
        let list = arr_of(status, key);
        for (i, ip) in list.iter().enumerate() {
            let s = str_of(ip, "ip");
            for m in is_valid_ip(s) {
                errs.push(FieldError::invalid(
                    &path.child(key).index(i).child("ip"),
                    s,
                    m,
                ));
            }
        }
        if list.len() > 2 {
            errs.push(FieldError::new(
                crate::field::ErrorType::TooMany,
                &path.child(key),
                Some(json!(list.len())),
                "must have at most 2 items",
            ));
        }
    }
    for (i, c) in arr_of(status, "conditions").iter().enumerate() {
        let t = str_of(c, "type");
        for m in is_qualified_name(t) {
            errs.push(FieldError::invalid(
                &path.child("conditions").index(i).child("type"),
                t,
                m,
            ));
        }
    }
    errs
}

// ---------------------------------------------------------------------------------------------
// Warnings
// ---------------------------------------------------------------------------------------------

const DEPRECATED_NODE_LABELS: &[(&str, &str, &str)] = &[
    ("beta.kubernetes.io/arch", "v1.14", "kubernetes.io/arch"),
    ("beta.kubernetes.io/os", "v1.14", "kubernetes.io/os"),
    (
        "failure-domain.beta.kubernetes.io/region",
        "v1.17",
        "topology.kubernetes.io/region",
    ),
    (
        "failure-domain.beta.kubernetes.io/zone",
        "v1.17",
        "topology.kubernetes.io/zone",
    ),
    (
        "beta.kubernetes.io/instance-type",
        "v1.17",
        "node.kubernetes.io/instance-type",
    ),
];

/// Warnings for deprecated annotations on a pod's (or pod template's) metadata at `path`.
pub fn pod_metadata_warnings(meta: &Value, path: &FieldPath) -> Vec<String> {
    let mut w = Vec::new();
    let Some(annotations) = meta.get("annotations").and_then(Value::as_object) else {
        return w;
    };
    let at = path.child("annotations");
    let mut keys: Vec<&String> = annotations.keys().collect();
    keys.sort();
    for k in keys {
        if k == "seccomp.security.alpha.kubernetes.io/pod"
            || k.starts_with("container.seccomp.security.alpha.kubernetes.io/")
        {
            w.push(format!(
                "{}: non-functional in v1.27+; use the \"seccompProfile\" field instead",
                at.key(k)
            ));
        } else if k.starts_with("container.apparmor.security.beta.kubernetes.io/") {
            w.push(format!(
                "{}: deprecated since v1.30; use the \"appArmorProfile\" field instead",
                at.key(k)
            ));
        }
    }
    w
}

/// The cheap parts of upstream's `GetWarningsForPodTemplate` / `GetWarningsForPod` for a
/// PodSpec at `path`.
pub fn pod_spec_warnings(spec: &Value, path: &FieldPath) -> Vec<String> {
    let mut w = Vec::new();
    if let Some(ns) = obj_of(spec, "nodeSelector") {
        for (label, since, repl) in DEPRECATED_NODE_LABELS {
            if ns.contains_key(*label) {
                w.push(format!(
                    "{}: deprecated since {since}; use \"{repl}\" instead",
                    path.child("nodeSelector").key(label)
                ));
            }
        }
    }
    if int_of(spec, "terminationGracePeriodSeconds").is_some_and(|g| g < 0) {
        w.push(format!(
            "{}: must be >= 0; negative values are invalid and will be treated as 1",
            path.child("terminationGracePeriodSeconds")
        ));
    }
    for (i, s) in arr_of(spec, "imagePullSecrets").iter().enumerate() {
        if str_of(s, "name").is_empty() {
            w.push(format!(
                "{}: invalid empty name \"\"",
                path.child("imagePullSecrets").index(i).child("name")
            ));
        }
    }
    for key in ["initContainers", "containers"] {
        for (ci, c) in arr_of(spec, key).iter().enumerate() {
            let cp = path.child(key).index(ci);
            if let Some(res) = c.get("resources") {
                for list in ["limits", "requests"] {
                    let mem = res.get(list).and_then(|l| l.get("memory"));
                    if let Some(q) = mem.and_then(Quantity::from_value) {
                        if !q.is_integer() {
                            w.push(format!(
                                "{}: fractional byte value \"{}\" is invalid, must be an integer",
                                cp.child("resources").child(list).key("memory"),
                                q.canonical()
                            ));
                        }
                    }
                }
            }
            let env = arr_of(c, "env");
            for (i, e) in env.iter().enumerate() {
                let name = str_of(e, "name");
                if env[..i].iter().any(|p| str_of(p, "name") == name) {
                    w.push(format!(
                        "{}: hides previous definition of {name:?}, which may be dropped when using apply",
                        cp.child("env").index(i)
                    ));
                }
            }
        }
    }
    w
}
