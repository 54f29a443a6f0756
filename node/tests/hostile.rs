//! Hostile clients against one real kevy-node process: input that used to
//! crash the node or fill its memory, and the limits of the config file's
//! `[limits]` section. Each refusal must be an error reply and a closed
//! connection, and the node must go on serving everyone else.
//!
//! - `nested_arrays_get_a_protocol_error_and_the_node_serves_on`: 10 000
//!   nested arrays (about 40 KB) used to overflow a connection thread's
//!   stack and kill the node.
//! - `unfinished_gigabyte_bulks_are_refused_at_once`: three `$1073741824`
//!   bulks used to be buffered until the node held 3 GB.
//! - `declared_sizes_reserve_no_memory`, `too_many_args_and_long_lines_are_refused_at_once`.
//! - `a_query_buffer_over_the_limit_is_refused`, `max_clients_refuses_the_extra_connection`:
//!   with small limits from the config file.
//!
//! `KEVY_NODE_BIN=<path>` runs the tests against another build (an older
//! one, to see them fail).

mod support;

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use support::Reply;

/// The most memory the node may hold while attacked (its own data is a
/// few MB).
const RSS_LIMIT_KIB: u64 = 200 * 1024;

/// The tests start nodes of their own; one at a time keeps them off each
/// other's CPU and memory.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One kevy-node process, killed by its PID when dropped.
struct Node {
    child: Child,
    port: u16,
    root: PathBuf,
}

impl Node {
    /// Starts node `h1`, alone in its cluster, with `limits` as the body
    /// of its config file's `[limits]` section.
    fn start(name: &str, limits: &str) -> Self {
        let root =
            std::env::temp_dir().join(format!("kevy-node-hostile-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).expect("a temp dir");
        let config = root.join("kevy.toml");
        fs::write(&config, format!("[limits]\n{limits}\n")).expect("the config file");
        let log = fs::File::create(root.join("node.log")).expect("a log file");
        let port = support::free_port();
        let bin = std::env::var("KEVY_NODE_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_kevy-node").to_string());
        let child = Command::new(bin)
            .arg("--config")
            .arg(&config)
            .args(["--node-id", "h1", "--scopes", "app:=h1", "--threads", "2"])
            .args(["--peers", &format!("h1@127.0.0.1:{port}")])
            .arg("--dir")
            .arg(root.join("data"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("a log handle"))
            .stderr(log)
            .spawn()
            .expect("kevy-node starts");
        let node = Self { child, port, root };
        let up = support::wait_until(Duration::from_secs(10), || node.pings());
        assert!(up.is_some(), "h1 did not answer PING\n{}", node.log());
        node
    }

    /// Whether the node answers PING on a new connection.
    fn pings(&self) -> bool {
        matches!(support::request(self.port, &[b"PING"]), Ok(Reply::Simple(s)) if s == b"PONG")
    }

    /// Whether the node still runs and serves PING and SET.
    fn serves(&mut self) -> bool {
        let alive = matches!(self.child.try_wait(), Ok(None));
        let set = support::request(self.port, &[b"SET", b"app:k", b"v"]);
        alive && self.pings() && matches!(set, Ok(Reply::Simple(s)) if s == b"OK")
    }

    /// Its stdout and stderr.
    fn log(&self) -> String {
        fs::read_to_string(self.root.join("node.log")).unwrap_or_default()
    }

    /// Its resident memory (`VmRSS`), in KiB.
    fn rss_kib(&self) -> u64 {
        let status = fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the node's /proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("a VmRSS line")
    }

    /// A new connection to the node.
    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).expect("a connection");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("a read timeout");
        stream
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.root);
        }
    }
}

/// What the node sends on `stream` until it closes it: `Ok(bytes)` when
/// it closed (an end of file, or a reset after its last bytes), `Err`
/// with the bytes so far if it did not close within the read timeout.
fn read_to_close(stream: &mut TcpStream) -> Result<String, String> {
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(String::from_utf8_lossy(&got).into_owned()),
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {
                return Ok(String::from_utf8_lossy(&got).into_owned());
            }
            Err(e) => {
                return Err(format!("{e} after {:?}", String::from_utf8_lossy(&got)));
            }
        }
    }
}

/// Sends `head` on a new connection and expects, before the read timeout,
/// one `-ERR Protocol error: ...` line containing `reason` and the
/// connection closed.
fn expect_refused(node: &Node, head: &[u8], reason: &str) {
    let mut stream = node.connect();
    stream.write_all(head).expect("the request is sent");
    let reply = read_to_close(&mut stream)
        .unwrap_or_else(|e| panic!("no refusal and close: {e}\n{}", node.log()));
    assert!(
        reply.starts_with("-ERR Protocol error: ") && reply.ends_with("\r\n"),
        "{reply:?}\n{}",
        node.log()
    );
    assert!(reply.contains(reason), "{reply:?} does not say {reason:?}");
    assert_eq!(reply.matches("\r\n").count(), 1, "{reply:?}");
}

/// A connection that got `+PONG` (so it holds one of the `max_clients`
/// slots), tried for up to five seconds.
fn pinging_client(node: &Node) -> TcpStream {
    let mut last = String::new();
    let mut served = None;
    support::wait_until(Duration::from_secs(5), || {
        let mut stream = node.connect();
        let mut pong = [0u8; 7];
        let answer = stream
            .write_all(b"*1\r\n$4\r\nPING\r\n")
            .and_then(|()| stream.read_exact(&mut pong));
        last = format!("{answer:?} {}", pong.escape_ascii());
        if answer.is_ok() && &pong == b"+PONG\r\n" {
            served = Some(stream);
        }
        served.is_some()
    });
    served.unwrap_or_else(|| panic!("no PONG: {last}\n{}", node.log()))
}

#[test]
fn nested_arrays_get_a_protocol_error_and_the_node_serves_on() {
    let _one_at_a_time = serial();
    let mut node = Node::start("nested", "");
    // A connection in the middle of a pipeline, to see it is not harmed.
    let mut bystander = node.connect();
    bystander
        .write_all(b"*3\r\n$3\r\nSET\r\n$5\r\napp:b\r\n$")
        .expect("a partial command");

    let mut nested = b"*1\r\n".repeat(10_000);
    nested.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
    expect_refused(&node, &nested, "expected '$', got '*'");
    assert!(node.serves(), "the node stopped serving\n{}", node.log());
    assert!(
        node.log().contains("closed the connection from 127.0.0.1:"),
        "the close is not logged\n{}",
        node.log()
    );

    bystander.write_all(b"1\r\nx\r\n").expect("its end");
    let mut reply = [0u8; 5];
    bystander.read_exact(&mut reply).expect("its reply");
    assert_eq!(&reply, b"+OK\r\n");
}

#[test]
fn unfinished_gigabyte_bulks_are_refused_at_once() {
    let _one_at_a_time = serial();
    let mut node = Node::start("gigabyte", "");
    let start = Instant::now();
    let mut attackers = Vec::new();
    for _ in 0..3 {
        let mut stream = node.connect();
        stream
            .write_all(b"*3\r\n$3\r\nSET\r\n$5\r\napp:k\r\n$1073741824\r\n")
            .expect("the header is sent");
        // The node may have closed already: a reset is no failure here.
        let _ = stream.write_all(&vec![b'x'; 1 << 20]);
        attackers.push(stream);
    }
    for stream in &mut attackers {
        let reply = read_to_close(stream)
            .unwrap_or_else(|e| panic!("no refusal and close: {e}\n{}", node.log()));
        assert!(
            reply.starts_with("-ERR Protocol error: invalid bulk length"),
            "{reply:?}"
        );
    }
    assert!(start.elapsed() < Duration::from_secs(5));
    // What they go on sending meets a closed connection.
    for stream in &mut attackers {
        let chunk = vec![b'x'; 1 << 20];
        let sent = (0..256).try_for_each(|_| stream.write_all(&chunk));
        assert!(sent.is_err(), "the node took 256 MB more");
    }
    let rss = node.rss_kib();
    assert!(rss < RSS_LIMIT_KIB, "the node holds {rss} KiB");
    assert!(node.serves(), "the node stopped serving\n{}", node.log());
}

#[test]
fn declared_sizes_reserve_no_memory() {
    let _one_at_a_time = serial();
    let mut node = Node::start("declared", "");
    // Under every default limit, so not refused: three connections each
    // announce 60 MB and send 4, and the node holds what arrived.
    let mut streams = Vec::new();
    for _ in 0..3 {
        let mut stream = node.connect();
        stream
            .write_all(b"*1048576\r\n$3\r\nSET\r\n$5\r\napp:k\r\n$60000000\r\n")
            .expect("the headers are sent");
        stream
            .write_all(&vec![b'x'; 4 << 20])
            .expect("4 MB are sent");
        streams.push(stream);
    }
    assert!(node.serves(), "the node stopped serving\n{}", node.log());
    let rss = node.rss_kib();
    assert!(rss < 64 * 1024, "the node holds {rss} KiB");
    for stream in &mut streams {
        let short = Some(Duration::from_millis(100));
        stream.set_read_timeout(short).expect("a read timeout");
        let mut byte = [0u8; 1];
        let waiting = stream.read(&mut byte);
        let kind = waiting.as_ref().err().map(std::io::Error::kind);
        assert!(
            matches!(kind, Some(ErrorKind::WouldBlock | ErrorKind::TimedOut)),
            "the connection should still wait for its command: {waiting:?}"
        );
    }
}

#[test]
fn too_many_args_and_long_lines_are_refused_at_once() {
    let _one_at_a_time = serial();
    let mut node = Node::start("args", "");
    expect_refused(&node, b"*1048577\r\n", "more than 1048576 arguments");
    expect_refused(&node, b"*-1\r\n", "invalid multibulk length");
    expect_refused(&node, b"*1\r\n$-5\r\n", "invalid bulk length");
    expect_refused(&node, b"*1\r\n$1\r\nabc", "expected CRLF");
    expect_refused(&node, &vec![b'A'; 70 * 1024], "too big inline request");
    assert!(node.serves(), "the node stopped serving\n{}", node.log());
}

#[test]
fn a_query_buffer_over_the_limit_is_refused() {
    let _one_at_a_time = serial();
    let mut node = Node::start("query", "query_buffer_limit = 65536");
    // Under the limit: served.
    let value = vec![b'v'; 30_000];
    let echoed = support::request(node.port, &[b"ECHO", &value]);
    assert!(matches!(echoed, Ok(Reply::Bulk(v)) if v == value));
    // A bulk that cannot fit: refused at its header.
    let head = b"*2\r\n$4\r\nECHO\r\n$70000\r\n";
    expect_refused(&node, head, "invalid bulk length: longer than 65536 bytes");
    // Many small arguments past the limit: refused once it is full.
    let mut many = b"*1000\r\n".to_vec();
    for _ in 0..1000 {
        many.extend_from_slice(b"$100\r\n");
        many.extend_from_slice(&[b'a'; 100]);
        many.extend_from_slice(b"\r\n");
    }
    expect_refused(&node, &many, "query buffer limit exceeded");
    assert!(node.serves(), "the node stopped serving\n{}", node.log());
}

#[test]
fn max_clients_refuses_the_extra_connection() {
    let _one_at_a_time = serial();
    let mut node = Node::start("clients", "max_clients = 2");
    // The connections of the start's PINGs may hold their slots a moment
    // after they close.
    let mut first = pinging_client(&node);
    let second = pinging_client(&node);
    let mut third = node.connect();
    let reply = read_to_close(&mut third).expect("a refusal and a close");
    assert_eq!(reply, "-ERR max number of clients reached\r\n");
    assert!(
        node.log().contains("max_clients (2) reached"),
        "{}",
        node.log()
    );
    // A slot given back is taken again.
    first.write_all(b"*1\r\n$4\r\nQUIT\r\n").expect("a QUIT");
    drop(first);
    let again = support::wait_until(Duration::from_secs(5), || node.pings());
    assert!(again.is_some(), "no slot came back\n{}", node.log());
    drop(second);
    // Their slots come back a moment after they close.
    let serves = support::wait_until(Duration::from_secs(5), || node.serves());
    assert!(serves.is_some(), "the node stopped serving\n{}", node.log());
}
