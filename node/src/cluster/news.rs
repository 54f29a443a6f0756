//! Announcements: `MOVE-SCOPE-NEWS` learned here, and the ones this node
//! owes its peers, delivered by a background thread until each peer
//! acknowledges (`+OK`, or `-STALE`: it knows newer news). A peer that
//! answers `-SENDERNOTOWNER` has not yet heard of an earlier move; it is
//! asked again later, so news arrives in order.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kevy_scope::{PeerReply, PeerRequest, Refusal};

use super::wire::{self, News};
use super::{Cluster, log, log_warn, peer};

/// The timeout of one delivery.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest wait between two rounds of deliveries.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

impl Cluster {
    /// `MOVE-SCOPE-NEWS` on this node: learn, persist if asked, then ack.
    pub fn learn(&self, news: &News) -> Result<String, String> {
        let outbox = self.lock_steps();
        let learned = self.step(&outbox, false, |n| n.learn(&news.announcement()));
        drop(outbox);
        match learned {
            Ok(()) => {
                log(&self.id, &format!("news learned: {}", news.describe()));
                Ok(wire::learned())
            }
            Err(e) => {
                // STALE and SENDERNOTOWNER are part of the protocol (old
                // news; news out of order, sent again later).
                let refused = wire::refusal(&e);
                log(
                    &self.id,
                    &format!("news not learned: {}: {refused}", news.describe()),
                );
                Err(refused)
            }
        }
    }

    /// Sends `news` to `peer` once: whether it acknowledged, and why not.
    fn tell(&self, peer_id: &str, news: &News) -> Result<(), String> {
        let addr = self
            .addr_of(peer_id)
            .ok_or_else(|| format!("{peer_id} is not in the peer list"))?;
        let cmd = wire::args(&PeerRequest::News(news.announcement()));
        let args: Vec<&[u8]> = cmd.iter().map(Vec::as_slice).collect();
        let reply = peer::call(addr, &args, DELIVERY_TIMEOUT).map_err(|e| e.to_string())?;
        match wire::reply_line(&reply).as_deref().map(PeerReply::decode) {
            Some(Ok(
                PeerReply::Learned
                | PeerReply::Refused {
                    code: Refusal::Stale,
                    ..
                },
            )) => Ok(()),
            _ => Err(format!("{reply:?}")),
        }
    }

    /// Sends `news` to `peer` until it acknowledges or `deadline` passes.
    pub(super) fn tell_until_acked(
        &self,
        peer_id: &str,
        news: &News,
        deadline: Duration,
    ) -> Result<(), String> {
        let end = Instant::now() + deadline;
        let mut backoff = Duration::from_millis(10);
        loop {
            match self.tell(peer_id, news) {
                Ok(()) => return Ok(()),
                Err(why) if Instant::now() + backoff > end => return Err(why),
                Err(_) => {}
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_millis(500));
        }
    }

    /// Delivers the owed announcements, forever, on a thread of its own.
    pub(super) fn start_announcer(self: Arc<Self>) {
        std::thread::spawn(move || {
            let mut backoff = Duration::from_millis(10);
            loop {
                // The testing aid widens the window between a resolution
                // and its announcement too.
                self.pause();
                // What is owed now; sent without holding the lock.
                let owed: Vec<(News, Vec<String>)> = {
                    let outbox = self.lock_steps();
                    if outbox.entries.is_empty() {
                        backoff = Duration::from_millis(10);
                        let _unused = self.wake.wait(outbox);
                        continue;
                    }
                    outbox
                        .entries
                        .iter()
                        .map(|e| (e.news.clone(), e.pending.clone()))
                        .collect()
                };
                let mut acked: Vec<(News, String)> = Vec::new();
                let mut failed: Vec<String> = Vec::new();
                for (news, pending) in &owed {
                    for peer_id in pending {
                        match self.tell(peer_id, news) {
                            Ok(()) => {
                                log(
                                    &self.id,
                                    &format!("announced {} to {peer_id}", news.describe()),
                                );
                                acked.push((news.clone(), peer_id.clone()));
                            }
                            Err(why) => failed.push(format!("{peer_id}: {why}")),
                        }
                    }
                }
                let mut outbox = self.lock_steps();
                for (news, peer_id) in &acked {
                    if let Some(e) = outbox.entries.iter_mut().find(|e| e.news == *news) {
                        e.pending.retain(|p| p != peer_id);
                    }
                }
                let before = outbox.entries.len();
                for done in outbox.entries.iter().filter(|e| e.pending.is_empty()) {
                    log(
                        &self.id,
                        &format!("every peer acknowledged {}", done.news.describe()),
                    );
                }
                outbox.entries.retain(|e| !e.pending.is_empty());
                if outbox.entries.len() != before {
                    // Not required for safety (a repeat is acknowledged
                    // as such), but keeps a restart from sending it again.
                    self.persist(&outbox);
                }
                if outbox.entries.is_empty() {
                    continue;
                }
                log_warn(
                    &self.id,
                    &format!(
                        "{} announcements still owed ({}); next round in {backoff:?}",
                        outbox.entries.len(),
                        failed.join("; ")
                    ),
                );
                let _unused = self.wake.wait_timeout(outbox, backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        });
    }
}
