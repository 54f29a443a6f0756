//! The node-to-node commands of a move and of a recovery. The crate
//! reads and writes them (`kevy_scope::wire::PeerRequest`, `PeerReply`,
//! `encode_news` and `NewsList`: the wire's one copy); here are the owned
//! forms this node keeps (a request the move driver hands out, while it
//! is sent) and the glue to its RESP client and replies. Every command
//! naming a move names it in full, in one order: `<prefix> <from> <to>
//! <epoch>` (the epoch in decimal).
//!
//! ```text
//! MOVE-SCOPE-INGEST  <prefix> <from> <to> <epoch> <bulk>   -> +OK <n>
//! MOVE-SCOPE-OUTCOME <prefix> <from> <to> <epoch>          -> +COMMITTED | +ABORTED <fence>
//! MOVE-SCOPE-RECHECK <prefix> <from> <to> <epoch>          -> +COMMITTED | +ABORTED <fence>
//! MOVE-SCOPE-NEWS <status> <prefix> <from> <to> <epoch>    -> +OK
//! MOVE-SCOPE-EPOCH                                         -> +EPOCH <n>
//! MOVE-SCOPE-FENCE <from> <epoch>                          -> *<k> news: *5 <status> <prefix> <from> <to> <epoch>
//! ```
//!
//! `EPOCH` and `FENCE` are a recovering node's (`<from>` of a fence is the
//! recovering node); `RECHECK` is the outcome query asked again of a target
//! that recovered since. `<status>` is `INFLIGHT`, `COMMITTED` or `ABORTED`. A refused step
//! answers `-<CODE> <reason>`, the code naming the crate's refusal
//! (`STALE`, `SENDERNOTOWNER`, `WRONGTARGET`, `NOTINFLIGHT`, `QUARANTINED`,
//! `FULL`, `NOTOWNER`, else `ERR`), the reason its words.

use kevy_scope::{
    Epoch,
    moves::{Announcement, MoveError, MoveId, MoveStatus, Outcome},
    wire::{PeerReply, PeerRequest, Refusal, move_status_word},
};

use crate::resp::Reply;

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
    /// The sender's epoch when it sent the news (`Node::learn` takes it).
    pub sender_epoch: Epoch,
}

impl News {
    /// An owned copy of `news`, sent at `sender_epoch`.
    pub fn of(news: &Announcement<'_>, sender_epoch: Epoch) -> Self {
        Self {
            status: news.status,
            id: Move::of(&news.id),
            sender_epoch,
        }
    }

    /// `MOVE-SCOPE-NEWS` with it.
    pub fn request(&self) -> PeerRequest<'_> {
        PeerRequest::News {
            news: self.announcement(),
            sender_epoch: self.sender_epoch,
        }
    }

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
}

/// The arguments of `request`, its name first, for [`super::peer::call`].
pub fn args(request: &PeerRequest<'_>) -> Vec<Vec<u8>> {
    let mut args = Vec::new();
    request.args(|arg| args.push(arg.to_vec()));
    args
}

/// Reads a node-to-node command (its name first); the error reply names
/// the command and what is wrong with it.
pub fn read_request<'a>(command: &[&'a [u8]]) -> Result<PeerRequest<'a>, String> {
    PeerRequest::decode(command).map_err(|e| {
        let verb = command.first().copied().unwrap_or_default();
        format!("ERR {}: {e}", String::from_utf8_lossy(verb))
    })
}

/// The line of a peer's simple-string or error reply, its sign first, for
/// [`PeerReply::decode`]; `None` for any other reply.
pub fn reply_line(reply: &Reply) -> Option<Vec<u8>> {
    match reply {
        Reply::Simple(text) => Some(format!("+{text}").into_bytes()),
        Reply::Error(text) => Some(format!("-{text}").into_bytes()),
        _ => None,
    }
}

/// The wire word of a status.
pub fn status_word(status: MoveStatus) -> &'static str {
    move_status_word(status)
}

/// The reply to an ingest of `keys` keys (the text of `+OK <n>`).
pub fn ingested(keys: usize) -> String {
    // A bulk holds at most `max_bulk_len` bytes: far fewer keys than this.
    let keys = u32::try_from(keys).unwrap_or(u32::MAX);
    PeerReply::Ingested { keys }.to_string()
}

/// The reply to news learned (the text of `+OK`).
pub fn learned() -> String {
    PeerReply::Learned.to_string()
}

/// The reply to `MOVE-SCOPE-EPOCH` (the text of `+EPOCH <n>`).
pub fn epoch_reply(epoch: Epoch) -> String {
    PeerReply::Epoch(epoch).to_string()
}

/// The reply to `MOVE-SCOPE-OUTCOME` and `MOVE-SCOPE-RECHECK` (the text
/// of `+COMMITTED` or `+ABORTED <fence>`).
pub fn outcome_reply(outcome: Outcome) -> String {
    PeerReply::Outcome(outcome).to_string()
}

/// The error reply of a refused step: a code, then the crate's reason.
pub fn refusal(e: &MoveError) -> String {
    let reason = e.to_string();
    PeerReply::Refused {
        code: Refusal::of(e),
        reason: &reason,
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m() -> Move {
        Move {
            prefix: b"app:a:".to_vec(),
            from: "n1".into(),
            to: "n2".into(),
            epoch: Epoch::new(7),
        }
    }

    #[test]
    fn a_move_round_trips_through_its_command() {
        let news = News {
            status: MoveStatus::Committed,
            id: m(),
            sender_epoch: Epoch::new(9),
        };
        let cmd = args(&news.request());
        let borrowed: Vec<&[u8]> = cmd.iter().map(Vec::as_slice).collect();
        let PeerRequest::News {
            news: read,
            sender_epoch,
        } = read_request(&borrowed).unwrap()
        else {
            panic!("news")
        };
        assert_eq!(News::of(&read, sender_epoch), news);
        assert_eq!(
            read_request(&borrowed[..6]).unwrap_err(),
            "ERR MOVE-SCOPE-NEWS: the command takes 6 arguments after its name, not 5"
        );
        assert!(read_request(&[]).unwrap_err().starts_with("ERR : "));
    }

    #[test]
    fn replies_are_the_crates() {
        for o in [
            Outcome::Committed,
            Outcome::Aborted {
                fence: Epoch::new(9),
            },
        ] {
            let line = reply_line(&Reply::Simple(outcome_reply(o))).unwrap();
            assert_eq!(PeerReply::decode(&line), Ok(PeerReply::Outcome(o)));
        }
        assert_eq!(outcome_reply(Outcome::Committed), "COMMITTED");
        assert_eq!(ingested(3), "OK 3");
        assert_eq!(epoch_reply(Epoch::new(12)), "EPOCH 12");
        let line = reply_line(&Reply::Simple(epoch_reply(Epoch::ZERO))).unwrap();
        assert_eq!(PeerReply::decode(&line), Ok(PeerReply::Epoch(Epoch::ZERO)));
        assert_eq!(learned(), "OK");
        let news = News {
            status: MoveStatus::Committed,
            id: Move {
                prefix: b"p:".to_vec(),
                from: "a".into(),
                to: "b".into(),
                epoch: Epoch::new(2),
            },
            sender_epoch: Epoch::new(2),
        };
        assert_eq!(news.describe(), r#"COMMITTED "p:" a->b @2"#);
        let stale = refusal(&MoveError::Stale {
            known: Epoch::new(3),
        });
        assert_eq!(stale, "STALE stale move step: this node knows epoch 3");
        let line = reply_line(&Reply::Error(stale)).unwrap();
        assert!(matches!(
            PeerReply::decode(&line),
            Ok(PeerReply::Refused {
                code: Refusal::Stale,
                ..
            })
        ));
        assert_eq!(reply_line(&Reply::Int(1)), None);
    }
}
