//! `oauth2` in the plan: the provider, its endpoints and the client.

use super::Secret;
use serde::{Deserialize, Serialize};

/// `oauth2 google|microsoft|custom` and its settings, with the provider's
/// endpoints and scope filled in (the presets are resolved at compile
/// time, so a submission only reads them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuth2 {
    pub provider: OAuth2Provider,
    pub client_id: String,
    pub client_secret: Option<ClientSecret>,
    /// Authorization endpoint (the browser flow of `esmtp oauth authorize`).
    pub auth_url: Option<String>,
    pub token_url: String,
    /// Device authorization endpoint (`esmtp oauth authorize --device`).
    pub device_url: Option<String>,
    /// Scopes, separated by blanks.
    pub scope: String,
}

/// Where the OAuth 2 client secret comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientSecret {
    /// `oauth2_client_secret`.
    Value(Secret),
    /// `oauth2_client_secret_eval "COMMAND"`: the first line it prints.
    Eval(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OAuth2Provider {
    Google,
    Microsoft,
    Custom,
}

/// A provider's published endpoints and SMTP scope.
pub struct OAuth2Preset {
    pub auth_url: &'static str,
    pub token_url: &'static str,
    pub device_url: &'static str,
    pub scope: &'static str,
}

impl OAuth2Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            OAuth2Provider::Google => "google",
            OAuth2Provider::Microsoft => "microsoft",
            OAuth2Provider::Custom => "custom",
        }
    }
    /// The endpoints and scope of `google` and `microsoft` (the `common`
    /// tenant: personal and work accounts); `custom` has none.
    pub fn preset(self) -> Option<OAuth2Preset> {
        match self {
            OAuth2Provider::Google => Some(OAuth2Preset {
                auth_url: "https://accounts.google.com/o/oauth2/auth",
                token_url: "https://oauth2.googleapis.com/token",
                device_url: "https://oauth2.googleapis.com/device/code",
                scope: "https://mail.google.com/",
            }),
            OAuth2Provider::Microsoft => Some(OAuth2Preset {
                auth_url: "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
                token_url: "https://login.microsoftonline.com/common/oauth2/v2.0/token",
                device_url: "https://login.microsoftonline.com/common/oauth2/v2.0/devicecode",
                scope: "https://outlook.office.com/SMTP.Send offline_access",
            }),
            OAuth2Provider::Custom => None,
        }
    }
}
