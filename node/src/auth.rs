//! Who may send what, as Redis 6 ACL users: `AUTH <user> <password>`.
//!
//! - `default`: data commands. Open unless a password is set for it.
//! - `cluster`: the node-to-node commands (`MOVE-SCOPE-INGEST`, `-NEWS`,
//!   `-OUTCOME`, `-RECHECK`, and a recovery's `-EPOCH` and `-FENCE`);
//!   nodes authenticate to their peers as this user.
//! - `admin`: the operator's commands (`MOVE-SCOPE`,
//!   `SCOPE-LIFT-QUARANTINE`), and everything the other two may send.
//!
//! A user with no password configured cannot log in at all (but
//! `default` without a password needs no login).

/// A password, compared in constant time.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps a password; `None` for an empty one.
    pub fn new(password: impl Into<Vec<u8>>) -> Option<Self> {
        let password = password.into();
        (!password.is_empty()).then_some(Self(password))
    }

    /// The password's bytes (sent by this node to its peers).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether `offered` is this password, in time that depends on the
    /// lengths only, never on where the bytes first differ.
    pub fn matches(&self, offered: &[u8]) -> bool {
        let mut diff = u8::from(self.0.len() != offered.len());
        for (i, b) in offered.iter().enumerate() {
            diff |= b ^ self.0.get(i % self.0.len().max(1)).copied().unwrap_or(0);
        }
        diff == 0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// The configured passwords, from the config file's `[auth]` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Users {
    /// `default`'s password: when set, data commands need `AUTH` too.
    pub default: Option<Secret>,
    /// `cluster`'s password: the node-to-node commands.
    pub cluster: Option<Secret>,
    /// `admin`'s password: the operator's commands.
    pub admin: Option<Secret>,
}
