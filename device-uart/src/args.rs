//! The firmware's command line, read through semihosting
//! (`SYS_GET_CMDLINE`; QEMU passes `-append "..."`): words of the form
//! `key=value`, anything else ignored.
//!
//! - `port=<n>`: the host TCP port QEMU serves UART0 on (the firmware
//!   listens on, as the socket chip was told (logged at boot only);
//! - `flash=<path>`: the host file that stands in for the chip's flash.

/// What the command line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Args<'a> {
    /// The chip's client port (for the log).
    pub port: Option<u16>,
    /// The flash file's path; `None`: RAM only.
    pub flash: Option<&'a [u8]>,
}

/// Reads `line` (the last `key=value` of a key wins; bad values are
/// ignored).
pub fn parse(line: &[u8]) -> Args<'_> {
    let mut args = Args::default();
    for word in line
        .split(|&b| b == b' ' || b == b'\t' || b == b'\n' || b == 0)
        .filter(|w| !w.is_empty())
    {
        if let Some(port) = word.strip_prefix(b"port=") {
            if let Some(p) = number(port) {
                args.port = Some(p);
            }
        } else if let Some(path) = word.strip_prefix(b"flash=")
            && !path.is_empty()
        {
            args.flash = Some(path);
        }
    }
    args
}

fn number(text: &[u8]) -> Option<u16> {
    if text.is_empty() || text.len() > 5 {
        return None;
    }
    let mut n: u32 = 0;
    for &d in text {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u32::from(d - b'0');
    }
    u16::try_from(n).ok().filter(|&p| p != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_in_any_order_and_noise_ignored() {
        let a = parse(b"target/x/embed-billing-uart port=16380 flash=/tmp/f.bin\0");
        assert_eq!(a.port, Some(16380));
        assert_eq!(a.flash, Some(&b"/tmp/f.bin"[..]));
        let a = parse(b"flash=/a port=99999 port=x");
        assert_eq!((a.port, a.flash), (None, Some(&b"/a"[..])));
        assert_eq!(parse(b""), Args::default());
        assert_eq!(parse(b"port=0 flash=").port, None);
    }
}
