//! minato-crd
