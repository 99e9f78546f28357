//! Generates the esmtprc parser from grammar/esmtprc.lalrpop into OUT_DIR,
//! links the unwinder statically and packs the relative relocations
//! where the C toolchain allows it.
use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=grammar");
    let out = match std::env::var("OUT_DIR") {
        Ok(o) => o,
        Err(e) => {
            eprintln!("OUT_DIR not set: {e}");
            std::process::exit(1);
        }
    };
    static_unwinder(Path::new(&out));
    packed_relocations(Path::new(&out));
    if let Err(e) = lalrpop::Configuration::new()
        .set_in_dir("grammar")
        .set_out_dir(&out)
        .emit_rerun_directives(true)
        .process()
    {
        eprintln!("lalrpop: {e}");
        std::process::exit(1);
    }
}

/// Rust's std on linux-gnu links the unwinder as `-lgcc_s`, so every run
/// loads libgcc_s.so.1: five more system calls, its relocations and its
/// constructor, which probes the CPU with CPUID (a trap to the hypervisor
/// in a VM): about 0.1 ms of a 2 ms relay. A `libgcc_s.so` linker script
/// found first on the search path makes that `-lgcc_eh`, the same unwinder
/// as a static archive (what `crt-static` links). Skipped when the C
/// compiler has no libgcc_eh.a (the binary then needs libgcc_s as usual),
/// or with ESMTP_DYNAMIC_UNWINDER set.
fn static_unwinder(out: &Path) {
    println!("cargo:rerun-if-env-changed=ESMTP_DYNAMIC_UNWINDER");
    println!("cargo:rerun-if-env-changed=CC");
    let target = std::env::var("TARGET").unwrap_or_default();
    let features = std::env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    if !target.ends_with("-linux-gnu")
        || features.split(',').any(|f| f == "crt-static")
        || std::env::var_os("ESMTP_DYNAMIC_UNWINDER").is_some()
    {
        return;
    }
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let found = Command::new(cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    // Without the archive the compiler echoes the bare name back.
    if !found.is_some_and(|p| Path::new(&p).is_absolute() && Path::new(&p).is_file()) {
        return;
    }
    let dir = out.join("static-unwinder");
    let script = "/* esmtp's build.rs: the unwinder from libgcc_eh.a, not libgcc_s.so.1 */\nINPUT(-lgcc_eh)\n";
    if std::fs::create_dir_all(&dir).is_ok()
        && std::fs::write(dir.join("libgcc_s.so"), script).is_ok()
    {
        println!("cargo:rustc-link-search=native={}", dir.display());
    }
}

/// The program is a PIE: ld.so applies about 7000 relative relocations at
/// every start (3-4 % of the instructions of a 2 KB relay, more of a
/// cached `esmtp route`). `-z pack-relative-relocs` (DT_RELR: binutils
/// 2.38, glibc 2.36, Debian 12) stores them as a bitmap that ld.so walks
/// far faster, and the binary is 160 KB smaller. Used when a test program
/// linked with it runs here (a glibc without DT_RELR refuses to load it),
/// so a toolchain without it builds as before; not with
/// ESMTP_NO_PACKED_RELOCS.
fn packed_relocations(out: &Path) {
    println!("cargo:rerun-if-env-changed=ESMTP_NO_PACKED_RELOCS");
    let target = std::env::var("TARGET").unwrap_or_default();
    let host = std::env::var("HOST").unwrap_or_default();
    if !target.ends_with("-linux-gnu")
        || target != host
        || std::env::var_os("ESMTP_NO_PACKED_RELOCS").is_some()
    {
        return;
    }
    let flag = "-Wl,-z,pack-relative-relocs";
    let dir = out.join("relr-probe");
    let (src, exe) = (dir.join("probe.c"), dir.join("probe"));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let works = std::fs::create_dir_all(&dir).is_ok()
        && std::fs::write(
            &src,
            "static int x; int *p = &x; int main(void) { return *p; }\n",
        )
        .is_ok()
        && Command::new(&cc)
            .args(["-pie", "-fPIE", flag, "-o"])
            .arg(&exe)
            .arg(&src)
            .output()
            .is_ok_and(|o| o.status.success())
        && Command::new(&exe).status().is_ok_and(|s| s.success());
    if works {
        println!("cargo:rustc-link-arg-bins={flag}");
    }
}
