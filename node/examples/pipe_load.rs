//! A pipelined load for `bench.sh`: sends N `SET key:<i> xxx` on one
//! connection while a second thread reads the replies, and prints the
//! requests per second and how the replies split (`+` accepted, `-`
//! refused). Unlike `redis-cli --pipe`, it does not print every error
//! reply, so a load of refused writes measures the server, not the client.
//!
//! ```text
//! cargo run --release --example pipe_load -- <port> <count>
//! ```

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use redis_protocol::resp2::decode::decode_range;
use redis_protocol::resp2::types::RangeFrame;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(port), Some(count)) = (args.get(1), args.get(2)) else {
        return Err("usage: pipe_load <port> <count>".into());
    };
    let count: usize = count.parse()?;
    let mut writer = TcpStream::connect(("127.0.0.1", port.parse::<u16>()?))?;
    writer.set_nodelay(true)?;
    let mut reader = writer.try_clone()?;

    let start = Instant::now();
    let sender = std::thread::spawn(move || -> std::io::Result<()> {
        let mut batch = Vec::with_capacity(64 * 1024);
        for i in 0..count {
            let key = format!("key:{i:012}");
            batch.extend_from_slice(
                format!(
                    "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n$3\r\nxxx\r\n",
                    key.len()
                )
                .as_bytes(),
            );
            if batch.len() > 60 * 1024 {
                writer.write_all(&batch)?;
                batch.clear();
            }
        }
        writer.write_all(&batch)
    });

    let (mut accepted, mut refused, mut first_refusal) = (0usize, 0usize, None);
    let mut buf = Vec::with_capacity(256 * 1024);
    let mut chunk = vec![0u8; 128 * 1024];
    let mut pos = 0;
    while accepted + refused < count {
        match decode_range(&buf[pos..])? {
            Some((frame, used)) => {
                match frame {
                    RangeFrame::Error((s, e)) => {
                        refused += 1;
                        first_refusal.get_or_insert_with(|| {
                            String::from_utf8_lossy(&buf[pos + s..pos + e]).into_owned()
                        });
                    }
                    _ => accepted += 1,
                }
                pos += used;
                continue;
            }
            None => {
                buf.drain(..pos);
                pos = 0;
            }
        }
        let n = reader.read(&mut chunk)?;
        if n == 0 {
            return Err("the server closed the connection".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let secs = start.elapsed().as_secs_f64();
    sender.join().map_err(|_| "the sender panicked")??;
    println!(
        "{:.0} req/s: {accepted} accepted, {refused} refused{}",
        count as f64 / secs,
        first_refusal
            .map(|r| format!(" (-{r})"))
            .unwrap_or_default()
    );
    Ok(())
}
