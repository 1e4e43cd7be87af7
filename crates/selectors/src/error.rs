//! Selector errors, worded as upstream's.

/// Why a selector could not be parsed or built. The `Display` text is upstream's error text,
/// which the API server returns in a 400 `BadRequest`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// A label selector string that does not parse (the whole upstream message, e.g.
    /// `unable to parse requirement: ...` or `found ',', expected: ...`).
    #[error("{0}")]
    Parse(String),
    /// A requirement that fails validation (invalid key or values), as upstream's field errors.
    #[error("{0}")]
    InvalidRequirement(String),
    /// A `matchExpressions` operator other than In, NotIn, Exists and DoesNotExist.
    #[error("{} is not a valid label selector operator", crate::validation::go_quote(.0))]
    InvalidOperator(String),
    /// A label selector object of the wrong shape.
    #[error("{0}")]
    InvalidObject(String),
    /// A field selector term without `=`, `==` or `!=`.
    #[error("invalid selector: '{selector}'; can't understand '{term}'")]
    InvalidFieldSelector { selector: String, term: String },
    /// A backslash in a field selector value not followed by `\`, `,` or `=`.
    #[error("invalid field selector: invalid escape sequence: {0}")]
    InvalidEscapeSequence(String),
    /// An unescaped `,` or `=` in a field selector value (upstream prints the code point).
    #[error("invalid field selector: unescaped character in value: {}", u32::from(*.0))]
    UnescapedRune(char),
}
