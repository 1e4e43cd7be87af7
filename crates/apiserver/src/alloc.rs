//! Service ClusterIP and NodePort allocation: unique, from the configured ranges, released
//! when a Service goes. The state is rebuilt from stored Services at start.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::Mutex;

use minato_resources::registry::Entry;
use minato_resources::{FieldError, FieldPath};
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::meta;
use crate::server::State;

fn parse_cidr(cidr: &str) -> Option<(u32, u32)> {
    let (ip, bits) = cidr.split_once('/')?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    let bits: u32 = bits.parse().ok()?;
    if !(8..=30).contains(&bits) {
        return None;
    }
    let size = 1u32 << (32 - bits);
    let base = u32::from(ip) & !(size - 1);
    Some((base, size))
}

/// The first usable address of the Service range: the `kubernetes` Service's ClusterIP.
pub fn first_service_ip(cidr: &str) -> Option<Ipv4Addr> {
    parse_cidr(cidr).map(|(base, _)| Ipv4Addr::from(base + 1))
}

struct Inner {
    base: u32,
    size: u32,
    ips: HashSet<u32>,
    next_ip: u32,
    ports: (u16, u16),
    used_ports: HashSet<u16>,
    next_port: u16,
}

pub struct Allocators {
    inner: Mutex<Inner>,
}

/// What one admission reserved (released again if the write fails).
#[derive(Default, Debug)]
pub struct Allocated {
    ips: Vec<u32>,
    ports: Vec<u16>,
}

impl Allocators {
    pub fn new(cidr: &str, ports: (u16, u16)) -> Result<Self, String> {
        let (base, size) = parse_cidr(cidr).ok_or_else(|| {
            format!("service CIDR {cidr:?} is not an IPv4 range between /8 and /30")
        })?;
        if ports.0 > ports.1 {
            return Err(format!("node port range {}-{} is empty", ports.0, ports.1));
        }
        Ok(Allocators {
            inner: Mutex::new(Inner {
                base,
                size,
                ips: HashSet::new(),
                next_ip: 2,
                ports,
                used_ports: HashSet::new(),
                next_port: ports.0,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks a stored Service's addresses as used (start-up).
    pub fn mark_service(&self, svc: &Value) {
        let mut inner = self.lock();
        for ip in cluster_ips(svc) {
            if let Some(off) = inner.offset(&ip) {
                inner.ips.insert(off);
            }
        }
        for p in node_ports(svc) {
            inner.used_ports.insert(p);
        }
    }
}

impl Inner {
    fn offset(&self, ip: &str) -> Option<u32> {
        let ip: Ipv4Addr = ip.parse().ok()?;
        let v = u32::from(ip);
        (v >= self.base && v < self.base + self.size).then(|| v - self.base)
    }

    fn allocate_ip(&mut self) -> Option<u32> {
        // Offsets 0 (network) and size-1 (broadcast) are never handed out.
        for _ in 0..self.size {
            let off = self.next_ip;
            self.next_ip = if self.next_ip + 1 >= self.size - 1 {
                1
            } else {
                self.next_ip + 1
            };
            if off >= 1 && off < self.size - 1 && !self.ips.contains(&off) {
                self.ips.insert(off);
                return Some(off);
            }
        }
        None
    }

    fn allocate_port(&mut self) -> Option<u16> {
        let (lo, hi) = self.ports;
        let count = (hi - lo) as u32 + 1;
        for _ in 0..count {
            let p = self.next_port;
            self.next_port = if self.next_port >= hi {
                lo
            } else {
                self.next_port + 1
            };
            if !self.used_ports.contains(&p) {
                self.used_ports.insert(p);
                return Some(p);
            }
        }
        None
    }
}

fn is_service(entry: &Entry) -> bool {
    entry.info.group.is_empty() && entry.info.kind == "Service"
}

fn cluster_ips(svc: &Value) -> Vec<String> {
    let mut ips: Vec<String> = svc
        .pointer("/spec/clusterIPs")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if let Some(ip) = svc.pointer("/spec/clusterIP").and_then(Value::as_str) {
        if !ips.iter().any(|i| i == ip) {
            ips.push(ip.to_string());
        }
    }
    ips.retain(|i| !i.is_empty() && i != "None");
    ips
}

fn node_ports(svc: &Value) -> Vec<u16> {
    svc.pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|p| p.get("nodePort").and_then(Value::as_u64))
                .filter_map(|p| u16::try_from(p).ok())
                .collect()
        })
        .unwrap_or_default()
}

fn wants_node_ports(svc: &Value) -> bool {
    matches!(
        svc.pointer("/spec/type").and_then(Value::as_str),
        Some("NodePort") | Some("LoadBalancer")
    )
}

fn invalid(svc: &Value, errs: Vec<FieldError>) -> ApiError {
    ApiError::invalid("Service", "", meta::name(svc).unwrap_or(""), &errs)
}

/// Allocates (or checks) the ClusterIP and node ports of a new Service.
pub fn admit_create(
    state: &State,
    entry: &Entry,
    obj: &mut Value,
    dry_run: bool,
) -> ApiResult<Allocated> {
    let mut got = Allocated::default();
    if !is_service(entry) {
        return Ok(got);
    }
    let result = allocate_into(state, obj, None, &mut got);
    if result.is_err() || dry_run {
        release(state, &got);
        got = Allocated::default();
    }
    result.map(|_| got)
}

fn allocate_into(
    state: &State,
    obj: &mut Value,
    old: Option<&Value>,
    got: &mut Allocated,
) -> ApiResult<()> {
    let svc_type = obj
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    let mut inner = state.allocators.lock();
    if svc_type != "ExternalName" {
        let requested = obj
            .pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let old_ip = old
            .and_then(|o| o.pointer("/spec/clusterIP"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let ip = if requested == "None" {
            "None".to_string()
        } else if requested.is_empty() {
            if let Some(o) = old_ip.filter(|o| !o.is_empty()) {
                o
            } else {
                let off = inner.allocate_ip().ok_or_else(|| {
                    invalid(
                        obj,
                        vec![FieldError::invalid(
                            &FieldPath::new("spec.clusterIPs"),
                            json!([]),
                            "failed to allocate IP: range is full",
                        )],
                    )
                })?;
                got.ips.push(off);
                Ipv4Addr::from(inner.base + off).to_string()
            }
        } else if old_ip.as_deref() == Some(requested.as_str()) {
            requested
        } else {
            let Some(off) = inner.offset(&requested) else {
                let range = format!(
                    "{}/{}",
                    Ipv4Addr::from(inner.base),
                    32 - inner.size.trailing_zeros()
                );
                return Err(invalid(obj, vec![FieldError::invalid(&FieldPath::new("spec.clusterIPs"), json!([requested]), format!("failed to allocate IP {requested}: the provided IP ({requested}) is not in the valid range. The range of valid IPs is {range}"))]));
            };
            if inner.ips.contains(&off) {
                return Err(invalid(
                    obj,
                    vec![FieldError::invalid(
                        &FieldPath::new("spec.clusterIPs"),
                        json!([requested]),
                        format!(
                            "failed to allocate IP {requested}: provided IP is already allocated"
                        ),
                    )],
                ));
            }
            inner.ips.insert(off);
            got.ips.push(off);
            requested
        };
        if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
            spec.insert("clusterIP".into(), json!(ip));
            spec.insert("clusterIPs".into(), json!([ip]));
        }
    }
    let old_ports: Vec<(i64, String, u16)> = old
        .and_then(|o| o.pointer("/spec/ports"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|p| {
                    let np = p
                        .get("nodePort")
                        .and_then(Value::as_u64)
                        .and_then(|n| u16::try_from(n).ok())?;
                    Some((
                        p.get("port").and_then(Value::as_i64).unwrap_or(0),
                        p.get("protocol")
                            .and_then(Value::as_str)
                            .unwrap_or("TCP")
                            .to_string(),
                        np,
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let want = wants_node_ports(obj);
    let (lo, hi) = inner.ports;
    if let Some(ports) = obj.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
        for (i, p) in ports.iter_mut().enumerate() {
            let Some(pm) = p.as_object_mut() else {
                continue;
            };
            if !want {
                pm.remove("nodePort");
                continue;
            }
            let port = pm.get("port").and_then(Value::as_i64).unwrap_or(0);
            let proto = pm
                .get("protocol")
                .and_then(Value::as_str)
                .unwrap_or("TCP")
                .to_string();
            let requested = pm.get("nodePort").and_then(Value::as_u64).unwrap_or(0);
            let kept = old_ports
                .iter()
                .find(|(op, opr, _)| *op == port && *opr == proto)
                .map(|(_, _, n)| *n);
            let np = if requested == 0 {
                if let Some(k) = kept {
                    k
                } else {
                    let n = inner.allocate_port().ok_or_else(|| {
                        ApiError::invalid(
                            "Service",
                            "",
                            "",
                            &[FieldError::invalid(
                                &FieldPath::new("spec.ports").index(i).child("nodePort"),
                                0,
                                "failed to allocate a nodePort: range is full",
                            )],
                        )
                    })?;
                    got.ports.push(n);
                    n
                }
            } else {
                let n = u16::try_from(requested).unwrap_or(0);
                if Some(n) != kept && !old_ports.iter().any(|(_, _, o)| *o == n) {
                    if n < lo || n > hi {
                        return Err(ApiError::invalid("Service", "", "", &[FieldError::invalid(&FieldPath::new("spec.ports").index(i).child("nodePort"), requested, format!("provided port is not in the valid range. The range of valid ports is {lo}-{hi}"))]));
                    }
                    if inner.used_ports.contains(&n) {
                        return Err(ApiError::invalid(
                            "Service",
                            "",
                            "",
                            &[FieldError::invalid(
                                &FieldPath::new("spec.ports").index(i).child("nodePort"),
                                requested,
                                "provided port is already allocated",
                            )],
                        ));
                    }
                    inner.used_ports.insert(n);
                    got.ports.push(n);
                }
                n
            };
            pm.insert("nodePort".into(), json!(np));
        }
    }
    Ok(())
}

/// Keeps or (re)allocates a Service's addresses on update; frees node ports it no longer uses.
pub fn admit_update(state: &State, entry: &Entry, old: &Value, new: &mut Value) -> ApiResult<()> {
    if !is_service(entry) {
        return Ok(());
    }
    let mut got = Allocated::default();
    if let Err(e) = allocate_into(state, new, Some(old), &mut got) {
        release(state, &got);
        return Err(e);
    }
    let kept: HashSet<u16> = node_ports(new).into_iter().collect();
    let mut inner = state.allocators.lock();
    for p in node_ports(old) {
        if !kept.contains(&p) {
            inner.used_ports.remove(&p);
        }
    }
    Ok(())
}

pub fn release(state: &State, got: &Allocated) {
    let mut inner = state.allocators.lock();
    for ip in &got.ips {
        inner.ips.remove(ip);
    }
    for p in &got.ports {
        inner.used_ports.remove(p);
    }
}

/// Frees what a deleted object held.
pub fn release_object(state: &State, entry: &Entry, obj: &Value) {
    if !is_service(entry) {
        return;
    }
    let mut inner = state.allocators.lock();
    for ip in cluster_ips(obj) {
        if let Some(off) = inner.offset(&ip) {
            inner.ips.remove(&off);
        }
    }
    for p in node_ports(obj) {
        inner.used_ports.remove(&p);
    }
}
