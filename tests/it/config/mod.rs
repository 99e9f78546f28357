//! The esmtprc language: parsing, checking, compiling, its diagnostics and its differential tests against esmtp 1.2.

mod bounds;
mod cli;
mod compile;
mod differential;
mod differential_random;
mod fixtures;
mod import_msmtp;
mod locate;
mod log_keywords;
mod props;
mod sarif;
mod secrets;
mod session_differential;
mod wire_values;
