//! Errors of the image store. Messages follow containerd's wording because the agent copies
//! them into pod status (`ErrImagePull` messages), where users already know that wording.

/// Everything the image store can fail with. Match on the variant to tell "image does not
/// exist" from "registry refused our credentials" from anything else.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The registry (or the local store) has no such image / tag / digest.
    #[error("{message}")]
    NotFound { reference: String, message: String },
    /// The registry refused the request (401/403), with or without credentials.
    #[error("{message}")]
    Unauthorized { reference: String, message: String },
    /// The reference string does not parse.
    #[error("invalid reference format {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },
    /// Content did not hash to the digest it was fetched by.
    #[error("{message}")]
    DigestMismatch { message: String },
    /// Network failures, unexpected HTTP statuses, malformed registry answers.
    #[error("{message}")]
    Registry { message: String },
    /// A media type, schema or platform the store cannot handle.
    #[error("{message}")]
    Unsupported { message: String },
    /// An archive given to `import` is not a docker-save or OCI layout archive.
    #[error("invalid image archive: {message}")]
    InvalidArchive { message: String },
    /// A layer tarball that cannot be unpacked safely.
    #[error("{message}")]
    Unpack { message: String },
    /// The registries configuration file is invalid.
    #[error("invalid registries config: {message}")]
    Config { message: String },
    /// The store's index is unreadable.
    #[error("image store corrupt: {message}")]
    Corrupt { message: String },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl ImageError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, ImageError::NotFound { .. })
    }

    pub fn is_unauthorized(&self) -> bool {
        matches!(self, ImageError::Unauthorized { .. })
    }

    /// Prefixes the message with `prefix: ` (containerd-style error chains), keeping the variant.
    pub(crate) fn context(self, prefix: impl std::fmt::Display) -> ImageError {
        use ImageError::*;
        match self {
            NotFound { reference, message } => NotFound {
                reference,
                message: format!("{prefix}: {message}"),
            },
            Unauthorized { reference, message } => Unauthorized {
                reference,
                message: format!("{prefix}: {message}"),
            },
            DigestMismatch { message } => DigestMismatch {
                message: format!("{prefix}: {message}"),
            },
            Registry { message } => Registry {
                message: format!("{prefix}: {message}"),
            },
            Unsupported { message } => Unsupported {
                message: format!("{prefix}: {message}"),
            },
            Unpack { message } => Unpack {
                message: format!("{prefix}: {message}"),
            },
            Io(e) => Io(std::io::Error::new(e.kind(), format!("{prefix}: {e}"))),
            other => Registry {
                message: format!("{prefix}: {other}"),
            },
        }
    }

    /// A copy for every waiter of a shared (deduplicated) pull.
    pub(crate) fn duplicate(&self) -> ImageError {
        use ImageError::*;
        match self {
            NotFound { reference, message } => NotFound {
                reference: reference.clone(),
                message: message.clone(),
            },
            Unauthorized { reference, message } => Unauthorized {
                reference: reference.clone(),
                message: message.clone(),
            },
            InvalidReference { reference, reason } => InvalidReference {
                reference: reference.clone(),
                reason: reason.clone(),
            },
            DigestMismatch { message } => DigestMismatch {
                message: message.clone(),
            },
            Registry { message } => Registry {
                message: message.clone(),
            },
            Unsupported { message } => Unsupported {
                message: message.clone(),
            },
            InvalidArchive { message } => InvalidArchive {
                message: message.clone(),
            },
            Unpack { message } => Unpack {
                message: message.clone(),
            },
            Config { message } => Config {
                message: message.clone(),
            },
            Corrupt { message } => Corrupt {
                message: message.clone(),
            },
            Io(e) => Io(std::io::Error::new(e.kind(), e.to_string())),
        }
    }
}

/// Attaches a path to an I/O error so messages say which file failed.
pub(crate) fn io_at(path: &std::path::Path, what: &str, e: std::io::Error) -> ImageError {
    ImageError::Io(std::io::Error::new(
        e.kind(),
        format!("{what} {}: {e}", path.display()),
    ))
}
