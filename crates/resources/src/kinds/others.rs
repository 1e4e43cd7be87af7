//! Strategies of every built-in kind that is not a workload.
//!
//! Each kind is a [`Kind`]: its decode type (through [`decode_builtin`]), its ObjectMeta rules
//! (scope and name format) and a few per-kind functions for defaults, validation and status
//! handling, following upstream's `pkg/registry/<group>/<kind>/strategy.go`.

use std::sync::Arc;

use serde_json::Value;

use crate::field::{FieldError, FieldPath};
use crate::info::ResourceInfo;
use crate::kinds::decode::decode_builtin;
use crate::kinds::meta::{validate_object_meta, validate_object_meta_update, NameRule};
use crate::strategy::{DecodeError, Decoded, Strategy, STATUS_WRITABLE_METADATA};

mod autoscaling;
mod core;
mod events;
mod flowcontrol;
mod misc;
mod networking;
mod util;

/// Per-kind hooks; `None`/defaults mean "nothing beyond the generic behaviour".
#[derive(Clone, Copy)]
pub(crate) struct Hooks {
    pub defaults: fn(&mut Value),
    pub validate: fn(&Value) -> Vec<FieldError>,
    /// Extra update rules (immutable fields), run after the metadata and create rules.
    pub validate_update: fn(&Value, &Value) -> Vec<FieldError>,
    /// Replaces the create rules on update when a kind validates updates differently.
    pub update_skips_create_rules: bool,
    pub prepare_create: fn(&mut Value),
    pub prepare_update: fn(&mut Value, &Value),
    pub warnings: fn(&Value) -> Vec<String>,
    /// Whether ObjectMeta is validated at all (reviews and legacy Events are not).
    pub validate_meta: bool,
    /// Conversion to another served version of the same resource (`Strategy::convert`).
    pub convert: fn(Value, &str) -> Value,
}

fn no_defaults(_: &mut Value) {}
fn no_validate(_: &Value) -> Vec<FieldError> {
    Vec::new()
}
fn no_validate_update(_: &Value, _: &Value) -> Vec<FieldError> {
    Vec::new()
}
fn no_prepare_create(_: &mut Value) {}
fn no_prepare_update(_: &mut Value, _: &Value) {}
fn no_warnings(_: &Value) -> Vec<String> {
    Vec::new()
}
/// The generic conversion: the versions differ only in `apiVersion`.
fn rewrite_api_version(mut obj: Value, api_version: &str) -> Value {
    if let Some(m) = obj.as_object_mut() {
        m.insert("apiVersion".into(), Value::String(api_version.to_string()));
    }
    obj
}

impl Default for Hooks {
    fn default() -> Self {
        Hooks {
            defaults: no_defaults,
            validate: no_validate,
            validate_update: no_validate_update,
            update_skips_create_rules: false,
            prepare_create: no_prepare_create,
            prepare_update: no_prepare_update,
            warnings: no_warnings,
            validate_meta: true,
            convert: rewrite_api_version,
        }
    }
}

/// One kind's strategy.
pub(crate) struct Kind {
    group: String,
    version: String,
    kind: String,
    namespaced: bool,
    has_status: bool,
    name_rule: NameRule,
    generation: bool,
    /// Status a new object starts with when `status` is a subresource (upstream resets it).
    initial_status: Option<fn(&Value) -> Value>,
    status_metadata: &'static [&'static str],
    hooks: Hooks,
}

impl Strategy for Kind {
    fn decode(&self, obj: Value) -> Result<Decoded, DecodeError> {
        decode_builtin(&self.group, &self.version, &self.kind, obj)
    }

    fn apply_defaults(&self, obj: &mut Value) {
        if obj.is_object() {
            (self.hooks.defaults)(obj);
        }
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        if self.has_status {
            if let Some(m) = obj.as_object_mut() {
                match self.initial_status {
                    Some(f) => {
                        let s = f(&Value::Object(m.clone()));
                        m.insert("status".into(), s);
                    }
                    None => {
                        m.remove("status");
                    }
                }
            }
        }
        if obj.is_object() {
            (self.hooks.prepare_create)(obj);
        }
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        if self.has_status {
            if let Some(m) = new.as_object_mut() {
                match old.get("status") {
                    Some(s) => {
                        m.insert("status".into(), s.clone());
                    }
                    None => {
                        m.remove("status");
                    }
                }
            }
        }
        if new.is_object() {
            (self.hooks.prepare_update)(new, old);
        }
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        if self.hooks.validate_meta {
            let meta = obj.get("metadata").unwrap_or(&Value::Null);
            errs.extend(validate_object_meta(
                meta,
                self.namespaced,
                self.name_rule,
                &FieldPath::new("metadata"),
            ));
        }
        errs.extend((self.hooks.validate)(obj));
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let null = Value::Null;
        let mut errs = Vec::new();
        if self.hooks.validate_meta {
            errs.extend(validate_object_meta_update(
                new.get("metadata").unwrap_or(&null),
                old.get("metadata").unwrap_or(&null),
                &FieldPath::new("metadata"),
            ));
        }
        if !self.hooks.update_skips_create_rules {
            errs.extend((self.hooks.validate)(new));
        }
        errs.extend((self.hooks.validate_update)(new, old));
        errs
    }

    fn status_writable_metadata(&self) -> &'static [&'static str] {
        self.status_metadata
    }

    fn warnings(&self, obj: &Value) -> Vec<String> {
        (self.hooks.warnings)(obj)
    }

    fn tracks_generation(&self) -> bool {
        self.generation
    }

    fn convert(&self, obj: Value, api_version: &str) -> Value {
        (self.hooks.convert)(obj, api_version)
    }
}

/// The strategy for a kind, or `None` for the generic one (CustomResourceDefinition is
/// handled by the CRD crate).
pub fn strategy_for(info: &ResourceInfo) -> Option<Arc<dyn Strategy>> {
    if info.kind == "CustomResourceDefinition" {
        return None;
    }
    if info.group == "autoscaling" && info.kind == "HorizontalPodAutoscaler" {
        return Some(Arc::new(autoscaling::HpaStrategy::new(info)));
    }
    let spec = core::spec(info)
        .or_else(|| networking::spec(info))
        .or_else(|| misc::spec(info))
        .or_else(|| flowcontrol::spec(info))
        .unwrap_or_default();
    Some(Arc::new(Kind {
        group: info.group.clone(),
        version: info.version.clone(),
        kind: info.kind.clone(),
        namespaced: info.namespaced,
        has_status: info.has_status,
        name_rule: spec.name_rule.unwrap_or(NameRule::Dns1123Subdomain),
        generation: spec.generation,
        initial_status: spec.initial_status,
        status_metadata: spec.status_metadata.unwrap_or(STATUS_WRITABLE_METADATA),
        hooks: spec.hooks,
    }))
}

/// What a kind module says about a kind.
#[derive(Default)]
pub(crate) struct Spec {
    pub name_rule: Option<NameRule>,
    pub generation: bool,
    pub initial_status: Option<fn(&Value) -> Value>,
    /// What a status write may change in `metadata`; `None`: the common set.
    pub status_metadata: Option<&'static [&'static str]>,
    pub hooks: Hooks,
}

#[cfg(test)]
mod tests;
