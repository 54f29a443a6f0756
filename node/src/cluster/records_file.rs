//! The node's durable records: the crate's image of its move records and
//! a list of announcements owed, in one file written atomically (temp
//! file, fsync, rename, fsync of the directory).
//!
//! The node writes the list empty: its move driver owes every peer the
//! news the image vouches for after a restart (`Driver::resume` from
//! `Node::announcements`). A file an older node wrote may list news; it
//! is read (and checked) as before, and the node announces the image's
//! news instead.
//!
//! ```text
//! "KVNR" | version 1 | image length (u32) | image
//! | news count (u16) | each: status (u8) | epoch (u32)
//!   | prefix length (u16), prefix | from length (u8), from | to length (u8), to
//! | CRC-32 (IEEE) of everything before it
//! ```
//!
//! Integers are little-endian. The image carries its own checksum too;
//! this one covers the announcements.

use std::io;
use std::path::{Path, PathBuf};

use kevy_scope::{Epoch, moves::MoveStatus};

use crate::cluster::wire::{Move, News};
use crate::db::write_atomically;

const MAGIC: &[u8; 4] = b"KVNR";
const VERSION: u8 = 1;

/// What the file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    /// The crate's image (`Node::encode_image`).
    pub image: Vec<u8>,
    /// Announcements not yet acknowledged by every peer, as an older
    /// node wrote them (this node writes none).
    pub outbox: Vec<News>,
}

/// Where the records live.
#[derive(Debug, Clone)]
pub struct RecordsFile {
    path: PathBuf,
}

impl RecordsFile {
    /// The records file in `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            path: dir.join("records.kvnr"),
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved records: `Ok(None)` on a first boot (no file), `Err`
    /// when the file cannot be read or is damaged.
    pub fn load(&self) -> Result<Option<Saved>, String> {
        match std::fs::read(&self.path) {
            Ok(bytes) => decode(&bytes).map(Some),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Replaces the file with `saved`, atomically and durably.
    pub fn save(&self, saved: &Saved) -> io::Result<()> {
        write_atomically(&self.path, &encode(saved))
    }
}

fn encode(saved: &Saved) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + saved.image.len());
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&(saved.image.len() as u32).to_le_bytes());
    out.extend_from_slice(&saved.image);
    out.extend_from_slice(&(saved.outbox.len() as u16).to_le_bytes());
    for news in &saved.outbox {
        out.push(match news.status {
            MoveStatus::InFlight => 0,
            MoveStatus::Committed => 1,
            _ => 2,
        });
        out.extend_from_slice(&news.id.epoch.get().to_le_bytes());
        out.extend_from_slice(&(news.id.prefix.len() as u16).to_le_bytes());
        out.extend_from_slice(&news.id.prefix);
        for id in [&news.id.from, &news.id.to] {
            // Node ids are at most 32 bytes (the crate checks them).
            out.push(id.len() as u8);
            out.extend_from_slice(id.as_bytes());
        }
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn decode(bytes: &[u8]) -> Result<Saved, String> {
    let body_len = bytes.len().checked_sub(4).ok_or("truncated")?;
    let (body, crc) = bytes.split_at(body_len);
    let mut r = Reader(body);
    if r.take(4)? != MAGIC {
        return Err("not a kevy-node records file".into());
    }
    let version = r.u8()?;
    if version != VERSION {
        return Err(format!(
            "records file version {version}, this node reads {VERSION}"
        ));
    }
    if crc32fast::hash(body).to_le_bytes() != crc {
        return Err("checksum mismatch: the file is damaged".into());
    }
    let image_len = r.u32()? as usize;
    let image = r.take(image_len)?.to_vec();
    let count = r.u16()?;
    let mut outbox = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        let status = match r.u8()? {
            0 => MoveStatus::InFlight,
            1 => MoveStatus::Committed,
            2 => MoveStatus::Aborted,
            other => return Err(format!("unknown news status {other}")),
        };
        let epoch = Epoch::new(r.u32()?);
        let prefix_len = usize::from(r.u16()?);
        let prefix = r.take(prefix_len)?.to_vec();
        let mut id = || -> Result<String, String> {
            let len = usize::from(r.u8()?);
            String::from_utf8(r.take(len)?.to_vec())
                .map_err(|_| "a node id is not UTF-8".to_string())
        };
        let from = id()?;
        let to = id()?;
        outbox.push(News {
            status,
            id: Move {
                prefix,
                from,
                to,
                epoch,
            },
            // Not on file: news kept by an older node, sent before now.
            sender_epoch: Epoch::ZERO,
        });
    }
    if !r.0.is_empty() {
        return Err("bytes after the last record".into());
    }
    Ok(Saved { image, outbox })
}

struct Reader<'b>(&'b [u8]);

impl<'b> Reader<'b> {
    fn take(&mut self, n: usize) -> Result<&'b [u8], String> {
        if self.0.len() < n {
            return Err("truncated".into());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(
            self.take(2)?.try_into().map_err(|_| "truncated")?,
        ))
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().map_err(|_| "truncated")?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Saved {
        Saved {
            image: b"KVSI-image".to_vec(),
            outbox: vec![News {
                status: MoveStatus::Committed,
                id: Move {
                    prefix: b"app:a:".to_vec(),
                    from: "n1".into(),
                    to: "n2".into(),
                    epoch: Epoch::new(4),
                },
                sender_epoch: Epoch::ZERO,
            }],
        }
    }

    #[test]
    fn round_trips() {
        assert_eq!(decode(&encode(&sample())).unwrap(), sample());
    }

    #[test]
    fn every_damage_is_refused() {
        let bytes = encode(&sample());
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "truncated at {cut}");
        }
        for i in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[i] ^= 0x20;
            assert!(decode(&flipped).is_err(), "flipped byte {i}");
        }
    }
}
