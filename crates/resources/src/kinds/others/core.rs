//! Core (`v1`) kinds other than the workloads: upstream's `pkg/apis/core/validation` and
//! `pkg/apis/core/v1/defaults.go` for them.

use base64::Engine;
use serde_json::{json, Map, Value};

use super::util::{
    arr, default_field, each_obj_mut, get, immutable, int, invalid_all, map, obj_mut,
    port_num_or_name, s, strings,
};
use super::{Hooks, Spec};
use crate::field::{FieldError, FieldPath};
use crate::info::ResourceInfo;
use crate::kinds::meta::{
    is_config_map_key, is_dns1123_label, is_dns1123_subdomain, is_qualified_name, is_valid_cidr,
    is_valid_ip, is_valid_label_value, validate_finalizer_name, validate_label_selector,
    validate_labels, NameRule,
};

/// Upstream's `MaxSecretSize`: the cap on ConfigMap and Secret data (1 MiB).
pub const MAX_SECRET_SIZE: usize = 1024 * 1024;
const IMMUTABLE_SET: &str = "field is immutable when `immutable` is set";

pub(super) fn spec(info: &ResourceInfo) -> Option<Spec> {
    if !info.group.is_empty() {
        return None;
    }
    let h = Hooks::default();
    let spec = match info.kind.as_str() {
        "Service" => Spec {
            name_rule: Some(NameRule::Dns1035Label),
            initial_status: Some(|_| json!({"loadBalancer": {}})),
            hooks: Hooks {
                defaults: service_defaults,
                validate: validate_service,
                validate_update: validate_service_update,
                prepare_create: service_prepare_create,
                prepare_update: service_prepare_update,
                ..h
            },
            ..Spec::default()
        },
        "ConfigMap" => Spec {
            hooks: Hooks {
                validate: validate_config_map,
                validate_update: validate_config_map_update,
                ..h
            },
            ..Spec::default()
        },
        "Secret" => Spec {
            hooks: Hooks {
                defaults: secret_defaults,
                validate: validate_secret,
                validate_update: validate_secret_update,
                ..h
            },
            ..Spec::default()
        },
        "Namespace" => Spec {
            name_rule: Some(NameRule::Dns1123Label),
            initial_status: Some(|_| json!({"phase": "Active"})),
            hooks: Hooks {
                defaults: namespace_defaults,
                validate: validate_namespace,
                update_skips_create_rules: true,
                prepare_create: namespace_prepare_create,
                prepare_update: namespace_prepare_update,
                ..h
            },
            ..Spec::default()
        },
        "PersistentVolumeClaim" => Spec {
            initial_status: Some(|_| json!({"phase": "Pending"})),
            hooks: Hooks {
                defaults: pvc_defaults,
                validate: validate_pvc,
                validate_update: validate_pvc_update,
                ..h
            },
            ..Spec::default()
        },
        "PersistentVolume" => Spec {
            initial_status: Some(|_| json!({"phase": "Pending"})),
            hooks: Hooks {
                defaults: pv_defaults,
                validate: validate_pv,
                ..h
            },
            ..Spec::default()
        },
        "ResourceQuota" => Spec {
            hooks: Hooks {
                validate: validate_resource_quota,
                ..h
            },
            ..Spec::default()
        },
        "LimitRange" => Spec {
            hooks: Hooks {
                defaults: limit_range_defaults,
                validate: validate_limit_range,
                ..h
            },
            ..Spec::default()
        },
        "Endpoints" => Spec {
            hooks: Hooks {
                validate: validate_endpoints,
                ..h
            },
            ..Spec::default()
        },
        "Event" => Spec {
            hooks: Hooks {
                validate: super::events::validate_core,
                validate_meta: false,
                convert: super::events::convert,
                ..h
            },
            ..Spec::default()
        },
        "Node" => Spec {
            hooks: Hooks {
                defaults: node_defaults,
                validate: validate_node,
                // Nodes are created by their agent with a status; upstream keeps it.
                prepare_create: |_| {},
                ..h
            },
            // The `initial_status` hook would reset it: keep the agent's status instead.
            initial_status: Some(|o| o.get("status").cloned().unwrap_or_else(|| json!({}))),
            ..Spec::default()
        },
        "ServiceAccount" => Spec::default(),
        "Binding" | "ComponentStatus" => Spec {
            name_rule: Some(NameRule::Any),
            ..Spec::default()
        },
        _ => return None,
    };
    Some(spec)
}

// ---------------------------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------------------------

fn externally_accessible(o: &Value) -> bool {
    let t = s(o, "/spec/type");
    t == "LoadBalancer"
        || t == "NodePort"
        || (t == "ClusterIP" && !arr(o, "/spec/externalIPs").is_empty())
}

fn is_headless(o: &Value) -> bool {
    s(o, "/spec/clusterIP") == "None"
}

/// `SetDefaults_Service`, plus the IP family fields upstream's REST layer fills on a
/// single-stack IPv4 cluster (cluster IP allocation itself is the server's).
fn service_defaults(o: &mut Value) {
    default_field(o, "/spec", "sessionAffinity", json!("None"));
    match s(o, "/spec/sessionAffinity") {
        "None" => {
            if let Some(m) = obj_mut(o, "/spec") {
                m.remove("sessionAffinityConfig");
            }
        }
        "ClientIP" => default_field(
            o,
            "/spec/sessionAffinityConfig/clientIP",
            "timeoutSeconds",
            json!(10800),
        ),
        _ => {}
    }
    default_field(o, "/spec", "type", json!("ClusterIP"));
    for p in each_obj_mut(o, "/spec/ports") {
        if p.get("protocol").is_none_or(|v| v.is_null() || v == "") {
            p.insert("protocol".into(), json!("TCP"));
        }
        let unset = match p.get("targetPort") {
            None | Some(Value::Null) => true,
            Some(Value::Number(n)) => n.as_i64() == Some(0),
            Some(Value::String(t)) => t.is_empty(),
            _ => false,
        };
        if unset {
            let port = p.get("port").cloned().unwrap_or(json!(0));
            p.insert("targetPort".into(), port);
        }
    }
    if externally_accessible(o) {
        default_field(o, "/spec", "externalTrafficPolicy", json!("Cluster"));
    }
    let t = s(o, "/spec/type").to_string();
    if matches!(t.as_str(), "ClusterIP" | "NodePort" | "LoadBalancer") {
        default_field(o, "/spec", "internalTrafficPolicy", json!("Cluster"));
    }
    if t == "LoadBalancer" {
        default_field(o, "/spec", "allocateLoadBalancerNodePorts", json!(true));
    }
    if t != "ExternalName" {
        // Headless services without selectors are dual-stack by default upstream.
        if is_headless(o) && map(o, "/spec/selector").is_none_or(Map::is_empty) {
            default_field(o, "/spec", "ipFamilyPolicy", json!("RequireDualStack"));
            default_field(o, "/spec", "ipFamilies", json!(["IPv4", "IPv6"]));
        } else {
            default_field(o, "/spec", "ipFamilyPolicy", json!("SingleStack"));
            default_field(o, "/spec", "ipFamilies", json!(["IPv4"]));
        }
    }
}

/// Keeps `clusterIP` and `clusterIPs` in step (upstream's `NormalizeClusterIPs`).
fn normalize_cluster_ips(o: &mut Value) {
    let ip = s(o, "/spec/clusterIP").to_string();
    let ips = arr(o, "/spec/clusterIPs").to_vec();
    if let Some(spec) = obj_mut(o, "/spec") {
        if ips.is_empty() && !ip.is_empty() {
            spec.insert("clusterIPs".into(), json!([ip]));
        } else if ip.is_empty() {
            if let Some(first) = ips.first().cloned() {
                spec.insert("clusterIP".into(), first);
            }
        }
    }
}

fn service_prepare_create(o: &mut Value) {
    normalize_cluster_ips(o);
}

/// Keeps allocated values a client left out (`kubectl replace` without clusterIP or
/// nodePort), as upstream's `patchAllocatedValues`.
fn service_prepare_update(new: &mut Value, old: &Value) {
    let t = s(new, "/spec/type").to_string();
    let needs_ip = t != "ExternalName";
    if needs_ip && s(new, "/spec/clusterIP").is_empty() && arr(new, "/spec/clusterIPs").is_empty() {
        let old_ip = old.pointer("/spec/clusterIP").cloned();
        let old_ips = old.pointer("/spec/clusterIPs").cloned();
        if let Some(spec) = obj_mut(new, "/spec") {
            if let Some(ip) = old_ip.filter(|v| !v.is_null()) {
                spec.insert("clusterIP".into(), ip);
            }
            if let Some(ips) = old_ips.filter(|v| !v.is_null()) {
                spec.insert("clusterIPs".into(), ips);
            }
        }
    }
    if matches!(t.as_str(), "NodePort" | "LoadBalancer") {
        let old_ports = arr(old, "/spec/ports").to_vec();
        for p in each_obj_mut(new, "/spec/ports") {
            if p.get("nodePort").and_then(Value::as_i64).unwrap_or(0) != 0 {
                continue;
            }
            let same = old_ports.iter().find(|op| {
                op.get("port") == p.get("port") && op.get("protocol") == p.get("protocol")
            });
            if let Some(np) = same
                .and_then(|op| op.get("nodePort"))
                .filter(|v| !v.is_null())
            {
                p.insert("nodePort".into(), np.clone());
            }
        }
        if int(new, "/spec/healthCheckNodePort").unwrap_or(0) == 0 {
            if let Some(h) = get(old, "/spec/healthCheckNodePort").cloned() {
                if let Some(spec) = obj_mut(new, "/spec") {
                    spec.insert("healthCheckNodePort".into(), h);
                }
            }
        }
    }
    normalize_cluster_ips(new);
}

fn validate_service(o: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let spec = FieldPath::new("spec");
    let t = s(o, "/spec/type");
    let ports = arr(o, "/spec/ports");
    let headless = is_headless(o);
    let cluster_ips = strings(arr(o, "/spec/clusterIPs"));
    if ports.is_empty() && !headless && t != "ExternalName" {
        errs.push(FieldError::required(&spec.child("ports"), ""));
    }
    match t {
        "LoadBalancer" | "NodePort" if headless => {
            errs.push(FieldError::invalid(
                &spec.child("clusterIPs").index(0),
                cluster_ips.first().copied().unwrap_or("None"),
                format!("may not be set to 'None' for {t} services"),
            ));
        }
        "ExternalName" => {
            if !cluster_ips.is_empty() {
                errs.push(FieldError::forbidden(
                    &spec.child("clusterIPs"),
                    "may not be set for ExternalName services",
                ));
            }
            if !arr(o, "/spec/ipFamilies").is_empty() {
                errs.push(FieldError::forbidden(
                    &spec.child("ipFamilies"),
                    "may not be set for ExternalName services",
                ));
            }
            if get(o, "/spec/ipFamilyPolicy").is_some() {
                errs.push(FieldError::forbidden(
                    &spec.child("ipFamilyPolicy"),
                    "may not be set for ExternalName services",
                ));
            }
            let cname = s(o, "/spec/externalName");
            let cname = cname.strip_suffix('.').unwrap_or(cname);
            if cname.is_empty() {
                errs.push(FieldError::required(&spec.child("externalName"), ""));
            } else {
                errs.extend(invalid_all(
                    &spec.child("externalName"),
                    cname,
                    is_dns1123_subdomain(cname),
                ));
            }
        }
        _ => {}
    }
    let mut names: Vec<&str> = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let pp = spec.child("ports").index(i);
        let name = s(p, "/name");
        if ports.len() > 1 && name.is_empty() {
            errs.push(FieldError::required(&pp.child("name"), ""));
        } else if !name.is_empty() {
            errs.extend(invalid_all(&pp.child("name"), name, is_dns1123_label(name)));
            if names.contains(&name) {
                errs.push(FieldError::duplicate(&pp.child("name"), name));
            } else {
                names.push(name);
            }
        }
        let port = int(p, "/port").unwrap_or(0);
        for m in crate::kinds::meta::is_valid_port_num(port) {
            errs.push(FieldError::invalid(&pp.child("port"), port, m));
        }
        let proto = s(p, "/protocol");
        if proto.is_empty() {
            errs.push(FieldError::required(&pp.child("protocol"), ""));
        } else if !["SCTP", "TCP", "UDP"].contains(&proto) {
            errs.push(FieldError::not_supported(
                &pp.child("protocol"),
                proto,
                &["SCTP", "TCP", "UDP"],
            ));
        }
        if let Some(tp) = p.get("targetPort") {
            errs.extend(port_num_or_name(tp, &pp.child("targetPort")));
        }
        if let Some(ap) = p.get("appProtocol").and_then(Value::as_str) {
            errs.extend(invalid_all(
                &pp.child("appProtocol"),
                ap,
                is_qualified_name(ap),
            ));
        }
    }
    if let Some(sel) = o.pointer("/spec/selector") {
        errs.extend(validate_labels(sel, &spec.child("selector")));
    }
    let affinity = s(o, "/spec/sessionAffinity");
    if affinity.is_empty() {
        errs.push(FieldError::required(&spec.child("sessionAffinity"), ""));
    } else if !["ClientIP", "None"].contains(&affinity) {
        errs.push(FieldError::not_supported(
            &spec.child("sessionAffinity"),
            affinity,
            &["ClientIP", "None"],
        ));
    }
    let sac = spec.child("sessionAffinityConfig");
    if affinity == "ClientIP" {
        let when = "when session affinity type is ClientIP";
        if get(o, "/spec/sessionAffinityConfig").is_none() {
            errs.push(FieldError::required(&sac, when));
        } else if get(o, "/spec/sessionAffinityConfig/clientIP").is_none() {
            errs.push(FieldError::required(&sac.child("clientIP"), when));
        } else {
            let tp = sac.child("clientIP").child("timeoutSeconds");
            match int(o, "/spec/sessionAffinityConfig/clientIP/timeoutSeconds") {
                None => errs.push(FieldError::required(&tp, when)),
                Some(t) if t <= 0 || t > 86400 => errs.push(FieldError::invalid(
                    &tp,
                    t,
                    "must be greater than 0 and less than 86400",
                )),
                _ => {}
            }
        }
    } else if affinity == "None" && get(o, "/spec/sessionAffinityConfig").is_some() {
        errs.push(FieldError::forbidden(
            &sac,
            "must not be set when session affinity is None",
        ));
    }
    errs.extend(validate_cluster_ips(o, &spec));
    for (i, ip) in arr(o, "/spec/externalIPs").iter().enumerate() {
        let ip = ip.as_str().unwrap_or("");
        errs.extend(invalid_all(
            &spec.child("externalIPs").index(i),
            ip,
            is_valid_ip(ip),
        ));
    }
    const TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
    if t.is_empty() {
        errs.push(FieldError::required(&spec.child("type"), ""));
    } else if !TYPES.contains(&t) {
        errs.push(FieldError::not_supported(&spec.child("type"), t, TYPES));
    }
    if t == "ClusterIP" {
        for (i, p) in ports.iter().enumerate() {
            if int(p, "/nodePort").unwrap_or(0) != 0 {
                errs.push(FieldError::forbidden(
                    &spec.child("ports").index(i).child("nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                ));
            }
        }
    }
    let mut node_ports: Vec<(&str, i64)> = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let np = int(p, "/nodePort").unwrap_or(0);
        if np == 0 {
            continue;
        }
        let key = (s(p, "/protocol"), np);
        if node_ports.contains(&key) {
            errs.push(FieldError::duplicate(
                &spec.child("ports").index(i).child("nodePort"),
                np,
            ));
        }
        node_ports.push(key);
    }
    let mut seen: Vec<(&str, i64)> = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let key = (s(p, "/protocol"), int(p, "/port").unwrap_or(0));
        if seen.contains(&key) {
            errs.push(FieldError::duplicate(
                &spec.child("ports").index(i),
                json!({"protocol": key.0, "port": key.1}),
            ));
        }
        seen.push(key);
    }
    let ranges = arr(o, "/spec/loadBalancerSourceRanges");
    if !ranges.is_empty() {
        let fp = spec.child("LoadBalancerSourceRanges");
        if t != "LoadBalancer" {
            errs.push(FieldError::forbidden(
                &fp,
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
        for (i, r) in ranges.iter().enumerate() {
            let r = r.as_str().unwrap_or("").trim();
            errs.extend(invalid_all(&fp.index(i), r, is_valid_cidr(r)));
        }
    }
    let alloc = get(o, "/spec/allocateLoadBalancerNodePorts").is_some();
    if alloc && t != "LoadBalancer" {
        errs.push(FieldError::forbidden(
            &spec.child("allocateLoadBalancerNodePorts"),
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }
    if t == "LoadBalancer" && !alloc {
        errs.push(FieldError::required(
            &spec.child("allocateLoadBalancerNodePorts"),
            "",
        ));
    }
    let etp = s(o, "/spec/externalTrafficPolicy");
    if etp.is_empty() {
        if externally_accessible(o) {
            errs.push(FieldError::required(
                &spec.child("externalTrafficPolicy"),
                "",
            ));
        }
    } else if !externally_accessible(o) {
        errs.push(FieldError::invalid(
            &spec.child("externalTrafficPolicy"),
            etp,
            "may only be set for externally-accessible services",
        ));
    } else if !["Cluster", "Local"].contains(&etp) {
        errs.push(FieldError::not_supported(
            &spec.child("externalTrafficPolicy"),
            etp,
            &["Cluster", "Local"],
        ));
    }
    match get(o, "/spec/internalTrafficPolicy").and_then(Value::as_str) {
        None if matches!(t, "NodePort" | "LoadBalancer" | "ClusterIP") => {
            errs.push(FieldError::required(
                &spec.child("internalTrafficPolicy"),
                "",
            ));
        }
        Some(p) if !["Cluster", "Local"].contains(&p) => {
            errs.push(FieldError::not_supported(
                &spec.child("internalTrafficPolicy"),
                p,
                &["Cluster", "Local"],
            ));
        }
        _ => {}
    }
    errs
}

/// `ValidateServiceClusterIPsRelatedFields`.
fn validate_cluster_ips(o: &Value, spec: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if s(o, "/spec/type") == "ExternalName" {
        return errs;
    }
    let ips_path = spec.child("clusterIPs");
    let ip = s(o, "/spec/clusterIP");
    let ips_val = o.pointer("/spec/clusterIPs").cloned().unwrap_or(json!([]));
    let ips = strings(arr(o, "/spec/clusterIPs"));
    if !ip.is_empty() {
        if ips.is_empty() {
            errs.push(FieldError::required(&ips_path, ""));
        } else if ips[0] != ip {
            errs.push(FieldError::invalid(
                &ips_path,
                ips_val.clone(),
                "first value must match `clusterIP`",
            ));
        }
    } else if !ips.is_empty() {
        errs.push(FieldError::invalid(
            &ips_path,
            ips_val.clone(),
            "must be empty when `clusterIP` is not specified",
        ));
    }
    let families = strings(arr(o, "/spec/ipFamilies"));
    let mut seen = Vec::new();
    for (i, f) in families.iter().enumerate() {
        if !["IPv4", "IPv6"].contains(f) {
            errs.push(FieldError::not_supported(
                &spec.child("ipFamilies").index(i),
                *f,
                &["IPv4", "IPv6"],
            ));
        }
        if seen.contains(f) {
            errs.push(FieldError::duplicate(
                &spec.child("ipFamilies").index(i),
                *f,
            ));
        }
        seen.push(*f);
    }
    if let Some(p) = get(o, "/spec/ipFamilyPolicy").and_then(Value::as_str) {
        const POLICIES: &[&str] = &["PreferDualStack", "RequireDualStack", "SingleStack"];
        if !POLICIES.contains(&p) {
            errs.push(FieldError::not_supported(
                &spec.child("ipFamilyPolicy"),
                p,
                POLICIES,
            ));
        }
    }
    let mut bad = false;
    for (i, cip) in ips.iter().enumerate() {
        if i == 0 && *cip == "None" {
            if ips.len() > 1 {
                bad = true;
                errs.push(FieldError::invalid(
                    &ips_path,
                    ips_val.clone(),
                    "'None' must be the first and only value",
                ));
            }
            continue;
        }
        let e = invalid_all(&ips_path.index(i), cip, is_valid_ip(cip));
        bad |= !e.is_empty();
        errs.extend(e);
    }
    if ips.len() > 2 {
        errs.push(FieldError::invalid(
            &ips_path,
            ips_val.clone(),
            "may only hold up to 2 values",
        ));
    }
    if bad {
        return errs;
    }
    if ips.len() > 1 {
        let v6 = ips.iter().filter(|i| i.contains(':')).count();
        if v6 != 1 {
            errs.push(FieldError::invalid(
                &ips_path,
                ips_val.clone(),
                "may specify no more than one IP for each IP family",
            ));
        }
    }
    if ip != "None" {
        for (i, cip) in ips.iter().enumerate() {
            let Some(fam) = families.get(i) else { break };
            let is6 = cip.contains(':');
            if *fam == "IPv4" && is6 {
                errs.push(FieldError::invalid(
                    &ips_path.index(i),
                    *cip,
                    format!("expected an IPv4 value as indicated by `ipFamilies[{i}]`"),
                ));
            }
            if *fam == "IPv6" && !is6 {
                errs.push(FieldError::invalid(
                    &ips_path.index(i),
                    *cip,
                    format!("expected an IPv6 value as indicated by `ipFamilies[{i}]`"),
                ));
            }
        }
    }
    errs
}

/// `validateUpgradeDowngradeClusterIPs`: the cluster IPs may not change once set.
fn validate_service_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if s(new, "/spec/type") == "ExternalName" || s(old, "/spec/type") == "ExternalName" {
        return errs;
    }
    if is_headless(new) && is_headless(old) {
        return errs;
    }
    let p = FieldPath::new("spec").child("clusterIPs").index(0);
    let new_val = new
        .pointer("/spec/clusterIPs")
        .cloned()
        .unwrap_or(json!([]));
    let (n, o) = (
        strings(arr(new, "/spec/clusterIPs")),
        strings(arr(old, "/spec/clusterIPs")),
    );
    if n.len() == o.len() {
        for (a, b) in o.iter().zip(&n) {
            if a != b {
                errs.push(FieldError::invalid(
                    &p,
                    new_val.clone(),
                    "may not change once set",
                ));
            }
        }
    } else if o.len() > n.len() {
        if n.is_empty() {
            errs.push(FieldError::invalid(
                &p,
                new_val.clone(),
                "primary clusterIP can not be unset",
            ));
        }
        if !o.is_empty() && !n.is_empty() && n[0] != o[0] {
            errs.push(FieldError::invalid(
                &p,
                new_val.clone(),
                "may not change once set",
            ));
        }
        if n.len() == 1 && s(new, "/spec/ipFamilyPolicy") != "SingleStack" {
            errs.push(FieldError::invalid(
                &p,
                new_val.clone(),
                "`ipFamilyPolicy` must be set to 'SingleStack' when releasing the secondary clusterIP",
            ));
        }
    } else if !o.is_empty() && n[0] != o[0] {
        errs.push(FieldError::invalid(&p, new_val, "may not change once set"));
    }
    errs
}

// ---------------------------------------------------------------------------------------------
// ConfigMap and Secret
// ---------------------------------------------------------------------------------------------

fn validate_config_map(o: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let empty = Map::new();
    let data = map(o, "/data").unwrap_or(&empty);
    let binary = map(o, "/binaryData").unwrap_or(&empty);
    let mut total = 0usize;
    for (k, v) in data {
        let p = FieldPath::new("data").key(k);
        errs.extend(invalid_all(&p, k, is_config_map_key(k)));
        if binary.contains_key(k) {
            errs.push(FieldError::invalid(
                &p,
                k.as_str(),
                "duplicate of key present in binaryData",
            ));
        }
        total += v.as_str().map(str::len).unwrap_or(0);
    }
    for (k, v) in binary {
        let p = FieldPath::new("binaryData").key(k);
        errs.extend(invalid_all(&p, k, is_config_map_key(k)));
        if data.contains_key(k) {
            errs.push(FieldError::invalid(
                &p,
                k.as_str(),
                "duplicate of key present in data",
            ));
        }
        total += decoded_len(v);
    }
    if total > MAX_SECRET_SIZE {
        errs.push(FieldError::too_long(&FieldPath::new(""), MAX_SECRET_SIZE));
    }
    errs
}

/// Size of a base64 `[]byte` field once decoded.
fn decoded_len(v: &Value) -> usize {
    v.as_str()
        .map(|s| {
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map(|b| b.len())
                .unwrap_or(s.len() / 4 * 3)
        })
        .unwrap_or(0)
}

/// The `immutable: true` rules shared by ConfigMap and Secret.
fn immutable_data(new: &Value, old: &Value, fields: &[&str]) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if old.get("immutable").and_then(Value::as_bool) != Some(true) {
        return errs;
    }
    if new.get("immutable").and_then(Value::as_bool) != Some(true) {
        errs.push(FieldError::forbidden(
            &FieldPath::new("immutable"),
            IMMUTABLE_SET,
        ));
    }
    for f in fields {
        let n = new.get(*f).filter(|v| !v.is_null());
        let o = old.get(*f).filter(|v| !v.is_null());
        // An empty map and an absent one are the same to Go's DeepEqual on nil maps only;
        // treat them alike as clients round-trip either form.
        let empty = |v: Option<&Value>| v.is_none_or(|x| x.as_object().is_some_and(Map::is_empty));
        if n != o && !(empty(n) && empty(o)) {
            errs.push(FieldError::forbidden(&FieldPath::new(f), IMMUTABLE_SET));
        }
    }
    errs
}

fn validate_config_map_update(new: &Value, old: &Value) -> Vec<FieldError> {
    immutable_data(new, old, &["data", "binaryData"])
}

/// `Opaque` by default; `stringData` is merged into `data` (base64) and dropped, as upstream's
/// conversion does.
fn secret_defaults(o: &mut Value) {
    if s(o, "/type").is_empty() {
        if let Some(m) = o.as_object_mut() {
            m.insert("type".into(), json!("Opaque"));
        }
    }
    let Some(m) = o.as_object_mut() else { return };
    let Some(string_data) = m.remove("stringData") else {
        return;
    };
    let Some(sd) = string_data.as_object() else {
        return;
    };
    if sd.is_empty() {
        return;
    }
    let data = m.entry("data").or_insert_with(|| json!({}));
    if !data.is_object() {
        *data = json!({});
    }
    if let Some(d) = data.as_object_mut() {
        for (k, v) in sd {
            let raw = v.as_str().unwrap_or("");
            d.insert(
                k.clone(),
                json!(base64::engine::general_purpose::STANDARD.encode(raw)),
            );
        }
    }
}

fn secret_bytes(o: &Value, key: &str) -> Option<Vec<u8>> {
    let v = o.pointer("/data")?.get(key)?.as_str()?;
    base64::engine::general_purpose::STANDARD.decode(v).ok()
}

/// Go's `json.Unmarshal` error text for data that is not a JSON object.
fn go_json_error(bytes: &[u8]) -> Option<String> {
    match serde_json::from_slice::<Map<String, Value>>(bytes) {
        Ok(_) => None,
        Err(e) if e.is_eof() => Some("unexpected end of JSON input".into()),
        Err(e) if e.is_data() => {
            let first = bytes
                .iter()
                .find(|b| !b.is_ascii_whitespace())
                .copied()
                .unwrap_or(b' ');
            let go_kind = match first {
                b'[' => "array",
                b'"' => "string",
                b't' | b'f' => "bool",
                b'n' => return None,
                _ => "number",
            };
            Some(format!(
                "json: cannot unmarshal {go_kind} into Go value of type map[string]interface {{}}"
            ))
        }
        Err(e) => {
            let offset = e.column().saturating_sub(1);
            let line_start: usize = bytes
                .split(|b| *b == b'\n')
                .take(e.line().saturating_sub(1))
                .map(|l| l.len() + 1)
                .sum();
            let c = bytes.get(line_start + offset).copied().unwrap_or(b' ') as char;
            Some(format!(
                "invalid character '{c}' looking for beginning of value"
            ))
        }
    }
}

fn validate_secret(o: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let data_path = FieldPath::new("data");
    let mut total = 0usize;
    if let Some(d) = map(o, "/data") {
        for (k, v) in d {
            errs.extend(invalid_all(&data_path.key(k), k, is_config_map_key(k)));
            total += decoded_len(v);
        }
    }
    if total > MAX_SECRET_SIZE {
        errs.push(FieldError::too_long(&data_path, MAX_SECRET_SIZE));
    }
    let has = |k: &str| {
        o.pointer("/data")
            .and_then(|d| d.get(k))
            .is_some_and(|v| !v.is_null())
    };
    match s(o, "/type") {
        "kubernetes.io/service-account-token"
            if s(
                o,
                "/metadata/annotations/kubernetes.io~1service-account.name",
            )
            .is_empty() =>
        {
            errs.push(FieldError::required(
                &FieldPath::new("metadata")
                    .child("annotations")
                    .key("kubernetes.io/service-account.name"),
                "",
            ));
        }
        t @ ("kubernetes.io/dockercfg" | "kubernetes.io/dockerconfigjson") => {
            let key = if t == "kubernetes.io/dockercfg" {
                ".dockercfg"
            } else {
                ".dockerconfigjson"
            };
            if !has(key) {
                errs.push(FieldError::required(&data_path.key(key), ""));
            } else if let Some(msg) = go_json_error(&secret_bytes(o, key).unwrap_or_default()) {
                errs.push(FieldError::invalid(
                    &data_path.key(key),
                    "<secret contents redacted>",
                    msg,
                ));
            }
        }
        "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
            errs.push(FieldError::required(&data_path.key("username"), ""));
            errs.push(FieldError::required(&data_path.key("password"), ""));
        }
        "kubernetes.io/ssh-auth"
            if secret_bytes(o, "ssh-privatekey").is_none_or(|b| b.is_empty()) =>
        {
            errs.push(FieldError::required(&data_path.key("ssh-privatekey"), ""));
        }
        "kubernetes.io/tls" => {
            for k in ["tls.crt", "tls.key"] {
                if !has(k) {
                    errs.push(FieldError::required(&data_path.key(k), ""));
                }
            }
        }
        _ => {}
    }
    errs
}

fn validate_secret_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = immutable(new, old, "/type", &FieldPath::new("type"));
    errs.extend(immutable_data(new, old, &["data"]));
    errs
}

// ---------------------------------------------------------------------------------------------
// Namespace
// ---------------------------------------------------------------------------------------------

/// The `kubernetes.io/metadata.name` label always equals the name.
fn namespace_defaults(o: &mut Value) {
    let name = s(o, "/metadata/name").to_string();
    if name.is_empty() {
        return;
    }
    if let Some(labels) = obj_mut(o, "/metadata/labels") {
        labels.insert("kubernetes.io/metadata.name".into(), json!(name));
    }
}

fn namespace_prepare_create(o: &mut Value) {
    let Some(spec) = obj_mut(o, "/spec") else {
        return;
    };
    let fins = spec.entry("finalizers").or_insert_with(|| json!([]));
    if !fins.is_array() {
        *fins = json!([]);
    }
    if let Some(a) = fins.as_array_mut() {
        if !a.iter().any(|f| f == "kubernetes") {
            a.push(json!("kubernetes"));
        }
    }
}

/// Spec (finalizers) changes only through `/finalize`; status only through `/status`.
fn namespace_prepare_update(new: &mut Value, old: &Value) {
    let fins = old.pointer("/spec/finalizers").cloned();
    if let Some(m) = new.as_object_mut() {
        match fins {
            Some(f) => {
                m.insert("spec".into(), json!({"finalizers": f}));
            }
            None => {
                m.insert("spec".into(), json!({}));
            }
        }
    }
}

fn validate_namespace(o: &Value) -> Vec<FieldError> {
    let p = FieldPath::new("spec").child("finalizers");
    strings(arr(o, "/spec/finalizers"))
        .into_iter()
        .flat_map(|f| validate_finalizer_name(f, &p))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Volumes and claims
// ---------------------------------------------------------------------------------------------

const ACCESS_MODES: &[&str] = &[
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOnce",
    "ReadWriteOncePod",
];

fn pvc_defaults(o: &mut Value) {
    default_field(o, "/spec", "volumeMode", json!("Filesystem"));
}

fn validate_access_modes(o: &Value, path: &FieldPath, required_msg: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let modes = strings(arr(o, "/spec/accessModes"));
    if modes.is_empty() {
        errs.push(FieldError::required(path, required_msg));
    }
    let (mut rwop, mut other) = (false, false);
    for m in &modes {
        if !ACCESS_MODES.contains(m) {
            errs.push(FieldError::not_supported(path, *m, ACCESS_MODES));
        }
        if *m == "ReadWriteOncePod" {
            rwop = true;
        } else {
            other = true;
        }
    }
    if rwop && other {
        errs.push(FieldError::forbidden(
            path,
            "may not use ReadWriteOncePod with other access modes",
        ));
    }
    errs
}

fn validate_pvc(o: &Value) -> Vec<FieldError> {
    let spec = FieldPath::new("spec");
    let mut errs = validate_access_modes(
        o,
        &spec.child("accessModes"),
        "at least 1 access mode is required",
    );
    if let Some(sel) = get(o, "/spec/selector") {
        errs.extend(validate_label_selector(sel, &spec.child("selector")));
    }
    let sp = spec.child("resources").key("storage");
    match get(o, "/spec/resources/requests/storage") {
        None => errs.push(FieldError::required(&sp, "")),
        Some(q) => {
            let text = q
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| q.to_string());
            if crate::kinds::meta::quantity_value(q).unwrap_or(0.0) <= 0.0 {
                errs.push(FieldError::invalid(&sp, text, "must be greater than zero"));
            }
        }
    }
    let class = s(o, "/spec/storageClassName");
    if !class.is_empty() {
        errs.extend(invalid_all(
            &spec.child("storageClassName"),
            class,
            is_dns1123_subdomain(class),
        ));
    }
    if let Some(vm) = get(o, "/spec/volumeMode").and_then(Value::as_str) {
        if !["Block", "Filesystem"].contains(&vm) {
            errs.push(FieldError::not_supported(
                &spec.child("volumeMode"),
                vm,
                &["Block", "Filesystem"],
            ));
        }
    }
    errs
}

/// Claims are immutable after creation except for the storage request of bound claims and
/// the volume name being set once.
fn validate_pvc_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut n = new.get("spec").cloned().unwrap_or(json!({}));
    let mut o = old.get("spec").cloned().unwrap_or(json!({}));
    if s(old, "/spec/volumeName").is_empty() {
        if let (Some(nm), Some(om)) = (n.as_object(), o.as_object_mut()) {
            match nm.get("volumeName") {
                Some(v) => {
                    om.insert("volumeName".into(), v.clone());
                }
                None => {
                    om.remove("volumeName");
                }
            }
        }
    }
    let bound = s(new, "/status/phase") == "Bound";
    if bound {
        let old_storage = o.pointer("/resources/requests/storage").cloned();
        if let (Some(req), Some(v)) = (
            n.pointer_mut("/resources/requests")
                .and_then(Value::as_object_mut),
            old_storage,
        ) {
            req.insert("storage".into(), v);
        }
    }
    if n != o {
        let changed: Vec<String> = n
            .as_object()
            .into_iter()
            .flat_map(|m| m.keys())
            .chain(o.as_object().into_iter().flat_map(|m| m.keys()))
            .filter(|k| n.get(k.as_str()) != o.get(k.as_str()))
            .map(|k| format!("  {k}"))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        errs.push(FieldError::forbidden(
            &FieldPath::new("spec"),
            format!(
                "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n{}",
                changed.join("\n")
            ),
        ));
    }
    let size = |v: &Value| {
        get(v, "/spec/resources/requests/storage").and_then(crate::kinds::meta::quantity_value)
    };
    if let (Some(ns), Some(os)) = (size(new), size(old)) {
        if ns < os {
            errs.push(FieldError::forbidden(
                &FieldPath::new("spec")
                    .child("resources")
                    .child("requests")
                    .child("storage"),
                "field can not be less than previous value",
            ));
        }
    }
    errs.extend(immutable(
        new,
        old,
        "/spec/volumeMode",
        &FieldPath::new("volumeMode"),
    ));
    errs
}

fn pv_defaults(o: &mut Value) {
    default_field(o, "/spec", "persistentVolumeReclaimPolicy", json!("Retain"));
    default_field(o, "/spec", "volumeMode", json!("Filesystem"));
}

/// The volume sources a PersistentVolume may name (exactly one).
const PV_SOURCES: &[&str] = &[
    "awsElasticBlockStore",
    "azureDisk",
    "azureFile",
    "cephfs",
    "cinder",
    "csi",
    "fc",
    "flexVolume",
    "flocker",
    "gcePersistentDisk",
    "glusterfs",
    "hostPath",
    "iscsi",
    "local",
    "nfs",
    "photonPersistentDisk",
    "portworxVolume",
    "quobyte",
    "rbd",
    "scaleIO",
    "storageos",
    "vsphereVolume",
];

fn validate_pv(o: &Value) -> Vec<FieldError> {
    let spec = FieldPath::new("spec");
    let mut errs = validate_access_modes(o, &spec.child("accessModes"), "");
    match map(o, "/spec/capacity") {
        None => errs.push(FieldError::required(&spec.child("capacity"), "")),
        Some(cap) if cap.is_empty() => errs.push(FieldError::required(&spec.child("capacity"), "")),
        Some(cap) => {
            if !cap.contains_key("storage") || cap.len() > 1 {
                let keys: Vec<Value> = cap.keys().map(|k| json!(k)).collect();
                errs.push(FieldError::not_supported(
                    &spec.child("capacity"),
                    Value::Array(keys),
                    &["storage"],
                ));
            }
            for (k, q) in cap {
                let text = q
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| q.to_string());
                if crate::kinds::meta::quantity_value(q).unwrap_or(0.0) <= 0.0 {
                    errs.push(FieldError::invalid(
                        &spec.child("capacity").key(k),
                        text,
                        "must be greater than zero",
                    ));
                }
            }
        }
    }
    let policy = s(o, "/spec/persistentVolumeReclaimPolicy");
    if !policy.is_empty() && !["Delete", "Recycle", "Retain"].contains(&policy) {
        errs.push(FieldError::not_supported(
            &spec.child("persistentVolumeReclaimPolicy"),
            policy,
            &["Delete", "Recycle", "Retain"],
        ));
    }
    let sources = PV_SOURCES
        .iter()
        .filter(|k| get(o, &format!("/spec/{k}")).is_some())
        .count();
    if sources == 0 {
        errs.push(FieldError::required(&spec, "must specify a volume type"));
    }
    errs
}

// ---------------------------------------------------------------------------------------------
// Quotas and limits
// ---------------------------------------------------------------------------------------------

const STANDARD_QUOTA: &[&str] = &[
    "pods",
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "services.nodeports",
    "services.loadbalancers",
    "cpu",
    "memory",
    "requests.cpu",
    "requests.memory",
    "requests.storage",
    "limits.cpu",
    "limits.memory",
    "ephemeral-storage",
    "requests.ephemeral-storage",
    "limits.ephemeral-storage",
];

fn validate_resource_quota(o: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let hard = FieldPath::new("spec").child("hard");
    if let Some(h) = map(o, "/spec/hard") {
        for (k, q) in h {
            let p = hard.key(k);
            errs.extend(invalid_all(&p, k, is_qualified_name(k)));
            let standard = STANDARD_QUOTA.contains(&k.as_str())
                || k.starts_with("hugepages-")
                || k.starts_with("requests.hugepages-")
                || k.starts_with("count/");
            if !k.contains('/') && !standard {
                errs.push(FieldError::invalid(
                    &p,
                    k.as_str(),
                    "must be a standard resource for quota",
                ));
            }
            errs.extend(non_negative_quantity(q, &p));
        }
    }
    errs
}

fn quantity_text(q: &Value) -> String {
    q.as_str()
        .map(str::to_string)
        .unwrap_or_else(|| q.to_string())
}

/// `ValidateNonnegativeQuantity`.
fn non_negative_quantity(q: &Value, p: &FieldPath) -> Vec<FieldError> {
    match crate::kinds::meta::quantity_value(q) {
        Some(v) if v < 0.0 => vec![FieldError::invalid(
            p,
            quantity_text(q),
            "must be greater than or equal to 0",
        )],
        _ => Vec::new(),
    }
}

/// `SetDefaults_LimitRangeItem`: container limits default from max, requests from the
/// default limit, then from min.
fn limit_range_defaults(o: &mut Value) {
    for item in each_obj_mut(o, "/spec/limits") {
        if item.get("type").and_then(Value::as_str) != Some("Container") {
            continue;
        }
        let get_map = |item: &Map<String, Value>, k: &str| {
            item.get(k)
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default()
        };
        let max = get_map(item, "max");
        let min = get_map(item, "min");
        let mut default = get_map(item, "default");
        for (k, v) in &max {
            default.entry(k.clone()).or_insert_with(|| v.clone());
        }
        let mut request = get_map(item, "defaultRequest");
        for (k, v) in default.iter().chain(min.iter()) {
            request.entry(k.clone()).or_insert_with(|| v.clone());
        }
        if !default.is_empty() {
            item.insert("default".into(), Value::Object(default));
        }
        if !request.is_empty() {
            item.insert("defaultRequest".into(), Value::Object(request));
        }
    }
}

fn validate_limit_range(o: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut types: Vec<&str> = Vec::new();
    for (i, item) in arr(o, "/spec/limits").iter().enumerate() {
        let p = FieldPath::new("spec").child("limits").index(i);
        let t = s(item, "/type");
        if types.contains(&t) {
            errs.push(FieldError::duplicate(&p.child("type"), t));
        }
        types.push(t);
        if t == "Pod" {
            if get(item, "/default").is_some() {
                errs.push(FieldError::forbidden(
                    &p.child("default"),
                    "may not be specified when `type` is 'Pod'",
                ));
            }
            if get(item, "/defaultRequest").is_some() {
                errs.push(FieldError::forbidden(
                    &p.child("defaultRequest"),
                    "may not be specified when `type` is 'Pod'",
                ));
            }
        }
        let q = |field: &str, k: &str| {
            item.get(field)
                .and_then(|m| m.get(k))
                .and_then(crate::kinds::meta::quantity_value)
        };
        let txt = |field: &str, k: &str| {
            item.get(field)
                .and_then(|m| m.get(k))
                .map(quantity_text)
                .unwrap_or_default()
        };
        let mut keys: Vec<String> = Vec::new();
        for field in [
            "max",
            "min",
            "default",
            "defaultRequest",
            "maxLimitRequestRatio",
        ] {
            if let Some(m) = item.get(field).and_then(Value::as_object) {
                for (k, v) in m {
                    errs.extend(non_negative_quantity(v, &p.child(field).key(k)));
                    if !keys.contains(k) {
                        keys.push(k.clone());
                    }
                }
            }
        }
        for k in &keys {
            let (min, max, def, req) = (
                q("min", k),
                q("max", k),
                q("default", k),
                q("defaultRequest", k),
            );
            let mut check =
                |a: Option<f64>, b: Option<f64>, field: &str, shown: &str, msg: String| {
                    if let (Some(a), Some(b)) = (a, b) {
                        if a > b {
                            errs.push(FieldError::invalid(
                                &p.child(field).key(k),
                                txt(shown, k),
                                msg,
                            ));
                        }
                    }
                };
            check(
                min,
                max,
                "min",
                "min",
                format!(
                    "min value {} is greater than max value {}",
                    txt("min", k),
                    txt("max", k)
                ),
            );
            check(
                min,
                req,
                "defaultRequest",
                "defaultRequest",
                format!(
                    "min value {} is greater than default request value {}",
                    txt("min", k),
                    txt("defaultRequest", k)
                ),
            );
            check(
                req,
                max,
                "defaultRequest",
                "defaultRequest",
                format!(
                    "default request value {} is greater than max value {}",
                    txt("defaultRequest", k),
                    txt("max", k)
                ),
            );
            check(
                req,
                def,
                "defaultRequest",
                "defaultRequest",
                format!(
                    "default request value {} is greater than default limit value {}",
                    txt("defaultRequest", k),
                    txt("default", k)
                ),
            );
            check(
                min,
                def,
                "default",
                "default",
                format!(
                    "min value {} is greater than default value {}",
                    txt("min", k),
                    txt("default", k)
                ),
            );
            check(
                def,
                max,
                "default",
                "default",
                format!(
                    "default value {} is greater than max value {}",
                    txt("default", k),
                    txt("max", k)
                ),
            );
        }
    }
    errs
}

// ---------------------------------------------------------------------------------------------
// Endpoints, Events, Nodes
// ---------------------------------------------------------------------------------------------

fn validate_endpoints(o: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, subset) in arr(o, "/subsets").iter().enumerate() {
        let sp = FieldPath::new("subsets").index(i);
        for field in ["addresses", "notReadyAddresses"] {
            for (j, a) in arr(subset, &format!("/{field}")).iter().enumerate() {
                let ip = s(a, "/ip");
                errs.extend(invalid_all(
                    &sp.child(field).index(j).child("ip"),
                    ip,
                    is_valid_ip(ip),
                ));
            }
        }
        let ports = arr(subset, "/ports");
        for (j, port) in ports.iter().enumerate() {
            let pp = sp.child("ports").index(j);
            let name = s(port, "/name");
            if ports.len() > 1 && name.is_empty() {
                errs.push(FieldError::required(&pp.child("name"), ""));
            } else if !name.is_empty() {
                errs.extend(invalid_all(&pp.child("name"), name, is_dns1123_label(name)));
            }
            let n = int(port, "/port").unwrap_or(0);
            for m in crate::kinds::meta::is_valid_port_num(n) {
                errs.push(FieldError::invalid(&pp.child("port"), n, m));
            }
            let proto = s(port, "/protocol");
            if proto.is_empty() {
                errs.push(FieldError::required(&pp.child("protocol"), ""));
            } else if !["SCTP", "TCP", "UDP"].contains(&proto) {
                errs.push(FieldError::not_supported(
                    &pp.child("protocol"),
                    proto,
                    &["SCTP", "TCP", "UDP"],
                ));
            }
        }
    }
    errs
}

fn node_defaults(o: &mut Value) {
    if get(o, "/status/allocatable").is_none() {
        if let Some(cap) = get(o, "/status/capacity").cloned() {
            if let Some(st) = obj_mut(o, "/status") {
                st.insert("allocatable".into(), cap);
            }
        }
    }
}

fn validate_node(o: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let spec = FieldPath::new("spec");
    for (i, t) in arr(o, "/spec/taints").iter().enumerate() {
        let p = spec.child("taints").index(i);
        let key = s(t, "/key");
        errs.extend(invalid_all(&p.child("key"), key, is_qualified_name(key)));
        let value = s(t, "/value");
        errs.extend(invalid_all(
            &p.child("value"),
            value,
            is_valid_label_value(value),
        ));
        let effect = s(t, "/effect");
        const EFFECTS: &[&str] = &["NoExecute", "NoSchedule", "PreferNoSchedule"];
        if effect.is_empty() {
            errs.push(FieldError::required(&p.child("effect"), ""));
        } else if !EFFECTS.contains(&effect) {
            errs.push(FieldError::not_supported(
                &p.child("effect"),
                effect,
                EFFECTS,
            ));
        }
    }
    for (i, c) in arr(o, "/spec/podCIDRs").iter().enumerate() {
        let c = c.as_str().unwrap_or("");
        errs.extend(invalid_all(
            &spec.child("podCIDRs").index(i),
            c,
            is_valid_cidr(c),
        ));
    }
    errs
}
