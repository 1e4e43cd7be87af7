//! A container's environment and command line, as the kubelet builds them: service links,
//! envFrom, env (literal with $(VAR) expansion, configMap/secret keys, downward API fields,
//! resource fields), then the image's entrypoint/cmd overridden by command/args.
//! Pure: the ConfigMaps, Secrets and Services it needs are fetched beforehand ([`Sources`]).

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{
    Container, ObjectFieldSelector, Pod, ResourceFieldSelector, Service,
};
use minato_scheduler::resources::{milli_value, value};

/// The API objects an environment may read.
#[derive(Default, Debug)]
pub struct Sources {
    /// ConfigMap name -> data (None: the ConfigMap does not exist).
    pub config_maps: HashMap<String, Option<BTreeMap<String, String>>>,
    /// Secret name -> decoded data.
    pub secrets: HashMap<String, Option<BTreeMap<String, Vec<u8>>>>,
    /// Services of the pod's namespace (for service links) and the master service.
    pub services: Vec<Service>,
    pub master_service: Option<Service>,
}

/// Why a container cannot be configured (reported as CreateContainerConfigError).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// ConfigMap and Secret names a container refers to (to fetch them first).
pub fn references(c: &Container) -> (Vec<String>, Vec<String>) {
    let mut cms = Vec::new();
    let mut secrets = Vec::new();
    for e in c.env_from.iter().flatten() {
        if let Some(r) = &e.config_map_ref {
            cms.push(r.name.clone());
        }
        if let Some(r) = &e.secret_ref {
            secrets.push(r.name.clone());
        }
    }
    for e in c.env.iter().flatten() {
        if let Some(v) = &e.value_from {
            if let Some(r) = &v.config_map_key_ref {
                cms.push(r.name.clone());
            }
            if let Some(r) = &v.secret_key_ref {
                secrets.push(r.name.clone());
            }
        }
    }
    cms.sort();
    cms.dedup();
    secrets.sort();
    secrets.dedup();
    (cms, secrets)
}

/// `$(VAR)` expansion (Kubernetes' expansion.Expand): `$$` escapes, unknown references stay.
pub fn expand(input: &str, vars: &dyn Fn(&str) -> Option<String>) -> String {
    let bytes = input.as_bytes();
    let mut out = String::with_capacity(input.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' && i + 1 < bytes.len() {
            match bytes[i + 1] {
                b'$' => {
                    out.push('$');
                    i += 2;
                    continue;
                }
                b'(' => {
                    if let Some(end) = input[i + 2..].find(')') {
                        let name = &input[i + 2..i + 2 + end];
                        match vars(name) {
                            Some(v) => out.push_str(&v),
                            None => {
                                out.push_str(&input[i..i + 3 + end]);
                            }
                        }
                        i += 3 + end;
                        continue;
                    }
                }
                _ => {}
            }
        }
        let ch = input[i..].chars().next().unwrap_or('\u{fffd}');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

fn service_env(svc: &Service, out: &mut Vec<(String, String)>) {
    let Some(spec) = &svc.spec else { return };
    let Some(ip) = spec.cluster_ip.as_deref() else {
        return;
    };
    if ip.is_empty() || ip == "None" {
        return;
    }
    let name = svc
        .metadata
        .name
        .clone()
        .unwrap_or_default()
        .to_uppercase()
        .replace('-', "_");
    let ports = spec.ports.clone().unwrap_or_default();
    let Some(first) = ports.first() else { return };
    out.push((format!("{name}_SERVICE_HOST"), ip.to_string()));
    out.push((format!("{name}_SERVICE_PORT"), first.port.to_string()));
    for p in &ports {
        if let Some(pn) = &p.name {
            out.push((
                format!(
                    "{name}_SERVICE_PORT_{}",
                    pn.to_uppercase().replace('-', "_")
                ),
                p.port.to_string(),
            ));
        }
    }
    let proto = |p: &k8s_openapi::api::core::v1::ServicePort| {
        p.protocol.clone().unwrap_or_else(|| "TCP".into())
    };
    out.push((
        format!("{name}_PORT"),
        format!("{}://{ip}:{}", proto(first).to_lowercase(), first.port),
    ));
    for p in &ports {
        let pr = proto(p);
        let prefix = format!("{name}_PORT_{}_{}", p.port, pr.to_uppercase());
        out.push((
            prefix.clone(),
            format!("{}://{ip}:{}", pr.to_lowercase(), p.port),
        ));
        out.push((format!("{prefix}_PROTO"), pr.to_lowercase()));
        out.push((format!("{prefix}_PORT"), p.port.to_string()));
        out.push((format!("{prefix}_ADDR"), ip.to_string()));
    }
}

/// A downward API field of the pod (fieldRef), as upstream's podFieldSelectorRuntimeValue.
pub fn field_value(
    pod: &Pod,
    sel: &ObjectFieldSelector,
    pod_ip: Option<&str>,
    host_ip: &str,
) -> Result<String, ConfigError> {
    let meta = &pod.metadata;
    let spec = pod.spec.clone().unwrap_or_default();
    let path = sel.field_path.as_str();
    let map_value = |m: &Option<BTreeMap<String, String>>, key: &str| {
        m.as_ref()
            .and_then(|m| m.get(key))
            .cloned()
            .unwrap_or_default()
    };
    let v = match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "metadata.labels" => format_map(meta.labels.as_ref()),
        "metadata.annotations" => format_map(meta.annotations.as_ref()),
        "spec.nodeName" => spec.node_name.unwrap_or_default(),
        "spec.serviceAccountName" => spec.service_account_name.unwrap_or_default(),
        "status.podIP" => pod_ip.unwrap_or_default().to_string(),
        "status.podIPs" => pod_ip.unwrap_or_default().to_string(),
        "status.hostIP" | "status.hostIPs" => host_ip.to_string(),
        p => {
            if let Some(key) = p
                .strip_prefix("metadata.labels['")
                .and_then(|k| k.strip_suffix("']"))
            {
                map_value(&meta.labels, key)
            } else if let Some(key) = p
                .strip_prefix("metadata.annotations['")
                .and_then(|k| k.strip_suffix("']"))
            {
                map_value(&meta.annotations, key)
            } else {
                return Err(ConfigError(format!("unsupported fieldPath: {p}")));
            }
        }
    };
    Ok(v)
}

/// `key="value"` lines, sorted, as the downward API writes label and annotation maps.
pub fn format_map(m: Option<&BTreeMap<String, String>>) -> String {
    m.map(|m| {
        m.iter()
            .map(|(k, v)| format!("{k}={}", serde_json::Value::String(v.clone())))
            .collect::<Vec<_>>()
            .join("\n")
    })
    .unwrap_or_default()
}

/// A resourceFieldRef value: limits default to the node's allocatable when unset.
pub fn resource_value(
    c: &Container,
    sel: &ResourceFieldSelector,
    node_cpu_milli: i64,
    node_memory: i64,
) -> Result<String, ConfigError> {
    let res = c.resources.clone().unwrap_or_default();
    let get = |list: &Option<
        BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
    >,
               k: &str| { list.as_ref().and_then(|l| l.get(k)).map(|q| q.0.clone()) };
    let divisor = sel
        .divisor
        .as_ref()
        .map(|d| d.0.clone())
        .unwrap_or_else(|| "1".into());
    let (raw, is_cpu) = match sel.resource.as_str() {
        "limits.cpu" => (
            get(&res.limits, "cpu")
                .map(|q| milli_value(&q))
                .unwrap_or(node_cpu_milli),
            true,
        ),
        "requests.cpu" => (
            get(&res.requests, "cpu")
                .map(|q| milli_value(&q))
                .unwrap_or(0),
            true,
        ),
        "limits.memory" => (
            get(&res.limits, "memory")
                .map(|q| value(&q))
                .unwrap_or(node_memory),
            false,
        ),
        "requests.memory" => (
            get(&res.requests, "memory").map(|q| value(&q)).unwrap_or(0),
            false,
        ),
        "limits.ephemeral-storage" => (
            get(&res.limits, "ephemeral-storage")
                .map(|q| value(&q))
                .unwrap_or(0),
            false,
        ),
        "requests.ephemeral-storage" => (
            get(&res.requests, "ephemeral-storage")
                .map(|q| value(&q))
                .unwrap_or(0),
            false,
        ),
        other => {
            return Err(ConfigError(format!(
                "unsupported container resource: {other}"
            )))
        }
    };
    // Values are rounded up to the divisor, as upstream's ExtractContainerResourceValue.
    let v = if is_cpu {
        let d = milli_value(&divisor).max(1);
        (raw + d - 1) / d
    } else {
        let d = milli_value(&divisor).max(1);
        ((raw as i128 * 1000 + d as i128 - 1) / d as i128) as i64
    };
    Ok(v.to_string())
}

/// What the environment builder needs to know about the pod's placement.
pub struct EnvContext<'a> {
    pub pod: &'a Pod,
    pub pod_ip: Option<&'a str>,
    pub host_ip: &'a str,
    pub node_cpu_milli: i64,
    pub node_memory: i64,
}

/// The container's environment, in the kubelet's order: service links first, then envFrom,
/// then env (later entries win).
pub fn build_env(
    c: &Container,
    ctx: &EnvContext<'_>,
    src: &Sources,
) -> Result<Vec<(String, String)>, ConfigError> {
    let ns = ctx.pod.metadata.namespace.clone().unwrap_or_default();
    let mut vars: Vec<(String, String)> = Vec::new();
    let enable_links = ctx
        .pod
        .spec
        .as_ref()
        .and_then(|s| s.enable_service_links)
        .unwrap_or(true);
    let mut svc_env = Vec::new();
    if enable_links {
        for s in &src.services {
            service_env(s, &mut svc_env);
        }
    }
    if let Some(m) = &src.master_service {
        service_env(m, &mut svc_env);
    }
    vars.extend(svc_env);

    let set = |vars: &mut Vec<(String, String)>, k: String, v: String| {
        if let Some(slot) = vars.iter_mut().find(|(n, _)| *n == k) {
            slot.1 = v;
        } else {
            vars.push((k, v));
        }
    };
    for e in c.env_from.iter().flatten() {
        let prefix = e.prefix.clone().unwrap_or_default();
        if let Some(r) = &e.config_map_ref {
            match src.config_maps.get(&r.name).cloned().flatten() {
                Some(data) => {
                    for (k, v) in data {
                        set(&mut vars, format!("{prefix}{k}"), v);
                    }
                }
                None if r.optional == Some(true) => {}
                None => return Err(ConfigError(format!("configmap \"{}\" not found", r.name))),
            }
        }
        if let Some(r) = &e.secret_ref {
            match src.secrets.get(&r.name).cloned().flatten() {
                Some(data) => {
                    for (k, v) in data {
                        set(
                            &mut vars,
                            format!("{prefix}{k}"),
                            String::from_utf8_lossy(&v).into_owned(),
                        );
                    }
                }
                None if r.optional == Some(true) => {}
                None => return Err(ConfigError(format!("secret \"{}\" not found", r.name))),
            }
        }
    }
    for e in c.env.iter().flatten() {
        let value = if let Some(vf) = &e.value_from {
            if let Some(r) = &vf.config_map_key_ref {
                match src.config_maps.get(&r.name).cloned().flatten() {
                    Some(data) => match data.get(&r.key) {
                        Some(v) => v.clone(),
                        None if r.optional == Some(true) => continue,
                        None => {
                            return Err(ConfigError(format!(
                                "couldn't find key {} in ConfigMap {ns}/{}",
                                r.key, r.name
                            )))
                        }
                    },
                    None if r.optional == Some(true) => continue,
                    None => return Err(ConfigError(format!("configmap \"{}\" not found", r.name))),
                }
            } else if let Some(r) = &vf.secret_key_ref {
                match src.secrets.get(&r.name).cloned().flatten() {
                    Some(data) => match data.get(&r.key) {
                        Some(v) => String::from_utf8_lossy(v).into_owned(),
                        None if r.optional == Some(true) => continue,
                        None => {
                            return Err(ConfigError(format!(
                                "couldn't find key {} in Secret {ns}/{}",
                                r.key, r.name
                            )))
                        }
                    },
                    None if r.optional == Some(true) => continue,
                    None => return Err(ConfigError(format!("secret \"{}\" not found", r.name))),
                }
            } else if let Some(f) = &vf.field_ref {
                field_value(ctx.pod, f, ctx.pod_ip, ctx.host_ip)?
            } else if let Some(r) = &vf.resource_field_ref {
                resource_value(c, r, ctx.node_cpu_milli, ctx.node_memory)?
            } else {
                String::new()
            }
        } else {
            // Literal values may refer to variables defined before them.
            let current: HashMap<String, String> = vars.iter().cloned().collect();
            expand(e.value.as_deref().unwrap_or(""), &|n| {
                current.get(n).cloned()
            })
        };
        set(&mut vars, e.name.clone(), value);
    }
    Ok(vars)
}

/// The argv to run: command/args with $(VAR) expansion, falling back to the image's
/// Entrypoint/Cmd as Docker does.
pub fn argv(
    c: &Container,
    image_entrypoint: &[String],
    image_cmd: &[String],
    env: &[(String, String)],
) -> Result<Vec<String>, ConfigError> {
    let lookup: HashMap<&str, &str> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let exp = |s: &String| expand(s, &|n| lookup.get(n).map(|v| v.to_string()));
    let command: Vec<String> = c.command.iter().flatten().map(exp).collect();
    let args: Vec<String> = c.args.iter().flatten().map(exp).collect();
    let out: Vec<String> = match (command.is_empty(), args.is_empty()) {
        (false, _) => command.into_iter().chain(args).collect(),
        (true, false) => image_entrypoint.iter().cloned().chain(args).collect(),
        (true, true) => image_entrypoint.iter().chain(image_cmd).cloned().collect(),
    };
    if out.is_empty() {
        return Err(ConfigError("no command specified".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web-0", "namespace": "shop", "uid": "u1", "labels": {"app": "web", "tier": "fe"}},
            "spec": {"nodeName": "n1", "serviceAccountName": "default", "containers": [{"name": "c"}]}
        }))
        .unwrap()
    }

    #[test]
    fn expansion_follows_upstream() {
        let vars = |n: &str| (n == "A").then(|| "x".to_string());
        assert_eq!(expand("$(A)-$(B)-$$(A)-$", &vars), "x-$(B)-$(A)-$");
        assert_eq!(expand("$(A", &vars), "$(A");
    }

    #[test]
    fn env_from_sources_and_fields() {
        let c: Container = serde_json::from_value(json!({
            "name": "c",
            "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}],
            "env": [
                {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                {"name": "GREETING", "value": "hello $(POD_NAME)"}
            ]
        }))
        .unwrap();
        let mut src = Sources::default();
        src.config_maps.insert(
            "cfg".into(),
            Some(BTreeMap::from([("MODE".into(), "prod".into())])),
        );
        src.secrets.insert(
            "db".into(),
            Some(BTreeMap::from([("password".into(), b"s3cret".to_vec())])),
        );
        let p = pod();
        let ctx = EnvContext {
            pod: &p,
            pod_ip: Some("10.244.0.5"),
            host_ip: "192.168.1.2",
            node_cpu_milli: 2000,
            node_memory: 1 << 30,
        };
        let env: HashMap<String, String> = build_env(&c, &ctx, &src).unwrap().into_iter().collect();
        assert_eq!(env["CFG_MODE"], "prod");
        assert_eq!(env["PASSWORD"], "s3cret");
        assert_eq!(env["POD_NAME"], "web-0");
        assert_eq!(env["POD_IP"], "10.244.0.5");
        assert_eq!(env["APP"], "web");
        assert_eq!(env["GREETING"], "hello web-0");
    }

    #[test]
    fn missing_references_are_config_errors() {
        let c: Container = serde_json::from_value(json!({
            "name": "c",
            "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k"}}}]
        }))
        .unwrap();
        let p = pod();
        let ctx = EnvContext {
            pod: &p,
            pod_ip: None,
            host_ip: "h",
            node_cpu_milli: 0,
            node_memory: 0,
        };
        let mut src = Sources::default();
        src.config_maps.insert("cfg".into(), None);
        assert_eq!(
            build_env(&c, &ctx, &src).unwrap_err().0,
            "configmap \"cfg\" not found"
        );
        src.config_maps.insert("cfg".into(), Some(BTreeMap::new()));
        assert_eq!(
            build_env(&c, &ctx, &src).unwrap_err().0,
            "couldn't find key k in ConfigMap shop/cfg"
        );
    }

    #[test]
    fn argv_uses_image_defaults() {
        let c: Container =
            serde_json::from_value(json!({"name": "c", "args": ["-p", "$(PORT)"]})).unwrap();
        let env = vec![("PORT".to_string(), "8080".to_string())];
        assert_eq!(
            argv(&c, &["httpd".into()], &["-f".into()], &env).unwrap(),
            vec!["httpd", "-p", "8080"]
        );
        let c: Container = serde_json::from_value(json!({"name": "c"})).unwrap();
        assert_eq!(
            argv(&c, &["a".into()], &["b".into()], &env).unwrap(),
            vec!["a", "b"]
        );
    }
}
