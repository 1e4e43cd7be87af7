//! minato-apiserver
