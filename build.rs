//! Generates the esmtprc parser from grammar/esmtprc.lalrpop into OUT_DIR.
fn main() {
    println!("cargo:rerun-if-changed=grammar");
    let out = match std::env::var("OUT_DIR") {
        Ok(o) => o,
        Err(e) => {
            eprintln!("OUT_DIR not set: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = lalrpop::Configuration::new()
        .set_in_dir("grammar")
        .set_out_dir(out)
        .emit_rerun_directives(true)
        .process()
    {
        eprintln!("lalrpop: {e}");
        std::process::exit(1);
    }
}
