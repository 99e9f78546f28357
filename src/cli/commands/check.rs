//! `esmtp check`: parse, compile and lint esmtprc files, with a linter's
//! exit statuses (0 clean, 1 problems found, 2 usage or I/O problems) and
//! the human, short, JSON, GitHub and SARIF outputs.

use crate::config::codes::{self, Code};
use crate::config::diag::{self, Diagnostic};
use crate::config::{
    self, compile, locate, read_source, sarif, Compilation, Options, Origin, SYSTEM_RC,
};
use crate::exit::Failure;
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Exit status of `check` and `dump` for a command-line mistake or a file
/// that cannot be read: theirs is a linter's convention (0 clean, 1
/// problems found, 2 usage), not sysexits.
pub const CHECK_USAGE: u8 = 2;

/// Exit status of `check` when it found errors (or warnings with
/// `--deny-warnings`), and of `dump` when the file does not compile.
pub const CHECK_PROBLEMS: u8 = 1;

/// What `esmtp check` was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckArgs {
    pub files: Vec<PathBuf>,
    /// human, short, json, github or sarif.
    pub format: String,
    pub verbose: bool,
    pub compat: bool,
    pub deny_warnings: bool,
    pub no_permission_lints: bool,
    /// `--explain CODE` (or `list`).
    pub explain: Option<String>,
}

impl CheckArgs {
    pub fn from_matches(m: &ArgMatches) -> CheckArgs {
        CheckArgs {
            files: m
                .get_many::<PathBuf>("file")
                .map(|v| v.cloned().collect())
                .unwrap_or_default(),
            format: m
                .get_one::<String>("format")
                .cloned()
                .unwrap_or_else(|| "human".into()),
            verbose: m.get_flag("verbose"),
            compat: m.get_flag("compat"),
            deny_warnings: m.get_flag("deny-warnings"),
            no_permission_lints: m.get_flag("no-permission-lints"),
            explain: m.get_one::<String>("explain").cloned(),
        }
    }
}

/// The `check` subcommand.
pub fn check_command() -> Command {
    Command::new("check")
        .about("Parse, compile and lint esmtprc files without any network access")
        .long_about(
            "Parse, compile and lint esmtprc files without any network access. \
             Without FILE, checks the file sendmail mode would use (~/.esmtprc, else /etc/esmtprc). \
             Exit status: 0 clean, 1 errors (or warnings with --deny-warnings), 2 usage or I/O problems.",
        )
        .arg(Arg::new("file").value_name("FILE").num_args(0..).action(ArgAction::Append).value_parser(clap::value_parser!(PathBuf)).help("Files to check"))
        .arg(
            Arg::new("format")
                .long("format")
                .value_name("FORMAT")
                .value_parser(["human", "short", "json", "github", "sarif"])
                .default_value("human")
                .help("Output: human (rustc-style), short (one line each), json, github (Actions annotations), sarif (SARIF 2.1.0, for code scanning)"),
        )
        .arg(
            Arg::new("verbose")
                .short('v')
                .long("verbose")
                .action(ArgAction::SetTrue)
                .help("Also say whether the cached compiled plan of each file is fresh"),
        )
        .arg(Arg::new("compat").long("compat").action(ArgAction::SetTrue).help("Also report every construct esmtp 1.2 would not accept identically"))
        .arg(Arg::new("deny-warnings").long("deny-warnings").action(ArgAction::SetTrue).help("Exit 1 on warnings too"))
        .arg(
            Arg::new("no-permission-lints")
                .long("no-permission-lints")
                .action(ArgAction::SetTrue)
                .help("Skip the file permission checks (for a dotfile checked out in CI)"),
        )
        .arg(Arg::new("explain").long("explain").value_name("CODE").help("Explain a diagnostic code, e.g. E003"))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

fn home_rc_path() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".esmtprc"))
}

/// One file's compilation with the checks only `check` adds.
struct CheckedFile {
    comp: Compilation,
    extra: Vec<Diagnostic>,
    /// The file is the one sendmail mode uses (its cache state matters).
    live: bool,
}

fn file_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o7777)
}

fn check_one(
    path: &Path,
    origin_user: bool,
    origin_system: bool,
    args: &CheckArgs,
) -> Result<CheckedFile, String> {
    let perms = !args.no_permission_lints;
    let user_live = origin_user || home_rc_path().is_some_and(|h| same_file(path, &h));
    let system_live = origin_system || same_file(path, Path::new(SYSTEM_RC));
    let bytes = read_source(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let opts = Options {
        compat: args.compat,
        lint_programs: true,
        file_mode: if perms && (user_live || system_live) {
            file_mode(path)
        } else {
            None
        },
        system_file: perms && system_live,
        client_certs: (user_live || system_live).then_some(
            crate::transport::tls::client_certificate_problem as config::lower::CertCheck,
        ),
    };
    let comp = compile(&path.display().to_string(), &bytes, &opts);
    let mut extra = Vec::new();
    if perms && user_live {
        if let Err(msg) = config::check_user_file(path) {
            extra.push(
                Diagnostic::new(Code::E012, msg)
                    .help("sending refuses this file (status 78); use --no-permission-lints for a copy that is not the live file"),
            );
        }
    }
    Ok(CheckedFile {
        comp,
        extra,
        live: is_live(path),
    })
}

/// Is `path` the file sendmail mode would read (`~/.esmtprc`, else
/// `/etc/esmtprc`)?
fn is_live(path: &Path) -> bool {
    match locate(None) {
        Ok(origin) => origin.path().is_some_and(|p| same_file(path, p)),
        // ~/.esmtprc exists but may not be used: it is still the live one.
        Err(_) => home_rc_path().is_some_and(|h| same_file(path, &h)),
    }
}

/// Run `esmtp check`; the failure carries the linter status (its messages
/// are printed here).
pub fn run_check(args: &CheckArgs) -> Result<(), Failure> {
    if let Some(code) = &args.explain {
        if code.eq_ignore_ascii_case("list") {
            for c in codes::REGISTRY {
                println!("{}  {}", c.code, c.title);
            }
            return Ok(());
        }
        return match codes::explain(code) {
            Some(text) => {
                print!("{text}");
                Ok(())
            }
            None => {
                eprintln!(
                    "esmtp check: unknown code `{code}`; `esmtp check --explain list` lists them"
                );
                Err(Failure::reported(CHECK_USAGE))
            }
        };
    }
    let files = args.files.clone();
    let mut targets: Vec<(PathBuf, bool, bool)> = Vec::new();
    let mut status = 0u8;
    let mut results: Vec<CheckedFile> = Vec::new();
    if files.is_empty() {
        match locate(None) {
            Ok(Origin::None) => {
                eprintln!("esmtp check: {}", config::no_file_message());
                return Err(Failure::reported(CHECK_USAGE));
            }
            Ok(o @ (Origin::User(_) | Origin::System(_))) => {
                let user = matches!(o, Origin::User(_));
                if let Some(p) = o.path() {
                    targets.push((p.to_path_buf(), user, !user));
                }
            }
            Ok(Origin::Explicit(p)) => targets.push((p, false, false)),
            Err(f) => {
                // ~/.esmtprc exists but may not be used: still check its content.
                match home_rc_path() {
                    Some(p) if p.exists() => targets.push((p, true, false)),
                    _ => {
                        eprintln!("esmtp check: {}", f.message);
                        return Err(Failure::reported(CHECK_USAGE));
                    }
                }
            }
        }
    } else {
        targets.extend(files.into_iter().map(|f| (f, false, false)));
    }
    for (path, user, system) in &targets {
        match check_one(path, *user, *system, args) {
            Ok(c) => results.push(c),
            Err(e) => {
                eprintln!("esmtp check: {e}");
                status = CHECK_USAGE;
            }
        }
    }
    let deny = args.deny_warnings;
    let verbose = args.verbose;
    let format = args.format.as_str();
    let cap = config::diag_cap();
    let color = {
        use std::io::IsTerminal;
        std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
    };
    let mut out = String::new();
    let mut json_files = Vec::new();
    let mut sarif_files = Vec::new();
    for r in &results {
        let mut all: Vec<Diagnostic> = r.extra.clone();
        all.extend(r.comp.diagnostics.iter().cloned());
        let errors = all.iter().filter(|d| d.is_error()).count() + r.comp.omitted_errors;
        let warnings = all.iter().filter(|d| !d.is_error()).count() + r.comp.omitted_warnings;
        let shown = &all[..all.len().min(cap)];
        let omitted = errors + warnings - shown.len();
        // The cache state matters for the file sendmail mode uses, once it
        // compiles; for any other file it is noise (and a private path).
        let cache = (verbose || (r.live && r.comp.plan.is_some()))
            .then(|| crate::cache::freshness(Some(Path::new(&r.comp.name))).to_string());
        match format {
            "json" => {
                let mut file = serde_json::json!({
                    "file": r.comp.name,
                    "errors": errors,
                    "warnings": warnings,
                    "omitted": omitted,
                    "diagnostics": diag::to_json(&r.comp.text, shown),
                });
                if let (Some(c), Some(obj)) = (&cache, file.as_object_mut()) {
                    obj.insert("cache".into(), c.clone().into());
                }
                json_files.push(file)
            }
            "github" => out.push_str(&diag::render_github(&r.comp.name, &r.comp.text, shown)),
            "short" => {
                out.push_str(&diag::render_short(&r.comp.name, &r.comp.text, shown));
                if omitted > 0 {
                    out.push_str(&format!("... and {omitted} more diagnostics not shown\n"));
                }
                if let Some(c) = &cache {
                    out.push_str(&format!("{}: cached plan: {c}\n", r.comp.name));
                }
            }
            "sarif" => sarif_files.push((
                r.comp.name.as_str(),
                r.comp.text.as_str(),
                shown.to_vec(),
                omitted,
            )),
            _ => {
                if color {
                    out.push_str(&diag::render_human_color(&r.comp.name, &r.comp.text, shown));
                } else {
                    out.push_str(&diag::render_human(&r.comp.name, &r.comp.text, shown));
                }
                if omitted > 0 {
                    out.push_str(&format!("... and {omitted} more diagnostics not shown\n"));
                }
                if let Some(c) = &cache {
                    out.push_str(&format!("{}: cached plan: {c}\n", r.comp.name));
                }
                if errors == 0 && warnings == 0 {
                    out.push_str(&format!("{}: ok\n", r.comp.name));
                } else {
                    out.push_str(&format!(
                        "{}: {} error{}, {} warning{}\n",
                        r.comp.name,
                        errors,
                        if errors == 1 { "" } else { "s" },
                        warnings,
                        if warnings == 1 { "" } else { "s" }
                    ));
                }
            }
        }
        if (errors > 0 || (deny && warnings > 0)) && status == 0 {
            status = CHECK_PROBLEMS;
        }
        // The aliases file, compiled with this one: its own diagnostics,
        // with spans in it (its errors are also an error at `aliases`).
        if let Some(a) = r
            .comp
            .aliases_file
            .as_ref()
            .filter(|a| !a.diagnostics.is_empty())
        {
            let shown = &a.diagnostics[..a.diagnostics.len().min(cap)];
            let omitted = a.diagnostics.len() - shown.len();
            let errors = a.diagnostics.iter().filter(|d| d.is_error()).count();
            let warnings = a.diagnostics.len() - errors;
            match format {
                "json" => json_files.push(serde_json::json!({
                    "file": a.name,
                    "errors": errors,
                    "warnings": warnings,
                    "omitted": omitted,
                    "diagnostics": diag::to_json(&a.text, shown),
                })),
                "github" => out.push_str(&diag::render_github(&a.name, &a.text, shown)),
                "short" => out.push_str(&diag::render_short(&a.name, &a.text, shown)),
                "sarif" => sarif_files.push((&a.name, &a.text, shown.to_vec(), omitted)),
                _ => {
                    if color {
                        out.push_str(&diag::render_human_color(&a.name, &a.text, shown));
                    } else {
                        out.push_str(&diag::render_human(&a.name, &a.text, shown));
                    }
                    out.push_str(&format!(
                        "{}: {} error{}, {} warning{}\n",
                        a.name,
                        errors,
                        if errors == 1 { "" } else { "s" },
                        warnings,
                        if warnings == 1 { "" } else { "s" }
                    ));
                }
            }
            if deny && warnings > 0 && status == 0 {
                status = CHECK_PROBLEMS;
            }
        }
    }
    if format == "json" {
        let doc = serde_json::json!({ "files": json_files });
        out.push_str(&serde_json::to_string_pretty(&doc).unwrap_or_default());
        out.push('\n');
    }
    if format == "sarif" {
        let files: Vec<sarif::File> = sarif_files
            .iter()
            .map(|(name, text, shown, omitted)| sarif::File {
                name,
                text,
                diagnostics: shown,
                omitted: *omitted,
            })
            .collect();
        out.push_str(&serde_json::to_string_pretty(&sarif::log(&files)).unwrap_or_default());
        out.push('\n');
    }
    let mut stdout = std::io::stdout().lock();
    if stdout
        .write_all(out.as_bytes())
        .and_then(|_| stdout.flush())
        .is_err()
    {
        return Err(Failure::reported(CHECK_USAGE));
    }
    match status {
        0 => Ok(()),
        status => Err(Failure::reported(status)),
    }
}

/// `newaliases`, `-bi`, `-I`: compile the configuration sendmail mode
/// reads and report on the file of its `aliases` statement. Exit 0 when it
/// is fine (or there is none, silently), [`CHECK_PROBLEMS`] with its
/// errors otherwise.
pub fn run_newaliases(config: Option<&Path>) -> Result<(), Failure> {
    let origin = locate(config)?;
    // No configuration or no `aliases`: nothing to check, and nothing said
    // (package scripts run `newaliases` on any machine, as with Postfix).
    let Some(path) = origin.path() else {
        return Ok(());
    };
    let bytes =
        read_source(path).map_err(|e| Failure::config(format!("{}: {e}", path.display())))?;
    let comp = compile(&path.display().to_string(), &bytes, &Options::default());
    let mut out = String::new();
    let mut status = 0;
    if comp.errors() > 0 {
        out.push_str(&diag::render_human(
            &comp.name,
            &comp.text,
            &comp.diagnostics,
        ));
        status = CHECK_PROBLEMS;
    }
    if let Some(a) = &comp.aliases_file {
        out.push_str(&diag::render_human(&a.name, &a.text, &a.diagnostics));
        let errors = a.diagnostics.iter().filter(|d| d.is_error()).count();
        let table = comp.plan.as_ref().and_then(|p| p.aliases.as_ref());
        out.push_str(&match table {
            Some(t) => format!(
                "{}: {} aliases{}, ok\n",
                a.name,
                t.entries.len(),
                if t.default.is_some() {
                    " and default"
                } else {
                    ""
                }
            ),
            None if errors == 0 => format!("{}: ok\n", a.name),
            None => format!(
                "{}: {errors} error{}\n",
                a.name,
                if errors == 1 { "" } else { "s" }
            ),
        });
    }
    let _ = std::io::stdout().write_all(out.as_bytes());
    match status {
        0 => Ok(()),
        s => Err(Failure::reported(s)),
    }
}
