//! The compiled plan on disk: the public API (load, select, compile,
//! freshness) and the load that falls back to compiling.
//!
//! Every submission loads its plan through [`load_plan`] (the whole plan) or
//! [`load_plan_for`] (only the identities a sender can select, which keeps a
//! 10 000-identity configuration as cheap as a 10-line one). The cache is a
//! pure accelerator: whatever goes wrong with it (missing, read-only,
//! corrupted, foreign, too open), the source is compiled instead and the mail
//! goes out with the right settings.
//!
//! The rooms: `store` (where the files are and how they are read and
//! written), `validity` (what a file records to prove it is current and
//! the check of it), `format` (the binary layout, its encoder and its
//! checked decoder).

mod format;
mod store;
#[cfg(test)]
mod tests;
mod validity;

use crate::address::index_key;
use crate::config::{self, Origin};
use crate::exit::{self, Failure};
use crate::owned::stamp::Program;
use crate::plan::Plan;
use format::{encode, read_plan};
pub use format::{fuzzing, FORMAT_VERSION};
use std::path::{Path, PathBuf};
pub use store::PlanStore;
use validity::{dependency_record, validate, Invalid, Source};

// ───────────────────────────── public API ─────────────────────────────

/// Load the plan for sending: the cached compiled plan when it is valid for
/// the current source, else compile the source (and refresh the cache).
pub fn load_plan(explicit: Option<&Path>, verbose: bool) -> Result<Plan, Failure> {
    let origin = config::locate(explicit)?;
    let store = PlanStore::default_location();
    let loader = PlanLoader::new(&store, verbose, &config::compile_for_sending);
    Ok(loader.load(&origin, Scope::All)?.plan)
}

/// The part of a plan one submission can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// The global settings and, in file order, the default identity and
    /// every identity whose address equals the sender ignoring case. Select
    /// the identity from this plan exactly as from the full plan.
    pub plan: Plan,
    /// `numbers[i]` is the index in the full plan of `plan.identities[i]`
    /// (for anything stored beyond this run, such as a queue entry).
    pub numbers: Vec<usize>,
    /// Number of identities in the full plan.
    pub total: usize,
}

/// Load only what a submission from `sender` needs: the global settings, the
/// default identity and the identities whose address matches `sender`
/// (compared case-insensitively; `Name <addr>` is understood). From the cache
/// this reads a few hundred bytes whatever the size of the configuration.
/// Selecting an identity in `Selection::plan` gives the same result as in the
/// full plan as long as the selection rule only matches addresses that are
/// equal ignoring case.
pub fn load_plan_for(
    explicit: Option<&Path>,
    verbose: bool,
    sender: Option<&str>,
) -> Result<Selection, Failure> {
    let origin = config::locate(explicit)?;
    let store = PlanStore::default_location();
    let loader = PlanLoader::new(&store, verbose, &config::compile_for_sending);
    let loaded = loader.load(&origin, Scope::Sender(sender))?;
    Ok(Selection {
        plan: loaded.plan,
        numbers: loaded.numbers,
        total: loaded.total,
    })
}

/// Compile the configuration (`explicit` or the one sendmail mode would use)
/// and write its cache now. Returns the cache file written.
pub fn compile_to_cache(explicit: Option<&Path>, verbose: bool) -> Result<PathBuf, Failure> {
    let origin = config::locate(explicit)?;
    let store = PlanStore::default_location();
    PlanLoader::new(&store, verbose, &config::compile_for_sending).compile_to(&origin)
}

/// Whether the cached plan for a configuration can be used as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Freshness {
    /// Valid: the next submission loads it without compiling.
    Fresh { cache: PathBuf },
    /// No cache written yet for this source.
    Missing { cache: PathBuf },
    /// There is one, but it will be ignored and rebuilt (the reason says why).
    Stale { cache: PathBuf, reason: String },
    /// Nothing to cache (no configuration file at all).
    NoSource,
    /// Caching is not possible here (no cache directory, unsafe directory...);
    /// every submission compiles the source.
    Unavailable { reason: String },
}

impl Freshness {
    pub fn is_fresh(&self) -> bool {
        matches!(self, Freshness::Fresh { .. })
    }
}

impl std::fmt::Display for Freshness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Freshness::Fresh { cache } => write!(f, "fresh ({})", cache.display()),
            Freshness::Missing { cache } => write!(f, "not compiled yet ({})", cache.display()),
            Freshness::Stale { cache, reason } => {
                write!(f, "stale: {reason} ({})", cache.display())
            }
            Freshness::NoSource => f.write_str("no configuration file, nothing to cache"),
            Freshness::Unavailable { reason } => write!(f, "not cached: {reason}"),
        }
    }
}

/// Report whether the cached plan for the configuration file `path` (as
/// `esmtp check FILE` / `dump FILE` name it, or `None` for the one sendmail
/// mode would use) is fresh. Reads and hashes; never writes, never compiles.
pub fn freshness(path: Option<&Path>) -> Freshness {
    let origin = match config::locate(path) {
        Ok(o) => o,
        Err(f) => return Freshness::Unavailable { reason: f.message },
    };
    PlanStore::default_location().freshness(&origin)
}

// ───────────────────────────── selection ─────────────────────────────

/// Which identities a load wants: all, or a sender's selection.
#[derive(Debug, Clone, Copy)]
enum Scope<'a> {
    All,
    Sender(Option<&'a str>),
}

/// A plan as loaded, possibly reduced to a selection.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Loaded {
    plan: Plan,
    numbers: Vec<usize>,
    total: usize,
}

fn sender_keys(sender: Option<&str>) -> Vec<String> {
    let Some(s) = sender else { return Vec::new() };
    let mut keys = vec![s.trim().to_lowercase(), index_key(s)];
    keys.dedup();
    keys.retain(|k| !k.is_empty());
    keys
}

/// Whether identity number `i` (its address `address`) is part of a
/// sender's selection: the default identity `default`, and every identity
/// whose address key is one of the sender's `keys`.
fn selected(i: usize, default: usize, address: Option<&str>, keys: &[String]) -> bool {
    i == default || address.is_some_and(|a| keys.contains(&index_key(a)))
}

/// Reduce a full plan the way a cached load does, so that results never
/// depend on whether the cache was used.
fn reduce(plan: Plan, want: Scope<'_>) -> Loaded {
    let total = plan.identities.len();
    let Scope::Sender(sender) = want else {
        return Loaded {
            plan,
            numbers: (0..total).collect(),
            total,
        };
    };
    let keys = sender_keys(sender);
    let mut numbers = Vec::new();
    let mut identities = Vec::new();
    let mut default_identity = 0;
    let Plan {
        identities: all,
        default_identity: def,
        mda,
        force_mda,
        queue,
        aliases,
        log,
    } = plan;
    for (i, id) in all.into_iter().enumerate() {
        if selected(i, def, id.address.as_deref(), &keys) {
            if i == def {
                default_identity = identities.len();
            }
            numbers.push(i);
            identities.push(id);
        }
    }
    Loaded {
        plan: Plan {
            identities,
            default_identity,
            mda,
            force_mda,
            queue,
            aliases,
            log,
        },
        numbers,
        total,
    }
}

type CompileFn<'a> = &'a dyn Fn(&Origin, &[u8]) -> Result<Plan, Failure>;

/// One load: the store, verbosity and the compiler to fall back to.
struct PlanLoader<'a> {
    store: &'a PlanStore,
    verbose: bool,
    compile: CompileFn<'a>,
    /// At most one line about the cache per run.
    said: std::cell::Cell<bool>,
}

impl<'a> PlanLoader<'a> {
    fn new(store: &'a PlanStore, verbose: bool, compile: CompileFn<'a>) -> Self {
        PlanLoader {
            store,
            verbose,
            compile,
            said: std::cell::Cell::new(false),
        }
    }

    fn say(&self, line: impl std::fmt::Display) {
        if self.verbose && !self.said.replace(true) {
            println!("esmtp: {line}");
        }
    }

    fn load(&self, origin: &Origin, want: Scope<'_>) -> Result<Loaded, Failure> {
        let Some(path) = origin.path() else {
            // As `config::load_for_sending`: no file at all is an error.
            return Err(Failure::config(config::no_file_message()));
        };
        let mut source = Source::open(path)?;
        let program = Program::current(FORMAT_VERSION);
        let cache = self.store.file_for(path);
        if let (Some(program), Some(cache)) = (&program, &cache) {
            match self.try_cached(cache, program, &mut source, want) {
                Ok(Some(loaded)) => return Ok(loaded),
                Ok(None) => {}
                Err(Invalid::Fatal(f)) => return Err(f),
                Err(Invalid::Stale(reason)) => {
                    self.say(format_args!(
                        "compiled plan out of date ({reason}); recompiling"
                    ));
                }
                Err(Invalid::Broken(reason)) => {
                    self.say(format_args!(
                        "ignoring the compiled plan {}: {reason}; recompiling",
                        cache.display()
                    ));
                }
            }
        }
        let plan = (self.compile)(origin, source.bytes()?)?;
        if let (Some(program), Some(cache)) = (program, &cache) {
            if let Err(e) = self.store_plan(cache, &plan, program, &mut source) {
                self.say(format_args!("compiled plan not cached: {e}"));
            }
        }
        Ok(reduce(plan, want))
    }

    fn try_cached(
        &self,
        cache: &Path,
        program: &Program,
        source: &mut Source,
        want: Scope<'_>,
    ) -> Result<Option<Loaded>, Invalid> {
        let mut reader = match self.store.open_cache(cache) {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(None),
            Err(reason) => return Err(Invalid::Broken(reason)),
        };
        let (header, restamp) = validate(&mut reader, program, source, self.store.settle)?;
        if restamp || matches!(want, Scope::All) {
            // Everything will be read: one read instead of two per identity.
            reader.load_head(u64::MAX).map_err(Invalid::Broken)?;
        }
        let loaded = read_plan(&reader, &header, want).map_err(Invalid::Broken)?;
        if restamp {
            // Same content, newer stamp: rewrite the key so that the next
            // load trusts the stamp again (best effort).
            if let Ok(full) = read_plan(&reader, &header, Scope::All) {
                let _ = self.store_plan(cache, &full.plan, program.clone(), source);
            }
        }
        Ok(Some(loaded))
    }

    fn store_plan(
        &self,
        cache: &Path,
        plan: &Plan,
        program: Program,
        source: &mut Source,
    ) -> Result<(), String> {
        // Nothing to do when the directory is unusable.
        self.store.check_dir(true)?;
        let settle = self.store.settle;
        let src = source.record(settle).map_err(|f| f.message)?;
        let deps: Vec<_> = validity::dependencies(plan)
            .iter()
            .map(|d| dependency_record(d, settle))
            .collect();
        // An unusable aliases file is recompiled every time: its record
        // (missing, a link, unreadable) could not prove it unchanged.
        if let Some(why) = plan.aliases.as_ref().and_then(|a| a.unusable.as_ref()) {
            return Err(format!("the aliases file cannot be used ({why})"));
        }
        // The aliases file changed between its compilation and now: a
        // record of the new bytes would keep the old table valid.
        if let (Some(a), Some(rec)) = (&plan.aliases, deps.last()) {
            if rec.sha256 != a.sha256 {
                return Err(format!("{} changed while compiling", a.resolved));
            }
        }
        let bytes = encode(plan, program, src, deps)?;
        self.store.write_atomic(cache, &bytes)
    }

    fn compile_to(&self, origin: &Origin) -> Result<PathBuf, Failure> {
        let Some(path) = origin.path() else {
            return Err(Failure::config(config::no_file_message()));
        };
        let mut source = Source::open(path)?;
        let plan = (self.compile)(origin, source.bytes()?)?;
        let program = Program::current(FORMAT_VERSION).ok_or_else(|| {
            Failure::new(
                exit::CANTCREAT,
                "cannot identify the running program (/proc not mounted); nothing cached",
            )
        })?;
        let cache = self
            .store
            .file_for(path)
            .ok_or_else(|| Failure::new(exit::CANTCREAT, "no cache directory (HOME unset)"))?;
        self.store_plan(&cache, &plan, program, &mut source)
            .map_err(|e| Failure::new(exit::CANTCREAT, e))?;
        Ok(cache)
    }
}
