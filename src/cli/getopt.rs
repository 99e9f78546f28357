//! The getopt pre-pass: sendmail's command line is POSIX getopt style
//! (`-fADDR` and `-f ADDR`, clusters like `-ti`, `-oi` where `o` takes `i`,
//! an optional value that must be attached as in `-q30m`). This pass splits
//! it by the flag table and writes a canonical command line that clap parses
//! without guessing: every option separate, `-q` as `-q` or `-q=VALUE`, and
//! all operands after one `--`.

use super::flags::{self, Takes};
use crate::exit::Failure;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// Long options esmtp understands in sendmail mode (sendmail has none).
pub const LONG_OPTIONS: &[&str] = &["help", "version"];

/// Rewrite `args` (without argv\[0\]) into the canonical form, prefixed by
/// `name` as argv\[0\].
pub fn canonicalize(name: &str, args: &[OsString]) -> Result<Vec<OsString>, Failure> {
    let mut out: Vec<OsString> = vec![name.into()];
    let mut operands: Vec<OsString> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_bytes();
        i += 1;
        if arg == b"--" {
            operands.extend(args[i..].iter().cloned());
            break;
        }
        if let Some(long) = arg.strip_prefix(b"--") {
            let long = String::from_utf8_lossy(long);
            if LONG_OPTIONS.contains(&long.as_ref()) {
                out.push(OsString::from(format!("--{long}")));
                continue;
            }
            return Err(Failure::usage(format!("unknown option --{long}")));
        }
        if arg.len() < 2 || arg[0] != b'-' {
            // An operand (GNU getopt permutes: options may follow operands).
            operands.push(args[i - 1].clone());
            continue;
        }
        let mut j = 1;
        while j < arg.len() {
            let byte = arg[j];
            let c = char::from(byte);
            let flag = match flags::lookup(c) {
                Some(f) if byte.is_ascii() => f,
                _ => {
                    return Err(Failure::usage(format!(
                        "unknown option -{}",
                        String::from_utf8_lossy(&arg[j..j + 1])
                    )))
                }
            };
            let canonical = format!("-{}", flag.short);
            match flag.takes {
                Takes::Nothing => {
                    out.push(canonical.into());
                    j += 1;
                }
                Takes::Value(_) => {
                    let value: OsString = if j + 1 < arg.len() {
                        OsStr::from_bytes(&arg[j + 1..]).to_owned()
                    } else if i < args.len() {
                        i += 1;
                        args[i - 1].clone()
                    } else {
                        return Err(Failure::usage(format!("option -{c} requires an argument")));
                    };
                    out.push(canonical.into());
                    out.push(value);
                    break;
                }
                Takes::Attached(_) => {
                    if j + 1 < arg.len() {
                        let mut v = format!("{canonical}=").into_bytes();
                        v.extend_from_slice(&arg[j + 1..]);
                        out.push(OsString::from_vec(v));
                    } else {
                        out.push(canonical.into());
                    }
                    break;
                }
            }
        }
    }
    out.push("--".into());
    out.extend(operands);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(args: &[&str]) -> Result<Vec<String>, Failure> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        canonicalize("sendmail", &args).map(|v| {
            v.into_iter()
                .skip(1)
                .map(|s| s.to_string_lossy().into_owned())
                .collect()
        })
    }

    #[test]
    fn attached_and_separate_values() {
        assert_eq!(canon(&["-fme@x"]).unwrap(), ["-f", "me@x", "--"]);
        assert_eq!(canon(&["-f", "me@x"]).unwrap(), ["-f", "me@x", "--"]);
        assert_eq!(canon(&["-rme@x"]).unwrap(), ["-f", "me@x", "--"]);
        assert_eq!(
            canon(&["-oi", "-oem"]).unwrap(),
            ["-o", "i", "-o", "em", "--"]
        );
        assert_eq!(canon(&["-bp"]).unwrap(), ["-b", "p", "--"]);
        assert_eq!(
            canon(&["-N", "failure,delay"]).unwrap(),
            ["-N", "failure,delay", "--"]
        );
    }

    #[test]
    fn clusters_and_optional_attached_value() {
        assert_eq!(canon(&["-ti"]).unwrap(), ["-t", "-i", "--"]);
        assert_eq!(canon(&["-tfme@x"]).unwrap(), ["-t", "-f", "me@x", "--"]);
        assert_eq!(canon(&["-q"]).unwrap(), ["-q", "--"]);
        assert_eq!(canon(&["-q30m"]).unwrap(), ["-q=30m", "--"]);
        // A bare -q never swallows the next argument.
        assert_eq!(canon(&["-q", "bob"]).unwrap(), ["-q", "--", "bob"]);
    }

    #[test]
    fn operands_are_collected_after_double_dash() {
        assert_eq!(
            canon(&["a@b", "-i", "--", "-t", "c@d"]).unwrap(),
            ["-i", "--", "a@b", "-t", "c@d"]
        );
        assert_eq!(canon(&["-"]).unwrap(), ["--", "-"]);
        // A value may start with a dash.
        assert_eq!(canon(&["-f", "-x"]).unwrap(), ["-f", "-x", "--"]);
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_keeps_operands_after_double_dash(
            args in proptest::collection::vec("(-[a-zA-Z]{0,3}|--|[a-z@.]{1,6}|-q[0-9]{0,2})", 0..8)
        ) {
            let os: Vec<OsString> = args.iter().map(OsString::from).collect();
            if let Ok(out) = canonicalize("sendmail", &os) {
                let dd = out.iter().position(|a| a == "--");
                proptest::prop_assert!(dd.is_some());
            }
        }
    }

    #[test]
    fn errors() {
        assert_eq!(canon(&["-Z"]).unwrap_err().message, "unknown option -Z");
        assert_eq!(canon(&["-tZ"]).unwrap_err().message, "unknown option -Z");
        assert_eq!(canon(&["--frobnicate"]).unwrap_err().status, 64);
        assert_eq!(
            canon(&["-f"]).unwrap_err().message,
            "option -f requires an argument"
        );
        assert_eq!(canon(&["--help"]).unwrap(), ["--help", "--"]);
    }
}
