//! The node both writer firmwares run (device-net's and device-uart's):
//! embed-billing-1, its scope table, and where its peers are. The std
//! nodes of their cluster scripts run with the same table (`scopes` in
//! their config).

use kevy_scope::{Driver, MoveTable, Node, OwnershipTable, Scope, ownership_table, wire::PeerAddr};

use crate::commands::Server;

/// This node's id.
pub const NODE_ID: &str = "embed-billing-1";

/// The scopes, as device/src/lib.rs's PROBE_TABLE: this node writes
/// `app:billing:` (server-eu-1 stands in while it is down), embed-auth-1
/// writes `app:auth:`. Checked at compile time.
pub static TABLE: OwnershipTable<'static, 2> = ownership_table![
    Scope::new(b"app:billing:", NODE_ID).with_fallback("server-eu-1"),
    Scope::new(b"app:auth:", "embed-auth-1"),
];

/// The other nodes' client addresses, as a client on the host reaches
/// them: where the redirects point.
pub type Peers = [(&'static str, PeerAddr<'static>); 2];

/// See [`Peers`].
pub static PEERS: Peers = [
    ("embed-auth-1", PeerAddr::new("127.0.0.1", 7002)),
    ("server-eu-1", PeerAddr::new("127.0.0.1", 7001)),
];

/// The driver's peer list (this node among them), and the host port each
/// listens on (this node is never called).
pub const DRIVER_PEERS: [&str; 3] = [NODE_ID, "server-eu-1", "embed-auth-1"];

/// See [`DRIVER_PEERS`].
pub const PEER_PORTS: [u16; 3] = [0, 7001, 7002];

/// Move records this node keeps.
pub const RECORDS: usize = 4;

/// The node: the table above, [`RECORDS`] move records.
pub type BillingNode = Node<&'static OwnershipTable<'static, 2>, MoveTable<RECORDS>>;

/// The move driver: [`DRIVER_PEERS`], [`RECORDS`] moves at a time.
pub type BillingDriver = Driver<3, RECORDS>;

/// The commands over that node, writing through disk `D`.
pub type BillingServer<'n, D> =
    Server<'n, &'static OwnershipTable<'static, 2>, MoveTable<RECORDS>, Peers, D, 3, RECORDS>;

/// A fresh node (no records), or `None` if the table rejected its id.
pub fn fresh() -> Option<BillingNode> {
    Node::new(NODE_ID, &TABLE, MoveTable::new()).ok()
}

/// A node that lost its records: it accepts no scoped write until it
/// has recovered them from its peers.
pub fn quarantined() -> Option<BillingNode> {
    Node::quarantined(NODE_ID, &TABLE, MoveTable::new()).ok()
}

/// The driver's name for peer index `peer` (`?` when out of range).
pub fn peer_name(peer: usize) -> &'static str {
    DRIVER_PEERS.get(peer).copied().unwrap_or("?")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_and_its_driver_build() {
        let node = fresh().expect("a valid id");
        assert!(!node.is_quarantined());
        assert!(quarantined().expect("a valid id").is_quarantined());
        assert!(BillingDriver::new(DRIVER_PEERS).is_ok());
        assert_eq!(peer_name(2), "embed-auth-1");
        assert_eq!(peer_name(3), "?");
    }
}
