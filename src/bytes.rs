//! Prefix bytes shown to people: lossy UTF-8, as the reference crate prints them.

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

#[cfg(test)]
mod tests {
    use super::Lossy;
    use std::format;
    use std::prelude::rust_2024::*;

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
