//! An operator's mistakes lose nothing, and a node says what it does.
//!
//! - `a_second_node_on_the_same_directory_is_refused`: a second node
//!   started on a running node's data directory exits non-zero, naming the
//!   directory and the port, before it touches a file; the first node's
//!   acknowledged writes survive its restart.
//! - `a_node_that_never_moved_restarts_as_it_was`: its records file was
//!   written at its first boot, so a restart is no lost records (those
//!   are `tests/recovery.rs`'s).
//! - `config_mistakes_are_refused_by_name`: unknown keys and sections, an
//!   own id missing from `peers`; `--version`.
//! - `the_quarantine_check_changes_nothing`: `SCOPE-LIFT-QUARANTINE` on a
//!   node that is not quarantined says so and changes nothing; it takes
//!   no epoch any more.
//! - `sigterm_persists_and_exits_zero`: SIGTERM logs, persists, exits 0.
//!
//! Every process is killed by its PID when its handle is dropped (a
//! failed test included); every wait is bounded.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use support::{Reply, free_port, request, wait_until};

/// One test's processes at a time: they share two cores with the rest.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A temp directory of one test, removed when the test passed.
struct Root(PathBuf);

impl Root {
    fn new(name: &str) -> Self {
        let root =
            std::env::temp_dir().join(format!("kevy-node-operator-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).expect("a temp dir");
        Self(root)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

/// One kevy-node process, its stdout and stderr in a file; killed by its
/// PID when dropped.
struct Proc {
    child: Option<Child>,
    out: PathBuf,
}

impl Proc {
    /// Starts kevy-node with `args`, its output appended to `out`.
    fn spawn(args: &[String], out: &Path) -> Self {
        let file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(out)
            .expect("an output file");
        let child = Command::new(env!("CARGO_BIN_EXE_kevy-node"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("an output handle"))
            .stderr(file)
            .spawn()
            .expect("kevy-node starts");
        Self {
            child: Some(child),
            out: out.to_path_buf(),
        }
    }

    /// Starts a node and waits until it answers `PING` on `port`.
    fn serving(args: &[String], out: &Path, port: u16) -> Self {
        let node = Self::spawn(args, out);
        let up = wait_until(
            Duration::from_secs(10),
            || matches!(request(port, &[b"PING"]), Ok(Reply::Simple(s)) if s == b"PONG"),
        );
        assert!(
            up.is_some(),
            "no PING answer on port {port}\n{}",
            node.output()
        );
        node
    }

    /// What it printed so far.
    fn output(&self) -> String {
        fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Its exit status, waiting at most `limit`; `None` if it still runs
    /// (then it is killed).
    fn exit_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let end = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            if Instant::now() > end {
                self.kill9();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `signal` (`TERM`, `INT`) to the process.
    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("a running process").id();
        let sent = Command::new("kill")
            .args([format!("-{signal}"), pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -{signal} {pid}");
    }

    /// `kill -9`.
    fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Runs kevy-node with `args` until it exits (at most 10 s): its status
/// (`None`: it was still running, and was killed) and its output.
fn run_to_end(args: &[String], out: &Path) -> (Option<ExitStatus>, String) {
    let mut node = Proc::spawn(args, out);
    let status = node.exit_within(Duration::from_secs(10));
    (status, node.output())
}

/// The flags of a lone node `id` on `port` with its data in `dir`, its
/// passwords in `root`'s config file.
fn lone(root: &Root, id: &str, port: u16, dir: &Path) -> Vec<String> {
    [
        "--config",
        &support::auth_config(&root.0).display().to_string(),
        "--node-id",
        id,
        "--port",
        &port.to_string(),
        "--dir",
        &dir.display().to_string(),
        "--threads",
        "1",
    ]
    .map(String::from)
    .to_vec()
}

/// Nodes of one cluster on loopback, each restartable on its files.
struct Members {
    root: Root,
    ids: Vec<&'static str>,
    ports: Vec<u16>,
    scopes: String,
    procs: Vec<Option<Proc>>,
}

impl Members {
    /// Starts `ids` with `scopes`, every one a peer of the others.
    fn start(root: Root, ids: &[&'static str], scopes: &str) -> Self {
        let ports: Vec<u16> = ids.iter().map(|_| free_port()).collect();
        let mut members = Self {
            root,
            ids: ids.to_vec(),
            ports,
            scopes: scopes.into(),
            procs: ids.iter().map(|_| None).collect(),
        };
        for id in ids {
            members.spawn(id);
        }
        members
    }

    fn index(&self, id: &str) -> usize {
        self.ids.iter().position(|i| *i == id).expect("a member")
    }

    fn port(&self, id: &str) -> u16 {
        self.ports[self.index(id)]
    }

    fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    fn log(&self, id: &str) -> String {
        fs::read_to_string(self.root.join(&format!("{id}.log"))).unwrap_or_default()
    }

    fn spawn(&mut self, id: &str) {
        let peers = self
            .ids
            .iter()
            .zip(&self.ports)
            .map(|(id, port)| format!("{id}@127.0.0.1:{port}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut args = lone(&self.root, id, self.port(id), &self.dir(id));
        args.extend([
            "--scopes".into(),
            self.scopes.clone(),
            "--peers".into(),
            peers,
        ]);
        let out = self.root.join(&format!("{id}.log"));
        let i = self.index(id);
        self.procs[i] = Some(Proc::serving(&args, &out, self.ports[i]));
    }

    fn kill9(&mut self, id: &str) {
        let i = self.index(id);
        self.procs[i] = None;
    }

    fn restart(&mut self, id: &str) {
        self.kill9(id);
        self.spawn(id);
    }
}

fn set(port: u16, key: &str, value: &str) -> std::io::Result<Reply> {
    request(port, &[b"SET", key.as_bytes(), value.as_bytes()])
}

fn get(port: u16, key: &str) -> Option<Vec<u8>> {
    match request(port, &[b"GET", key.as_bytes()]) {
        Ok(Reply::Bulk(value)) => Some(value),
        _ => None,
    }
}

/// A request's reply as text: `+OK` as `OK`, `-ERR x` as `ERR x`.
fn text(reply: std::io::Result<Reply>) -> String {
    match reply {
        Ok(Reply::Simple(s) | Reply::Error(s) | Reply::Bulk(s)) => {
            String::from_utf8_lossy(&s).into_owned()
        }
        other => format!("{other:?}"),
    }
}

/// The epoch in the first line of `SCOPE-STATUS`.
fn epoch(port: u16) -> Option<u32> {
    let Ok(Reply::Array(lines)) = request(port, &[b"SCOPE-STATUS"]) else {
        return None;
    };
    let Some(Reply::Bulk(first)) = lines.first() else {
        return None;
    };
    let first = String::from_utf8_lossy(first).into_owned();
    let words: Vec<&str> = first.split(' ').collect();
    match words.as_slice() {
        ["node", _, "epoch", epoch, ..] => epoch.parse().ok(),
        _ => None,
    }
}

#[test]
fn a_second_node_on_the_same_directory_is_refused() {
    let _one = serial();
    let root = Root::new("second");
    let (port, other_port) = (free_port(), free_port());
    let dir = root.join("n1");
    let mut first = Proc::serving(
        &lone(&root, "n1", port, &dir),
        &root.join("first.log"),
        port,
    );

    // The same directory and port (a duplicated service), then the same
    // directory on another port (a copied config).
    let (same_port, same_out) =
        run_to_end(&lone(&root, "n1", port, &dir), &root.join("second.log"));
    let (other, other_out) = run_to_end(
        &lone(&root, "n1", other_port, &dir),
        &root.join("third.log"),
    );

    let keys: Vec<String> = (0..50).map(|i| format!("k{i}")).collect();
    for key in &keys {
        assert_eq!(text(set(port, key, key)), "OK");
    }
    first.kill9();
    let _first = Proc::serving(
        &lone(&root, "n1", port, &dir),
        &root.join("first.log"),
        port,
    );
    let kept = keys
        .iter()
        .filter(|k| get(port, k).as_deref() == Some(k.as_bytes()))
        .count();
    assert_eq!(kept, 50, "acknowledged writes lost");

    for (status, out, p) in [(same_port, same_out, port), (other, other_out, other_port)] {
        assert!(
            status.is_some_and(|s| !s.success()),
            "a second node on {} ran on ({status:?})\n{out}",
            dir.display()
        );
        assert!(
            out.contains(&dir.display().to_string()) && out.contains(&p.to_string()),
            "the refusal names neither the directory nor the port\n{out}"
        );
    }
}

#[test]
fn a_node_that_never_moved_restarts_as_it_was() {
    let _one = serial();
    let mut cluster = Members::start(
        Root::new("never-moved"),
        &["n1", "n2"],
        "app:a:=n1, app:b:=n2",
    );
    let p2 = cluster.port("n2");
    for i in 0..20 {
        assert_eq!(text(set(p2, &format!("app:b:{i}"), "b")), "OK");
    }
    cluster.restart("n2");
    let status = support::status(p2).expect("n2 answers SCOPE-STATUS");
    assert!(!status.quarantined, "{}", cluster.log("n2"));
    assert!(status.recovering.is_none());
    assert!(!cluster.log("n2").contains("QUARANTINED"));
    assert_eq!(get(p2, "app:b:3").as_deref(), Some(&b"b"[..]));
    assert_eq!(text(set(p2, "app:b:3", "c")), "OK");
}

#[test]
fn config_mistakes_are_refused_by_name() {
    let _one = serial();
    let root = Root::new("config");
    let port = free_port();
    let write = |name: &str, body: &str| {
        let path = root.join(name);
        let body = body
            .replace("PORT", &port.to_string())
            .replace("DIR", &root.join("data").display().to_string());
        fs::write(&path, body).expect("a config file");
        path
    };
    let refused = |config: &Path, words: &[&str]| {
        let args = ["--config".to_string(), config.display().to_string()];
        let (status, out) = run_to_end(&args, &root.join("out.log"));
        let _ = fs::remove_file(root.join("out.log"));
        assert!(
            status.is_some_and(|s| !s.success()),
            "{} was taken ({status:?})\n{out}",
            config.display()
        );
        for word in words {
            assert!(out.contains(word), "{word:?} not named\n{out}");
        }
    };
    let key = write(
        "key.toml",
        "[server]\nport = PORT\ndata_dir = \"DIR\"\n[cluster]\nnode_id = \"n1\"\nscope = \"app:a:=n1\"\n",
    );
    refused(&key, &["scope", "[cluster]", &key.display().to_string()]);
    let section = write(
        "section.toml",
        "[server]\nport = PORT\ndata_dir = \"DIR\"\n[clustre]\nnode_id = \"n1\"\n",
    );
    refused(&section, &["clustre", &section.display().to_string()]);
    let stranger = write(
        "stranger.toml",
        "[server]\nport = PORT\ndata_dir = \"DIR\"\n[cluster]\nnode_id = \"n9\"\n\
         peers = \"n1@127.0.0.1:PORT\"\n",
    );
    refused(&stranger, &["n9", "peers"]);
    let zero = write(
        "zero.toml",
        "[server]\nport = PORT\ndata_dir = \"DIR\"\n[cluster]\nnode_id = \"n1\"\n\
         [limits]\nmax_clients = 0\n",
    );
    refused(&zero, &["max_clients"]);

    let version = Command::new(env!("CARGO_BIN_EXE_kevy-node"))
        .arg("--version")
        .output()
        .expect("kevy-node runs");
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("kevy-node {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn the_quarantine_check_changes_nothing() {
    let _one = serial();
    let root = Root::new("lift");
    let port = free_port();
    let _node = Proc::serving(
        &lone(&root, "n1", port, &root.join("n1")),
        &root.join("n1.log"),
        port,
    );
    let before = epoch(port);
    let reply = support::lift_check(port);
    assert!(
        reply.starts_with("OK not quarantined") && reply.contains("n1"),
        "{reply}"
    );
    // The old form, with an epoch: refused, explaining why.
    let old = text(support::admin_request(
        port,
        &[b"SCOPE-LIFT-QUARANTINE", b"10"],
    ));
    assert!(
        old.starts_with("ERR") && old.contains("takes no argument"),
        "{old}"
    );
    assert_eq!(epoch(port), before, "the epoch changed");
}

#[test]
fn sigterm_persists_and_exits_zero() {
    let _one = serial();
    let root = Root::new("sigterm");
    let port = free_port();
    let dir = root.join("n1");
    for signal in ["TERM", "INT"] {
        let mut node = Proc::serving(&lone(&root, "n1", port, &dir), &root.join("n1.log"), port);
        for i in 0..20 {
            assert_eq!(text(set(port, &format!("{signal}:{i}"), "v")), "OK");
        }
        node.signal(signal);
        let status = node.exit_within(Duration::from_secs(10));
        assert!(
            status.is_some_and(|s| s.success()),
            "SIG{signal}: {status:?}\n{}",
            node.output()
        );
        assert!(
            node.output().contains(&format!("SIG{signal}")),
            "{}",
            node.output()
        );
        assert!(dir.join("records.kvnr").exists());
    }
    let _node = Proc::serving(&lone(&root, "n1", port, &dir), &root.join("n1.log"), port);
    for signal in ["TERM", "INT"] {
        for i in 0..20 {
            assert_eq!(
                get(port, &format!("{signal}:{i}")).as_deref(),
                Some(&b"v"[..])
            );
        }
    }
}
