//! Authentication and authorization hooks. Today: the admin client certificate authenticates
//! and every authenticated user may do everything; RBAC and service-account tokens plug in here.

use serde::{Deserialize, Serialize};

/// Who made a request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub name: String,
    pub groups: Vec<String>,
}

/// What a request wants to do, as an authorizer sees it.
#[derive(Clone, Debug, Default)]
pub struct Attributes {
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
    pub path: String,
}

/// Decides whether a user may do something.
pub trait Authorizer: Send + Sync {
    /// `Ok(())` when allowed; `Err(reason)` otherwise.
    fn authorize(&self, user: &UserInfo, attrs: &Attributes) -> Result<(), String>;
}

/// Allows every authenticated user everything (until RBAC arrives).
pub struct AllowAll;

impl Authorizer for AllowAll {
    fn authorize(&self, _user: &UserInfo, _attrs: &Attributes) -> Result<(), String> {
        Ok(())
    }
}

/// Paths anyone may read without credentials, as upstream's system:public-info-viewer role.
pub fn is_public_path(path: &str) -> bool {
    // `/cacerts` (as k3s): the CA bundle is public; a joining agent checks it against the hash
    // in its join token before trusting it.
    matches!(
        path,
        "/healthz" | "/livez" | "/readyz" | "/version" | "/cacerts"
    ) || path.starts_with("/healthz/")
        || path.starts_with("/livez/")
        || path.starts_with("/readyz/")
}
