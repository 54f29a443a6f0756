//! RESP on plain sockets for the end-to-end tests of real clusters
//! (compat/kevy-native-e2e, device-net/e2e): a request encoder, commands
//! on a fresh connection that report a dead node as text, pipelined
//! batches for the final checks, and kevy's cluster client connected with
//! retries (a node may be restarting).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use kevy_cluster_rw::ReadWriteClient;

/// Appends `args` to `request` as a RESP array of bulk strings.
pub fn put(request: &mut Vec<u8>, args: &[&[u8]]) {
    request.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        request.extend_from_slice(arg);
        request.extend_from_slice(b"\r\n");
    }
}

/// Commands on a fresh connection to `127.0.0.1:port`, waiting up to
/// `wait` for each reply line; the last reply, or a failure as text
/// ("no connection", "connection lost": the node may be down or killed).
pub fn try_commands(port: u16, commands: &[&[&[u8]]], wait: Duration) -> String {
    let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return "no connection".to_owned();
    };
    stream.set_read_timeout(Some(wait)).ok();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    for args in commands {
        let mut request = Vec::new();
        put(&mut request, args);
        if reader.get_mut().write_all(&request).is_err() {
            return "connection lost".to_owned();
        }
        line.clear();
        match reader.read_line(&mut line) {
            Ok(n) if n > 0 => {}
            _ => return "connection lost".to_owned(),
        }
    }
    line.trim_end().to_owned()
}

/// One command, as [`try_commands`].
pub fn try_command(port: u16, args: &[&[u8]], wait: Duration) -> String {
    try_commands(port, &[args], wait)
}

/// Sends one command per key (`args` builds it) on one connection, in
/// pipelined batches of `batch`, and returns the reply lines in order (a
/// bulk string's value in place of its header).
pub fn pipeline(
    port: u16,
    keys: &[String],
    batch: usize,
    args: impl Fn(&str) -> Vec<Vec<u8>>,
) -> Vec<String> {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(60))).ok();
    let mut reader = BufReader::new(stream);
    let mut replies = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(batch.max(1)) {
        let mut request = Vec::new();
        for k in chunk {
            let args = args(k);
            let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            put(&mut request, &args);
        }
        reader.get_mut().write_all(&request).expect("write");
        for _ in chunk {
            let mut line = String::new();
            reader.read_line(&mut line).expect("read");
            if line.starts_with('$') && !line.starts_with("$-1") {
                line.clear();
                reader.read_line(&mut line).expect("read");
            }
            replies.push(line.trim_end().to_owned());
        }
    }
    replies
}

/// kevy's cluster client on `127.0.0.1:port`, retried for up to a minute
/// while the node starts or restarts.
pub fn connect(port: u16) -> ReadWriteClient {
    for _ in 0..3_000 {
        if let Ok(c) = ReadWriteClient::connect(("127.0.0.1", port), &[]) {
            return c;
        }
        thread::sleep(Duration::from_millis(20));
    }
    panic!("no connection to port {port}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_writes_a_resp_array() {
        let mut request = Vec::new();
        put(&mut request, &[b"SET", b"k", b""]);
        assert_eq!(request, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
    }

    #[test]
    fn a_dead_port_is_reported_as_text() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        assert_eq!(
            try_command(port, &[b"PING"], Duration::from_secs(1)),
            "no connection"
        );
    }
}
