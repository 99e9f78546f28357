//! The syntax tree: statements with their spans, values decoded.

use super::diag::Span;
use super::keywords::Key;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stmt {
    /// `KEY [=] VALUE` (including `identity ADDR` and `force sender ADDR`).
    Set {
        key: Key,
        key_span: Span,
        value: Value,
        span: Span,
    },
    /// `default`.
    Default { span: Span },
    /// A region the parser skipped after a syntax error.
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    pub kind: ValueKind,
    /// The text with escapes decoded (quotes removed).
    pub text: String,
    pub span: Span,
    /// The decoded bytes when they are not UTF-8 (user names and secrets
    /// only, see [`super::keywords::keeps_bytes`]); `text` then holds them
    /// with U+FFFD replacements.
    pub raw: Option<Vec<u8>>,
}

impl Value {
    /// The value's bytes: `raw` when set, else the text's.
    pub fn bytes(&self) -> &[u8] {
        self.raw.as_deref().unwrap_or(self.text.as_bytes())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Bare,
    Quoted,
    /// An unquoted all-digit word (a syntax error in 1.2).
    Number,
    Enabled,
    Disabled,
    Required,
}

impl ValueKind {
    /// `enabled`, `disabled`, `required`: keywords in 1.2.
    pub fn is_keyword(self) -> bool {
        matches!(
            self,
            ValueKind::Enabled | ValueKind::Disabled | ValueKind::Required
        )
    }
}
