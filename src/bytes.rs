//! Prefix bytes: shown to people as lossy UTF-8, as the reference crate
//! prints them, and compared fast.

use core::fmt::{self, Write};

/// Formats bytes as lossy UTF-8. `{:?}` quotes and escapes like `str`'s
/// `Debug`; `{}` writes the text as is. Invalid sequences become U+FFFD.
#[derive(Clone, Copy)]
pub(crate) struct Lossy<'a>(pub(crate) &'a [u8]);

impl fmt::Display for Lossy<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            f.write_str(chunk.valid())?;
            if !chunk.invalid().is_empty() {
                f.write_char(char::REPLACEMENT_CHARACTER)?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Lossy<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        for chunk in self.0.utf8_chunks() {
            let mut inner = Unquoted {
                out: f,
                held: None,
                seen_open: false,
            };
            write!(inner, "{:?}", chunk.valid())?;
            if !chunk.invalid().is_empty() {
                f.write_char(char::REPLACEMENT_CHARACTER)?;
            }
        }
        f.write_char('"')
    }
}

/// Passes `str`'s Debug output through without its opening and closing quote,
/// so that escaping stays exactly the standard library's.
struct Unquoted<'f, 'g> {
    out: &'f mut fmt::Formatter<'g>,
    held: Option<char>,
    seen_open: bool,
}

impl Write for Unquoted<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            if !self.seen_open {
                self.seen_open = true;
                continue;
            }
            if let Some(prev) = self.held.replace(c) {
                self.out.write_char(prev)?;
            }
        }
        Ok(())
    }
}

/// The last four bytes of `bytes`, if it has four.
#[cfg(not(target_os = "none"))]
#[inline]
fn last4(bytes: &[u8]) -> Option<u32> {
    let start = bytes.len().checked_sub(4)?;
    let tail: [u8; 4] = bytes.get(start..)?.try_into().ok()?;
    Some(u32::from_ne_bytes(tail))
}

/// `key.starts_with(prefix)`, turning most non-matches away with one
/// integer compare of the prefix's last four bytes: prefixes of one table
/// share their stem (`app:svc000`) and differ at the end. Bare-metal
/// builds leave that check out: their tables are small, flash is scarcer
/// than cycles, and on a Cortex-M0 the unaligned load alone costs 120 bytes.
#[inline]
pub(crate) fn starts_with_fast(key: &[u8], prefix: &[u8]) -> bool {
    let Some(head) = key.get(..prefix.len()) else {
        return false;
    };
    #[cfg(not(target_os = "none"))]
    if let (Some(a), Some(b)) = (last4(head), last4(prefix))
        && a != b
    {
        return false;
    }
    head == prefix
}

#[cfg(test)]
mod tests {
    use super::Lossy;
    use std::format;
    use std::prelude::rust_2024::*;

    #[test]
    fn starts_with_fast_is_starts_with() {
        let cases: [(&[u8], &[u8]); 8] = [
            (b"app:svc00042:k", b"app:svc00042:"),
            (b"app:svc00043:k", b"app:svc00042:"),
            (b"app:svc00042", b"app:svc00042:"),
            (b"abc", b""),
            (b"ab", b"abc"),
            (b"abcd", b"abcd"),
            (b"xbcd", b"abcd"),
            (b"abcx", b"abc"),
        ];
        for (key, prefix) in cases {
            assert_eq!(
                super::starts_with_fast(key, prefix),
                key.starts_with(prefix),
                "{key:?} {prefix:?}"
            );
        }
    }

    #[test]
    fn debug_matches_std_lossy_debug() {
        let cases: [&[u8]; 7] = [
            b"app:billing:",
            b"",
            b"q\"uote'\\",
            b"\xff\xfeab\xc3",
            b"tab\tnl\n\x00",
            "caf\u{e9}\u{301}".as_bytes(),
            b"\xe2\x82",
        ];
        for bytes in cases {
            let want = format!("{:?}", String::from_utf8_lossy(bytes));
            assert_eq!(format!("{:?}", Lossy(bytes)), want);
            assert_eq!(format!("{}", Lossy(bytes)), String::from_utf8_lossy(bytes));
        }
    }
}
