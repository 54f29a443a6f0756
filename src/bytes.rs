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

/// Whether `a` and `b` hold the same bytes.
///
/// Hosts compare in word loads, without a call: strings of 4 to 16 bytes
/// (ids, the prefixes of one table) in two overlapping loads each, where
/// the prefixes of one table differ; longer ones then the words between.
#[cfg(not(any(target_os = "none", kevy_device)))]
#[inline]
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n >= 8 {
        let ends = (le64(a, 0) ^ le64(b, 0)) | (le64(a, n - 8) ^ le64(b, n - 8));
        if ends != 0 {
            return false;
        }
        // The words between, in line: no call, so a search loop around
        // this keeps its values in registers.
        let mut at = 8;
        while at + 8 < n {
            if le64(a, at) != le64(b, at) {
                return false;
            }
            at += 8;
        }
        true
    } else if n >= 4 {
        (le32(a, 0) ^ le32(b, 0)) | (le32(a, n - 4) ^ le32(b, n - 4)) == 0
    } else {
        // One to three bytes: the first, middle and last are all of them.
        let at = |i: usize| a.get(i).map_or(0, |&x| x) ^ b.get(i).map_or(0, |&y| y);
        at(0) | at(n / 2) | at(n.wrapping_sub(1)) == 0
    }
}

/// The eight bytes of `bytes` from `at`, little-endian, or 0 when they
/// are not all there (callers stay inside). Usable in `const` context.
#[inline(always)]
pub(crate) const fn le64(bytes: &[u8], at: usize) -> u64 {
    match bytes.split_at_checked(at) {
        Some((_, rest)) => match rest.first_chunk::<8>() {
            Some(eight) => u64::from_le_bytes(*eight),
            None => 0,
        },
        None => 0,
    }
}

/// The four bytes of `bytes` from `at`, as [`le64`] reads eight.
#[inline(always)]
pub(crate) const fn le32(bytes: &[u8], at: usize) -> u32 {
    match bytes.split_at_checked(at) {
        Some((_, rest)) => match rest.first_chunk::<4>() {
            Some(four) => u32::from_le_bytes(*four),
            None => 0,
        },
        None => 0,
    }
}

/// Whether `a` and `b` hold the same bytes, compared from the last byte
/// back: the prefixes of one table share their stem (`app:svc000`) and
/// differ at the end, so a mismatch shows within a byte or two. One
/// out-of-line copy, bytewise: a Cortex-M0 has no unaligned loads, and a
/// call to the compiler's `memcmp` walks the shared stem first.
#[cfg(any(target_os = "none", kevy_device))]
#[inline(never)]
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    equal_bytes(a, b)
}

/// `key.starts_with(prefix)`, through [`same`].
#[inline]
pub(crate) fn starts_with(key: &[u8], prefix: &[u8]) -> bool {
    let Some(head) = key.get(..prefix.len()) else {
        return false;
    };
    same(head, prefix)
}

/// `a == b`, usable in `const` context; compared from the end, where the
/// prefixes of a table and the ids of a cluster differ.
pub(crate) const fn equal_bytes(mut a: &[u8], mut b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    while let ([ra @ .., x], [rb @ .., y]) = (a, b) {
        if *x != *y {
            return false;
        }
        a = ra;
        b = rb;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::Lossy;
    use std::format;
    use std::prelude::rust_2024::*;

    #[test]
    fn starts_with_is_std_starts_with() {
        let cases: [(&[u8], &[u8]); 16] = [
            (b"app:svc00042:k", b"app:svc00042:"),
            (b"app:svc00043:k", b"app:svc00042:"),
            (b"app:svc00042", b"app:svc00042:"),
            (b"abc", b""),
            (b"ab", b"abc"),
            (b"abcd", b"abcd"),
            (b"xbcd", b"abcd"),
            (b"abcx", b"abc"),
            (b"app:svc00042:user:1", b"app:svc00042:user:"),
            (b"app:svc00042:user:1", b"app:svc00043:user:"),
            (b"xpp:svc00042:user:1", b"app:svc00042:user:"),
            (b"app:svc00042:xser:1", b"app:svc00042:user:"),
            (b"app:svc0", b"app:svc0"),
            (b"app:svc0", b"bpp:svc0"),
            (b"app:svc", b"app:svx"),
            (b"ap", b"aq"),
        ];
        for (key, prefix) in cases {
            assert_eq!(
                super::starts_with(key, prefix),
                key.starts_with(prefix),
                "{key:?} {prefix:?}"
            );
        }
    }

    #[test]
    fn same_is_eq_at_every_length_and_position() {
        for len in 0..40u8 {
            let a: Vec<u8> = (1..=len).collect();
            assert!(super::same(&a, &a.clone()), "{len}");
            for at in 0..usize::from(len) {
                let mut b = a.clone();
                b[at] ^= 0x80;
                assert!(!super::same(&a, &b), "{len} {at}");
            }
            if let Some((_, shorter)) = a.split_last() {
                assert!(!super::same(&a, shorter), "{len}");
                assert!(!super::same(shorter, &a), "{len}");
            }
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
