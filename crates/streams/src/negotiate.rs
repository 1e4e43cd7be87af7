//! The HTTP upgrade handshake: which transport and subprotocol a request asks for.

// The error is the HTTP response to send, returned once per request: its size does not matter,
// and an unboxed `http::Response` is what a hyper handler returns.
#![allow(clippy::result_large_err)]

use bytes::Bytes;
use http::header::{CONNECTION, UPGRADE};
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::Full;

use crate::{
    SimpleResponse, SPDY_EXEC_PROTOCOLS, SPDY_PORTFORWARD_PROTOCOL, WS_EXEC_PROTOCOLS,
    WS_PORTFORWARD_PROTOCOL,
};

const SEC_WEBSOCKET_PROTOCOL: &str = "sec-websocket-protocol";
const SEC_WEBSOCKET_KEY: &str = "sec-websocket-key";
const SEC_WEBSOCKET_VERSION: &str = "sec-websocket-version";
const SEC_WEBSOCKET_ACCEPT: &str = "sec-websocket-accept";
const X_STREAM_PROTOCOL_VERSION: &str = "x-stream-protocol-version";

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    /// WebSocket; `accept` is the `Sec-WebSocket-Accept` value.
    WebSocket {
        accept: String,
    },
    Spdy,
}

/// The outcome of a successful handshake: what to answer and which protocol to speak after.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    pub(crate) transport: Transport,
    pub(crate) protocol: String,
}

impl Negotiated {
    /// The subprotocol chosen (`v5.channel.k8s.io`, `portforward.k8s.io`, …).
    pub fn protocol(&self) -> &str {
        &self.protocol
    }

    /// True for WebSocket, false for raw SPDY/3.1.
    pub fn is_websocket(&self) -> bool {
        matches!(self.transport, Transport::WebSocket { .. })
    }

    /// The `101 Switching Protocols` response to send.
    pub fn response(&self) -> SimpleResponse {
        let b = http::Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(CONNECTION, "Upgrade");
        let b = match &self.transport {
            Transport::WebSocket { accept } => b
                .header(UPGRADE, "websocket")
                .header(SEC_WEBSOCKET_ACCEPT, accept.as_str())
                .header(SEC_WEBSOCKET_PROTOCOL, self.protocol.as_str()),
            Transport::Spdy => b
                .header(UPGRADE, "SPDY/3.1")
                .header(X_STREAM_PROTOCOL_VERSION, self.protocol.as_str()),
        };
        b.body(Full::new(Bytes::new()))
            .unwrap_or_else(|_| http::Response::new(Full::new(Bytes::new())))
    }
}

/// Inspects an exec/attach request: WebSocket (`v5`/`v4.channel.k8s.io`) or SPDY/3.1
/// (`X-Stream-Protocol-Version` v5/v4). A refused WebSocket handshake gets a non-101 answer, which
/// is what makes kubectl fall back to SPDY.
pub fn negotiate_exec(req: &http::request::Parts) -> Result<Negotiated, SimpleResponse> {
    negotiate(req, WS_EXEC_PROTOCOLS, SPDY_EXEC_PROTOCOLS)
}

/// Inspects a port-forward request: the WebSocket tunnel (`SPDY/3.1+portforward.k8s.io`) or a
/// raw SPDY/3.1 upgrade (`portforward.k8s.io`).
pub fn negotiate_portforward(req: &http::request::Parts) -> Result<Negotiated, SimpleResponse> {
    negotiate(
        req,
        &[WS_PORTFORWARD_PROTOCOL],
        &[SPDY_PORTFORWARD_PROTOCOL],
    )
}

fn negotiate(
    req: &http::request::Parts,
    ws_protocols: &[&str],
    spdy_protocols: &[&str],
) -> Result<Negotiated, SimpleResponse> {
    let h = &req.headers;
    if !header_tokens(h, CONNECTION.as_str())
        .iter()
        .any(|t| t.eq_ignore_ascii_case("upgrade"))
    {
        return Err(status_response(
            StatusCode::BAD_REQUEST,
            "Upgrade request required",
        ));
    }
    let upgrade = header_tokens(h, UPGRADE.as_str());
    if upgrade.iter().any(|t| t.eq_ignore_ascii_case("websocket")) {
        if req.method != http::Method::GET {
            return Err(status_response(
                StatusCode::BAD_REQUEST,
                "a WebSocket upgrade must use GET",
            ));
        }
        let version_ok = header_tokens(h, SEC_WEBSOCKET_VERSION)
            .iter()
            .any(|v| v == "13");
        let Some(key) = h.get(SEC_WEBSOCKET_KEY).map(HeaderValue::as_bytes) else {
            return Err(status_response(
                StatusCode::BAD_REQUEST,
                "missing Sec-WebSocket-Key header",
            ));
        };
        if !version_ok {
            return Err(status_response(
                StatusCode::BAD_REQUEST,
                "unsupported WebSocket version (only 13 is supported)",
            ));
        }
        let offered = header_tokens(h, SEC_WEBSOCKET_PROTOCOL);
        let Some(protocol) = choose(ws_protocols, &offered) else {
            return Err(status_response(
                StatusCode::BAD_REQUEST,
                &format!(
                    "unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server supports {ws_protocols:?}"
                ),
            ));
        };
        let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key);
        return Ok(Negotiated {
            transport: Transport::WebSocket { accept },
            protocol,
        });
    }
    if upgrade.iter().any(|t| t.eq_ignore_ascii_case("SPDY/3.1")) {
        let offered = header_tokens(h, X_STREAM_PROTOCOL_VERSION);
        let Some(protocol) = choose(spdy_protocols, &offered) else {
            return Err(status_response(
                StatusCode::FORBIDDEN,
                &format!(
                    "unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server supports {spdy_protocols:?}"
                ),
            ));
        };
        return Ok(Negotiated {
            transport: Transport::Spdy,
            protocol,
        });
    }
    Err(status_response(
        StatusCode::BAD_REQUEST,
        &format!(
            "unable to upgrade: unsupported protocol {upgrade:?} (expected websocket or SPDY/3.1)"
        ),
    ))
}

/// All comma-separated tokens of every instance of a header.
fn header_tokens(h: &HeaderMap, name: &str) -> Vec<String> {
    h.get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

/// The first of our protocols (in our preference order) that the client offered.
fn choose(ours: &[&str], offered: &[String]) -> Option<String> {
    ours.iter()
        .find(|p| offered.iter().any(|o| o == *p))
        .map(|p| p.to_string())
}

/// A `Status` JSON error response, as the kubelet and API server answer refused upgrades.
pub(crate) fn status_response(code: StatusCode, message: &str) -> SimpleResponse {
    let reason = match code {
        StatusCode::FORBIDDEN => "Forbidden",
        _ => "BadRequest",
    };
    let body = serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code.as_u16(),
    });
    http::Response::builder()
        .status(code)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap_or_else(|_| http::Response::new(Full::new(Bytes::new())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut b = http::Request::builder().method(method).uri("/exec/a/b/c");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).expect("request").into_parts().0
    }

    #[test]
    fn websocket_v5_is_chosen_and_accept_key_computed() {
        let p = parts(
            "GET",
            &[
                ("Connection", "Upgrade"),
                ("Upgrade", "websocket"),
                ("Sec-WebSocket-Version", "13"),
                ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                (
                    "Sec-WebSocket-Protocol",
                    "v4.channel.k8s.io, v5.channel.k8s.io",
                ),
            ],
        );
        let n = negotiate_exec(&p).expect("negotiated");
        assert_eq!(n.protocol(), "v5.channel.k8s.io");
        let r = n.response();
        assert_eq!(r.status(), 101);
        // RFC 6455's example key and accept value.
        assert_eq!(
            r.headers()["sec-websocket-accept"],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn spdy_picks_v5_from_repeated_headers() {
        let mut b = http::Request::builder()
            .method("POST")
            .uri("/exec/a/b/c")
            .header("Connection", "Upgrade")
            .header("Upgrade", "SPDY/3.1");
        for v in [
            "v5.channel.k8s.io",
            "v4.channel.k8s.io",
            "v3.channel.k8s.io",
            "channel.k8s.io",
        ] {
            b = b.header("X-Stream-Protocol-Version", v);
        }
        let p = b.body(()).expect("request").into_parts().0;
        let n = negotiate_exec(&p).expect("negotiated");
        assert_eq!(n.protocol(), "v5.channel.k8s.io");
        assert!(!n.is_websocket());
        assert_eq!(n.response().headers()["upgrade"], "SPDY/3.1");
    }

    #[test]
    fn unknown_websocket_protocol_is_refused_so_kubectl_falls_back() {
        let p = parts(
            "GET",
            &[
                ("Connection", "Upgrade"),
                ("Upgrade", "websocket"),
                ("Sec-WebSocket-Version", "13"),
                ("Sec-WebSocket-Key", "x"),
                ("Sec-WebSocket-Protocol", "v9.channel.k8s.io"),
            ],
        );
        let r = negotiate_exec(&p).expect_err("refused");
        assert_eq!(r.status(), 400);
        let pf = negotiate_portforward(&p).expect_err("refused");
        assert_eq!(pf.status(), 400);
    }

    #[test]
    fn plain_get_is_refused() {
        let r = negotiate_exec(&parts("GET", &[])).expect_err("refused");
        assert_eq!(r.status(), 400);
    }

    #[test]
    fn exec_options_accept_both_spellings() {
        let o = ExecOptionsT::from_query(Some("command=ls&stdin=true&stdout=true&stderr=true"));
        assert!(o.stdin && o.stdout && o.stderr && !o.tty);
        let o = ExecOptionsT::from_query(Some("input=1&output=1&error=1&tty=1"));
        assert!(o.stdin && o.stdout && !o.stderr && o.tty);
        assert_eq!(
            crate::command_from_query(Some("command=sh&command=-c&command=exit+3&container=x")),
            vec!["sh", "-c", "exit 3"]
        );
    }
    use crate::ExecOptions as ExecOptionsT;
}
