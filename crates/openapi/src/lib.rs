//! OpenAPI documents for the API server: `/openapi/v3` (an index of one document per
//! group-version) and `/openapi/v2` (one Swagger 2.0 document, as JSON or as gnostic's protobuf
//! `openapi.v2.Document`, the form kubectl asks for).
//!
//! Schemas are generated at run time from the k8s-openapi types (their `schemars` impls carry
//! upstream's descriptions), completed with what upstream's generator takes from Go struct tags:
//! `x-kubernetes-group-version-kind` on kinds and operations, and the list merge metadata
//! (`x-kubernetes-patch-strategy`, `-patch-merge-key`, `-list-type`, `-list-map-keys`) from the
//! same rules the server's strategic merge patch uses ([`minato_patch::keys`]). Custom
//! resources take their schema from the CRD.
//!
//! kubectl depends on these documents for `apply`/`create`/`edit` (it looks for a PATCH
//! operation of the object's kind with a `fieldValidation` parameter, and takes strategic merge
//! patch metadata from the kind's schema) and for `explain`.

mod enums;
mod paths;
mod render;
mod schemas;
mod types;
mod v2proto;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, OnceLock};

use minato_resources::{Registry, ResourceInfo};
use serde_json::{json, Value};
use sha2::{Digest, Sha512};

use crate::paths::{gv_key, GvPaths, PathItem};
use crate::render::Format;
use crate::schemas::Schemas;

pub use crate::schemas::custom_schema_name;

/// The Kubernetes version the documents describe (their `info.version`).
pub const KUBERNETES_VERSION: &str = "v1.33.0";

/// A group, version and kind; the group is empty for the core group.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gvk {
    pub group: String,
    pub version: String,
    pub kind: String,
}

impl Gvk {
    pub fn new(group: &str, version: &str, kind: &str) -> Gvk {
        Gvk {
            group: group.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
        }
    }
}

/// Custom resource schemas (each CRD version's `schema.openAPIV3Schema`), by kind.
pub type CustomSchemas = HashMap<Gvk, Value>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the schema of {0} was generated inline instead of as a named component")]
    Unnamed(&'static str),
    #[error("serializing an OpenAPI document: {0}")]
    Json(#[from] serde_json::Error),
}

/// One serialized document and its hash.
struct Document {
    bytes: Arc<Vec<u8>>,
    /// Upper-case hex SHA-512 of `bytes`, as upstream puts in `serverRelativeURL`.
    hash: String,
}

impl Document {
    fn new(bytes: Vec<u8>) -> Document {
        let hash = hex::encode_upper(Sha512::digest(&bytes));
        Document {
            bytes: Arc::new(bytes),
            hash,
        }
    }
}

struct Inner {
    /// By index key (`api/v1`, `apis/apps/v1`).
    v3: BTreeMap<String, Document>,
    v3_index: Value,
    v3_index_bytes: Arc<Vec<u8>>,
    /// Made on first use: kubectl only falls back to v2 when v3 fails (and then asks for
    /// protobuf), so building it at start would mostly be wasted.
    v2: OnceLock<Document>,
    /// The same document as gnostic's protobuf message, also made on first use.
    v2_protobuf: OnceLock<Document>,
    schemas: Schemas,
    paths: Vec<PathItem>,
}

/// All OpenAPI documents for one set of served resources. Built once (at start and whenever
/// CRDs change); clones share the documents.
#[derive(Clone)]
pub struct OpenApi(Arc<Inner>);

impl std::fmt::Debug for OpenApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenApi")
            .field("group_versions", &self.0.v3.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl OpenApi {
    /// Builds every document for these resources. Resources with `custom` set take their
    /// schema from `custom_schemas` (a missing one is described as an object with any fields).
    pub fn build<'a>(
        resources: impl IntoIterator<Item = &'a ResourceInfo>,
        custom_schemas: &CustomSchemas,
    ) -> Result<OpenApi, Error> {
        let resources: Vec<&ResourceInfo> = resources.into_iter().collect();
        let schemas = Schemas::build(&resources, custom_schemas)?;

        // Paths per group-version, in the order resources come.
        let mut gvs: Vec<(String, String)> = Vec::new();
        for r in &resources {
            let gv = (r.group.clone(), r.version.clone());
            if !gvs.contains(&gv) {
                gvs.push(gv);
            }
        }
        let mut per_gv: Vec<(String, Vec<PathItem>)> = Vec::new();
        for (group, version) in &gvs {
            let builder = GvPaths::new(&schemas, group, version);
            let mut items = vec![builder.discovery()];
            for r in resources
                .iter()
                .filter(|r| &r.group == group && &r.version == version)
            {
                items.extend(builder.resource(r));
            }
            items.sort_by(|a, b| a.path.cmp(&b.path));
            per_gv.push((gv_key(group, version), items));
        }

        let mut v3 = BTreeMap::new();
        let mut v3_schemas: HashMap<String, Vec<u8>> = HashMap::new();
        for (key, items) in &per_gv {
            let refs: Vec<&PathItem> = items.iter().collect();
            let bytes = document(&schemas, &refs, &mut v3_schemas)?;
            v3.insert(key.clone(), Document::new(bytes));
        }
        let index: serde_json::Map<String, Value> = v3
            .iter()
            .map(|(key, doc)| {
                (
                    key.clone(),
                    json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={}", doc.hash)}),
                )
            })
            .collect();
        let v3_index = json!({ "paths": index });
        let v3_index_bytes = Arc::new(serde_json::to_vec(&v3_index)?);
        Ok(OpenApi(Arc::new(Inner {
            v3,
            v3_index,
            v3_index_bytes,
            v2: OnceLock::new(),
            v2_protobuf: OnceLock::new(),
            schemas,
            paths: per_gv.into_iter().flat_map(|(_, items)| items).collect(),
        })))
    }

    /// Builds the documents for everything a registry serves.
    pub fn from_registry(
        registry: &Registry,
        custom_schemas: &CustomSchemas,
    ) -> Result<OpenApi, Error> {
        let entries = registry.all();
        OpenApi::build(entries.iter().map(|e| &*e.info), custom_schemas)
    }

    /// The `/openapi/v3` index: `{"paths": {"apis/apps/v1": {"serverRelativeURL": …}}}`.
    pub fn v3_index(&self) -> Value {
        self.0.v3_index.clone()
    }

    /// The `/openapi/v3` index, serialized.
    pub fn v3_index_bytes(&self) -> Arc<Vec<u8>> {
        self.0.v3_index_bytes.clone()
    }

    /// The document of one group-version (`api/v1`, `apis/apps/v1`) and its hash.
    pub fn v3_document(&self, gv_path: &str) -> Option<(Arc<Vec<u8>>, String)> {
        let key = gv_path.trim_matches('/');
        self.0
            .v3
            .get(key)
            .map(|d| (d.bytes.clone(), d.hash.clone()))
    }

    /// The index keys, sorted.
    pub fn group_versions(&self) -> Vec<String> {
        self.0.v3.keys().cloned().collect()
    }

    /// The Swagger 2.0 document (JSON) with every path and definition, and its hash
    /// (upper-case hex SHA-512, for an ETag). Built on the first call.
    pub fn v2_document(&self) -> Result<(Arc<Vec<u8>>, String), Error> {
        let doc = match self.0.v2.get() {
            Some(doc) => doc,
            None => {
                let bytes = serde_json::to_vec(&self.v2_value())?;
                // A concurrent caller may have won; both built the same bytes.
                self.0.v2.get_or_init(|| Document::new(bytes))
            }
        };
        Ok((doc.bytes.clone(), doc.hash.clone()))
    }

    /// The Swagger 2.0 document as gnostic's protobuf `openapi.v2.Document` (what kubectl asks
    /// for), with the same paths, operations, parameters, responses and definitions as
    /// [`OpenApi::v2_document`], and its hash. Built on the first call.
    pub fn v2_protobuf(&self) -> Result<(Arc<Vec<u8>>, String), Error> {
        let doc = match self.0.v2_protobuf.get() {
            Some(doc) => doc,
            None => {
                let bytes = v2proto::document(&self.v2_value());
                self.0.v2_protobuf.get_or_init(|| Document::new(bytes))
            }
        };
        Ok((doc.bytes.clone(), doc.hash.clone()))
    }

    /// The whole Swagger 2.0 document, which both v2 forms encode.
    fn v2_value(&self) -> Value {
        let schemas = &self.0.schemas;
        let items: Vec<&PathItem> = self.0.paths.iter().collect();
        let paths = render::paths(
            Format::V2,
            &items,
            &schemas.meta.patch,
            &schemas.meta.delete_options,
        );
        let definitions: serde_json::Map<String, Value> = reachable(schemas, &paths)
            .into_iter()
            .filter_map(|name| {
                let canonical = schemas.defs.get(&name)?;
                let schema = render::schema(Format::V2, &name, canonical);
                Some((name, schema))
            })
            .collect();
        json!({
            "swagger": "2.0",
            "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
            "paths": paths,
            "definitions": definitions,
            "securityDefinitions": render::security_scheme(),
            "security": [{"BearerToken": []}],
        })
    }
}

/// The schema names the operations in `paths` reach, sorted.
fn reachable(schemas: &Schemas, paths: &serde_json::Map<String, Value>) -> BTreeSet<String> {
    let mut roots = Vec::new();
    for p in paths.values() {
        schemas::collect_refs(p, &mut roots);
    }
    schemas.closure(roots.iter().map(String::as_str))
}

/// Writes a whole v3 document. Schemas are serialized once and spliced in, since the big ones
/// (PodSpec and what it reaches) appear in many documents.
fn document(
    schemas: &Schemas,
    items: &[&PathItem],
    cache: &mut HashMap<String, Vec<u8>>,
) -> Result<Vec<u8>, Error> {
    let mut paths = render::paths(
        Format::V3,
        items,
        &schemas.meta.patch,
        &schemas.meta.delete_options,
    );
    let shared = render::share_v3_components(&mut paths);
    let mut names = reachable(schemas, &paths);
    let mut roots = Vec::new();
    schemas::collect_refs(&shared, &mut roots);
    names.extend(schemas.closure(roots.iter().map(String::as_str)));

    let mut out = Vec::with_capacity(256 * 1024);
    let info = json!({"title": "Kubernetes", "version": KUBERNETES_VERSION});
    out.extend_from_slice(b"{\"openapi\":\"3.0.0\",\"info\":");
    serde_json::to_writer(&mut out, &info)?;
    out.extend_from_slice(b",\"paths\":");
    serde_json::to_writer(&mut out, &paths)?;
    out.extend_from_slice(b",\"components\":{\"parameters\":");
    serde_json::to_writer(&mut out, &shared["parameters"])?;
    out.extend_from_slice(b",\"responses\":");
    serde_json::to_writer(&mut out, &shared["responses"])?;
    out.extend_from_slice(b",\"schemas\":{");
    let mut first = true;
    for name in &names {
        let Some(canonical) = schemas.defs.get(name) else {
            continue;
        };
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, name)?;
        out.push(b':');
        if let Some(bytes) = cache.get(name) {
            out.extend_from_slice(bytes);
        } else {
            let bytes = serde_json::to_vec(&render::schema(Format::V3, name, canonical))?;
            out.extend_from_slice(&bytes);
            cache.insert(name.clone(), bytes);
        }
    }
    out.extend_from_slice(b"},\"securitySchemes\":");
    serde_json::to_writer(&mut out, &render::security_scheme())?;
    out.extend_from_slice(b"}}");
    Ok(out)
}
