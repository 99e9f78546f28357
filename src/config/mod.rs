//! The esmtprc compiler: lexer (logos) → parser (lalrpop, `grammar/`) → AST →
//! lowering into a [`crate::plan::Plan`] → lints → diagnostics.
//!
//! [`compile`] is pure (apart from the optional PATH and /etc/services
//! look-ups); [`locate`] and [`load_for_sending`] do the file I/O (the
//! `check` and `dump` commands that print the results belong to the
//! command line).

pub mod aliases;
pub mod ast;
pub mod codes;
pub mod diag;
pub mod dump;
pub mod keywords;
pub mod lexer;
pub mod lint;
pub mod lower;
pub mod mask;
pub mod msmtp;
mod parse;
pub mod sarif;
pub mod snippet;

pub use diag::{Diagnostic, Severity, Span};
pub use lower::Options;

use crate::exit::Failure;
use crate::plan::Plan;
use codes::Code;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The errors that wait for use (SPEC §2.3): those that concern one
/// identity's smarthost (the file still compiles, with that identity marked
/// unusable) and those of the aliases file (only mail to local names
/// fails).
pub const WAITING_ERROR_CODES: &[Code] = &[
    Code::E005,
    Code::E015,
    Code::E016,
    Code::E024,
    Code::E025,
    Code::E030,
    Code::E031,
    Code::E032,
    Code::E033,
    Code::E034,
    Code::E035,
];

/// Files larger than this are refused unparsed (E011).
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;

/// Where the configuration comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `-C FILE`.
    Explicit(PathBuf),
    /// `~/.esmtprc`.
    User(PathBuf),
    /// `/etc/esmtprc`.
    System(PathBuf),
    /// No file found at all.
    None,
}

impl Origin {
    pub fn path(&self) -> Option<&Path> {
        match self {
            Origin::Explicit(p) | Origin::User(p) | Origin::System(p) => Some(p),
            Origin::None => None,
        }
    }
    /// The name diagnostics use for the file.
    pub fn display_name(&self) -> String {
        match self.path() {
            Some(p) => p.display().to_string(),
            None => "(no configuration file)".to_string(),
        }
    }
}

/// The result of compiling one file.
#[derive(Debug, Clone)]
pub struct Compilation {
    pub name: String,
    /// The source as text (non-UTF-8 bytes replaced), secrets masked
    /// (same length: see [`mask`]); every span points into it.
    pub text: String,
    /// `None` when there are errors that concern the whole file. Errors that
    /// concern one identity's smarthost leave a plan, with that identity
    /// marked unusable (`Identity::unusable`).
    pub plan: Option<Plan>,
    /// Sorted by position, except that when there are more than
    /// [`diag_cap`], the first [`diag_cap`] are the ones to show (errors
    /// first); compat-only reports (C0xx) only when asked for. At most
    /// [`diag::DiagList::KEEP`] errors and as many warnings; the rest are
    /// counted below.
    pub diagnostics: Vec<Diagnostic>,
    pub omitted_errors: usize,
    pub omitted_warnings: usize,
    /// The file of `aliases FILE`, compiled with this one: its own name,
    /// text and diagnostics (spans point into it).
    pub aliases_file: Option<aliases::AliasesFile>,
}

impl Compilation {
    /// Errors found, including those not kept.
    pub fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count() + self.omitted_errors
    }
    /// Warnings found, including those not kept.
    pub fn warnings(&self) -> usize {
        self.diagnostics.iter().filter(|d| !d.is_error()).count() + self.omitted_warnings
    }
    /// Errors rendered as text (for the sending path).
    pub fn render_errors(&self) -> String {
        let errs = shown_errors(&self.diagnostics);
        let mut s = diag::render_human(&self.name, &self.text, &errs);
        let total = self.errors();
        if total > errs.len() {
            s.push_str(&format!("... and {} more errors\n", total - errs.len()));
        }
        if let Some(a) = &self.aliases_file {
            s.push_str(&diag::render_human(
                &a.name,
                &a.text,
                &shown_errors(&a.diagnostics),
            ));
        }
        s
    }
}

/// The errors among `diagnostics` that are shown, at most [`diag_cap`].
fn shown_errors(diagnostics: &[Diagnostic]) -> Vec<Diagnostic> {
    diagnostics
        .iter()
        .filter(|d| d.is_error())
        .take(diag_cap())
        .cloned()
        .collect()
}

/// When there are more than `cap` diagnostics (sorted by position), put
/// first the `cap` that are shown: the errors before the warnings (a flood
/// of warnings must not hide the error that stops the file), each part in
/// the order of the file.
fn errors_shown_first(diagnostics: &mut Vec<Diagnostic>, cap: usize) {
    if diagnostics.len() <= cap {
        return;
    }
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let (mut errors_left, mut warnings_left) = (cap.min(errors), cap.saturating_sub(errors));
    let (mut shown, mut rest) = (Vec::with_capacity(cap), Vec::new());
    for d in diagnostics.drain(..) {
        let budget = if d.is_error() {
            &mut errors_left
        } else {
            &mut warnings_left
        };
        if *budget > 0 {
            *budget -= 1;
            shown.push(d);
        } else {
            rest.push(d);
        }
    }
    shown.append(&mut rest);
    *diagnostics = shown;
}

/// How many diagnostics are shown before "... and N more".
pub fn diag_cap() -> usize {
    50
}

/// Compile source bytes. Pure: no file is read (service names may be looked
/// up in /etc/services; programs on PATH only with `lint_programs`).
pub fn compile(name: &str, bytes: &[u8], options: &Options) -> Compilation {
    if bytes.len() > MAX_FILE_BYTES {
        return Compilation {
            name: name.to_string(),
            text: String::new(),
            plan: None,
            diagnostics: vec![Diagnostic::new(
                Code::E011,
                format!(
                    "file too large: {} bytes, the limit is {} bytes",
                    bytes.len(),
                    MAX_FILE_BYTES
                ),
            )
            .help("is this the right file? a configuration file is a few lines of text")],
            omitted_errors: 0,
            omitted_warnings: 0,
            aliases_file: None,
        };
    }
    let (text, orig) = lexer::RawSource::decode(bytes);
    let (mut lowered, mut diags, masked) = parse::parse_and_lower(&text, orig, options);
    // From here on only the masked source is kept: every output renders
    // from it, so no output can show a secret (SPEC §9).
    let text = masked.unwrap_or(text);
    // Errors that change the meaning of the whole file stop compilation;
    // errors that concern one identity's smarthost only make it unusable.
    let has_errors = diags.has_errors();
    // Lints judge a complete configuration; after errors they mostly repeat them.
    if !has_errors {
        diags.append(lint::lint(&lowered, options));
        diags.append(std::mem::take(&mut lowered.credential_errors));
        if let Some(check) = options.client_certs {
            diags.append(lint::client_certificates(&lowered, check));
        }
    }
    diags.append(std::mem::take(&mut lowered.identity_errors));
    let diag::DiagList {
        list: mut diagnostics,
        omitted_errors,
        omitted_warnings,
        ..
    } = diags;
    if !options.compat {
        diagnostics.retain(|d| !d.compat_only());
    }
    diagnostics.sort_by_key(|d| (d.start(), d.severity != Severity::Error));
    errors_shown_first(&mut diagnostics, diag_cap());
    Compilation {
        name: name.to_string(),
        text,
        plan: if has_errors { None } else { Some(lowered.plan) },
        diagnostics,
        omitted_errors,
        omitted_warnings,
        aliases_file: lowered.aliases_file.take(),
    }
}

/// ~/.esmtprc: `~` is a non-empty `$HOME`, else the password database's
/// home (what `dirs::home_dir` does).
fn home_rc() -> Option<PathBuf> {
    dirs::home_dir().map(|h| h.join(".esmtprc"))
}

/// /etc/esmtprc.
pub const SYSTEM_RC: &str = "/etc/esmtprc";

/// Check that `~/.esmtprc` may be used: a regular file owned by the user,
/// no permission bits beyond 0710.
pub fn check_user_file(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::symlink_metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if md.file_type().is_symlink() {
        return Err(format!(
            "{} is a symbolic link; it must be a regular file (it may hold a password), or use -C FILE",
            path.display()
        ));
    }
    if !md.is_file() {
        return Err(format!("{} must be a regular file", path.display()));
    }
    let uid = nix::unistd::geteuid().as_raw();
    if md.uid() != uid {
        return Err(format!(
            "{} is owned by uid {}, not by you (uid {uid}); it must be your own file",
            path.display(),
            md.uid()
        ));
    }
    let mode = md.mode() & 0o7777;
    if mode & !0o710 != 0 {
        return Err(format!(
            "{} has mode {mode:04o}; it must have no permission bits beyond 0710 because it may hold a password (run `chmod 600 {}`)",
            path.display(),
            path.display()
        ));
    }
    Ok(())
}

/// Find the configuration file as sendmail mode does (SPEC §2.1), including
/// the ownership/permission check of `~/.esmtprc` (error 78 when it fails).
pub fn locate(explicit: Option<&Path>) -> Result<Origin, Failure> {
    if let Some(p) = explicit {
        return Ok(Origin::Explicit(p.to_path_buf()));
    }
    if let Some(user) = home_rc() {
        match std::fs::symlink_metadata(&user) {
            Ok(_) => {
                check_user_file(&user).map_err(Failure::config)?;
                return Ok(Origin::User(user));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Failure::config(format!("{}: {e}", user.display()))),
        }
    }
    match std::fs::metadata(SYSTEM_RC) {
        Ok(_) => Ok(Origin::System(PathBuf::from(SYSTEM_RC))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Origin::None),
        Err(e) => Err(Failure::config(format!("{SYSTEM_RC}: {e}"))),
    }
}

/// Read a configuration file, at most [`MAX_FILE_BYTES`] + 1 bytes (so a
/// huge file is recognised without reading it all).
pub fn read_source(path: &Path) -> std::io::Result<Vec<u8>> {
    let f = std::fs::File::open(path)?;
    let mut buf = Vec::new();
    f.take(MAX_FILE_BYTES as u64 + 1).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Compile source bytes read from `origin` for sending: on errors, render the
/// diagnostics to stderr and fail with status 78. An `Origin::None` with empty
/// source gives [`Plan::empty`]. The cache calls this when its copy is stale.
pub fn compile_for_sending(origin: &Origin, source: &[u8]) -> Result<Plan, Failure> {
    if *origin == Origin::None && source.is_empty() {
        return Ok(Plan::empty());
    }
    let name = origin.display_name();
    let c = compile(&name, source, &Options::default());
    match c.plan {
        Some(plan) => Ok(plan),
        None => {
            eprint!("{}", c.render_errors());
            Err(Failure::config(format!(
                "{name}: {} error(s) in the configuration; run `esmtp check {name}` for details",
                c.errors()
            )))
        }
    }
}

/// The message when no configuration file exists.
pub fn no_file_message() -> String {
    let user = home_rc()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "~/.esmtprc".to_string());
    format!("no configuration file found: neither {user} nor {SYSTEM_RC} exists (or give one with -C FILE)")
}

/// Read, compile and lint the configuration for sending. Errors are rendered
/// to stderr and end in status 78; warnings are not shown (that is `check`'s
/// job) except where they matter at send time.
pub fn load_for_sending(explicit: Option<&Path>) -> Result<Plan, Failure> {
    let origin = locate(explicit)?;
    let Some(path) = origin.path() else {
        return Err(Failure::config(no_file_message()));
    };
    let bytes =
        read_source(path).map_err(|e| Failure::config(format!("open: {}: {e}", path.display())))?;
    compile_for_sending(&origin, &bytes)
}
