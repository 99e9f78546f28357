//! Relaying over SMTP: sessions, TLS, AUTH, hooks, line ends, hostile peers and network namespaces.

mod auth;
mod binary;
mod hooks;
mod hostile;
mod line_ends;
mod netns;
mod pinning;
mod sasl;
mod smtp;
mod tls;
