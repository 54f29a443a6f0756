//! kevy-node: an example kevy node on kevy-scope. RESP2 over TCP; writes
//! decided by the crate's shared node; `MOVE-SCOPE` carried between nodes
//! over sockets; move records persisted in a file before the replies that
//! depend on them.
//!
//! - `config.rs`: the config file and flags.
//! - `server.rs`: the listener and connection threads; `connection.rs`: a
//!   client's buffers; `resp.rs`: the RESP codec (`redis-protocol`).
//! - `cmd/`: one file per command; `cmd/mod.rs` admits writes.
//! - `db.rs`: the sharded store and its logs.
//! - `cluster/`: the node in its cluster: the move protocol, announcements,
//!   the records file.

mod auth;
mod cluster;
mod cmd;
mod config;
mod connection;
mod db;
mod limits;
mod resp;
mod server;

use std::error::Error;
use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use tracing_subscriber::EnvFilter;

use crate::cluster::{Cluster, ClusterConfig, Past, log};
use crate::config::{Config, Flags};
use crate::db::Db;

fn main() -> ExitCode {
    // --help and --version print and exit 0; a bad flag exits 2, naming it.
    let flags = Flags::parse();
    let config = match Config::load(flags, std::env::var("RUST_LOG").ok()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("kevy-node: {e}");
            return ExitCode::from(2);
        }
    };
    start_logs(&config.log_filter);
    match run(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            cluster::log_error(&config.node_id, &format!("not starting: {e}"));
            ExitCode::FAILURE
        }
    }
}

/// Timestamped log lines on stderr, filtered by `filter` (checked by
/// `Config`).
fn start_logs(filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Starts the node, in an order that keeps a mistaken start from
/// touching data: catch SIGTERM and SIGINT, lock the data directory,
/// bind the listener, and only then read the records and open the store.
fn run(config: &Config) -> Result<(), Box<dyn Error>> {
    let (dir, listen) = (&config.data_dir, config.listen);
    let signals = Signals::new([SIGTERM, SIGINT])
        .map_err(|e| format!("cannot catch SIGTERM and SIGINT: {e}"))?;
    // Held until the process ends.
    let _lock = db::lock_dir(dir).map_err(|e| {
        format!(
            "data directory {} is in use by another node ({e}); this one would listen on {listen}",
            dir.display()
        )
    })?;
    let listener = TcpListener::bind(listen).map_err(|e| {
        format!(
            "cannot listen on {listen} ({e}); no data in {} was read or written",
            dir.display()
        )
    })?;
    let cluster_config = ClusterConfig {
        node_id: &config.node_id,
        scopes: &config.scopes,
        peers: &config.peers,
        data_dir: dir,
        step_pause: config.step_pause,
        reply_limit: config.limits.query_buffer_limit,
    };
    let past = Past::read(&cluster_config)
        .map_err(|e| format!("reading the records in {}: {e}", dir.display()))?;
    let db =
        Arc::new(Db::open(dir).map_err(|e| format!("opening the data in {}: {e}", dir.display()))?);
    db.sync_every(Duration::from_secs(1));
    cluster::log_in_to_peers(config.users.cluster.clone());
    let cluster = Cluster::boot(&cluster_config, Arc::clone(&db), past)?;
    stop_on_signals(signals, Arc::clone(&cluster))?;
    log(
        &config.node_id,
        &format!(
            "listening on {}, {} connection threads, {} keys in {}",
            listener.local_addr()?,
            config.threads,
            db.len(),
            dir.display()
        ),
    );
    server::serve(
        listener,
        config.threads,
        config.limits,
        Arc::new(cmd::Ctx {
            db,
            cluster,
            users: config.users.clone(),
        }),
    )?;
    Ok(())
}

/// On the first SIGTERM or SIGINT (queued since `signals` was made, so one
/// that came during the boot is handled now): persist and exit 0.
fn stop_on_signals(mut signals: Signals, cluster: Arc<Cluster>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                cluster.stop(if signal == SIGTERM {
                    "SIGTERM"
                } else {
                    "SIGINT"
                });
            }
        })?;
    Ok(())
}
