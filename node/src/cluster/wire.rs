//! The node-to-node commands of a move, as this node writes and reads
//! them. Every one names the move in full, in one order:
//! `<prefix> <from> <to> <epoch>` (the epoch in decimal).
//!
//! ```text
//! MOVE-SCOPE-INGEST  <prefix> <from> <to> <epoch> <bulk>   -> +OK <n>
//! MOVE-SCOPE-OUTCOME <prefix> <from> <to> <epoch>          -> +COMMITTED | +ABORTED <fence>
//! MOVE-SCOPE-NEWS <status> <prefix> <from> <to> <epoch>    -> +OK
//! ```
//!
//! `<status>` is `INFLIGHT`, `COMMITTED` or `ABORTED`. A refused step
//! answers `-<CODE> <reason>`, the code naming the crate's refusal
//! (`STALE`, `SENDERNOTOWNER`, `WRONGTARGET`, `NOTINFLIGHT`, `QUARANTINED`,
//! `FULL`, `NOTOWNER`, else `ERR`).

use kevy_scope::{Announcement, Epoch, MigrationError, MoveId, MoveStatus, Outcome};

/// One move, owned: what [`MoveId`] borrows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    /// The moving prefix.
    pub prefix: Vec<u8>,
    /// Its source.
    pub from: String,
    /// Its target.
    pub to: String,
    /// Its epoch.
    pub epoch: Epoch,
}

impl Move {
    /// An owned copy of `id`.
    pub fn of(id: &MoveId<'_>) -> Self {
        Self {
            prefix: id.prefix.to_vec(),
            from: id.from.to_owned(),
            to: id.to.to_owned(),
            epoch: id.epoch,
        }
    }

    /// The crate's view of it.
    pub fn id(&self) -> MoveId<'_> {
        MoveId {
            prefix: &self.prefix,
            from: &self.from,
            to: &self.to,
            epoch: self.epoch,
        }
    }

    /// Reads `<prefix> <from> <to> <epoch>`.
    pub fn parse(args: &[&[u8]]) -> Result<Self, String> {
        let [prefix, from, to, epoch] = args else {
            return Err("expected <prefix> <from> <to> <epoch>".into());
        };
        let text =
            |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| "node ids are ASCII".to_string());
        let epoch = std::str::from_utf8(epoch)
            .ok()
            .and_then(|e| e.parse::<u32>().ok())
            .ok_or("the epoch is a decimal u32")?;
        Ok(Self {
            prefix: prefix.to_vec(),
            from: text(from)?,
            to: text(to)?,
            epoch: Epoch::new(epoch),
        })
    }

    /// `<prefix> <from> <to> <epoch>`, for a command.
    pub fn args(&self) -> [Vec<u8>; 4] {
        [
            self.prefix.clone(),
            self.from.as_bytes().to_vec(),
            self.to.as_bytes().to_vec(),
            self.epoch.get().to_string().into_bytes(),
        ]
    }

    /// For logs: `"app:a:" n1->n2 @7`.
    pub fn describe(&self) -> String {
        format!(
            "{:?} {}->{} @{}",
            String::from_utf8_lossy(&self.prefix),
            self.from,
            self.to,
            self.epoch.get()
        )
    }
}

/// News of a move, owned: what [`Announcement`] borrows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct News {
    /// Where the move stands.
    pub status: MoveStatus,
    /// The move.
    pub id: Move,
}

impl News {
    /// The crate's view of it.
    pub fn announcement(&self) -> Announcement<'_> {
        Announcement {
            id: self.id.id(),
            status: self.status,
        }
    }

    /// For logs: `COMMITTED "app:a:" n1->n2 @7`.
    pub fn describe(&self) -> String {
        format!("{} {}", status_word(self.status), self.id.describe())
    }

    /// The `MOVE-SCOPE-NEWS` command.
    pub fn command(&self) -> Vec<Vec<u8>> {
        let mut cmd = vec![
            b"MOVE-SCOPE-NEWS".to_vec(),
            status_word(self.status).as_bytes().to_vec(),
        ];
        cmd.extend(self.id.args());
        cmd
    }
}

/// The wire word of a status.
pub fn status_word(status: MoveStatus) -> &'static str {
    match status {
        MoveStatus::InFlight => "INFLIGHT",
        MoveStatus::Committed => "COMMITTED",
        _ => "ABORTED",
    }
}

/// The status of a wire word.
pub fn parse_status(word: &[u8]) -> Option<MoveStatus> {
    match word.to_ascii_uppercase().as_slice() {
        b"INFLIGHT" => Some(MoveStatus::InFlight),
        b"COMMITTED" => Some(MoveStatus::Committed),
        b"ABORTED" => Some(MoveStatus::Aborted),
        _ => None,
    }
}

/// The reply to `MOVE-SCOPE-OUTCOME`.
pub fn outcome_reply(outcome: Outcome) -> String {
    match outcome {
        Outcome::Committed => "COMMITTED".into(),
        Outcome::Aborted { fence } => format!("ABORTED {}", fence.get()),
        // The crate may add outcomes; none is answered as a commit.
        _ => "UNKNOWN".into(),
    }
}

/// The outcome a `MOVE-SCOPE-OUTCOME` reply names.
pub fn parse_outcome(simple: &str) -> Option<Outcome> {
    if simple == "COMMITTED" {
        return Some(Outcome::Committed);
    }
    let fence = simple.strip_prefix("ABORTED ")?.parse().ok()?;
    Some(Outcome::Aborted {
        fence: Epoch::new(fence),
    })
}

/// The error reply of a refused step: a code, then the crate's reason.
pub fn refusal(e: &MigrationError) -> String {
    let code = match e {
        MigrationError::Stale { .. } => "STALE",
        MigrationError::SenderNotOwner => "SENDERNOTOWNER",
        MigrationError::WrongTarget => "WRONGTARGET",
        MigrationError::NotInFlight => "NOTINFLIGHT",
        MigrationError::Quarantined => "QUARANTINED",
        MigrationError::Full { .. } => "FULL",
        MigrationError::NotOwner => "NOTOWNER",
        _ => "ERR",
    };
    format!("{code} {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_move_round_trips_through_its_arguments() {
        let m = Move {
            prefix: b"app:a:".to_vec(),
            from: "n1".into(),
            to: "n2".into(),
            epoch: Epoch::new(7),
        };
        let args = m.args();
        let borrowed: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        assert_eq!(Move::parse(&borrowed).unwrap(), m);
        assert!(Move::parse(&borrowed[..3]).is_err());
    }

    #[test]
    fn outcomes_round_trip() {
        for o in [
            Outcome::Committed,
            Outcome::Aborted {
                fence: Epoch::new(9),
            },
        ] {
            assert_eq!(parse_outcome(&outcome_reply(o)), Some(o));
        }
        let news = News {
            status: MoveStatus::Committed,
            id: Move {
                prefix: b"p:".to_vec(),
                from: "a".into(),
                to: "b".into(),
                epoch: Epoch::new(2),
            },
        };
        assert_eq!(news.describe(), r#"COMMITTED "p:" a->b @2"#);
        assert_eq!(
            refusal(&MigrationError::Stale {
                known: Epoch::new(3)
            }),
            "STALE stale move step: this node knows epoch 3"
        );
    }
}
