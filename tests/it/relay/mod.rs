//! Relaying over SMTP: sessions, TLS, AUTH, hooks, line ends, hostile peers and network namespaces.

mod auth;
mod binary;
mod combined;
mod hooks;
mod hostile;
mod line_ends;
mod log;
mod netns;
mod oauth;
mod pinning;
mod probe;
mod sasl;
mod smtp;
mod smtputf8;
mod tls;
