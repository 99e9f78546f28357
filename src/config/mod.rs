//! The esmtprc compiler: lexer (logos) → parser (lalrpop, `grammar/`) → AST →
//! lowering into a [`crate::plan::Plan`] → lints → diagnostics.
//!
//! STUB: owned by the compiler work (issue 2).
