//! The real Exim as a test server on loopback (see the support module docs).

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::{run, shared_tempdir, Pki};

pub const EXIM: &str = "/opt/esmtp-test/exim/usr/sbin/exim4";
pub const USER: &str = "alice";
pub const PASSWORD: &str = "s3cret pass";
pub const TOKEN: &str = "ya29.TOKEN";

/// What the test server offers.
#[derive(Debug, Clone)]
pub struct EximOptions {
    /// Advertise STARTTLS on the plain port.
    pub starttls: bool,
    /// Advertise DSN.
    pub dsn: bool,
    /// Advertise 8BITMIME.
    pub eight_bit_mime: bool,
    /// `message_size_limit` in bytes (SIZE is then advertised with it).
    pub size_limit: u64,
    /// Advertise AUTH (all five mechanisms).
    pub auth: bool,
    /// Ask for (but do not require) a client certificate signed by the CA.
    pub verify_client_certs: bool,
    /// The name in the server certificate.
    pub cert_name: String,
    /// Advertise PIPELINING.
    pub pipelining: bool,
    /// Advertise SMTPUTF8 (`smtputf8_advertise_hosts`; Debian's Exim is
    /// built with I18N).
    pub smtputf8: bool,
    /// Days the server certificate is valid from now.
    pub cert_days: u32,
    /// The server certificate is self-signed (no CA signs it).
    pub self_signed: bool,
    /// Also advertise SCRAM-SHA-256 and SCRAM-SHA-1 (Cyrus SASL behind
    /// Exim's `cyrus_sasl` authenticator, with a sasldb of its own holding
    /// [`USER`]/[`PASSWORD`]).
    pub scram: bool,
}

impl Default for EximOptions {
    fn default() -> Self {
        EximOptions {
            starttls: true,
            dsn: true,
            eight_bit_mime: true,
            size_limit: 50 * 1024 * 1024,
            auth: true,
            verify_client_certs: false,
            cert_name: "localhost".into(),
            pipelining: true,
            smtputf8: true,
            cert_days: 30,
            self_signed: false,
            scram: false,
        }
    }
}

/// One message as Exim stored it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The whole file (CRLF line ends).
    pub raw: Vec<u8>,
    /// `Return-path:` as Exim wrote it, without the angle brackets.
    pub return_path: String,
    /// `Envelope-to:` (the recipient this copy was delivered for).
    pub envelope_to: String,
    /// The message as we sent it: everything after the headers Exim adds
    /// (Return-path, Envelope-to, Received).
    pub message: Vec<u8>,
}

impl Received {
    fn parse(raw: Vec<u8>) -> Received {
        let mut pos = 0;
        let mut return_path = String::new();
        let mut envelope_to = String::new();
        let mut in_received = false;
        while let Some(end) = raw[pos..].windows(2).position(|w| w == b"\r\n") {
            let line = String::from_utf8_lossy(&raw[pos..pos + end]).into_owned();
            if let Some(v) = line.strip_prefix("Return-path: ") {
                return_path = v.trim_start_matches('<').trim_end_matches('>').to_string();
            } else if let Some(v) = line.strip_prefix("Envelope-to: ") {
                envelope_to = v.to_string();
            } else if line.starts_with("Received: ") && !in_received {
                in_received = true;
            } else if in_received && (line.starts_with('\t') || line.starts_with(' ')) {
            } else {
                break;
            }
            pos += end + 2;
        }
        Received {
            message: raw[pos..].to_vec(),
            raw,
            return_path,
            envelope_to,
        }
    }

    /// The header section of `message` (up to the empty line).
    pub fn headers(&self) -> String {
        let m = &self.message;
        let end = m
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|p| p + 2)
            .unwrap_or(m.len());
        String::from_utf8_lossy(&m[..end]).into_owned()
    }
}

pub struct Exim {
    pub dir: tempfile::TempDir,
    child: Child,
    port: u16,
    tls_port: u16,
    pub options: EximOptions,
    pub pki: Pki,
}

/// A port on 127.0.0.1 that nothing listens on now: a server can take
/// it, and until one does a connection to it is refused.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Exim {
    /// A server with every feature on.
    pub fn start() -> Exim {
        Exim::with(EximOptions::default())
    }

    pub fn with(options: EximOptions) -> Exim {
        assert!(
            Path::new(EXIM).exists(),
            "{EXIM} is missing: run tests/setup/install-deps.sh"
        );
        let dir = shared_tempdir("esmtp-exim.");
        let root = dir.path().to_path_buf();
        let pki = Pki::new(&root.join("pki"), "exim");
        let sans = if options.cert_name.parse::<std::net::IpAddr>().is_ok() {
            format!("IP:{}", options.cert_name)
        } else {
            format!("DNS:{}", options.cert_name)
        };
        if options.self_signed {
            pki.self_signed("server", &options.cert_name, &sans, options.cert_days);
        } else {
            pki.issue_for_days(
                "server",
                &options.cert_name,
                &sans,
                false,
                options.cert_days,
            );
        }
        fs::set_permissions(root.join("pki"), fs::Permissions::from_mode(0o755)).expect("chmod");
        for sub in ["spool", "log", "mail"] {
            fs::create_dir_all(root.join(sub)).expect("mkdir");
        }
        run(Command::new("chown")
            .arg("Debian-exim:Debian-exim")
            .arg(root.join("spool"))
            .arg(root.join("log"))
            .arg(root.join("mail")));

        if options.scram {
            sasldb(&root.join("sasl"));
        }

        let mut last_error = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let tls_port = free_port();
            if port == tls_port {
                continue;
            }
            let conf = root.join("exim.conf");
            fs::write(&conf, config(&root, port, tls_port, &options)).expect("write exim.conf");
            let _ = fs::remove_file(root.join("log/mainlog"));
            let _ = fs::remove_file(root.join("log/paniclog"));
            let out = fs::File::create(root.join("exim.out")).expect("exim.out");
            let err = out.try_clone().expect("dup");
            let mut child = Command::new(EXIM)
                .arg("-C")
                .arg(&conf)
                .arg("-bdf")
                .env("SASL_CONF_PATH", root.join("sasl"))
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .expect("start exim");
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                let log = fs::read_to_string(root.join("log/mainlog")).unwrap_or_default();
                if log.contains("daemon started") {
                    return Exim {
                        dir,
                        child,
                        port,
                        tls_port,
                        options,
                        pki,
                    };
                }
                if let Ok(Some(status)) = child.try_wait() {
                    last_error = format!(
                        "exim exited with {status}: {}{}{}",
                        fs::read_to_string(root.join("exim.out")).unwrap_or_default(),
                        log,
                        fs::read_to_string(root.join("log/paniclog")).unwrap_or_default()
                    );
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_error = format!("exim did not start within 15 s: {log}");
                    break;
                }
                thread::sleep(Duration::from_millis(10));
            }
        }
        panic!("could not start exim: {last_error}");
    }

    /// The plain port (STARTTLS when offered).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port with TLS from the first byte.
    pub fn tls_port(&self) -> u16 {
        self.tls_port
    }

    /// The CA that signed the server certificate.
    pub fn ca_pem(&self) -> &Path {
        &self.pki.ca_cert
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("log/mainlog")).unwrap_or_default()
    }

    /// The log once at least `n` lines satisfy `pred` (or after 10 s):
    /// Exim writes a session's closing line (`no MAIL in SMTP connection`)
    /// after the client has gone, so a client's exit does not order it.
    pub fn wait_for_log(&self, n: usize, pred: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let log = self.log();
            if log.lines().filter(|l| pred(l)).count() >= n || std::time::Instant::now() >= deadline
            {
                return log;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
    }

    /// The log, once it shows a session that authenticated and sent no
    /// message (`esmtp probe --login`); fails the test if none comes.
    pub fn login_without_mail(&self) -> String {
        let seen = |l: &str| l.contains("no MAIL in SMTP connection") && l.contains("AUTH");
        let log = self.wait_for_log(1, seen);
        assert!(
            log.lines().any(seen),
            "Exim saw no AUTH without MAIL:\n{log}"
        );
        log
    }

    pub fn log_lines(&self) -> Vec<String> {
        self.log().lines().map(str::to_string).collect()
    }

    /// How many messages Exim accepted (`<=` lines; written before the 250
    /// reply, so this is exact as soon as the client has its answer).
    pub fn accepted(&self) -> usize {
        self.log_lines()
            .iter()
            .filter(|l| l.contains(" <= "))
            .count()
    }

    /// Messages delivered so far, oldest first.
    pub fn messages(&self) -> Vec<Received> {
        let new = self.dir.path().join("mail/new");
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = fs::read_dir(&new)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| {
                        let t = e
                            .metadata()
                            .and_then(|m| m.modified())
                            .unwrap_or(std::time::UNIX_EPOCH);
                        (t, e.path())
                    })
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
            .into_iter()
            .filter_map(|(_, p)| fs::read(p).ok())
            .map(Received::parse)
            .collect()
    }

    /// Wait until `n` messages have been delivered (deliveries run in the
    /// background after the 250 reply).
    pub fn wait_for_messages(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let m = self.messages();
            if m.len() >= n {
                return m;
            }
            if Instant::now() > deadline {
                panic!(
                    "expected {n} delivered messages, found {}; log:\n{}",
                    m.len(),
                    self.log()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Lines that `logwrite` wrote for MAIL/RCPT commands.
    pub fn commands(&self) -> Vec<String> {
        self.log_lines()
            .iter()
            .filter_map(|l| {
                let rest = l.get(20..)?;
                (rest.starts_with("MAIL ") || rest.starts_with("RCPT ")).then(|| rest.to_string())
            })
            .collect()
    }
}

/// The running processes of one Exim instance: every process Exim forks
/// or re-executes carries `-C <its config>` in its command line, whatever
/// its process group or session. Zombies do not count (they write nothing;
/// reaping them is up to init).
fn instance_pids(conf: &Path) -> Vec<i32> {
    let needle = conf.as_os_str().as_encoded_bytes();
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let cmdline = fs::read(e.path().join("cmdline")).ok()?;
            if !cmdline.windows(needle.len()).any(|w| w == needle) {
                return None;
            }
            let stat = fs::read_to_string(e.path().join("stat")).ok()?;
            let state = stat.rsplit_once(')')?.1.split_whitespace().next()?;
            (state != "Z").then_some(pid)
        })
        .collect()
}

impl Drop for Exim {
    fn drop(&mut self) {
        use nix::sys::signal::{kill, Signal};
        use nix::unistd::Pid;
        // Stop the daemon, let the processes it started (a reception still
        // logging, a delivery) finish, then remove the directory: a late log
        // line would otherwise recreate it.
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
        let _ = self.child.wait();
        let conf = self.dir.path().join("exim.conf");
        let deadline = Instant::now() + Duration::from_secs(3);
        while !instance_pids(&conf).is_empty() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        for pid in instance_pids(&conf) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        if std::env::var_os("ESMTP_KEEP_EXIM").is_some() || thread::panicking() {
            eprintln!("exim test directory kept: {}", self.dir.path().display());
            self.dir.disable_cleanup(true);
        }
    }
}

/// Cyrus SASL for the `cyrus_sasl` authenticators, in `dir`: its settings
/// (`exim.conf`, the application name Exim gives Cyrus, found through
/// `SASL_CONF_PATH`, which the daemon keeps) and a sasldb made by
/// `saslpasswd2` holding [`USER`]/[`PASSWORD`] in the realm of Exim's host
/// name, readable by Debian-exim.
fn sasldb(dir: &Path) {
    fs::create_dir_all(dir).expect("mkdir sasl");
    let db = dir.join("sasldb2");
    fs::write(
        dir.join("exim.conf"),
        format!(
            "pwcheck_method: auxprop\nauxprop_plugin: sasldb\nsasldb_path: {}\n\
             mech_list: SCRAM-SHA-256 SCRAM-SHA-1\n",
            db.display()
        ),
    )
    .expect("write sasl/exim.conf");
    let out = super::run_with_input(
        Command::new("saslpasswd2")
            .args(["-p", "-c", "-u", "exim.test", "-f"])
            .arg(&db)
            .arg(USER),
        PASSWORD.as_bytes(),
    );
    assert!(
        out.status.success() && db.exists(),
        "saslpasswd2 (sasl2-bin; run tests/setup/install-deps.sh): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    run(Command::new("chown").arg("Debian-exim").arg(&db));
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).expect("chmod");
}

fn config(root: &Path, port: u16, tls_port: u16, o: &EximOptions) -> String {
    let r = root.display();
    let yes = |b: bool| if b { "*" } else { "" };
    let auth = if o.auth {
        r#"
plain:
  driver = plaintext
  public_name = PLAIN
  server_prompts = :
  server_condition = ${if and{{eq{$auth2}{@USER@}}{eq{$auth3}{@PASSWORD@}}}}
  server_set_id = $auth2

login:
  driver = plaintext
  public_name = LOGIN
  server_prompts = Username:: : Password::
  server_condition = ${if and{{eq{$auth1}{@USER@}}{eq{$auth2}{@PASSWORD@}}}}
  server_set_id = $auth1

cram:
  driver = cram_md5
  public_name = CRAM-MD5
  server_secret = ${if eq{$auth1}{@USER@}{@PASSWORD@}fail}
  server_set_id = $auth1

ntlm:
  driver = spa
  public_name = NTLM
  server_password = ${if eq{$auth1}{@USER@}{@PASSWORD@}fail}
  server_set_id = $auth1

xoauth2:
  driver = plaintext
  public_name = XOAUTH2
  server_prompts = :
  server_condition = ${if or{{eq{$auth1}{user=@USER@\x01auth=Bearer @TOKEN@\x01\x01}}{and{{exists{@ROOT@/xoauth2-token}}{eq{$auth1}{user=${readfile{@ROOT@/xoauth2-user}{}}\x01auth=Bearer ${readfile{@ROOT@/xoauth2-token}{}}\x01\x01}}}}}}
  server_set_id = @USER@

oauthbearer:
  driver = plaintext
  public_name = OAUTHBEARER
  server_prompts = :
  server_condition = ${if or{{eq{$auth1}{n,a=@USER@,\x01host=127.0.0.1\x01port=$received_port\x01auth=Bearer @TOKEN@\x01\x01}}{and{{exists{@ROOT@/xoauth2-token}}{eq{$auth1}{n,a=${readfile{@ROOT@/xoauth2-user}{}},\x01host=127.0.0.1\x01port=$received_port\x01auth=Bearer ${readfile{@ROOT@/xoauth2-token}{}}\x01\x01}}}}}}
  server_set_id = @USER@
"#
        .replace("@ROOT@", &r.to_string())
        .replace("@USER@", USER)
        .replace("@PASSWORD@", PASSWORD)
        .replace("@TOKEN@", TOKEN)
    } else {
        String::new()
    };
    let scram = if o.scram {
        r#"
scram256:
  driver = cyrus_sasl
  public_name = SCRAM-SHA-256
  server_mech = SCRAM-SHA-256
  server_set_id = $auth1

scram1:
  driver = cyrus_sasl
  public_name = SCRAM-SHA-1
  server_mech = SCRAM-SHA-1
  server_set_id = $auth1
"#
    } else {
        ""
    };
    let verify = if o.verify_client_certs {
        format!("tls_try_verify_hosts = *\ntls_verify_certificates = {r}/pki/exim-ca.pem\n")
    } else {
        String::new()
    };
    format!(
        r#"# written by tests/it/support/exim.rs
exim_path = {EXIM}
keep_environment = SASL_CONF_PATH
spool_directory = {r}/spool
log_file_path = {r}/log/%slog
pid_file_path = {r}/exim.pid
primary_hostname = exim.test
qualify_domain = exim.test
local_interfaces = 127.0.0.1
daemon_smtp_ports = {port} : {tls_port}
tls_on_connect_ports = {tls_port}
tls_certificate = {r}/pki/server.pem
tls_privatekey = {r}/pki/server.key
tls_advertise_hosts = {starttls}
{verify}dsn_advertise_hosts = {dsn}
accept_8bitmime = {eightbit}
message_size_limit = {size}
auth_advertise_hosts = {authhosts}
pipelining_advertise_hosts = {pipelining}
smtputf8_advertise_hosts = {smtputf8}
host_lookup =
rfc1413_hosts =
acl_smtp_mail = acl_mail
acl_smtp_rcpt = acl_rcpt
acl_smtp_data = acl_data
log_selector = +smtp_connection +smtp_no_mail +received_recipients +tls_peerdn +incoming_interface +incoming_port
domainlist local_domains = *

begin acl

acl_mail:
  accept logwrite = MAIL $smtp_command tls=$tls_in_cipher peerdn=$tls_in_peerdn auth=$authenticated_id

acl_rcpt:
  deny local_parts = ^refuse
       message = no such user here
  defer local_parts = ^defer
        message = try again later
  accept logwrite = RCPT $smtp_command

acl_data:
  drop senders = drop@*
       message = closing now
  defer senders = defer@*
        message = queue full, later
  accept

begin routers

all:
  driver = accept
  transport = store

begin transports

store:
  driver = appendfile
  directory = {r}/mail
  maildir_format
  use_crlf
  envelope_to_add
  return_path_add
  user = Debian-exim
  group = Debian-exim

begin authenticators
{auth}{scram}"#,
        starttls = yes(o.starttls),
        dsn = yes(o.dsn),
        eightbit = o.eight_bit_mime,
        size = o.size_limit,
        authhosts = yes(o.auth),
        pipelining = yes(o.pipelining),
        smtputf8 = yes(o.smtputf8),
    )
}
