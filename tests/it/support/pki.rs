//! A certificate authority made with openssl, and the certificates it signs.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::run;

/// A certificate authority made with openssl, and certificates it signs.
pub struct Pki {
    pub dir: PathBuf,
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
}

impl Pki {
    pub fn new(dir: &Path, name: &str) -> Pki {
        fs::create_dir_all(dir).expect("pki dir");
        let ca_cert = dir.join(format!("{name}-ca.pem"));
        let ca_key = dir.join(format!("{name}-ca.key"));
        run(Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args([
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN={name} test CA"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
                "-keyout",
            ])
            .arg(&ca_key)
            .arg("-out")
            .arg(&ca_cert));
        Pki {
            dir: dir.to_path_buf(),
            ca_cert,
            ca_key,
        }
    }

    /// A leaf certificate and its (unencrypted) key; `sans` like
    /// `DNS:localhost,IP:127.0.0.1`. Returns (cert, key) paths.
    pub fn issue(&self, name: &str, cn: &str, sans: &str, client: bool) -> (PathBuf, PathBuf) {
        self.issue_for_days(name, cn, sans, client, 2)
    }

    /// [`Pki::issue`] valid for `days` days from now.
    pub fn issue_for_days(
        &self,
        name: &str,
        cn: &str,
        sans: &str,
        client: bool,
        days: u32,
    ) -> (PathBuf, PathBuf) {
        let key = self.dir.join(format!("{name}.key"));
        let csr = self.dir.join(format!("{name}.csr"));
        let cert = self.dir.join(format!("{name}.pem"));
        let ext = self.dir.join(format!("{name}.ext"));
        run(Command::new("openssl")
            .args([
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args(["-nodes", "-subj", &format!("/CN={cn}"), "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&csr));
        let usage = if client { "clientAuth" } else { "serverAuth" };
        let mut text = format!("extendedKeyUsage={usage}\nbasicConstraints=CA:FALSE\n");
        if !sans.is_empty() {
            text.push_str(&format!("subjectAltName={sans}\n"));
        }
        fs::write(&ext, text).expect("ext file");
        run(Command::new("openssl")
            .args(["x509", "-req", "-days", &days.to_string(), "-in"])
            .arg(&csr)
            .arg("-CA")
            .arg(&self.ca_cert)
            .arg("-CAkey")
            .arg(&self.ca_key)
            .arg("-CAcreateserial")
            .arg("-extfile")
            .arg(&ext)
            .arg("-out")
            .arg(&cert));
        fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).expect("chmod key");
        (cert, key)
    }

    /// A self-signed certificate (no CA) and its key, valid `days` days;
    /// `sans` as for [`Pki::issue`]. Returns (cert, key) paths.
    pub fn self_signed(&self, name: &str, cn: &str, sans: &str, days: u32) -> (PathBuf, PathBuf) {
        let key = self.dir.join(format!("{name}.key"));
        let cert = self.dir.join(format!("{name}.pem"));
        run(Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days"])
            .arg(days.to_string())
            .args(["-subj", &format!("/CN={cn}"), "-addext"])
            .arg(format!("subjectAltName={sans}"))
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert));
        fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).expect("chmod key");
        (cert, key)
    }
}

/// The SHA-256 fingerprint of a PEM certificate file, as openssl prints it
/// (`AB:CD:...`).
pub fn file_fingerprint(cert: &Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(cert)
        .output()
        .expect("openssl x509");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.trim()
        .split_once('=')
        .expect("openssl fingerprint line")
        .1
        .to_string()
}
