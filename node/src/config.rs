//! The node's settings, from kevy's config file and flags; a flag wins
//! over the file.
//!
//! ```toml
//! [server]
//! bind = "127.0.0.1"      # default: the host of this node's entry in `peers`
//! port = 7001             # default: the client port of that entry
//! threads = 2             # connection threads; default: the cores
//! data_dir = "/var/lib/kevy-n1"
//! log_level = "info"      # error, warn, info, debug, trace, or RUST_LOG's syntax
//!
//! [cluster]
//! node_id = "n1"
//! scopes = "app:a:=n1|n3, app:b:=n2"
//! peers = "n1@127.0.0.1:7001, n2@127.0.0.1:7002, n3@127.0.0.1:7003"
//! # also read here: listen = "127.0.0.1:7001", data_dir = "..."
//!
//! [limits]                # positive integers; each defaults to Limits::default()
//! max_clients = 10000
//! max_bulk_len = 536870912
//! max_args = 1048576
//! query_buffer_limit = 67108864
//!
//! [auth]                  # <user>_password, or <user>_password_file (not both)
//! admin_password_file = "admin.password"   # relative to the config file
//! cluster_password = "..."
//! ```
//!
//! Invariants: every key and section is known (a misspelt one is refused,
//! naming it, its section and the file), every error names the flag, key,
//! path or address it is about, and a node whose id is missing from a
//! non-empty `peers` does not start.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use kevy_scope::{config::PeerTableBuf, table::OwnershipTableBuf};

use crate::auth::{Secret, Users};
use crate::limits::Limits;

/// The flags. Each one wins over its key in the config file.
#[derive(Debug, Default, Parser)]
#[command(
    name = "kevy-node",
    version,
    about = "An example kevy node on kevy-scope: RESP2 over TCP, scoped writes, MOVE-SCOPE between nodes",
    after_help = "A flag wins over its key in the config file. Logs go to stderr. \
                  SIGTERM or SIGINT persists the records and the data logs, then exits 0."
)]
pub struct Flags {
    /// kevy config file: [server], [cluster], [limits], [auth]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// This node's id ([cluster] node_id)
    #[arg(long, value_name = "ID")]
    pub node_id: Option<String>,
    /// "prefix=writer[|fallback], ..." ([cluster] scopes)
    #[arg(long, value_name = "SCOPES")]
    pub scopes: Option<String>,
    /// "id@host:port[:client_port], ..." ([cluster] peers)
    #[arg(long, value_name = "PEERS")]
    pub peers: Option<String>,
    /// Listen address ([server] bind; default: this node's host in PEERS)
    #[arg(long, value_name = "HOST")]
    pub bind: Option<String>,
    /// Listen port ([server] port; default: this node's client port in PEERS)
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,
    /// Connection threads ([server] threads; default: the number of cores)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..4096))]
    pub threads: Option<u64>,
    /// Data directory: records file and data logs ([server] data_dir;
    /// default: ./kevy-node-<id>)
    #[arg(long = "dir", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Log level: error, warn, info, debug, trace, or RUST_LOG's syntax
    /// (default: RUST_LOG, else [server] log_level, else info)
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Testing aid: pause N ms between the steps of a move
    #[arg(long, value_name = "N")]
    pub step_pause_ms: Option<u64>,
}

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
    /// Connection threads, at least one.
    pub threads: usize,
    /// The data directory.
    pub data_dir: PathBuf,
    /// The log filter, checked: a level or `RUST_LOG` directives.
    pub log_filter: String,
    /// Testing aid: a pause between the steps of a move.
    pub step_pause: Duration,
    /// What one client may cost (`[limits]`).
    pub limits: Limits,
    /// The users' passwords (`[auth]`).
    pub users: Users,
}

/// The values a config file gives.
#[derive(Debug, Default)]
struct FromFile {
    node_id: Option<String>,
    scopes: Option<String>,
    peers: Option<String>,
    bind: Option<String>,
    port: Option<u16>,
    threads: Option<usize>,
    data_dir: Option<PathBuf>,
    log_level: Option<String>,
    limits: Limits,
    users: Users,
}

/// The sections of a config file and the keys each may hold.
const SECTIONS: [(&str, &[&str]); 4] = [
    (
        "server",
        &["bind", "port", "threads", "data_dir", "log_level"],
    ),
    (
        "cluster",
        &["node_id", "scopes", "peers", "listen", "data_dir"],
    ),
    (
        "limits",
        &[
            "max_clients",
            "max_bulk_len",
            "max_args",
            "query_buffer_limit",
        ],
    ),
    (
        "auth",
        &[
            "default_password",
            "default_password_file",
            "cluster_password",
            "cluster_password_file",
            "admin_password",
            "admin_password_file",
        ],
    ),
];

/// The log levels a bare `--log-level` word may name.
const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

impl Config {
    /// The flags, the file `--config` names, and `RUST_LOG` (`env_log`),
    /// resolved; the error names what it is about.
    pub fn load(flags: Flags, env_log: Option<String>) -> Result<Self, String> {
        let file = match &flags.config {
            Some(path) => read_file(path)?,
            None => FromFile::default(),
        };
        Self::resolve(flags, file, env_log)
    }

    fn resolve(flags: Flags, file: FromFile, env_log: Option<String>) -> Result<Self, String> {
        let node_id = flags
            .node_id
            .or(file.node_id)
            .ok_or("no node id (--node-id or [cluster] node_id)")?;
        let scopes = flags.scopes.or(file.scopes).unwrap_or_default();
        OwnershipTableBuf::parse(&scopes).map_err(|e| format!("scopes {scopes:?}: {e}"))?;
        let peers = flags.peers.or(file.peers).unwrap_or_default();
        let listen = listen_addr(
            &node_id,
            &peers,
            flags.bind.or(file.bind),
            flags.port.or(file.port),
        )?;
        let threads = flags
            .threads
            .map(|n| n as usize)
            .or(file.threads)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let data_dir = flags
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(format!("kevy-node-{node_id}")));
        let log_filter = match (flags.log_level, env_log, file.log_level) {
            (Some(level), _, _) => checked_filter("--log-level", level)?,
            (None, Some(env), _) => checked_filter("RUST_LOG", env)?,
            (None, None, Some(level)) => checked_filter("[server] log_level", level)?,
            (None, None, None) => "info".to_owned(),
        };
        refuse_open_cluster(&node_id, &peers, &file.users)?;
        Ok(Self {
            node_id,
            scopes,
            peers,
            listen,
            threads,
            data_dir,
            log_filter,
            step_pause: Duration::from_millis(flags.step_pause_ms.unwrap_or(0)),
            limits: file.limits,
            users: file.users,
        })
    }
}

/// A node with other nodes in `peers` speaks the node-to-node commands,
/// which only the `cluster` user may send: without its password no peer
/// could log in here, nor this node to them, and no move could land.
fn refuse_open_cluster(id: &str, peers: &str, users: &Users) -> Result<(), String> {
    let table = PeerTableBuf::parse(peers).map_err(|e| format!("peers {peers:?}: {e}"))?;
    if users.cluster.is_none() && table.iter().any(|p| p.id() != id) {
        return Err(
            "peers name other nodes, and only the cluster user may send the \
             node-to-node commands: set [auth] cluster_password or cluster_password_file \
             (the same on every node)"
                .into(),
        );
    }
    Ok(())
}

/// A log filter, checked: a bare word must be a level (a typo such as
/// `infoo` would otherwise pass as a target name and log nothing).
fn checked_filter(source: &str, filter: String) -> Result<String, String> {
    let filter = filter.trim().to_owned();
    let bare = !filter.contains(['=', ',']);
    if bare && !LEVELS.contains(&filter.to_ascii_lowercase().as_str()) {
        return Err(format!(
            "{source} {filter:?}: not a log level (one of {})",
            LEVELS.join(", ")
        ));
    }
    tracing_subscriber::EnvFilter::try_new(&filter)
        .map(|_| filter.clone())
        .map_err(|e| format!("{source} {filter:?}: {e}"))
}

/// Where to listen: the flags, else this node's client address in the
/// peer list, else kevy's default port on loopback. A non-empty peer list
/// must name this node.
fn listen_addr(
    id: &str,
    peers: &str,
    bind: Option<String>,
    port: Option<u16>,
) -> Result<SocketAddr, String> {
    let table = PeerTableBuf::parse(peers).map_err(|e| format!("peers {peers:?}: {e}"))?;
    let own = table.get(id).map(|p| p.client_addr());
    if own.is_none() && table.iter().next().is_some() {
        let ids: Vec<&str> = table.iter().map(|p| p.id()).collect();
        return Err(format!(
            "node id {id:?} is not in peers ({}): add it as {id}@host:port",
            ids.join(", ")
        ));
    }
    let host = bind.unwrap_or_else(|| own.map_or("127.0.0.1".into(), |a| a.host().to_owned()));
    let port = port.or(own.map(|a| a.port())).unwrap_or(6004);
    (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| format!("listen address {host}:{port}: {e}"))?
        .next()
        .ok_or_else(|| format!("listen address {host}:{port} resolves to nothing"))
}

/// Reads the config file at `path`; every error starts with the path.
fn read_file(path: &Path) -> Result<FromFile, String> {
    let named = |e: String| format!("{}: {e}", path.display());
    let text = std::fs::read_to_string(path).map_err(|e| named(e.to_string()))?;
    parse_file(&text, path.parent().unwrap_or(Path::new("."))).map_err(named)
}

/// One section of a parsed file, if present.
type Section<'d> = Option<&'d toml::Table>;

/// The values of a config file's text; password files are read relative
/// to `base` (the file's directory).
fn parse_file(text: &str, base: &Path) -> Result<FromFile, String> {
    let doc: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
    check_names(&doc)?;
    let section = |name: &str| doc.get(name).and_then(toml::Value::as_table);
    let (server, cluster) = (section("server"), section("cluster"));
    let mut bind = string(server, "server", "bind")?;
    let mut port = port_number(server)?;
    // This example also takes `listen = "host:port"` in [cluster].
    if let Some(listen) = string(cluster, "cluster", "listen")? {
        let (host, p) = split_listen(&listen)?;
        bind = Some(host);
        port = Some(p);
    }
    Ok(FromFile {
        node_id: string(cluster, "cluster", "node_id")?,
        scopes: string(cluster, "cluster", "scopes")?,
        peers: string(cluster, "cluster", "peers")?,
        bind,
        port,
        threads: positive(server, "server", "threads")?,
        data_dir: string(cluster, "cluster", "data_dir")?
            .or(string(server, "server", "data_dir")?)
            .map(PathBuf::from),
        log_level: string(server, "server", "log_level")?,
        limits: limits(section("limits"))?,
        users: users(section("auth"), base)?,
    })
}

/// Refuses a section or key this node does not read, naming it.
fn check_names(doc: &toml::Table) -> Result<(), String> {
    let known_sections = || {
        SECTIONS
            .iter()
            .map(|(s, _)| format!("[{s}]"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (name, value) in doc {
        let Some((_, keys)) = SECTIONS.iter().find(|(s, _)| s == name) else {
            return Err(match value {
                toml::Value::Table(_) => {
                    format!("unknown section [{name}] (known: {})", known_sections())
                }
                _ => format!(
                    "unknown key `{name}` outside any section (keys belong in {})",
                    known_sections()
                ),
            });
        };
        let toml::Value::Table(table) = value else {
            return Err(format!("`{name}` must be a section, [{name}]"));
        };
        if let Some(key) = table.keys().find(|k| !keys.contains(&k.as_str())) {
            return Err(format!(
                "unknown key `{key}` in [{name}] (known: {})",
                keys.join(", ")
            ));
        }
    }
    Ok(())
}

/// A string value, if set.
fn string(table: Section<'_>, section: &str, key: &str) -> Result<Option<String>, String> {
    match table.and_then(|t| t.get(key)) {
        None => Ok(None),
        Some(toml::Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!(
            "[{section}] {key} = {}: must be a string (in quotes)",
            shown(other)
        )),
    }
}

/// A value as the file wrote it, for an error.
fn shown(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => format!("{s:?}"),
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::Float(x) => x.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::Array(_) => "[...]".into(),
        toml::Value::Table(_) => "{...}".into(),
    }
}

/// A positive integer value, if set; 0 is refused.
fn positive(table: Section<'_>, section: &str, key: &str) -> Result<Option<usize>, String> {
    match table.and_then(|t| t.get(key)) {
        None => Ok(None),
        Some(toml::Value::Integer(n)) if *n >= 1 => usize::try_from(*n)
            .map(Some)
            .map_err(|_| format!("[{section}] {key} = {n}: too large")),
        Some(other) => Err(format!(
            "[{section}] {key} = {}: must be a positive integer (at least 1; leave it out for the default)",
            shown(other)
        )),
    }
}

/// `[server] port`, if set.
fn port_number(server: Section<'_>) -> Result<Option<u16>, String> {
    positive(server, "server", "port")?
        .map(|p| u16::try_from(p).map_err(|_| format!("[server] port = {p}: must be 1 to 65535")))
        .transpose()
}

/// `[cluster] listen = "host:port"`.
fn split_listen(listen: &str) -> Result<(String, u16), String> {
    let bad = |why: &str| format!("[cluster] listen = {listen:?}: {why}");
    let (host, port) = listen
        .rsplit_once(':')
        .ok_or_else(|| bad("expected host:port"))?;
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| bad("the port must be 1 to 65535"))?;
    Ok((host.trim_matches(['[', ']']).to_owned(), port))
}

/// `[limits]`, over Redis's defaults.
fn limits(table: Section<'_>) -> Result<Limits, String> {
    let mut limits = Limits::default();
    let slots = [
        ("max_clients", &mut limits.max_clients),
        ("max_bulk_len", &mut limits.max_bulk_len),
        ("max_args", &mut limits.max_args),
        ("query_buffer_limit", &mut limits.query_buffer_limit),
    ];
    for (key, slot) in slots {
        if let Some(n) = positive(table, "limits", key)? {
            *slot = n;
        }
    }
    Ok(limits)
}

/// `[auth]`: each user's password, inline or from a file.
fn users(table: Section<'_>, base: &Path) -> Result<Users, String> {
    Ok(Users {
        default: password(table, "default", base)?,
        cluster: password(table, "cluster", base)?,
        admin: password(table, "admin", base)?,
    })
}

/// `<user>_password` or `<user>_password_file`, not both; never empty.
fn password(table: Section<'_>, user: &str, base: &Path) -> Result<Option<Secret>, String> {
    let inline_key = format!("{user}_password");
    let file_key = format!("{user}_password_file");
    let inline = string(table, "auth", &inline_key)?;
    let file = string(table, "auth", &file_key)?;
    match (inline, file) {
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(format!(
            "[auth] {inline_key} and {file_key} are both set: keep one"
        )),
        (Some(password), None) => Secret::new(password)
            .map(Some)
            .ok_or_else(|| format!("[auth] {inline_key} is empty")),
        (None, Some(path)) => password_file(&base.join(path), &file_key).map(Some),
    }
}

/// A password file's contents, its trailing newline trimmed.
fn password_file(path: &Path, key: &str) -> Result<Secret, String> {
    let mut bytes = std::fs::read(path)
        .map_err(|e| format!("[auth] {key}: cannot read {}: {e}", path.display()))?;
    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        bytes.pop();
    }
    Secret::new(bytes).ok_or_else(|| format!("[auth] {key}: {} is empty", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<FromFile, String> {
        parse_file(text, Path::new("."))
    }

    fn flags(args: &[&str]) -> Flags {
        Flags::try_parse_from(std::iter::once("kevy-node").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn the_file_gives_defaults_and_flags_win() {
        let file = parse(
            r#"
            [server]
            threads = 3
            data_dir = "/tmp/x"
            log_level = "warn"
            [cluster]
            node_id = "n2"
            scopes = "app:a:=n1"
            peers = "n1@127.0.0.1:7101, n2@127.0.0.1:7000:7102"
            [auth]
            cluster_password = "c"
            "#,
        )
        .unwrap();
        let config = Config::resolve(flags(&["--threads", "1"]), file, None).unwrap();
        assert_eq!(config.node_id, "n2");
        assert_eq!(config.threads, 1);
        assert_eq!(config.listen, "127.0.0.1:7102".parse().unwrap());
        assert_eq!(config.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(config.log_filter, "warn");
        assert_eq!(config.limits, Limits::default());
        assert_eq!(config.users.cluster, Secret::new("c"));
        assert_eq!(config.users.admin, None);
    }

    #[test]
    fn a_node_with_peers_needs_the_cluster_password() {
        let text =
            "[cluster]\nnode_id = \"n1\"\npeers = \"n1@127.0.0.1:7101, n2@127.0.0.1:7102\"\n";
        let refused = Config::resolve(flags(&[]), parse(text).unwrap(), None).unwrap_err();
        assert!(refused.contains("cluster_password"), "{refused}");
        let alone = "[cluster]\nnode_id = \"n1\"\npeers = \"n1@127.0.0.1:7101\"\n";
        assert!(Config::resolve(flags(&[]), parse(alone).unwrap(), None).is_ok());
        let with = format!("{text}[auth]\ncluster_password = \"c\"\n");
        assert!(Config::resolve(flags(&[]), parse(&with).unwrap(), None).is_ok());
    }

    #[test]
    fn the_log_level_comes_from_the_flag_then_rust_log_then_the_file() {
        let file = || parse("[server]\nlog_level = \"warn\"\n[cluster]\nnode_id = \"n1\"").unwrap();
        let level = |args: &[&str], env: Option<&str>| {
            Config::resolve(flags(args), file(), env.map(String::from)).map(|c| c.log_filter)
        };
        assert_eq!(level(&[], None).unwrap(), "warn");
        assert_eq!(level(&[], Some("debug")).unwrap(), "debug");
        assert_eq!(
            level(&["--log-level", "error"], Some("debug")).unwrap(),
            "error"
        );
        assert_eq!(
            level(&["--log-level", "kevy_node=debug,info"], None).unwrap(),
            "kevy_node=debug,info"
        );
        assert!(
            level(&["--log-level", "infoo"], None)
                .unwrap_err()
                .contains("--log-level")
        );
        assert!(level(&[], Some("loud")).unwrap_err().contains("RUST_LOG"));
    }

    #[test]
    fn the_cluster_section_may_name_the_listen_address_and_data_dir() {
        let file = parse(
            r#"
            [cluster]
            node_id = "n1"
            listen = "127.0.0.1:7555"
            data_dir = "/tmp/y"
            "#,
        )
        .unwrap();
        let config = Config::resolve(Flags::default(), file, None).unwrap();
        assert_eq!(config.listen, "127.0.0.1:7555".parse().unwrap());
        assert_eq!(config.data_dir, PathBuf::from("/tmp/y"));
    }

    #[test]
    fn unknown_keys_and_sections_are_refused_by_name() {
        let key = parse("[cluster]\nnode_id = \"n1\"\nscope = \"app:a:=n1\"").unwrap_err();
        assert!(
            key.contains("`scope`") && key.contains("[cluster]"),
            "{key}"
        );
        let section = parse("[clustre]\nnode_id = \"n1\"").unwrap_err();
        assert!(section.contains("[clustre]"), "{section}");
        let top = parse("node_id = \"n1\"").unwrap_err();
        assert!(top.contains("`node_id` outside any section"), "{top}");
        let flat = parse("server = 1").unwrap_err();
        assert!(flat.contains("[server]"), "{flat}");
    }

    #[test]
    fn a_file_error_names_the_file() {
        let path = std::env::temp_dir().join(format!("kevy-node-cfg-{}.toml", std::process::id()));
        std::fs::write(&path, "[server]\nthread = 2\n").unwrap();
        let e = read_file(&path).unwrap_err();
        assert!(e.starts_with(&path.display().to_string()), "{e}");
        assert!(e.contains("`thread`") && e.contains("[server]"), "{e}");
        std::fs::remove_file(&path).unwrap();
        let missing = read_file(&path).unwrap_err();
        assert!(
            missing.starts_with(&path.display().to_string()),
            "{missing}"
        );
    }

    #[test]
    fn a_node_missing_from_its_peers_refuses_to_start() {
        let e = Config::resolve(
            flags(&["--node-id", "n9", "--peers", "n1@127.0.0.1:7001"]),
            FromFile::default(),
            None,
        )
        .unwrap_err();
        assert!(
            e.contains("\"n9\"") && e.contains("peers") && e.contains("n1"),
            "{e}"
        );
        // No peers at all: a lone node.
        assert!(Config::resolve(flags(&["--node-id", "n9"]), FromFile::default(), None).is_ok());
        let scopes = Config::resolve(
            flags(&["--node-id", "n1", "--scopes", "app:a:"]),
            FromFile::default(),
            None,
        )
        .unwrap_err();
        assert!(scopes.starts_with("scopes \"app:a:\""), "{scopes}");
    }

    #[test]
    fn limits_are_positive_integers() {
        let file = parse("[limits]\nmax_clients = 7\nquery_buffer_limit = 4096").unwrap();
        assert_eq!(
            file.limits,
            Limits {
                max_clients: 7,
                query_buffer_limit: 4096,
                ..Limits::default()
            }
        );
        for bad in ["max_args = 0", "max_bulk_len = -1", "max_clients = \"9\""] {
            let e = parse(&format!("[limits]\n{bad}")).unwrap_err();
            let key = bad.split(' ').next().unwrap();
            assert!(e.contains(key) && e.contains("[limits]"), "{e}");
        }
        assert!(
            parse("[server]\nthreads = 0")
                .unwrap_err()
                .contains("threads")
        );
        assert!(
            parse("[server]\nport = 70000")
                .unwrap_err()
                .contains("port")
        );
    }

    #[test]
    fn passwords_come_inline_or_from_a_file() {
        let dir = std::env::temp_dir().join(format!("kevy-node-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("admin.pw"), "s3cret\n").unwrap();
        std::fs::write(dir.join("empty.pw"), "\n").unwrap();
        let users = parse_file(
            "[auth]\ncluster_password = \"c\"\nadmin_password_file = \"admin.pw\"",
            &dir,
        )
        .unwrap()
        .users;
        assert_eq!(users.cluster, Secret::new("c"));
        assert_eq!(users.admin, Secret::new("s3cret"));
        assert_eq!(users.default, None);

        let empty = parse_file("[auth]\nadmin_password_file = \"empty.pw\"", &dir).unwrap_err();
        assert!(
            empty.contains("empty.pw") && empty.contains("empty"),
            "{empty}"
        );
        let missing = parse_file("[auth]\nadmin_password_file = \"none.pw\"", &dir).unwrap_err();
        assert!(missing.contains("none.pw"), "{missing}");
        let both = parse_file(
            "[auth]\nadmin_password = \"a\"\nadmin_password_file = \"admin.pw\"",
            &dir,
        )
        .unwrap_err();
        assert!(
            both.contains("admin_password_file") && both.contains("both"),
            "{both}"
        );
        assert!(
            parse("[auth]\ndefault_password = \"\"")
                .unwrap_err()
                .contains("empty")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn flags_are_checked_by_name() {
        let parse = |args: &[&str]| {
            Flags::try_parse_from(std::iter::once("kevy-node").chain(args.iter().copied()))
                .map_err(|e| e.to_string())
        };
        assert!(parse(&["--port"]).unwrap_err().contains("--port"));
        assert!(parse(&["--port", "x"]).unwrap_err().contains("--port"));
        assert!(
            parse(&["--threads", "0"])
                .unwrap_err()
                .contains("--threads")
        );
        assert!(parse(&["--scope", "a"]).unwrap_err().contains("--scope"));
        assert_eq!(parse(&["--dir", "/d"]).unwrap().data_dir, Some("/d".into()));
    }
}
