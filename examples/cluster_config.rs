//! Reads a kevy `[cluster]` section, builds the peer and ownership tables,
//! prints the boot lint, and routes a few keys from each node's view.
//!
//! Run: `cargo run --example cluster_config [path/to/kevy.toml]`

use kevy_scope::{
    MoveTable, Node, WriteVerdict,
    config::{PeerTable, boot_report, parse_scopes},
    wire::MAX_REPLY_LEN,
};

const SAMPLE: &str = r#"
[cluster]
node_id = "embed-billing-1"
scopes = "app:billing:=embed-billing-1|server-eu-1, app:auth:=embed-auth-1, app:audit:=embed-audit-1|ghost-9"
peers = "embed-billing-1@10.0.0.1:6004:6379, server-eu-1@10.0.0.2:6004, embed-auth-1@[fd00::3]:6004:6379, embed-audit-1@10.0.0.4:6004:6379"
"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let text = match std::env::args().nth(1) {
        Some(path) => std::fs::read_to_string(path)?,
        None => SAMPLE.to_owned(),
    };
    let config: toml::Table = text.parse()?;
    let cluster = config
        .get("cluster")
        .and_then(|c| c.as_table())
        .ok_or("no [cluster] section")?;
    let value = |key: &str| {
        cluster
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
    };

    let peers = PeerTable::<16>::parse(value("peers")).map_err(|e| format!("peers: {e}"))?;
    let table = parse_scopes::<16>(value("scopes")).map_err(|e| format!("scopes: {e}"))?;
    println!("scopes = \"{table}\"");
    println!("peers  = \"{peers}\"");
    for warning in boot_report(&table, &peers) {
        println!("warn: {warning}");
    }

    let keys: [&[u8]; 3] = [b"app:billing:invoice:42", b"app:auth:user:7", b"session:9"];
    let mut buf = [0u8; MAX_REPLY_LEN];
    for peer in peers.iter() {
        let node = Node::new(peer.id(), &table, MoveTable::<4>::new())?;
        for key in keys {
            let verdict = node.verdict(key, |_| false);
            let reply = verdict.encode_reply(&peers, &mut buf)?;
            let shown = match verdict {
                WriteVerdict::Accept => "+accept".to_owned(),
                _ => String::from_utf8_lossy(reply).trim_end().to_owned(),
            };
            println!(
                "{:>16}  {:<24} {shown}",
                peer.id(),
                String::from_utf8_lossy(key)
            );
        }
    }
    Ok(())
}
