//! Service account tokens: the `serviceaccounts/token` subresource (TokenRequest) issues
//! ES256-signed JWTs in upstream's bound-token format, and the token authenticator accepts them
//! as `system:serviceaccount:NS:NAME` while the account (and any bound pod, secret or node)
//! still exists with the same uid.
//!
//! The signing key is an ECDSA P-256 key made on first start in `<data dir>/tls/sa.key` and
//! reused after. Signing and verification use `ring` directly: it is already in the build
//! (rustls), and a compact JWS is just three base64url parts around one signature.

use std::path::Path;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http::HeaderMap;
use minato_resources::{FieldError, FieldPath};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair as _};
use serde_json::{json, Value};

use crate::auth::UserInfo;
use crate::error::{ApiError, ApiResult};
use crate::http::Response;
use crate::request::{decode_body, Query};
use crate::resource::{from_stored, respond, Route, Warnings};
use crate::server::State;

/// The API server's audience and token issuer (kubeadm's `--service-account-issuer`): tokens
/// requested without audiences get it, and the authenticator accepts only tokens that name it.
pub const DEFAULT_AUDIENCE: &str = "https://kubernetes.default.svc.cluster.local";
pub const ISSUER: &str = DEFAULT_AUDIENCE;

/// Default, minimum and maximum `spec.expirationSeconds` (upstream's validation).
const DEFAULT_EXPIRATION: i64 = 3600;
const MIN_EXPIRATION: i64 = 600;
const MAX_EXPIRATION: i64 = 1 << 32;
/// Clock skew tolerated on `nbf`/`iat`.
const LEEWAY: i64 = 60;

#[derive(Debug, thiserror::Error)]
pub enum TokenKeyError {
    #[error("cannot read or write the service account signing key {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("the service account signing key {path} is unusable ({why}); move it away to have a new one made (tokens issued before stop working)")]
    Bad {
        path: std::path::PathBuf,
        why: String,
    },
}

/// Signs and verifies service account tokens.
pub struct TokenIssuer {
    key: EcdsaKeyPair,
    /// Key id: base64url(SHA-256(public key SPKI DER)), as upstream.
    kid: String,
    rng: SystemRandom,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("kid", &self.kid)
            .finish()
    }
}

impl TokenIssuer {
    /// Loads `dir/sa.key`, creating it (mode 0600) on first start.
    pub fn load_or_create(dir: &Path) -> Result<TokenIssuer, TokenKeyError> {
        let path = dir.join("sa.key");
        let io = |source| TokenKeyError::Io {
            path: path.clone(),
            source,
        };
        let bad = |why: String| TokenKeyError::Bad {
            path: path.clone(),
            why,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let pem = if path.exists() {
            std::fs::read_to_string(&path).map_err(io)?
        } else {
            // rcgen's default key is ECDSA P-256, what ES256 needs.
            let pair = rcgen::KeyPair::generate().map_err(|e| bad(e.to_string()))?;
            let pem = pair.serialize_pem();
            crate::pki::write_secret_file(&path, &pem).map_err(|e| bad(e.to_string()))?;
            pem
        };
        let pair = rcgen::KeyPair::from_pem(&pem).map_err(|e| bad(e.to_string()))?;
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &pair.serialize_der(),
            &rng,
        )
        .map_err(|e| bad(format!("not an ECDSA P-256 PKCS#8 key: {e}")))?;
        use rcgen::PublicKeyData;
        use sha2::Digest;
        let spki = pair.subject_public_key_info();
        let kid = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&spki));
        Ok(TokenIssuer { key, kid, rng })
    }

    /// A compact JWS (ES256) of `claims`.
    pub fn sign(&self, claims: &Value) -> ApiResult<String> {
        let header = json!({"alg": "ES256", "kid": self.kid});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = self
            .key
            .sign(&self.rng, input.as_bytes())
            .map_err(|_| ApiError::internal("cannot sign the service account token"))?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref())))
    }

    /// The claims of a token this issuer signed, or `None` if the signature does not verify.
    pub fn verify(&self, token: &str) -> Option<Value> {
        let mut parts = token.split('.');
        let (h, c, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()?;
        if header.get("alg").and_then(Value::as_str) != Some("ES256") {
            return None;
        }
        let sig = URL_SAFE_NO_PAD.decode(s).ok()?;
        let public = signature::UnparsedPublicKey::new(
            &signature::ECDSA_P256_SHA256_FIXED,
            self.key.public_key().as_ref(),
        );
        public.verify(format!("{h}.{c}").as_bytes(), &sig).ok()?;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(c).ok()?).ok()
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn invalid(name: &str, field: &str, value: Value, detail: &str) -> ApiError {
    ApiError::invalid(
        "TokenRequest",
        "authentication.k8s.io",
        name,
        &[FieldError::invalid(&FieldPath::new(field), value, detail)],
    )
}

/// Reads a stored object by resource, namespace and name.
async fn read_object(
    state: &State,
    plural: &str,
    ns: Option<&str>,
    name: &str,
) -> ApiResult<Option<Value>> {
    let Some(entry) = state.registry.lookup("", "v1", plural) else {
        return Ok(None);
    };
    let ns = if entry.info.namespaced { ns } else { None };
    match state.store.get(&entry.info.key(ns, name)).await? {
        Some(kv) => Ok(Some(from_stored(&kv)?)),
        None => Ok(None),
    }
}

fn uid(obj: &Value) -> &str {
    crate::meta::meta_str(obj, "uid").unwrap_or("")
}

/// `POST .../serviceaccounts/NAME/token`: validates the TokenRequest, checks the account and
/// the bound object, and returns the request with `status.token` and its expiry (201).
pub async fn token_request(
    state: &Arc<State>,
    route: &Route,
    headers: &HeaderMap,
    body: &[u8],
    query: &Query,
) -> ApiResult<Response> {
    let name = route.name.clone().unwrap_or_default();
    let ns = route.namespace.clone().unwrap_or_default();
    let req = decode_body(headers, body)?;
    let dry_run = query.dry_run()?;
    if let Some(kind) = req.get("kind").and_then(Value::as_str) {
        if kind != "TokenRequest" {
            return Err(ApiError::bad_request(format!(
                "the body must be an authentication.k8s.io/v1 TokenRequest, not {kind}"
            )));
        }
    }
    let spec = req.get("spec").cloned().unwrap_or_else(|| json!({}));
    let expiration = match spec.get("expirationSeconds") {
        None | Some(Value::Null) => DEFAULT_EXPIRATION,
        Some(v) => v.as_i64().ok_or_else(|| {
            invalid(
                &name,
                "spec.expirationSeconds",
                v.clone(),
                "must be an integer",
            )
        })?,
    };
    if expiration < MIN_EXPIRATION {
        return Err(invalid(
            &name,
            "spec.expirationSeconds",
            json!(expiration),
            "may not specify a duration less than 10 minutes",
        ));
    }
    if expiration > MAX_EXPIRATION {
        return Err(invalid(
            &name,
            "spec.expirationSeconds",
            json!(expiration),
            "may not specify a duration larger than 2^32 seconds",
        ));
    }
    let mut audiences: Vec<String> = spec
        .get("audiences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if audiences.is_empty() {
        audiences.push(DEFAULT_AUDIENCE.to_string());
    }

    let account = read_object(state, "serviceaccounts", Some(&ns), &name)
        .await?
        .ok_or_else(|| ApiError::not_found(&route.entry.info, &name))?;

    let mut private = json!({
        "namespace": ns,
        "serviceaccount": {"name": name, "uid": uid(&account)},
    });
    let bound = spec.get("boundObjectRef").filter(|r| !r.is_null()).cloned();
    if let Some(bound) = &bound {
        bind(state, &ns, &name, bound, &mut private).await?;
    }

    let issued = now();
    let expires = issued + expiration;
    let claims = json!({
        "aud": audiences,
        "exp": expires,
        "iat": issued,
        "iss": ISSUER,
        "jti": uuid::Uuid::new_v4().to_string(),
        "kubernetes.io": private,
        "nbf": issued,
        "sub": format!("system:serviceaccount:{ns}:{name}"),
    });
    // A dry run validates everything but issues nothing, as upstream.
    let token = if dry_run {
        String::new()
    } else {
        state.tokens.sign(&claims)?
    };
    let expiry = chrono::DateTime::from_timestamp(expires, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();
    let out = json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": null},
        "spec": {
            "audiences": audiences,
            "expirationSeconds": expiration,
            "boundObjectRef": bound,
        },
        "status": {"token": token, "expirationTimestamp": expiry},
    });
    Ok(respond(201, &out, &Warnings::default()))
}

/// Checks `spec.boundObjectRef` and records the bound object in the token's private claims.
async fn bind(
    state: &State,
    ns: &str,
    account: &str,
    bound: &Value,
    private: &mut Value,
) -> ApiResult<()> {
    let kind = bound.get("kind").and_then(Value::as_str).unwrap_or("");
    let api_version = bound
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("v1");
    let obj_name = bound.get("name").and_then(Value::as_str).unwrap_or("");
    let want_uid = bound.get("uid").and_then(Value::as_str).unwrap_or("");
    let plural = match (api_version, kind) {
        ("v1", "Pod") => "pods",
        ("v1", "Secret") => "secrets",
        ("v1", "Node") => "nodes",
        _ => {
            return Err(ApiError::invalid(
                "TokenRequest",
                "authentication.k8s.io",
                account,
                &[FieldError::not_supported(
                    &FieldPath::new("spec.boundObjectRef.kind"),
                    json!(kind),
                    &["Pod", "Secret", "Node"],
                )],
            ))
        }
    };
    if obj_name.is_empty() {
        return Err(ApiError::invalid(
            "TokenRequest",
            "authentication.k8s.io",
            account,
            &[FieldError::required(
                &FieldPath::new("spec.boundObjectRef.name"),
                "",
            )],
        ));
    }
    let not_found = || {
        ApiError::new(
            404,
            "NotFound",
            format!("{plural} \"{obj_name}\" not found"),
        )
    };
    let obj = read_object(state, plural, Some(ns), obj_name)
        .await?
        .ok_or_else(not_found)?;
    if !want_uid.is_empty() && want_uid != uid(&obj) {
        return Err(ApiError::new(
            409,
            "Conflict",
            format!("Operation cannot be fulfilled on {kind} \"{obj_name}\": the UID in the bound object reference ({want_uid}) does not match the UID in record. The object might have been deleted and then recreated"),
        ));
    }
    let entry = json!({"name": obj_name, "uid": uid(&obj)});
    match kind {
        "Pod" => {
            let pod_sa = obj
                .pointer("/spec/serviceAccountName")
                .and_then(Value::as_str)
                .unwrap_or("");
            if pod_sa != account {
                return Err(ApiError::bad_request(format!(
                    "cannot bind token for serviceaccount \"{account}\" to pod running with different serviceaccount name."
                )));
            }
            private["pod"] = entry;
            // Upstream also names the pod's node, so a token can be traced to where it ran.
            if let Some(node) = obj
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
            {
                if let Some(n) = read_object(state, "nodes", None, node).await? {
                    private["node"] = json!({"name": node, "uid": uid(&n)});
                }
            }
        }
        "Secret" => private["secret"] = entry,
        _ => private["node"] = entry,
    }
    Ok(())
}

/// The bearer token of a request, if it has one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Authenticates a request by its service account bearer token; 401 when there is none or it
/// is not valid (bad signature, expired, wrong issuer or audience, account or bound object gone
/// or replaced).
pub async fn authenticate(state: &State, headers: &HeaderMap) -> ApiResult<UserInfo> {
    let Some(token) = bearer(headers) else {
        return Err(ApiError::unauthorized());
    };
    match validate(state, token).await? {
        Some(user) => Ok(user),
        None => {
            tracing::debug!("bearer token rejected");
            Err(ApiError::unauthorized())
        }
    }
}

async fn validate(state: &State, token: &str) -> ApiResult<Option<UserInfo>> {
    let Some(claims) = state.tokens.verify(token) else {
        return Ok(None);
    };
    let t = now();
    let num = |k: &str| claims.get(k).and_then(Value::as_i64);
    if claims.get("iss").and_then(Value::as_str) != Some(ISSUER)
        || num("exp").is_none_or(|exp| exp <= t)
        || num("nbf").is_some_and(|nbf| nbf > t + LEEWAY)
    {
        return Ok(None);
    }
    let audience_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == DEFAULT_AUDIENCE,
        Some(Value::Array(a)) => a.iter().any(|x| x.as_str() == Some(DEFAULT_AUDIENCE)),
        _ => false,
    };
    if !audience_ok {
        return Ok(None);
    }
    let private = claims.get("kubernetes.io").cloned().unwrap_or(Value::Null);
    let ns = private
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let name = private
        .pointer("/serviceaccount/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if ns.is_empty() || name.is_empty() {
        return Ok(None);
    }
    // The account and whatever the token is bound to must still be the objects it was issued for.
    let checks = [
        ("serviceaccounts", "/serviceaccount"),
        ("pods", "/pod"),
        ("secrets", "/secret"),
        ("nodes", "/node"),
    ];
    for (plural, ptr) in checks {
        let Some(bound) = private.pointer(ptr) else {
            continue;
        };
        let obj_name = bound.get("name").and_then(Value::as_str).unwrap_or("");
        let want_uid = bound.get("uid").and_then(Value::as_str).unwrap_or("");
        let Some(obj) = read_object(state, plural, Some(ns), obj_name).await? else {
            return Ok(None);
        };
        if !want_uid.is_empty() && want_uid != uid(&obj) {
            return Ok(None);
        }
        // A pod deleted more than a minute ago no longer lends its tokens validity.
        if plural == "pods" && crate::meta::is_deleting(&obj) {
            let deleted = crate::meta::meta_str(&obj, "deletionTimestamp")
                .and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok())
                .map(|d| d.timestamp());
            if deleted.is_some_and(|d| d + LEEWAY < t) {
                return Ok(None);
            }
        }
    }
    Ok(Some(UserInfo {
        name: format!("system:serviceaccount:{ns}:{name}"),
        groups: vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{ns}"),
            "system:authenticated".into(),
        ],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_with_their_key_only_and_the_key_is_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = TokenIssuer::load_or_create(dir.path()).unwrap();
        let token = a.sign(&json!({"sub": "x"})).unwrap();
        assert_eq!(token.split('.').count(), 3);
        assert_eq!(a.verify(&token).unwrap()["sub"], "x");
        let again = TokenIssuer::load_or_create(dir.path()).unwrap();
        assert_eq!(again.kid, a.kid);
        assert!(again.verify(&token).is_some());

        let other_dir = tempfile::tempdir().unwrap();
        let b = TokenIssuer::load_or_create(other_dir.path()).unwrap();
        assert!(b.verify(&token).is_none());
        // A changed payload breaks the signature.
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(json!({"sub": "admin"}).to_string());
        parts[1] = &forged;
        assert!(a.verify(&parts.join(".")).is_none());
        assert!(a.verify("not-a-jwt").is_none());
    }

    #[test]
    fn bearer_header_parsing() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(http::header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(http::header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }
}
