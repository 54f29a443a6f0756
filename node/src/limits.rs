//! What one client may cost the node: Redis's limits, under Redis's
//! names, each settable in the config file's `[limits]` section.

/// The bounds every connection's input is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once (Redis `maxclients`); the next one is
    /// answered `-ERR max number of clients reached` and closed.
    pub max_clients: usize,
    /// The longest bulk string a command may carry, in bytes (Redis
    /// `proto-max-bulk-len`); refused at its header, before its bytes.
    /// A bulk longer than `query_buffer_limit` is refused there too: it
    /// could never be complete.
    pub max_bulk_len: usize,
    /// The most arguments one command may carry (Redis refuses a
    /// multibulk length above 1 048 576 before reading it).
    pub max_args: usize,
    /// The most bytes a connection may have received and not yet run
    /// (Redis `client-query-buffer-limit`); a connection whose command
    /// is not complete at this size is answered a protocol error and
    /// closed.
    pub query_buffer_limit: usize,
}

impl Default for Limits {
    /// Redis's defaults, but for the query buffer: 64 MiB rather than 1 GiB,
    /// so that a thousand idle attackers cannot take the machine's memory.
    fn default() -> Self {
        Self {
            max_clients: 10_000,
            max_bulk_len: 512 * 1024 * 1024,
            max_args: 1024 * 1024,
            query_buffer_limit: 64 * 1024 * 1024,
        }
    }
}
