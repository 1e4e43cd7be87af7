//! minato-printers
