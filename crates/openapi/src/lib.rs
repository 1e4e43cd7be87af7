//! minato-openapi
