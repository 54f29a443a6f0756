//! The seed's table, routed from each node's point of view.
//!
//! Run: `cargo run --example quickstart`

use kevy_scope::{OwnershipTable, Routing, Scope, ownership_table};

static TABLE: OwnershipTable<'static, 2> = ownership_table![
    Scope::new(b"app:billing:", "embed-billing-1").with_fallback("server-eu-1"),
    Scope::new(b"app:auth:", "embed-auth-1"),
];

fn main() {
    println!("scopes: {TABLE}");
    for scope in TABLE.scopes_without_fallback() {
        println!("lint: scope {scope} has no fallback");
    }
    let keys: [&[u8]; 4] = [
        b"app:billing:invoice:42",
        b"app:auth:user:7",
        b"app:billing",
        b"session:9",
    ];
    let billing_down = |id: &str| id == "embed-billing-1";
    for node in ["embed-billing-1", "server-eu-1", "embed-auth-1"] {
        for key in keys {
            let up = TABLE.route(key, node);
            let down = TABLE.route_with_fallback_state(key, node, billing_down);
            println!(
                "{node:>16} {:<24} {:<40} (billing writer down: {})",
                String::from_utf8_lossy(key),
                describe(up),
                describe(down)
            );
        }
    }
}

fn describe(routing: Routing<'_>) -> String {
    match routing {
        Routing::Owned => "accept (owner)".into(),
        Routing::Unknown => "accept (no scope)".into(),
        Routing::Misdirected { target } => format!("-MISDIRECTED writer is {target}"),
        other => format!("{other:?}"),
    }
}
