//! Three kevy-node processes on loopback, and the clients the tests talk
//! to them with. Every process is killed by its PID when the cluster is
//! dropped (a failed test included); every wait is bounded.

#![allow(dead_code)]

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use kevy_resp::Reply;

/// The node ids, in order.
pub const IDS: [&str; 3] = ["n1", "n2", "n3"];

/// The `cluster` user's password in every test cluster.
pub const CLUSTER_PASSWORD: &str = "test-cluster-secret";
/// The `admin` user's password in every test cluster.
pub const ADMIN_PASSWORD: &str = "test-admin-secret";

/// Writes `<dir>/auth.toml`, a config file with the test passwords of
/// the `cluster` and `admin` users, and returns its path.
pub fn auth_config(dir: &std::path::Path) -> PathBuf {
    let path = dir.join("auth.toml");
    fs::write(
        &path,
        format!(
            "[auth]\ncluster_password = \"{CLUSTER_PASSWORD}\"\n\
             admin_password = \"{ADMIN_PASSWORD}\"\n"
        ),
    )
    .expect("a config file");
    path
}

/// `MOVE-SCOPE <prefix> FROM <from> TO <to>` on `port`, as `admin`.
pub fn move_scope(port: u16, prefix: &str, from: &str, to: &str) -> std::io::Result<Reply> {
    admin_request(
        port,
        &[
            b"MOVE-SCOPE",
            prefix.as_bytes(),
            b"FROM",
            from.as_bytes(),
            b"TO",
            to.as_bytes(),
        ],
    )
}

/// `SCOPE-LIFT-QUARANTINE` on `port`, as `admin`: the reply's text
/// (`OK ...` or `ERR ...`).
pub fn lift_check(port: u16) -> String {
    match admin_request(port, &[b"SCOPE-LIFT-QUARANTINE"]) {
        Ok(Reply::Simple(s) | Reply::Error(s)) => String::from_utf8_lossy(&s).into_owned(),
        other => format!("{other:?}"),
    }
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// One node process.
pub struct Node {
    pub id: &'static str,
    pub port: u16,
    child: Option<Child>,
    log: PathBuf,
    args: Vec<String>,
}

/// Three nodes on loopback.
pub struct Cluster {
    pub nodes: Vec<Node>,
    root: PathBuf,
    pub scopes: String,
}

impl Cluster {
    /// Starts n1, n2, n3 with `scopes`, each pausing `step_pause_ms`
    /// between the steps of a move.
    pub fn start(name: &str, scopes: &str, step_pause_ms: u64) -> Self {
        let root =
            std::env::temp_dir().join(format!("kevy-node-test-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).expect("a temp dir");
        let ports: Vec<u16> = IDS.iter().map(|_| free_port()).collect();
        let peers = IDS
            .iter()
            .zip(&ports)
            .map(|(id, port)| format!("{id}@127.0.0.1:{port}"))
            .collect::<Vec<_>>()
            .join(", ");
        let config = auth_config(&root);
        let nodes = IDS
            .iter()
            .zip(&ports)
            .map(|(&id, &port)| Node {
                id,
                port,
                child: None,
                log: root.join(format!("{id}.log")),
                args: vec![
                    "--config".into(),
                    config.display().to_string(),
                    "--node-id".into(),
                    id.into(),
                    "--scopes".into(),
                    scopes.into(),
                    "--peers".into(),
                    peers.clone(),
                    "--dir".into(),
                    root.join(id).display().to_string(),
                    "--threads".into(),
                    "2".into(),
                    "--step-pause-ms".into(),
                    step_pause_ms.to_string(),
                ],
            })
            .collect();
        let mut cluster = Self {
            nodes,
            root,
            scopes: scopes.into(),
        };
        for id in IDS {
            cluster.spawn(id);
        }
        cluster
    }

    fn node(&mut self, id: &str) -> &mut Node {
        self.nodes
            .iter_mut()
            .find(|n| n.id == id)
            .expect("a node of the cluster")
    }

    /// The client port of `id`.
    pub fn port(&self, id: &str) -> u16 {
        self.nodes.iter().find(|n| n.id == id).expect("a node").port
    }

    fn spawn(&mut self, id: &str) {
        let node = self.node(id);
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)
            .expect("a log file");
        let child = Command::new(env!("CARGO_BIN_EXE_kevy-node"))
            .args(&node.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("a log handle"))
            .stderr(log)
            .spawn()
            .expect("kevy-node starts");
        node.child = Some(child);
        let port = node.port;
        wait_until(
            Duration::from_secs(10),
            || matches!(request(port, &[b"PING"]), Ok(Reply::Simple(s)) if s == b"PONG"),
        )
        .unwrap_or_else(|| panic!("{id} did not answer PING on port {port}\n{}", self.logs()));
    }

    /// The data directory of `id`.
    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// The log of `id`.
    pub fn log(&self, id: &str) -> String {
        let node = self.nodes.iter().find(|n| n.id == id).expect("a node");
        fs::read_to_string(&node.log).unwrap_or_default()
    }

    /// `kill -9` of `id`'s process.
    pub fn kill9(&mut self, id: &str) {
        if let Some(mut child) = self.node(id).child.take() {
            // Child::kill sends SIGKILL to this PID.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts `id` again on its data directory (it may be stopped).
    pub fn restart(&mut self, id: &str) {
        self.kill9(id);
        self.spawn(id);
    }

    /// A clean stop of `id`: SIGTERM, then its exit (within 10 s),
    /// which must be 0.
    pub fn stop(&mut self, id: &str) {
        let Some(mut child) = self.node(id).child.take() else {
            return;
        };
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -TERM {id}");
        let exited = wait_until(Duration::from_secs(10), || {
            matches!(child.try_wait(), Ok(Some(_)))
        });
        if exited.is_none() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{id} did not stop on SIGTERM\n{}", self.logs());
        }
        let status = child.wait().expect("its exit status");
        assert!(
            status.success(),
            "{id} stopped with {status}\n{}",
            self.logs()
        );
    }

    /// Every node's log.
    pub fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|n| {
                format!(
                    "--- {} ---\n{}",
                    n.id,
                    fs::read_to_string(&n.log).unwrap_or_default()
                )
            })
            .collect()
    }

    /// The `SCOPE-STATUS` of every node, by id.
    pub fn statuses(&self) -> Vec<(&'static str, Status)> {
        self.nodes
            .iter()
            .filter_map(|n| status(n.port).map(|s| (n.id, s)))
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.root);
        }
    }
}

/// Polls `done` every 10 ms until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> Option<()> {
    let end = Instant::now() + limit;
    loop {
        if done() {
            return Some(());
        }
        if Instant::now() > end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// One request on a fresh connection.
pub fn request(port: u16, args: &[&[u8]]) -> std::io::Result<Reply> {
    Ok(pipeline(port, &[args.iter().map(|a| a.to_vec()).collect()])?.remove(0))
}

/// One request on a fresh connection logged in as `admin` (the
/// operator's commands need it).
pub fn admin_request(port: u16, args: &[&[u8]]) -> std::io::Result<Reply> {
    request_as("admin", ADMIN_PASSWORD, port, args)
}

/// One request on a fresh connection logged in as `user`; an error if
/// the login is refused.
pub fn request_as(user: &str, password: &str, port: u16, args: &[&[u8]]) -> std::io::Result<Reply> {
    let auth = [b"AUTH".to_vec(), user.into(), password.into()];
    let mut replies = pipeline(
        port,
        &[auth.to_vec(), args.iter().map(|a| a.to_vec()).collect()],
    )?;
    match replies.remove(0) {
        Reply::Simple(ok) if ok == b"OK" => Ok(replies.remove(0)),
        Reply::Error(e) => Err(std::io::Error::other(format!(
            "AUTH {user}: {}",
            String::from_utf8_lossy(&e)
        ))),
        other => Err(std::io::Error::other(format!("AUTH {user}: {other:?}"))),
    }
}

/// Sends `commands` on one connection, all at once, and reads their
/// replies.
pub fn pipeline(port: u16, commands: &[Vec<Vec<u8>>]) -> std::io::Result<Vec<Reply>> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut out = Vec::new();
    for c in commands {
        kevy_resp::encode_command(&mut out, c);
    }
    stream.write_all(&out)?;
    let mut replies = Vec::with_capacity(commands.len());
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut pos = 0;
    while replies.len() < commands.len() {
        match kevy_resp::parse_reply(&buf[pos..]) {
            Ok(Some((reply, used))) => {
                replies.push(reply);
                pos += used;
                continue;
            }
            Ok(None) => {}
            Err(e) => return Err(std::io::Error::other(format!("{e:?}"))),
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "closed",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(replies)
}

/// One record a node holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub phase: String,
    pub prefix: String,
    pub from: String,
    pub to: String,
    pub epoch: u32,
}

/// A node's `SCOPE-STATUS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub quarantined: bool,
    /// While it recovers its records: the round (`epochs`, `fence <n>`)
    /// and the peers not heard yet.
    pub recovering: Option<(String, Vec<String>)>,
    pub records: Vec<Record>,
    /// 1 while its move driver is busy (a move in flight, an
    /// announcement still owed to a peer, a write pending), else 0.
    pub announcing: usize,
}

impl Status {
    /// Its record of exactly `prefix`.
    pub fn record(&self, prefix: &str) -> Option<&Record> {
        self.records.iter().find(|r| r.prefix == prefix)
    }
}

/// `SCOPE-STATUS` of the node on `port`; `None` if it does not answer.
pub fn status(port: u16) -> Option<Status> {
    let Ok(Reply::Array(lines)) = request(port, &[b"SCOPE-STATUS"]) else {
        return None;
    };
    let mut status = Status {
        quarantined: false,
        recovering: None,
        records: Vec::new(),
        announcing: 0,
    };
    for line in lines {
        let Reply::Bulk(line) = line else { return None };
        let line = String::from_utf8(line).ok()?;
        let words: Vec<&str> = line.split(' ').collect();
        match words.as_slice() {
            ["node", _, "epoch", _, "quarantined", q] => status.quarantined = *q == "1",
            ["record", phase, prefix, from, to, epoch] => status.records.push(Record {
                phase: phase.to_string(),
                prefix: prefix.to_string(),
                from: from.to_string(),
                to: to.to_string(),
                epoch: epoch.parse().ok()?,
            }),
            ["recovering", "round", "epochs", "waiting", peers @ ..] => {
                status.recovering = Some((
                    "epochs".into(),
                    peers.iter().map(|p| p.to_string()).collect(),
                ));
            }
            ["recovering", "round", "fence", fence, "waiting", peers @ ..] => {
                status.recovering = Some((
                    format!("fence {fence}"),
                    peers.iter().map(|p| p.to_string()).collect(),
                ));
            }
            ["driver", "busy"] => status.announcing += 1,
            ["driver", "idle"] => {}
            _ => return None,
        }
    }
    Some(status)
}

/// Installs Debian's `redis-tools` when `redis-cli` is missing (as root,
/// or with sudo).
pub fn ensure_redis_cli() {
    if Command::new("redis-cli").arg("--version").output().is_ok() {
        return;
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    let apt = |args: &[&str]| {
        let mut cmd = if root {
            Command::new("apt-get")
        } else {
            let mut c = Command::new("sudo");
            c.args(["-n", "apt-get"]);
            c
        };
        cmd.env("DEBIAN_FRONTEND", "noninteractive")
            .args(args)
            .status()
    };
    let _ = apt(&["update", "-q"]);
    let installed = apt(&["install", "-y", "-q", "redis-tools"]);
    assert!(
        matches!(installed, Ok(s) if s.success()),
        "redis-cli is missing and redis-tools could not be installed"
    );
}

/// `redis-cli -p <port> <args>`: its stdout, trimmed.
pub fn redis_cli(port: u16, args: &[&str]) -> String {
    redis_cli_as(&[], port, args)
}

/// `redis-cli --user admin --pass ... -p <port> <args>`: its stdout,
/// trimmed.
pub fn redis_cli_admin(port: u16, args: &[&str]) -> String {
    let login = [
        "--user",
        "admin",
        "--pass",
        ADMIN_PASSWORD,
        "--no-auth-warning",
    ];
    redis_cli_as(&login, port, args)
}

/// `redis-cli <login> -p <port> <args>`: its stdout, trimmed.
fn redis_cli_as(login: &[&str], port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(login)
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `redis-cli -p <port>` reading commands from `input`: its stdout lines.
pub fn redis_cli_script(port: u16, input: &str) -> Vec<String> {
    let mut child = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("redis-cli runs");
    child
        .stdin
        .take()
        .expect("its stdin")
        .write_all(input.as_bytes())
        .expect("commands written");
    let out = child.wait_with_output().expect("redis-cli ends");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// A small seeded generator (xorshift64*), so a failing run can be
/// repeated with `KEVY_NODE_TEST_SEED`.
pub struct Rng(u64);

impl Rng {
    /// From `KEVY_NODE_TEST_SEED`, else the clock; the seed is printed.
    pub fn from_env() -> Self {
        let seed = std::env::var("KEVY_NODE_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            })
            | 1;
        eprintln!("KEVY_NODE_TEST_SEED={seed}");
        Self(seed)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}
