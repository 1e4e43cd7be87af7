//! The operations of each resource, in a neutral form that the v3 and v2 renderers share.
//!
//! Layout and naming follow upstream's documents: collection and item paths per scope,
//! `x-kubernetes-action` and `x-kubernetes-group-version-kind` on every operation, path-wide
//! parameters (`name`, `namespace`, `pretty`) on the path item and verb-specific ones on the
//! operation. kubectl relies on the last point: it looks for `fieldValidation` among the PATCH
//! operation's own parameters.

use minato_resources::{ResourceInfo, SubresourceInfo};

use crate::schemas::Schemas;
use crate::Gvk;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Location {
    Path,
    Query,
}

#[derive(Clone, Debug)]
pub(crate) struct Param {
    pub name: &'static str,
    pub location: Location,
    /// `string`, `integer` or `boolean`.
    pub ty: &'static str,
    pub description: String,
}

/// What an operation accepts.
pub(crate) enum Body {
    None,
    /// The object itself (create, replace).
    Object(String),
    /// A patch; `strategic` lists strategic merge patch among the accepted types.
    Patch {
        strategic: bool,
    },
    /// DeleteOptions.
    Delete,
}

/// What an operation returns with success.
pub(crate) enum Response {
    Schema(String),
    /// Plain text or a stream (logs, exec, proxy).
    Text,
}

/// Families of response media types.
#[derive(Clone, Copy)]
pub(crate) enum Media {
    /// JSON, YAML and protobuf (built-in kinds).
    Builtin,
    /// Built-in lists, which can also be watched.
    BuiltinList,
    /// JSON and YAML only (custom resources).
    Custom,
    CustomList,
    /// Logs.
    Log,
    /// Streams and proxied responses.
    Any,
}

impl Media {
    pub(crate) fn types(self) -> &'static [&'static str] {
        match self {
            Media::Builtin => &[
                "application/json",
                "application/yaml",
                "application/vnd.kubernetes.protobuf",
            ],
            Media::BuiltinList => &[
                "application/json",
                "application/json;stream=watch",
                "application/vnd.kubernetes.protobuf",
                "application/vnd.kubernetes.protobuf;stream=watch",
                "application/yaml",
            ],
            Media::Custom => &["application/json", "application/yaml"],
            Media::CustomList => &[
                "application/json",
                "application/json;stream=watch",
                "application/yaml",
            ],
            Media::Log => &[
                "text/plain",
                "application/json",
                "application/yaml",
                "application/vnd.kubernetes.protobuf",
            ],
            Media::Any => &["*/*"],
        }
    }
}

pub(crate) struct Op {
    /// Lower-case HTTP method as OpenAPI spells the key.
    pub method: &'static str,
    pub id: String,
    pub description: String,
    pub action: &'static str,
    pub gvk: Option<Gvk>,
    pub params: Vec<Param>,
    pub body: Body,
    pub response: Response,
    /// Success codes.
    pub codes: &'static [u16],
    pub media: Media,
    pub tag: String,
}

pub(crate) struct PathItem {
    pub path: String,
    pub params: Vec<Param>,
    pub ops: Vec<Op>,
}

pub(crate) const PATCH_TYPES: &[&str] = &[
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
];

fn query(name: &'static str, ty: &'static str, description: &str) -> Param {
    Param {
        name,
        location: Location::Query,
        ty,
        description: description.to_string(),
    }
}

fn pretty() -> Param {
    query(
        "pretty",
        "string",
        "If 'true', the output is pretty printed.",
    )
}

fn dry_run() -> Param {
    query(
        "dryRun",
        "string",
        "When present, modifications are not persisted. The only valid value is All: every dry run stage is processed.",
    )
}

fn field_manager() -> Param {
    query(
        "fieldManager",
        "string",
        "A name for the actor making these changes, at most 128 printable characters. Required for apply patches, optional otherwise.",
    )
}

fn field_validation() -> Param {
    query(
        "fieldValidation",
        "string",
        "How the server treats unknown and duplicate fields in the request body: Ignore drops them silently, Warn (the default) drops them and returns a warning for each, Strict fails the request.",
    )
}

fn write_params() -> Vec<Param> {
    vec![dry_run(), field_manager(), field_validation()]
}

fn patch_params() -> Vec<Param> {
    let mut p = write_params();
    p.push(query(
        "force",
        "boolean",
        "Force an apply request through, taking ownership of conflicting fields from other managers. Must be unset for other patch types.",
    ));
    p
}

fn delete_params() -> Vec<Param> {
    vec![
        dry_run(),
        query(
            "gracePeriodSeconds",
            "integer",
            "Seconds to wait before the object is deleted; non-negative, zero means immediately. Unset uses the default of the type.",
        ),
        query(
            "ignoreStoreReadErrorWithClusterBreakingPotential",
            "boolean",
            "If true, delete objects that cannot be read from storage (corrupt or undecryptable), skipping finalizers and admission. Unsafe; the default is false.",
        ),
        query(
            "orphanDependents",
            "boolean",
            "Deprecated in favour of propagationPolicy. Whether dependents are orphaned.",
        ),
        query(
            "propagationPolicy",
            "string",
            "How garbage collection treats dependents: Orphan, Background or Foreground.",
        ),
    ]
}

fn list_params() -> Vec<Param> {
    vec![
        query(
            "allowWatchBookmarks",
            "boolean",
            "Ask for BOOKMARK watch events. Ignored for requests that do not watch.",
        ),
        query(
            "continue",
            "string",
            "The continue token of a previous paged list response, to fetch the next page.",
        ),
        query(
            "fieldSelector",
            "string",
            "Restrict the returned objects by their fields. Defaults to everything.",
        ),
        query(
            "labelSelector",
            "string",
            "Restrict the returned objects by their labels. Defaults to everything.",
        ),
        query(
            "limit",
            "integer",
            "The maximum number of objects to return; more may be fetched with the continue token of the response.",
        ),
        query(
            "resourceVersion",
            "string",
            "The resource version the list or watch starts from; see resourceVersionMatch. Defaults to the most recent.",
        ),
        query(
            "resourceVersionMatch",
            "string",
            "How resourceVersion applies to a list: Exact or NotOlderThan.",
        ),
        query(
            "sendInitialEvents",
            "boolean",
            "With watch=true, begin the watch with synthetic ADDED events for the current objects, then a bookmark.",
        ),
        query(
            "timeoutSeconds",
            "integer",
            "Timeout for the list or watch call, regardless of activity.",
        ),
        query(
            "watch",
            "boolean",
            "Watch for changes and return them as a stream of add, update and remove notifications.",
        ),
    ]
}

fn delete_collection_params() -> Vec<Param> {
    let mut p = list_params();
    p.retain(|q| !matches!(q.name, "watch" | "allowWatchBookmarks"));
    p.extend(delete_params());
    p.sort_by_key(|q| q.name);
    p
}

fn log_params() -> Vec<Param> {
    vec![
        query(
            "container",
            "string",
            "The container to stream logs of. Defaults to the only container, if there is one.",
        ),
        query("follow", "boolean", "Follow the log stream of the pod."),
        query(
            "insecureSkipTLSVerifyBackend",
            "boolean",
            "Do not verify the serving certificate of the kubelet the logs come from.",
        ),
        query(
            "limitBytes",
            "integer",
            "Stop after this many bytes of log output.",
        ),
        query(
            "previous",
            "boolean",
            "Return the logs of the previous, terminated instance of the container.",
        ),
        query(
            "sinceSeconds",
            "integer",
            "Only return logs newer than this many seconds.",
        ),
        query(
            "stream",
            "string",
            "Which stream to return: All (the default), Stdout or Stderr.",
        ),
        query(
            "tailLines",
            "integer",
            "Only return this many lines from the end of the log.",
        ),
        query(
            "timestamps",
            "boolean",
            "Prefix every line of output with an RFC3339 timestamp.",
        ),
    ]
}

fn connect_params(sub: &str) -> Vec<Param> {
    let stream = |name: &'static str, what: &str| {
        query(
            name,
            "boolean",
            &format!("Redirect the {what} of the container."),
        )
    };
    match sub {
        "exec" => vec![
            query(
                "command",
                "string",
                "The command to run, one argument per parameter.",
            ),
            query(
                "container",
                "string",
                "The container to run the command in.",
            ),
            stream("stderr", "standard error stream"),
            stream("stdin", "standard input stream"),
            stream("stdout", "standard output stream"),
            query("tty", "boolean", "Allocate a terminal for the command."),
        ],
        "attach" => vec![
            query("container", "string", "The container to attach to."),
            stream("stderr", "standard error stream"),
            stream("stdin", "standard input stream"),
            stream("stdout", "standard output stream"),
            query("tty", "boolean", "The attached stream is a terminal."),
        ],
        "portforward" => vec![query("ports", "integer", "The ports to forward.")],
        "proxy" => vec![query("path", "string", "The path of the request to proxy.")],
        _ => Vec::new(),
    }
}

/// `apps` → `Apps`, `rbac.authorization.k8s.io` → `RbacAuthorization`, core → `Core`.
pub(crate) fn group_ident(group: &str) -> String {
    if group.is_empty() {
        return "Core".into();
    }
    let trimmed = group.strip_suffix(".k8s.io").unwrap_or(group);
    trimmed
        .split(['.', '-'])
        .map(capitalize)
        .collect::<Vec<_>>()
        .join("")
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The key of a group-version in the v3 index: `api/v1` or `apis/apps/v1`.
pub(crate) fn gv_key(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// Builds the operations of one group-version's resources.
pub(crate) struct GvPaths<'a> {
    schemas: &'a Schemas,
    ident: String,
    tag: String,
    prefix: String,
}

impl<'a> GvPaths<'a> {
    pub(crate) fn new(schemas: &'a Schemas, group: &str, version: &str) -> Self {
        let ident = format!("{}{}", group_ident(group), capitalize(version));
        let tag = format!("{}_{version}", lower_first(&group_ident(group)));
        GvPaths {
            schemas,
            ident,
            tag,
            prefix: format!("/{}", gv_key(group, version)),
        }
    }

    /// `GET /apis/<group>/<version>/`: the resource list.
    pub(crate) fn discovery(&self) -> PathItem {
        PathItem {
            path: format!("{}/", self.prefix),
            params: Vec::new(),
            ops: vec![Op {
                method: "get",
                id: format!("get{}APIResources", self.ident),
                description: "get available resources".into(),
                action: "",
                gvk: None,
                params: Vec::new(),
                body: Body::None,
                response: Response::Schema(self.schemas.meta.api_resource_list.clone()),
                codes: &[200],
                media: Media::Builtin,
                tag: self.tag.clone(),
            }],
        }
    }

    /// The paths of one resource.
    pub(crate) fn resource(&self, info: &ResourceInfo) -> Vec<PathItem> {
        let gvk = Gvk::new(&info.group, &info.version, &info.kind);
        let Some(schema) = self.schemas.by_gvk.get(&gvk).cloned() else {
            return Vec::new();
        };
        let list_schema = self
            .schemas
            .by_gvk
            .get(&Gvk::new(&info.group, &info.version, &info.list_kind))
            .cloned();
        let (media, list_media) = if info.custom {
            (Media::Custom, Media::CustomList)
        } else {
            (Media::Builtin, Media::BuiltinList)
        };
        let ns = if info.namespaced { "Namespaced" } else { "" };
        let kind = &info.kind;
        let ident = &self.ident;
        let scope = if info.namespaced {
            format!("{}/namespaces/{{namespace}}/{}", self.prefix, info.plural)
        } else {
            format!("{}/{}", self.prefix, info.plural)
        };
        let ns_param = || Param {
            name: "namespace",
            location: Location::Path,
            ty: "string",
            description: "object name and auth scope, such as for teams and projects".into(),
        };
        let name_param = |what: &str| Param {
            name: "name",
            location: Location::Path,
            ty: "string",
            description: format!("name of the {what}"),
        };
        let op = |method, id: String, description: String, action, gvk: &Gvk| Op {
            method,
            id,
            description,
            action,
            gvk: Some(gvk.clone()),
            params: Vec::new(),
            body: Body::None,
            response: Response::Schema(String::new()),
            codes: &[200],
            media,
            tag: self.tag.clone(),
        };
        let mut out = Vec::new();

        // Collection.
        let mut coll_params = Vec::new();
        if info.namespaced {
            coll_params.push(ns_param());
        }
        coll_params.push(pretty());
        let mut coll = PathItem {
            path: scope.clone(),
            params: coll_params.clone(),
            ops: Vec::new(),
        };
        if let (true, Some(list)) = (info.has_verb("list"), &list_schema) {
            let mut o = op(
                "get",
                format!("list{ident}{ns}{kind}"),
                format!("list or watch objects of kind {kind}"),
                "list",
                &gvk,
            );
            o.params = list_params();
            o.response = Response::Schema(list.clone());
            o.media = list_media;
            coll.ops.push(o);
        }
        if info.has_verb("create") {
            let mut o = op(
                "post",
                format!("create{ident}{ns}{kind}"),
                format!("create a {kind}"),
                "post",
                &gvk,
            );
            o.params = write_params();
            o.body = Body::Object(schema.clone());
            o.response = Response::Schema(schema.clone());
            o.codes = &[200, 201, 202];
            coll.ops.push(o);
        }
        if info.has_verb("deletecollection") {
            let mut o = op(
                "delete",
                format!("delete{ident}Collection{ns}{kind}"),
                format!("delete collection of {kind}"),
                "deletecollection",
                &gvk,
            );
            o.params = delete_collection_params();
            o.body = Body::Delete;
            o.response = Response::Schema(self.schemas.meta.status.clone());
            coll.ops.push(o);
        }
        if !coll.ops.is_empty() {
            hoist_params(&mut coll);
            out.push(coll);
        }

        // Across namespaces.
        if let (true, true, Some(list)) = (info.namespaced, info.has_verb("list"), &list_schema) {
            let mut params = list_params();
            params.push(pretty());
            params.sort_by_key(|q| q.name);
            let mut o = op(
                "get",
                format!("list{ident}{kind}ForAllNamespaces"),
                format!("list or watch objects of kind {kind}"),
                "list",
                &gvk,
            );
            o.response = Response::Schema(list.clone());
            o.media = list_media;
            out.push(PathItem {
                path: format!("{}/{}", self.prefix, info.plural),
                params,
                ops: vec![o],
            });
        }

        // Item.
        let mut item_params = vec![name_param(kind)];
        if info.namespaced {
            item_params.push(ns_param());
        }
        item_params.push(pretty());
        let item_path = format!("{scope}/{{name}}");
        let mut item = PathItem {
            path: item_path.clone(),
            params: item_params.clone(),
            ops: Vec::new(),
        };
        self.object_ops(
            &mut item.ops,
            &info.verbs,
            info.custom,
            &gvk,
            &schema,
            &format!("{ns}{kind}"),
            &format!("the specified {kind}"),
            &op,
        );
        if info.has_verb("delete") {
            let mut o = op(
                "delete",
                format!("delete{ident}{ns}{kind}"),
                format!("delete a {kind}"),
                "delete",
                &gvk,
            );
            o.params = delete_params();
            o.body = Body::Delete;
            o.response = Response::Schema(self.schemas.meta.status.clone());
            o.codes = &[200, 202];
            item.ops.push(o);
        }
        if !item.ops.is_empty() {
            out.push(item);
        }

        // Subresources.
        for sub in &info.subresources {
            let mut params = vec![Param {
                description: format!("name of the {}", sub.kind),
                ..name_param(kind)
            }];
            if info.namespaced {
                params.push(ns_param());
            }
            let mut sub_item = PathItem {
                path: format!("{item_path}/{}", sub.name),
                params,
                ops: Vec::new(),
            };
            self.subresource_ops(&mut sub_item, info, sub, &format!("{ns}{kind}"), &op);
            if sub_item.ops.is_empty() {
                continue;
            }
            hoist_params(&mut sub_item);
            if sub.name == "proxy" {
                // Proxying also takes the rest of the URL as a path segment.
                let mut with_path = PathItem {
                    path: format!("{}/{{path}}", sub_item.path),
                    params: sub_item.params.clone(),
                    ops: Vec::new(),
                };
                with_path.params.push(Param {
                    name: "path",
                    location: Location::Path,
                    ty: "string",
                    description: "path to the resource".into(),
                });
                with_path.params.sort_by_key(|p| p.name);
                for o in &sub_item.ops {
                    with_path.ops.push(Op {
                        id: format!("{}WithPath", o.id),
                        params: o.params.clone(),
                        description: o.description.clone(),
                        gvk: o.gvk.clone(),
                        tag: o.tag.clone(),
                        body: Body::None,
                        response: Response::Text,
                        ..*o
                    });
                }
                out.push(sub_item);
                out.push(with_path);
            } else {
                out.push(sub_item);
            }
        }
        out
    }

    /// get/put/patch of an object, or of a subresource that reads and writes a whole object.
    /// `id` is the operation name after the verb and group-version (`NamespacedDeploymentStatus`).
    #[allow(clippy::too_many_arguments)]
    fn object_ops(
        &self,
        ops: &mut Vec<Op>,
        verbs: &[String],
        custom: bool,
        gvk: &Gvk,
        schema: &str,
        id: &str,
        what: &str,
        op: &OpFn,
    ) {
        let has = |v: &str| verbs.iter().any(|x| x == v);
        let ident = &self.ident;
        if has("get") {
            let mut o = op(
                "get",
                format!("read{ident}{id}"),
                format!("read {what}"),
                "get",
                gvk,
            );
            o.response = Response::Schema(schema.to_string());
            ops.push(o);
        }
        if has("update") {
            let mut o = op(
                "put",
                format!("replace{ident}{id}"),
                format!("replace {what}"),
                "put",
                gvk,
            );
            o.params = write_params();
            o.body = Body::Object(schema.to_string());
            o.response = Response::Schema(schema.to_string());
            o.codes = &[200, 201];
            ops.push(o);
        }
        if has("patch") {
            let mut o = op(
                "patch",
                format!("patch{ident}{id}"),
                format!("partially update {what}"),
                "patch",
                gvk,
            );
            o.params = patch_params();
            // Strategic merge patch needs the Go types; custom resources do not have them,
            // and leaving the type out makes kubectl send a JSON merge patch instead.
            o.body = Body::Patch { strategic: !custom };
            o.response = Response::Schema(schema.to_string());
            o.codes = &[200, 201];
            ops.push(o);
        }
    }

    fn subresource_ops(
        &self,
        item: &mut PathItem,
        info: &ResourceInfo,
        sub: &SubresourceInfo,
        base: &str,
        op: &OpFn,
    ) {
        let ident = &self.ident;
        let sub_ident = capitalize_sub(&sub.name);
        let sub_gvk = Gvk::new(&sub.group, &sub.version, &sub.kind);
        let kind_gvk = Gvk::new(&info.group, &info.version, &info.kind);
        match sub.name.as_str() {
            "exec" | "attach" | "portforward" | "proxy" => {
                item.params.retain(|p| p.location == Location::Path);
                for verb in &sub.verbs {
                    let (method, m) = match verb.as_str() {
                        "get" => ("get", "Get"),
                        "create" => ("post", "Post"),
                        "update" => ("put", "Put"),
                        "patch" => ("patch", "Patch"),
                        "delete" => ("delete", "Delete"),
                        _ => continue,
                    };
                    let mut o = op(
                        method,
                        format!("connect{ident}{m}{base}{sub_ident}"),
                        format!(
                            "connect {} requests to {} of {}",
                            m.to_uppercase(),
                            sub.name,
                            info.kind
                        ),
                        "connect",
                        &sub_gvk,
                    );
                    o.params = connect_params(&sub.name);
                    o.response = Response::Text;
                    o.media = Media::Any;
                    item.ops.push(o);
                }
            }
            "log" => {
                item.params.push(pretty());
                if sub.verbs.iter().any(|v| v == "get") {
                    let mut o = op(
                        "get",
                        format!("read{ident}{base}Log"),
                        format!("read log of the specified {}", info.kind),
                        "get",
                        &kind_gvk,
                    );
                    o.params = log_params();
                    o.response = Response::Text;
                    o.media = Media::Log;
                    item.ops.push(o);
                }
            }
            _ => {
                item.params.push(pretty());
                let Some(schema) = self.schemas.by_gvk.get(&sub_gvk).cloned() else {
                    return;
                };
                let media = if info.custom {
                    Media::Custom
                } else {
                    Media::Builtin
                };
                // Subresources that take a new object (binding, eviction, token).
                if sub.verbs.iter().any(|v| v == "create") {
                    let mut o = op(
                        "post",
                        format!("create{ident}{base}{sub_ident}"),
                        format!("create {} of a {}", sub.name, info.kind),
                        "post",
                        &sub_gvk,
                    );
                    o.params = write_params();
                    o.body = Body::Object(schema.clone());
                    o.response = Response::Schema(schema.clone());
                    o.codes = &[200, 201, 202];
                    o.media = media;
                    item.ops.push(o);
                }
                let mut ops = Vec::new();
                self.object_ops(
                    &mut ops,
                    &sub.verbs,
                    info.custom,
                    &sub_gvk,
                    &schema,
                    &format!("{base}{sub_ident}"),
                    &format!("{} of the specified {}", sub.name, info.kind),
                    op,
                );
                for mut o in ops {
                    o.media = media;
                    item.ops.push(o);
                }
            }
        }
    }
}

/// `status` → `Status`, `ephemeralcontainers` → `Ephemeralcontainers` (upstream's spelling).
fn capitalize_sub(name: &str) -> String {
    capitalize(name)
}

/// Moves the operations' parameters to the path item when every operation has the same ones,
/// as upstream's documents have them for connect, log and create-only subresources. PATCH
/// operations keep theirs: kubectl looks for `fieldValidation` on the operation itself.
fn hoist_params(item: &mut PathItem) {
    let Some(first) = item.ops.first() else {
        return;
    };
    let names = |o: &Op| o.params.iter().map(|p| p.name).collect::<Vec<_>>();
    let shared = names(first);
    if shared.is_empty()
        || item
            .ops
            .iter()
            .any(|o| o.action == "patch" || names(o) != shared)
    {
        return;
    }
    let params = std::mem::take(&mut item.ops[0].params);
    for o in &mut item.ops {
        o.params.clear();
    }
    item.params.extend(params);
    item.params.sort_by_key(|p| p.name);
}

/// Makes an operation with the common fields set.
type OpFn<'f> = dyn Fn(&'static str, String, String, &'static str, &Gvk) -> Op + 'f;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_identifiers() {
        assert_eq!(group_ident(""), "Core");
        assert_eq!(group_ident("apps"), "Apps");
        assert_eq!(
            group_ident("rbac.authorization.k8s.io"),
            "RbacAuthorization"
        );
        assert_eq!(group_ident("stable.example.com"), "StableExampleCom");
        assert_eq!(gv_key("", "v1"), "api/v1");
        assert_eq!(gv_key("apps", "v1"), "apis/apps/v1");
    }

    #[test]
    fn delete_collection_does_not_watch() {
        let names: Vec<_> = delete_collection_params().iter().map(|p| p.name).collect();
        assert!(names.contains(&"labelSelector"));
        assert!(names.contains(&"propagationPolicy"));
        assert!(!names.contains(&"watch"));
    }
}
