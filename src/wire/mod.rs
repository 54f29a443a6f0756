//! What crosses the wire between nodes and to clients: the node-to-node
//! messages of a move ([`PeerRequest`], [`PeerReply`], the news list),
//! encoded into a caller's buffer and decoded in place, and the
//! `-MISDIRECTED` / `-QUIESCED` replies to refused writes.

pub(crate) mod peer;
pub(crate) mod reply;

pub use self::peer::{
    BufferTooSmall, MAX_NEWS, MAX_PEER_REQUEST_LEN, NewsIter, NewsList, PeerReply, PeerRequest,
    PeerWireError, Refusal, encode_news, max_news_len, move_status_word, news_len,
};
pub use self::reply::{AddressBook, MAX_HOST_LEN, MAX_REPLY_LEN, NoPeers, PeerAddr, ReplyError};
