//! The manual pages and the README kept true to the program.

mod man;
mod msmtp;
mod readme;
