//! Wiring: configuration, shared state, start-up, and the request dispatcher.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use minato_resources::Registry;
use minato_store::Store;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::alloc::Allocators;
use crate::auth::{is_public_path, AllowAll, Attributes, Authorizer, UserInfo};
use crate::error::{ApiError, ApiResult};
use crate::http::{full, Peer, Response};
use crate::request::{wants_aggregated_discovery, Query};

/// The Kubernetes version whose API we serve (the `v1_33` feature of k8s-openapi).
pub const KUBE_MAJOR: &str = "1";
pub const KUBE_MINOR: &str = "33";
pub const KUBE_GIT_VERSION: &str = "v1.33.0";

/// API server settings.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// The Service cluster IP range (kubeadm's default 10.96.0.0/12).
    pub service_cidr: String,
    /// NodePort range, inclusive.
    pub node_port_range: (u16, u16),
    /// Largest request body accepted (upstream: 3 MiB).
    pub max_request_bytes: usize,
    /// More addresses the serving certificate names (the host's, when listening on all).
    pub extra_san_ips: Vec<std::net::IpAddr>,
    /// Seats the limited priority levels share (upstream: --max-requests-inflight +
    /// --max-mutating-requests-inflight, 400 + 200).
    pub server_concurrency_limit: usize,
    /// How long an Event lives after its last write (upstream's --event-ttl, 1 h); zero keeps
    /// Events forever.
    pub event_ttl: std::time::Duration,
}

impl Config {
    pub fn new(listen: SocketAddr, data_dir: PathBuf) -> Self {
        Config {
            listen,
            data_dir,
            service_cidr: "10.96.0.0/12".into(),
            node_port_range: (30000, 32767),
            max_request_bytes: 3 * 1024 * 1024,
            extra_san_ips: Vec::new(),
            server_concurrency_limit: 600,
            event_ttl: std::time::Duration::from_secs(3600),
        }
    }
}

/// State shared by every request.
pub struct State {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub registry: Arc<Registry>,
    pub authorizer: Arc<dyn Authorizer>,
    pub allocators: Allocators,
    /// `host:port` clients reach us at.
    pub server_address: String,
    /// OpenAPI documents, built on first use and dropped when the served resources change.
    pub openapi: std::sync::RwLock<Option<minato_openapi::OpenApi>>,
    /// Each custom resource version's schema, from its CRD.
    pub custom_schemas: std::sync::RwLock<minato_openapi::CustomSchemas>,
    pub started: Instant,
    /// Client for node agents (logs, exec, attach, port-forward).
    pub kubelet: crate::nodeproxy::KubeletClient,
    /// Signs and verifies service account tokens.
    pub tokens: crate::tokens::TokenIssuer,
    /// The token node agents join with (`<data dir>/node-token`).
    pub join_token: crate::join::JoinToken,
    /// The cluster CA bundle (PEM), served to joining agents at `/cacerts`.
    pub ca_pem: String,
    /// Recent events decoded and encoded once for all watchers.
    pub watch_cache: crate::watch_cache::WatchCache,
    /// API Priority and Fairness: classification and seats.
    pub flow_control: minato_flowcontrol::FlowControl,
}

/// A started server.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub kubeconfig: PathBuf,
    pub state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningServer {
    /// Waits until the server stops (it normally runs until the process ends).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source} (is another server using the port? pick another with --listen)")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Pki(#[from] crate::pki::PkiError),
    #[error(transparent)]
    Tls(#[from] crate::http::TlsSetupError),
    #[error("cannot prepare the cluster's initial objects: {0}")]
    Bootstrap(String),
    #[error("bad configuration: {0}")]
    Config(String),
}

/// Binds, writes the admin kubeconfig, creates the initial objects and starts serving.
pub async fn start(config: Config, store: Arc<dyn Store>) -> Result<RunningServer, StartError> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.listen,
        source,
    })?;
    let mut extra_ips = vec![addr.ip()];
    extra_ips.extend(config.extra_san_ips.iter().copied());
    if let Some(ip) = crate::alloc::first_service_ip(&config.service_cidr) {
        extra_ips.push(ip.into());
    }
    let pki = crate::pki::load_or_create(&config.data_dir.join("tls"), &extra_ips, &[])?;
    let kubelet = crate::nodeproxy::KubeletClient::load_or_create(&config.data_dir.join("tls"))
        .map_err(|e| StartError::Config(e.to_string()))?;
    let tokens = crate::tokens::TokenIssuer::load_or_create(&config.data_dir.join("tls"))
        .map_err(|e| StartError::Config(e.to_string()))?;
    let join_token = crate::join::load_or_create(&config.data_dir, &pki.ca_cert_pem)
        .map_err(|e| StartError::Config(e.to_string()))?;
    let acceptor =
        crate::http::tls_acceptor(&pki.ca_cert_pem, &pki.server_cert_pem, &pki.server_key_pem)?;
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        addr.ip().to_string()
    };
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    let server_address = format!("{host}:{}", addr.port());
    let kubeconfig = config.data_dir.join("admin.kubeconfig");
    crate::pki::write_secret_file(
        &kubeconfig,
        &crate::pki::admin_kubeconfig(&pki, &format!("https://{server_address}")),
    )?;

    let mut registry = Registry::new();
    registry.override_strategy(
        "apiextensions.k8s.io",
        "CustomResourceDefinition",
        Arc::new(minato_crd::CrdStrategy),
    );
    let registry = Arc::new(registry);
    let allocators = Allocators::new(&config.service_cidr, config.node_port_range)
        .map_err(StartError::Config)?;
    let flow_control = minato_flowcontrol::FlowControl::new(minato_flowcontrol::Settings {
        server_concurrency_limit: config.server_concurrency_limit,
    });
    let state = Arc::new(State {
        config,
        store,
        registry,
        authorizer: Arc::new(AllowAll),
        allocators,
        server_address,
        openapi: std::sync::RwLock::new(None),
        custom_schemas: std::sync::RwLock::new(Default::default()),
        started: Instant::now(),
        kubelet,
        tokens,
        join_token,
        ca_pem: pki.ca_cert_pem.clone(),
        watch_cache: Default::default(),
        flow_control,
    });
    crate::bootstrap::run(&state, addr)
        .await
        .map_err(|e| StartError::Bootstrap(e.to_string()))?;
    crate::crds::sync(&state)
        .await
        .map_err(|e| StartError::Bootstrap(e.to_string()))?;
    crate::crds::spawn(state.clone());
    // The flow-control objects are written in the background (as upstream's post-start hook
    // does): until they are stored, the same bootstrap configuration applies from memory, and
    // readiness does not wait for 19 more writes.
    crate::flowcontrol::spawn(state.clone());
    crate::event_ttl::spawn(state.clone(), state.config.event_ttl);

    let handler_state = state.clone();
    let handler = move |req, peer| {
        let state = handler_state.clone();
        async move { handle(state, req, peer).await }
    };
    let task = tokio::spawn(crate::http::serve(listener, acceptor, handler));
    Ok(RunningServer {
        addr,
        kubeconfig,
        state,
        task,
    })
}

pub fn json_response(status: u16, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    http::Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::OK))
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(full(bytes))
        .unwrap_or_else(|_| http::Response::new(crate::http::empty()))
}

pub fn error_response(e: &ApiError) -> Response {
    json_response(e.code, &e.to_status())
}

fn text_response(status: u16, text: &'static str) -> Response {
    text_response_owned(status, text.to_string())
}

fn text_response_owned(status: u16, text: String) -> Response {
    http::Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::OK))
        .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(full(text))
        .unwrap_or_else(|_| http::Response::new(crate::http::empty()))
}

async fn handle(
    state: Arc<State>,
    req: http::Request<hyper::body::Incoming>,
    peer: Peer,
) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let started = Instant::now();
    let resp = match handle_inner(&state, req, &peer).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    };
    tracing::debug!(%method, %path, status = resp.status().as_u16(), elapsed_us = started.elapsed().as_micros() as u64, "request");
    resp
}

async fn handle_inner(
    state: &Arc<State>,
    req: http::Request<hyper::body::Incoming>,
    peer: &Peer,
) -> ApiResult<Response> {
    let path = req.uri().path().to_string();
    let query = Query::parse(req.uri().query());

    if is_public_path(&path) {
        return Ok(match path.as_str() {
            "/version" => json_response(200, &version_info()),
            "/cacerts" => text_response_owned(200, state.ca_pem.clone()),
            _ => text_response(200, "ok"),
        });
    }
    // A client certificate wins, then a bearer token: the node join token, else a service
    // account token (upstream's order: x509, then token authenticators).
    let user = match peer.cert_user.clone() {
        Some(user) => user,
        None if crate::tokens::bearer(req.headers())
            .is_some_and(|t| crate::join::bearer_matches(&state.join_token, t)) =>
        {
            crate::join::node_agent_user()
        }
        None => crate::tokens::authenticate(state, req.headers()).await?,
    };

    let (parts, body) = req.into_parts();
    // Upgrade requests (exec, attach, port-forward) keep their body; everything else is read whole.
    let body_bytes: Bytes = if parts.method == Method::GET || parts.method == Method::HEAD {
        Bytes::new()
    } else {
        let collected = http_body_util::Limited::new(body, state.config.max_request_bytes)
            .collect()
            .await
            .map_err(|e| {
                ApiError::too_large(format!(
                    "the request body could not be read (limit {} bytes): {e}",
                    state.config.max_request_bytes
                ))
            })?;
        collected.to_bytes()
    };

    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let route = match segments.as_slice() {
        ["api", "v1", rest @ ..] if !rest.is_empty() => Some(crate::resource::Route::parse(
            &state.registry,
            "",
            "v1",
            rest,
        )?),
        ["apis", group, version, rest @ ..]
            if !rest.is_empty() && *group != crate::metrics::GROUP =>
        {
            Some(crate::resource::Route::parse(
                &state.registry,
                group,
                version,
                rest,
            )?)
        }
        _ => None,
    };
    let verb = match &route {
        Some(route) => {
            let verb = request_verb(&parts.method, route, &query);
            authorize(state, &user, verb, route, &path)?;
            verb.to_string()
        }
        None => parts.method.as_str().to_ascii_lowercase(),
    };

    let classification = crate::flowcontrol::classify(
        state,
        &crate::flowcontrol::Request {
            user: &user,
            verb: &verb,
            route: route.as_ref(),
            path: &path,
        },
    );
    // Held until the handler returns: for a watch, until its response starts.
    let _seat = if crate::flowcontrol::is_long_running(route.as_ref()) {
        None
    } else {
        match classification
            .acquire(crate::flowcontrol::wait_limit(&query))
            .await
        {
            Ok(seat) => Some(seat),
            Err(why) => return Ok(crate::flowcontrol::too_many_requests(&classification, why)),
        }
    };
    let mut resp = match route {
        Some(route) => crate::resource::handle(state, route, parts, body_bytes, query, user).await,
        None => non_resource(state, &segments, &parts, &query, &user, &path).await,
    }
    .unwrap_or_else(|e| error_response(&e));
    crate::flowcontrol::set_headers(&mut resp, &classification);
    Ok(resp)
}

async fn non_resource(
    state: &Arc<State>,
    segments: &[&str],
    parts: &http::request::Parts,
    query: &Query,
    user: &UserInfo,
    path: &str,
) -> ApiResult<Response> {
    match segments {
        ["api"] => {
            if let Some(v) = wants_aggregated_discovery(&parts.headers) {
                return Ok(aggregated_response(
                    &crate::discovery::aggregated(&state.registry, true, v),
                    v,
                ));
            }
            Ok(json_response(
                200,
                &crate::discovery::api_versions(&state.server_address),
            ))
        }
        ["apis"] => {
            if let Some(v) = wants_aggregated_discovery(&parts.headers) {
                return Ok(aggregated_response(
                    &crate::discovery::aggregated(&state.registry, false, v),
                    v,
                ));
            }
            Ok(json_response(
                200,
                &crate::discovery::api_group_list(&state.registry),
            ))
        }
        ["openapi", "v2"] => crate::openapi::v2(state, &parts.headers),
        ["openapi", "v3"] => crate::openapi::v3_index(state),
        ["openapi", "v3", rest @ ..] => crate::openapi::v3_document(state, &rest.join("/"), query),
        ["apis", crate::metrics::GROUP, rest @ ..] => {
            crate::metrics::handle(state, user, &parts.method, rest, query, path).await
        }
        ["debug", "api_priority_and_fairness", "dump_priority_levels"] => Ok(text_response_owned(
            200,
            state.flow_control.dump_priority_levels(),
        )),
        ["api", "v1"] => crate::discovery::api_resource_list(&state.registry, "", "v1")
            .map(|v| json_response(200, &v))
            .ok_or_else(ApiError::path_not_found),
        ["apis", group] => crate::discovery::api_group_doc(&state.registry, group)
            .map(|v| json_response(200, &v))
            .ok_or_else(ApiError::path_not_found),
        ["apis", group, version] => {
            crate::discovery::api_resource_list(&state.registry, group, version)
                .map(|v| json_response(200, &v))
                .ok_or_else(ApiError::path_not_found)
        }
        _ => Err(ApiError::path_not_found()),
    }
}

fn aggregated_response(body: &Value, version: &str) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    http::Response::builder()
        .status(StatusCode::OK)
        .header(
            http::header::CONTENT_TYPE,
            crate::discovery::aggregated_content_type(version),
        )
        .header(http::header::VARY, "Accept")
        .body(full(bytes))
        .unwrap_or_else(|_| http::Response::new(crate::http::empty()))
}

/// The authorization verb of a resource request.
fn request_verb(method: &Method, route: &crate::resource::Route, query: &Query) -> &'static str {
    // Connecting to a pod is `create` whatever the method (WebSocket upgrades are GETs), as
    // upstream with AuthorizePodWebsocketUpgradeCreatePermission.
    if matches!(
        route.subresource.as_deref(),
        Some("exec" | "attach" | "portforward")
    ) {
        return "create";
    }
    match *method {
        Method::GET | Method::HEAD => {
            if query.flag("watch") {
                "watch"
            } else if route.name.is_none() {
                "list"
            } else {
                "get"
            }
        }
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE => {
            if route.name.is_none() {
                "deletecollection"
            } else {
                "delete"
            }
        }
        _ => "unknown",
    }
}

fn authorize(
    state: &State,
    user: &UserInfo,
    verb: &str,
    route: &crate::resource::Route,
    path: &str,
) -> ApiResult<()> {
    let attrs = Attributes {
        verb: verb.to_string(),
        group: route.entry.info.group.clone(),
        resource: route.entry.info.plural.clone(),
        subresource: route.subresource.clone().unwrap_or_default(),
        namespace: route.namespace.clone().unwrap_or_default(),
        name: route.name.clone().unwrap_or_default(),
        path: path.to_string(),
    };
    state.authorizer.authorize(user, &attrs).map_err(|why| {
        ApiError::forbidden(format!(
            "{} \"{}\" is forbidden: User \"{}\" cannot {} resource \"{}\" in API group \"{}\": {why}",
            route.entry.info.plural, attrs.name, user.name, attrs.verb, attrs.resource, attrs.group
        ))
    })
}

pub fn version_info() -> Value {
    json!({
        "major": KUBE_MAJOR,
        "minor": KUBE_MINOR,
        "gitVersion": KUBE_GIT_VERSION,
        "gitCommit": "minato",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "n/a (minato, Rust)",
        "compiler": "rustc",
        "platform": format!("linux/{}", std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64")),
    })
}
