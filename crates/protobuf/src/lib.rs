//! minato-protobuf
