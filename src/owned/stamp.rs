//! What a cache file records to prove it is still valid: the stat stamp
//! of each file it was made from, and the identity of the program that
//! wrote it (the linker's GNU build ID, else the stat stamp of the
//! executable). Both the compiled plans and the trust-anchor cache are keyed
//! on these.

use serde::{Deserialize, Serialize};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A file whose ctime is younger than this, measured against the clock
/// before it was read, is not trusted on its stat stamp alone (covers the
/// coarse kernel clock tick and 1-2 s timestamp granularity of some file
/// systems); its content is checked instead.
pub const SETTLE: Duration = Duration::from_secs(3);

/// Identity of a file as `stat` sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime: i64,
    pub mtime_ns: i64,
    pub ctime: i64,
    pub ctime_ns: i64,
}

impl Stamp {
    pub fn of(m: &fs::Metadata) -> Stamp {
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: m.mtime(),
            mtime_ns: m.mtime_nsec(),
            ctime: m.ctime(),
            ctime_ns: m.ctime_nsec(),
        }
    }

    /// True when the last change of the file is at least `settle` before
    /// `read_start`, so that no later write can reproduce this stamp.
    pub fn settled_before(&self, read_start: SystemTime, settle: Duration) -> bool {
        let Ok(now) = read_start.duration_since(UNIX_EPOCH) else {
            return false;
        };
        let Ok(ctime_s) = u64::try_from(self.ctime) else {
            return false;
        };
        let Ok(ctime_ns) = u32::try_from(self.ctime_ns) else {
            return false;
        };
        let ctime = Duration::new(ctime_s, ctime_ns.min(999_999_999));
        ctime + settle <= now
    }
}

/// Who wrote a cache file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Program {
    pub version: String,
    pub format: u32,
    pub build: Build,
}

/// What makes this build unique.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Build {
    /// The linker's GNU build ID: a hash of the executable's contents.
    GnuBuildId(Vec<u8>),
    /// Without a build ID: the stat stamp of the executable file.
    Executable(Stamp),
}

impl Program {
    /// `None` when the executable cannot be identified (no build ID and no
    /// /proc): then nothing is cached at all.
    pub fn current(format: u32) -> Option<Program> {
        let build = match gnu_build_id() {
            Some(id) => Build::GnuBuildId(id),
            None => Build::Executable(Stamp::of(&fs::metadata("/proc/self/exe").ok()?)),
        };
        Some(Program {
            version: env!("CARGO_PKG_VERSION").to_string(),
            format,
            build,
        })
    }
}

/// Elsewhere the executable's stat stamp identifies the build.
#[cfg(not(target_os = "linux"))]
pub fn gnu_build_id() -> Option<Vec<u8>> {
    None
}

/// The GNU build ID note of the running executable, read from its program
/// headers in memory (no system call; `stat("/proc/self/exe")` costs ~8 µs).
/// Linux only: the loader's `dl_iterate_phdr` and the linker's note.
#[cfg(target_os = "linux")]
pub fn gnu_build_id() -> Option<Vec<u8>> {
    use nix::libc;
    const NT_GNU_BUILD_ID: u32 = 3;

    /// Called by the loader for each loaded object, the main program first;
    /// looks at that one only.
    unsafe extern "C" fn visit(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: the loader passes a valid `dl_phdr_info` whose program
        // headers and PT_NOTE segments are mapped for the life of the
        // process; `data` is the `Option<Vec<u8>>` passed below. Every read
        // is bounded by the segment's size.
        unsafe {
            let out = &mut *(data as *mut Option<Vec<u8>>);
            let info = &*info;
            if info.dlpi_phdr.is_null() {
                return 1;
            }
            let phdrs = std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum));
            for ph in phdrs.iter().filter(|p| p.p_type == libc::PT_NOTE) {
                let align = if ph.p_align == 8 { 8 } else { 4 };
                let start = (info.dlpi_addr as usize).wrapping_add(ph.p_vaddr as usize);
                let notes = std::slice::from_raw_parts(start as *const u8, ph.p_memsz as usize);
                let mut at = 0usize;
                let word = |i: usize| -> Option<u32> {
                    let b = notes.get(i..i + 4)?;
                    Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                };
                while let (Some(namesz), Some(descsz), Some(kind)) =
                    (word(at), word(at + 4), word(at + 8))
                {
                    let name_at = at + 12;
                    let desc_at = name_at + (namesz as usize).next_multiple_of(align);
                    let next = desc_at + (descsz as usize).next_multiple_of(align);
                    let (Some(name), Some(desc)) = (
                        notes.get(name_at..name_at + namesz as usize),
                        notes.get(desc_at..desc_at + descsz as usize),
                    ) else {
                        break;
                    };
                    if kind == NT_GNU_BUILD_ID && name == b"GNU\0" && !desc.is_empty() {
                        *out = Some(desc.to_vec());
                        return 1;
                    }
                    at = next;
                }
            }
            1
        }
    }

    let mut out: Option<Vec<u8>> = None;
    // SAFETY: `visit` only reads loader-provided data and writes `out`.
    unsafe {
        libc::dl_iterate_phdr(
            Some(visit),
            &mut out as *mut Option<Vec<u8>> as *mut libc::c_void,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_id_is_the_one_the_linker_wrote() {
        let id = gnu_build_id().expect("this test binary has a GNU build ID");
        assert!(id.len() >= 8);
        assert_eq!(gnu_build_id(), Some(id.clone()));
        let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let exe = std::env::current_exe().unwrap();
        if let Ok(out) = std::process::Command::new("readelf")
            .arg("-n")
            .arg(&exe)
            .output()
        {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains(&format!("Build ID: {hex}")), "{text}");
        }
    }
}
