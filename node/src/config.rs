//! The node's settings, from kevy's config file (`[server]` and
//! `[cluster]`) and flags; a flag wins over the file.
//!
//! ```toml
//! [server]
//! bind = "127.0.0.1"      # default: the host of this node's entry in `peers`
//! port = 7001             # default: the client port of that entry
//! threads = 2             # connection threads; default: the cores
//! data_dir = "/var/lib/kevy-n1"
//!
//! [cluster]
//! node_id = "n1"
//! scopes = "app:a:=n1|n3, app:b:=n2"
//! peers = "n1@127.0.0.1:7001, n2@127.0.0.1:7002, n3@127.0.0.1:7003"
//! # also read here: listen = "127.0.0.1:7001", data_dir = "..."
//! ```

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use kevy_scope::PeerTableBuf;

use crate::auth::Users;
use crate::limits::Limits;

/// The usage text.
pub const USAGE: &str = "\
usage: kevy-node [--config FILE] [--node-id ID] [--scopes SCOPES] [--peers PEERS]
                 [--bind HOST] [--port PORT] [--threads N] [--dir DIR]

  --config FILE      kevy config file: [server] bind, port, threads, data_dir;
                     [cluster] node_id, scopes, peers
  --node-id ID       this node's id ([cluster] node_id)
  --scopes SCOPES    \"prefix=writer[|fallback], ...\" ([cluster] scopes)
  --peers PEERS      \"id@host:port[:client_port], ...\" ([cluster] peers)
  --bind HOST        listen address (default: this node's host in PEERS)
  --port PORT        listen port (default: this node's client port in PEERS)
  --threads N        connection threads (default: the number of cores)
  --dir DIR          data directory: records file and data logs
                     (default: ./kevy-node-<id>)
  --step-pause-ms N  testing aid: pause N ms between the steps of a move";

/// Everything the node reads at start.
#[derive(Debug, Clone)]
pub struct Config {
    /// This node's id.
    pub node_id: String,
    /// The `scopes` value.
    pub scopes: String,
    /// The `peers` value.
    pub peers: String,
    /// Where to listen.
    pub listen: SocketAddr,
    /// Connection threads.
    pub threads: usize,
    /// The data directory.
    pub data_dir: PathBuf,
    /// Testing aid: a pause between the steps of a move.
    pub step_pause: Duration,
    /// What one client may cost (`[limits]`).
    pub limits: Limits,
    /// The users' passwords (`[auth]`).
    pub users: Users,
}

#[derive(Debug, Default)]
struct Raw {
    node_id: Option<String>,
    scopes: Option<String>,
    peers: Option<String>,
    bind: Option<String>,
    port: Option<u16>,
    threads: Option<usize>,
    data_dir: Option<PathBuf>,
    step_pause_ms: Option<u64>,
}

impl Config {
    /// Reads the flags (and the file `--config` names).
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut flags = Raw::default();
        let mut file = None;
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            if flag == "--help" || flag == "-h" {
                return Err(String::new());
            }
            let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let number = |v: &str| {
                v.parse::<u64>()
                    .map_err(|_| format!("{flag}: not a number: {v:?}"))
            };
            match flag.as_str() {
                "--config" => file = Some(PathBuf::from(value)),
                "--node-id" => flags.node_id = Some(value),
                "--scopes" => flags.scopes = Some(value),
                "--peers" => flags.peers = Some(value),
                "--bind" => flags.bind = Some(value),
                "--port" => {
                    flags.port = Some(
                        number(&value)?
                            .try_into()
                            .map_err(|_| "--port: too large")?,
                    )
                }
                "--threads" => flags.threads = Some(number(&value)? as usize),
                "--dir" => flags.data_dir = Some(PathBuf::from(value)),
                "--step-pause-ms" => flags.step_pause_ms = Some(number(&value)?),
                _ => return Err(format!("unknown flag {flag}")),
            }
        }
        let from_file = match file {
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                read_file(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
            None => Raw::default(),
        };
        Self::resolve(flags, from_file)
    }

    fn resolve(flags: Raw, file: Raw) -> Result<Self, String> {
        let node_id = flags
            .node_id
            .or(file.node_id)
            .ok_or("no node id (--node-id or [cluster] node_id)")?;
        let scopes = flags.scopes.or(file.scopes).unwrap_or_default();
        let peers = flags.peers.or(file.peers).unwrap_or_default();
        let listen = listen_addr(
            &node_id,
            &peers,
            flags.bind.or(file.bind),
            flags.port.or(file.port),
        )?;
        let threads = flags
            .threads
            .or(file.threads)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1);
        let data_dir = flags
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(format!("kevy-node-{node_id}")));
        Ok(Self {
            node_id,
            scopes,
            peers,
            listen,
            threads,
            data_dir,
            step_pause: Duration::from_millis(
                flags.step_pause_ms.or(file.step_pause_ms).unwrap_or(0),
            ),
            limits: Limits::default(),
            users: Users::default(),
        })
    }
}

/// Where to listen: the flags, else this node's client address in the
/// peer list, else kevy's default port on loopback.
fn listen_addr(
    id: &str,
    peers: &str,
    bind: Option<String>,
    port: Option<u16>,
) -> Result<SocketAddr, String> {
    let peers = PeerTableBuf::parse(peers).map_err(|e| format!("peers: {e}"))?;
    let own = peers.get(id).map(|p| p.client_addr());
    let host = bind.unwrap_or_else(|| own.map_or("127.0.0.1".into(), |a| a.host().to_owned()));
    let port = port.or(own.map(|a| a.port())).unwrap_or(6004);
    (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| format!("listen address {host}:{port}: {e}"))?
        .next()
        .ok_or_else(|| format!("listen address {host}:{port} resolves to nothing"))
}

/// The `[server]` and `[cluster]` values of a kevy config file.
fn read_file(text: &str) -> Result<Raw, String> {
    let doc: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
    let section = |name: &str| doc.get(name).and_then(toml::Value::as_table);
    let string = |table: Option<&toml::Table>, key: &str| -> Result<Option<String>, String> {
        match table.and_then(|t| t.get(key)) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("{key} must be a string")),
        }
    };
    let integer = |table: Option<&toml::Table>, key: &str| -> Result<Option<u64>, String> {
        match table.and_then(|t| t.get(key)) {
            None => Ok(None),
            Some(toml::Value::Integer(n)) if *n >= 0 => Ok(Some(*n as u64)),
            Some(_) => Err(format!("{key} must be a non-negative integer")),
        }
    };
    let (server, cluster) = (section("server"), section("cluster"));
    let mut bind = string(server, "bind")?;
    let mut port = integer(server, "port")?;
    // This example also takes `listen = "host:port"` in [cluster].
    if let Some(listen) = string(cluster, "listen")? {
        let (host, p) = listen
            .rsplit_once(':')
            .ok_or_else(|| format!("listen {listen:?}: expected host:port"))?;
        bind = Some(host.trim_matches(['[', ']']).to_owned());
        port = Some(
            p.parse()
                .map_err(|_| format!("listen {listen:?}: bad port"))?,
        );
    }
    Ok(Raw {
        node_id: string(cluster, "node_id")?,
        scopes: string(cluster, "scopes")?,
        peers: string(cluster, "peers")?,
        bind,
        port: port
            .map(|p| p.try_into().map_err(|_| "port is too large"))
            .transpose()?,
        threads: integer(server, "threads")?.map(|n| n as usize),
        data_dir: string(cluster, "data_dir")?
            .or(string(server, "data_dir")?)
            .map(PathBuf::from),
        step_pause_ms: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_gives_defaults_and_flags_win() {
        let file = read_file(
            r#"
            [server]
            threads = 3
            data_dir = "/tmp/x"
            [cluster]
            node_id = "n2"
            scopes = "app:a:=n1"
            peers = "n1@127.0.0.1:7101, n2@127.0.0.1:7000:7102"
            "#,
        )
        .unwrap();
        let flags = Raw {
            threads: Some(1),
            ..Raw::default()
        };
        let config = Config::resolve(flags, file).unwrap();
        assert_eq!(config.node_id, "n2");
        assert_eq!(config.threads, 1);
        assert_eq!(config.listen, "127.0.0.1:7102".parse().unwrap());
        assert_eq!(config.data_dir, PathBuf::from("/tmp/x"));
    }

    #[test]
    fn the_cluster_section_may_name_the_listen_address_and_data_dir() {
        let file = read_file(
            r#"
            [cluster]
            node_id = "n1"
            listen = "127.0.0.1:7555"
            data_dir = "/tmp/y"
            "#,
        )
        .unwrap();
        let config = Config::resolve(Raw::default(), file).unwrap();
        assert_eq!(config.listen, "127.0.0.1:7555".parse().unwrap());
        assert_eq!(config.data_dir, PathBuf::from("/tmp/y"));
    }

    #[test]
    fn mistakes_are_named() {
        assert!(
            read_file("[server]\nport = \"x\"")
                .unwrap_err()
                .contains("port")
        );
        assert!(
            Config::from_args(["--port".to_string()])
                .unwrap_err()
                .contains("needs a value")
        );
    }
}
