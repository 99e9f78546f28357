//! The Debian package, the network and systemd hooks, and the pre-commit checks.

mod deb;
mod hooks;
mod precommit;
