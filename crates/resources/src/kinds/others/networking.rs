//! networking.k8s.io and discovery.k8s.io kinds: upstream's `pkg/apis/networking/validation`.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{json, Value};

use super::util::{arr, each_obj_mut, get, immutable, int, invalid_all, s};
use super::{Hooks, Spec};
use crate::field::{FieldError, FieldPath};
use crate::info::ResourceInfo;
use crate::kinds::meta::{
    is_dns1035_label, is_dns1123_subdomain, is_valid_cidr, is_valid_ip, is_valid_port_name,
    is_valid_port_num, parse_cidr, regex_error, validate_label_selector,
};

const INGRESS_CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";

pub(super) fn spec(info: &ResourceInfo) -> Option<Spec> {
    let h = Hooks::default();
    let spec = match (info.group.as_str(), info.kind.as_str()) {
        ("networking.k8s.io", "Ingress") => Spec {
            generation: true,
            hooks: Hooks {
                validate: validate_ingress,
                warnings: ingress_warnings,
                ..h
            },
            ..Spec::default()
        },
        ("networking.k8s.io", "IngressClass") => Spec {
            hooks: Hooks {
                validate: validate_ingress_class,
                validate_update: |n, o| {
                    immutable(
                        n,
                        o,
                        "/spec/controller",
                        &FieldPath::new("spec").child("controller"),
                    )
                },
                ..h
            },
            ..Spec::default()
        },
        ("networking.k8s.io", "NetworkPolicy") => Spec {
            generation: true,
            hooks: Hooks {
                defaults: network_policy_defaults,
                validate: validate_network_policy,
                ..h
            },
            ..Spec::default()
        },
        ("discovery.k8s.io", "EndpointSlice") => Spec {
            generation: true,
            hooks: Hooks {
                validate: validate_endpoint_slice,
                validate_update: |n, o| {
                    immutable(n, o, "/addressType", &FieldPath::new("addressType"))
                },
                ..h
            },
            ..Spec::default()
        },
        _ => return None,
    };
    Some(spec)
}

// ---------------------------------------------------------------------------------------------
// Ingress
// ---------------------------------------------------------------------------------------------

const WILDCARD_FMT: &str = r"\*\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
static WILDCARD_RE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(&format!("^{WILDCARD_FMT}$")).ok());

/// `IsWildcardDNS1123Subdomain`.
fn is_wildcard_dns1123_subdomain(v: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if v.len() > 253 {
        errs.push("must be no more than 253 characters".to_string());
    }
    if !WILDCARD_RE.as_ref().is_some_and(|r| r.is_match(v)) {
        errs.push(regex_error(
            "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character",
            WILDCARD_FMT,
            &["*.example.com"],
        ));
    }
    errs
}

fn host_errors(host: &str, p: &FieldPath) -> Vec<FieldError> {
    if host.contains('*') {
        invalid_all(p, host, is_wildcard_dns1123_subdomain(host))
    } else {
        invalid_all(p, host, is_dns1123_subdomain(host))
    }
}

fn validate_ingress(o: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let spec = FieldPath::new("spec");
    let rules = arr(o, "/spec/rules");
    let default_backend = get(o, "/spec/defaultBackend");
    if rules.is_empty() && default_backend.is_none() {
        errs.push(FieldError::invalid(
            &spec,
            o.pointer("/spec/rules").cloned().unwrap_or(Value::Null),
            "either `defaultBackend` or `rules` must be specified",
        ));
    }
    if let Some(b) = default_backend {
        errs.extend(validate_backend(b, &spec.child("defaultBackend")));
    }
    for (i, rule) in rules.iter().enumerate() {
        let rp = spec.child("rules").index(i);
        let host = s(rule, "/host");
        if !host.is_empty() {
            if host.parse::<std::net::IpAddr>().is_ok() {
                errs.push(FieldError::invalid(
                    &rp.child("host"),
                    host,
                    "must be a DNS name, not an IP address",
                ));
            }
            errs.extend(host_errors(host, &rp.child("host")));
        }
        if let Some(http) = get(rule, "/http") {
            let hp = rp.child("http");
            let paths = arr(http, "/paths");
            if paths.is_empty() {
                errs.push(FieldError::required(&hp.child("paths"), ""));
            }
            for (j, path) in paths.iter().enumerate() {
                errs.extend(validate_http_path(path, &hp.child("paths").index(j)));
            }
        }
    }
    for (i, tls) in arr(o, "/spec/tls").iter().enumerate() {
        let tp = spec.child("tls").index(i);
        for (j, h) in arr(tls, "/hosts").iter().enumerate() {
            errs.extend(host_errors(
                h.as_str().unwrap_or(""),
                &tp.child("hosts").index(j),
            ));
        }
        let secret = s(tls, "/secretName");
        if !secret.is_empty() {
            errs.extend(invalid_all(
                &tp.child("secretName"),
                secret,
                is_dns1123_subdomain(secret),
            ));
        }
    }
    let class = s(o, "/spec/ingressClassName");
    if !class.is_empty() {
        errs.extend(invalid_all(
            &spec.child("ingressClassName"),
            class,
            is_dns1123_subdomain(class),
        ));
    }
    let annotation = o
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(INGRESS_CLASS_ANNOTATION))
        .and_then(Value::as_str);
    if let (Some(a), Some(_)) = (annotation, get(o, "/spec/ingressClassName")) {
        errs.push(FieldError::invalid(
            &FieldPath::new("annotations").child(INGRESS_CLASS_ANNOTATION),
            a,
            "can not be set when the class field is also set",
        ));
    }
    errs
}

fn validate_http_path(path: &Value, p: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    // k8s-openapi writes a missing pathType back as "": both mean unset.
    let Some(pt) = get(path, "/pathType")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    else {
        return vec![FieldError::required(
            &p.child("pathType"),
            "pathType must be specified",
        )];
    };
    let value = s(path, "/path");
    match pt {
        "Exact" | "Prefix" => {
            if !value.starts_with('/') {
                errs.push(FieldError::invalid(
                    &p.child("path"),
                    value,
                    "must be an absolute path",
                ));
            }
            if !value.is_empty() {
                for seq in ["//", "/./", "/../", "%2f", "%2F"] {
                    if value.contains(seq) {
                        errs.push(FieldError::invalid(
                            &p.child("path"),
                            value,
                            format!("must not contain '{seq}'"),
                        ));
                    }
                }
                for suffix in ["/..", "/."] {
                    if value.ends_with(suffix) {
                        errs.push(FieldError::invalid(
                            &p.child("path"),
                            value,
                            format!("cannot end with '{suffix}'"),
                        ));
                    }
                }
            }
        }
        "ImplementationSpecific" => {
            if !value.is_empty() && !value.starts_with('/') {
                errs.push(FieldError::invalid(
                    &p.child("path"),
                    value,
                    "must be an absolute path",
                ));
            }
        }
        other => errs.push(FieldError::not_supported(
            &p.child("pathType"),
            other,
            &["Exact", "ImplementationSpecific", "Prefix"],
        )),
    }
    if let Some(b) = path.get("backend") {
        errs.extend(validate_backend(b, &p.child("backend")));
    } else {
        errs.extend(validate_backend(&Value::Null, &p.child("backend")));
    }
    errs
}

fn validate_backend(b: &Value, p: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let resource = get(b, "/resource");
    let service = get(b, "/service");
    match (resource, service) {
        (Some(_), Some(_)) => {
            errs.push(FieldError::invalid(
                p,
                "",
                "cannot set both resource and service backends",
            ));
        }
        (Some(r), None) => {
            let rp = p.child("resource");
            if s(r, "/kind").is_empty() {
                errs.push(FieldError::required(&rp.child("kind"), ""));
            }
            if s(r, "/name").is_empty() {
                errs.push(FieldError::required(&rp.child("name"), ""));
            }
        }
        (None, Some(svc)) => {
            let sp = p.child("service");
            let name = s(svc, "/name");
            if name.is_empty() {
                errs.push(FieldError::required(&sp.child("name"), ""));
            } else {
                errs.extend(invalid_all(&sp.child("name"), name, is_dns1035_label(name)));
            }
            let port_name = s(svc, "/port/name");
            let port_number = int(svc, "/port/number").unwrap_or(0);
            if !port_name.is_empty() && port_number != 0 {
                errs.push(FieldError::invalid(
                    p,
                    "",
                    "cannot set both port name & port number",
                ));
            } else if !port_name.is_empty() {
                errs.extend(invalid_all(
                    &sp.child("port").child("name"),
                    port_name,
                    is_valid_port_name(port_name),
                ));
            } else if port_number != 0 {
                for m in is_valid_port_num(port_number) {
                    errs.push(FieldError::invalid(
                        &sp.child("port").child("number"),
                        port_number,
                        m,
                    ));
                }
            } else {
                errs.push(FieldError::required(p, "port name or number is required"));
            }
        }
        (None, None) => {
            errs.push(FieldError::invalid(
                p,
                "",
                "resource or service backend is required",
            ));
        }
    }
    errs
}

fn ingress_warnings(o: &Value) -> Vec<String> {
    let has = o
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(INGRESS_CLASS_ANNOTATION))
        .is_some();
    if has {
        vec![format!(
            "annotation \"{INGRESS_CLASS_ANNOTATION}\" is deprecated, please use 'spec.ingressClassName' instead"
        )]
    } else {
        Vec::new()
    }
}

const HTTP_PATH_FMT: &str = r"[A-Za-z0-9/\-._~%!$&'()*+,;=:]+";
static HTTP_PATH_RE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(&format!("^{HTTP_PATH_FMT}$")).ok());

/// `IsDomainPrefixedPath`.
fn domain_prefixed_path(v: &str, p: &FieldPath) -> Vec<FieldError> {
    if v.is_empty() {
        return vec![FieldError::required(p, "")];
    }
    let Some((host, path)) = v
        .split_once('/')
        .filter(|(h, p)| !h.is_empty() && !p.is_empty())
    else {
        return vec![FieldError::invalid(
            p,
            v,
            "must be a domain-prefixed path (such as \"acme.io/foo\")",
        )];
    };
    let mut errs = invalid_all(p, host, is_dns1123_subdomain(host));
    if !HTTP_PATH_RE.as_ref().is_some_and(|r| r.is_match(path)) {
        errs.push(FieldError::invalid(
            p,
            path,
            regex_error("must be a valid path", HTTP_PATH_FMT, &[]),
        ));
    }
    errs
}

fn validate_ingress_class(o: &Value) -> Vec<FieldError> {
    let cp = FieldPath::new("spec").child("controller");
    let controller = s(o, "/spec/controller");
    let mut errs = Vec::new();
    if controller.len() > 250 {
        errs.push(FieldError::too_long(&cp, 250));
    }
    errs.extend(domain_prefixed_path(controller, &cp));
    if let Some(params) = get(o, "/spec/parameters") {
        let pp = FieldPath::new("spec").child("parameters");
        if s(params, "/kind").is_empty() {
            errs.push(FieldError::required(&pp.child("kind"), ""));
        }
        if s(params, "/name").is_empty() {
            errs.push(FieldError::required(&pp.child("name"), ""));
        }
        let scope = s(params, "/scope");
        match scope {
            "" | "Cluster" => {
                if scope == "Cluster" && get(params, "/namespace").is_some() {
                    errs.push(FieldError::forbidden(
                        &pp.child("namespace"),
                        "`parameters.scope` is set to 'Cluster'",
                    ));
                }
            }
            "Namespace" => {
                if s(params, "/namespace").is_empty() {
                    errs.push(FieldError::required(
                        &pp.child("namespace"),
                        "`parameters.scope` is set to 'Namespace'",
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(
                &pp.child("scope"),
                other,
                &["Cluster", "Namespace"],
            )),
        }
    }
    errs
}

// ---------------------------------------------------------------------------------------------
// NetworkPolicy
// ---------------------------------------------------------------------------------------------

/// Ports default to TCP; `policyTypes` defaults to Ingress, plus Egress when egress rules
/// are present.
fn network_policy_defaults(o: &mut Value) {
    for dir in ["ingress", "egress"] {
        for rule in each_obj_mut(o, &format!("/spec/{dir}")) {
            if let Some(ports) = rule.get_mut("ports").and_then(Value::as_array_mut) {
                for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                    if p.get("protocol").is_none_or(Value::is_null) {
                        p.insert("protocol".into(), json!("TCP"));
                    }
                }
            }
        }
    }
    if arr(o, "/spec/policyTypes").is_empty() {
        let egress = !arr(o, "/spec/egress").is_empty();
        if let Some(spec) = o.get_mut("spec").and_then(Value::as_object_mut) {
            let mut types = vec![json!("Ingress")];
            if egress {
                types.push(json!("Egress"));
            }
            spec.insert("policyTypes".into(), Value::Array(types));
        }
    }
}

fn validate_np_port(port: &Value, p: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(proto) = get(port, "/protocol").and_then(Value::as_str) {
        if !["TCP", "UDP", "SCTP"].contains(&proto) {
            errs.push(FieldError::not_supported(
                &p.child("protocol"),
                proto,
                &["TCP", "UDP", "SCTP"],
            ));
        }
    }
    let end = int(port, "/endPort");
    match get(port, "/port") {
        Some(Value::Number(n)) => {
            let n = n.as_i64().unwrap_or(0);
            for m in is_valid_port_num(n) {
                errs.push(FieldError::invalid(&p.child("port"), n, m));
            }
            if let Some(e) = end {
                if e < n {
                    errs.push(FieldError::invalid(
                        &p.child("endPort"),
                        n,
                        "must be greater than or equal to `port`",
                    ));
                }
                for m in is_valid_port_num(e) {
                    errs.push(FieldError::invalid(&p.child("endPort"), e, m));
                }
            }
        }
        Some(Value::String(name)) => {
            if let Some(e) = end {
                errs.push(FieldError::invalid(
                    &p.child("endPort"),
                    e,
                    "may not be specified when `port` is non-numeric",
                ));
            }
            errs.extend(invalid_all(
                &p.child("port"),
                name,
                is_valid_port_name(name),
            ));
        }
        _ => {
            if let Some(e) = end {
                errs.push(FieldError::invalid(
                    &p.child("endPort"),
                    e,
                    "may not be specified when `port` is not specified",
                ));
            }
        }
    }
    errs
}

fn contains_cidr(outer: (std::net::IpAddr, u8), inner: (std::net::IpAddr, u8)) -> bool {
    use std::net::IpAddr;
    match (outer.0, inner.0) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = if outer.1 == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(outer.1))
            };
            (u32::from(a) & mask) == (u32::from(b) & mask)
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = if outer.1 == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(outer.1))
            };
            (u128::from(a) & mask) == (u128::from(b) & mask)
        }
        _ => false,
    }
}

fn validate_peer(peer: &Value, p: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut peers = 0;
    if let Some(sel) = get(peer, "/podSelector") {
        peers += 1;
        errs.extend(validate_label_selector(sel, &p.child("podSelector")));
    }
    if let Some(sel) = get(peer, "/namespaceSelector") {
        peers += 1;
        errs.extend(validate_label_selector(sel, &p.child("namespaceSelector")));
    }
    let ip_block = get(peer, "/ipBlock");
    if let Some(b) = ip_block {
        peers += 1;
        let bp = p.child("ipBlock");
        let cidr = s(b, "/cidr");
        if cidr.is_empty() {
            errs.push(FieldError::required(&bp.child("cidr"), ""));
        } else {
            errs.extend(invalid_all(&bp.child("cidr"), cidr, is_valid_cidr(cidr)));
            if let Some(outer) = parse_cidr(cidr) {
                for (i, e) in arr(b, "/except").iter().enumerate() {
                    let e = e.as_str().unwrap_or("");
                    let ep = bp.child("except").index(i);
                    errs.extend(invalid_all(&ep, e, is_valid_cidr(e)));
                    if let Some(inner) = parse_cidr(e) {
                        if !contains_cidr(outer, inner) || outer.1 >= inner.1 {
                            errs.push(FieldError::invalid(
                                &ep,
                                e,
                                "must be a strict subset of `cidr`",
                            ));
                        }
                    }
                }
            }
        }
    }
    if peers == 0 {
        errs.push(FieldError::required(p, "must specify a peer"));
    } else if peers > 1 && ip_block.is_some() {
        errs.push(FieldError::forbidden(
            p,
            "may not specify both ipBlock and another peer",
        ));
    }
    errs
}

fn validate_network_policy(o: &Value) -> Vec<FieldError> {
    let spec = FieldPath::new("spec");
    let mut errs = Vec::new();
    if let Some(sel) = o.pointer("/spec/podSelector") {
        errs.extend(validate_label_selector(sel, &spec.child("podSelector")));
    }
    for (i, rule) in arr(o, "/spec/ingress").iter().enumerate() {
        let rp = spec.child("ingress").index(i);
        for (j, port) in arr(rule, "/ports").iter().enumerate() {
            errs.extend(validate_np_port(port, &rp.child("ports").index(j)));
        }
        for (j, peer) in arr(rule, "/from").iter().enumerate() {
            errs.extend(validate_peer(peer, &rp.child("from").index(j)));
        }
    }
    for (i, rule) in arr(o, "/spec/egress").iter().enumerate() {
        let rp = spec.child("egress").index(i);
        for (j, peer) in arr(rule, "/to").iter().enumerate() {
            errs.extend(validate_peer(peer, &rp.child("to").index(j)));
        }
        for (j, port) in arr(rule, "/ports").iter().enumerate() {
            errs.extend(validate_np_port(port, &rp.child("ports").index(j)));
        }
    }
    let types = arr(o, "/spec/policyTypes");
    if types.len() > 2 {
        errs.push(FieldError::invalid(
            &spec.child("policyTypes"),
            Value::Array(types.to_vec()),
            "may not specify more than two policyTypes",
        ));
        return errs;
    }
    for (i, t) in types.iter().enumerate() {
        let t = t.as_str().unwrap_or("");
        if !["Ingress", "Egress"].contains(&t) {
            errs.push(FieldError::not_supported(
                &spec.child("policyTypes").index(i),
                t,
                &["Ingress", "Egress"],
            ));
        }
    }
    errs
}

// ---------------------------------------------------------------------------------------------
// EndpointSlice
// ---------------------------------------------------------------------------------------------

fn validate_endpoint_slice(o: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let at = s(o, "/addressType");
    const TYPES: &[&str] = &["FQDN", "IPv4", "IPv6"];
    if at.is_empty() {
        errs.push(FieldError::required(&FieldPath::new("addressType"), ""));
    } else if !TYPES.contains(&at) {
        errs.push(FieldError::not_supported(
            &FieldPath::new("addressType"),
            at,
            TYPES,
        ));
    }
    for (i, ep) in arr(o, "/endpoints").iter().enumerate() {
        let p = FieldPath::new("endpoints").index(i).child("addresses");
        let addrs = arr(ep, "/addresses");
        if addrs.is_empty() || addrs.len() > 100 {
            errs.push(FieldError::invalid(
                &p,
                Value::Array(addrs.to_vec()),
                "must contain at least 1 address but no more than 100 addresses",
            ));
        }
        for (j, a) in addrs.iter().enumerate() {
            let a = a.as_str().unwrap_or("");
            let msgs = match at {
                "IPv4" | "IPv6" => is_valid_ip(a),
                "FQDN" => is_dns1123_subdomain(a),
                _ => Vec::new(),
            };
            errs.extend(invalid_all(&p.index(j), a, msgs));
        }
    }
    for (i, port) in arr(o, "/ports").iter().enumerate() {
        let pp = FieldPath::new("ports").index(i);
        if let Some(n) = get(port, "/port").and_then(Value::as_i64) {
            for m in is_valid_port_num(n) {
                errs.push(FieldError::invalid(&pp.child("port"), n, m));
            }
        }
        if let Some(proto) = get(port, "/protocol").and_then(Value::as_str) {
            if !["SCTP", "TCP", "UDP"].contains(&proto) {
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
