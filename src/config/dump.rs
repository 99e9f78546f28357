//! `esmtp dump`: the resolved plan as text or JSON, secrets redacted.

use super::keywords::{Key, Scope, KEYWORDS};
use crate::plan::{
    escape_bytes, fingerprint_text, ClientSecret, Identity, OAuth2, Octets, Plan, QueueMode,
    SecretSource, Syslog, Template,
};

fn q(s: &str) -> String {
    format!("\"{}\"", s.escape_debug())
}

fn opt(s: Option<&str>) -> String {
    s.map(q).unwrap_or_else(|| "-".to_string())
}

/// A user name: quoted, bytes that are not UTF-8 as `\xHH`.
fn octets(o: Option<&Octets>) -> String {
    match o {
        None => "-".to_string(),
        Some(o) => match o.to_str() {
            Some(s) => q(s),
            None => format!("\"{}\"", escape_bytes(o.as_bytes())),
        },
    }
}

fn tmpl(t: Option<&Template>) -> String {
    opt(t.map(|t| t.source.as_str()))
}

fn oauth2(id: &Identity) -> Option<&OAuth2> {
    match &id.secret {
        Some(SecretSource::OAuth2(o)) => Some(o),
        _ => None,
    }
}

fn syslog(s: Syslog) -> String {
    s.into()
}

fn identity_value(id: &Identity, key: Key) -> Option<String> {
    Some(match key {
        Key::Hostname => {
            if id.relay.explicit {
                id.relay.to_string()
            } else {
                format!("{} (no hostname given)", id.relay)
            }
        }
        Key::Username => octets(id.username.as_ref()),
        Key::Password => match &id.secret {
            Some(SecretSource::Password(s)) => q(&s.to_string()),
            _ => "-".into(),
        },
        Key::Passwordeval => match &id.secret {
            Some(SecretSource::Eval(c)) => q(c),
            _ => "-".into(),
        },
        Key::Starttls => id.tls.as_str().into(),
        Key::CertificatePassphrase => opt(id
            .certificate_passphrase
            .as_ref()
            .map(|s| s.to_string())
            .as_deref()),
        Key::Preconnect => opt(id.preconnect.as_deref()),
        Key::Postconnect => opt(id.postconnect.as_deref()),
        Key::Qualifydomain => opt(id.qualifydomain.as_deref()),
        Key::Helo => opt(id.helo.as_deref()),
        Key::ForceSender => tmpl(id.force_sender.as_ref()),
        Key::ForceReversePath => tmpl(id.force_reverse_path.as_ref()),
        Key::MessageId => if id.message_id { "enabled" } else { "disabled" }.into(),
        Key::Timeout => id.timeout_secs.to_string(),
        Key::Auth => id.auth.map(|a| a.config_name()).unwrap_or("-").into(),
        // Shown only when set: unset, ~/.authenticate and the CAs decide.
        Key::TlsFingerprint => fingerprint_text(&id.tls_files.as_ref()?.fingerprint?),
        Key::TlsTrustFile => q(id.tls_files.as_ref()?.trust_file.as_deref()?),
        Key::TlsCertFile => q(id.tls_files.as_ref()?.cert_file.as_deref()?),
        Key::TlsKeyFile => q(id.tls_files.as_ref()?.key_file.as_deref()?),
        // Shown only for an `oauth2` identity, with the provider's
        // endpoints filled in; the client secret redacted like a password.
        Key::Oauth2 => oauth2(id)?.provider.as_str().into(),
        Key::Oauth2ClientId => q(&oauth2(id)?.client_id),
        Key::Oauth2ClientSecret => match &oauth2(id)?.client_secret {
            Some(ClientSecret::Value(s)) => q(&s.to_string()),
            _ => return None,
        },
        Key::Oauth2ClientSecretEval => match &oauth2(id)?.client_secret {
            Some(ClientSecret::Eval(c)) => q(c),
            _ => return None,
        },
        Key::Oauth2AuthUrl => opt(oauth2(id)?.auth_url.as_deref()),
        Key::Oauth2TokenUrl => q(&oauth2(id)?.token_url),
        Key::Oauth2DeviceUrl => opt(oauth2(id)?.device_url.as_deref()),
        Key::Oauth2Scope => q(&oauth2(id)?.scope),
        // Shown only when the identity sets its own (else the global one).
        Key::Logfile => q(id.log.as_ref()?.file.as_deref()?),
        Key::Syslog => syslog(id.log.as_ref()?.syslog?),
        _ => return None,
    })
}

/// The plan as text; `plan` should already be redacted.
pub fn text(name: &str, plan: &Plan) -> String {
    let mut out = String::new();
    out.push_str(&format!("# {name}: the compiled plan, secrets redacted\n"));
    let def = plan.default_identity();
    let def_name = def
        .address
        .as_deref()
        .map(q)
        .unwrap_or_else(|| "(unnamed)".into());
    out.push_str(&format!(
        "default identity: #{} {}\n",
        plan.default_identity, def_name
    ));
    // The column of the values: that of the longest keyword of esmtp 1.2
    // (`certificate_passphrase`); a longer name pushes its value one blank
    // further, so that adding a keyword does not move every line.
    let width = KEYWORDS
        .iter()
        .filter(|k| !k.extension)
        .map(|k| k.name.len())
        .max()
        .unwrap_or(20)
        + 2;
    for (i, id) in plan.identities.iter().enumerate() {
        out.push('\n');
        match &id.address {
            Some(a) => out.push_str(&format!("identity #{i} {}", q(a))),
            None => out.push_str(&format!("identity #{i} (unnamed section)")),
        }
        if i == plan.default_identity {
            out.push_str("  [default]");
        }
        if id.unusable.is_some() {
            out.push_str("  [unusable]");
        }
        out.push('\n');
        if let Some(u) = &id.unusable {
            out.push_str(&format!(
                "  {:width$}{u}; sending through this identity fails (status 78)\n",
                "unusable"
            ));
        }
        for kw in KEYWORDS.iter().filter(|k| k.scope == Scope::Identity) {
            if let Some(v) = identity_value(id, kw.key) {
                let width = width.max(kw.name.len() + 1);
                out.push_str(&format!("  {:width$}{}\n", kw.name, v));
            }
        }
    }
    out.push('\n');
    out.push_str(&format!(
        "{:width$}{}\n",
        "mda",
        tmpl(plan.mda.as_ref()),
        width = width + 2
    ));
    out.push_str(&format!(
        "{:width$}{}\n",
        "force_mda",
        opt(plan.force_mda.as_deref()),
        width = width + 2
    ));
    out.push_str(&format!(
        "{:width$}{}\n",
        "aliases",
        match &plan.aliases {
            Some(a) => format!(
                "{} ({} names{})",
                q(&a.path),
                a.entries.len(),
                if a.default.is_some() { ", default" } else { "" }
            ),
            None => "-".to_string(),
        },
        width = width + 2
    ));
    let mode = match plan.queue.mode {
        QueueMode::Disabled => "disabled",
        QueueMode::Enabled => "enabled",
        QueueMode::Background => "background",
    };
    out.push_str(&format!("{:width$}{}\n", "queue", mode, width = width + 2));
    out.push_str(&format!(
        "{:width$}{}\n",
        "queue_dir",
        plan.queue
            .dir
            .as_deref()
            .map(q)
            .unwrap_or_else(|| "(default)".into()),
        width = width + 2
    ));
    out.push_str(&format!(
        "{:width$}{}s\n",
        "queue_lifetime",
        plan.queue.lifetime_secs,
        width = width + 2
    ));
    out.push_str(&format!(
        "{:width$}{}\n",
        "logfile",
        opt(plan.log.file.as_deref()),
        width = width + 2
    ));
    out.push_str(&format!(
        "{:width$}{}\n",
        "syslog",
        plan.log.syslog.map(syslog).unwrap_or_else(|| "-".into()),
        width = width + 2
    ));
    out
}

/// The plan as pretty JSON; `plan` should already be redacted.
pub fn json(plan: &Plan) -> String {
    let mut s =
        serde_json::to_string_pretty(plan).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}
