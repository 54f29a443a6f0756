//! The listener and the connection threads: each thread runs a
//! single-threaded tokio runtime and owns one data log; the listener
//! hands accepted connections to the threads in turn. A connection
//! decodes every complete command it has received, runs them, has its
//! thread's log written, then sends all their replies: pipelined commands
//! share one log write and one send, and the ready connections of a
//! thread share one log write (a group commit).
//!
//! What a client may cost is bounded by [`Limits`]: at most `max_clients`
//! connections (the next is answered `-ERR max number of clients
//! reached` and closed); each holds at most `query_buffer_limit` bytes of
//! input; a command that declares more than `max_args` arguments or an
//! argument longer than `max_bulk_len` is refused at its header. A
//! refused command is answered `-ERR Protocol error: ...`, its connection
//! closed and logged; the other connections go on.

use std::io::{self, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::cluster;
use crate::cmd::{self, Ctx, Next, Session};
use crate::connection::{Connection, Input};
use crate::db::Log;
use crate::limits::Limits;
use crate::resp::request::{Bounds, Decoder};
use crate::resp::{self, Line};

/// The reply to a connection over `max_clients`, as Redis's.
const MAX_CLIENTS_REPLY: &[u8] = b"-ERR max number of clients reached\r\n";

/// A pause after a failed accept (out of file descriptors, say), so that
/// the listener does not spin.
const ACCEPT_PAUSE: Duration = Duration::from_millis(10);

/// Serves clients on `listener` with `threads` connection threads; never
/// returns unless the listener fails.
pub fn serve(
    listener: TcpListener,
    threads: usize,
    limits: Limits,
    ctx: Arc<Ctx>,
) -> io::Result<()> {
    let mut workers = Vec::with_capacity(threads);
    for i in 0..threads {
        workers.push(worker(i, limits, Arc::clone(&ctx))?);
    }
    let live = Arc::new(AtomicUsize::new(0));
    let mut refusals = Throttle::default();
    let mut failures = Throttle::default();
    for (n, stream) in listener.incoming().enumerate() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                if let Some(more) = failures.due() {
                    cluster::log(ctx.cluster.id(), &format!("accept failed: {e}{more}"));
                }
                std::thread::sleep(ACCEPT_PAUSE);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        if let Err(e) = stream.set_nonblocking(true) {
            cluster::log(ctx.cluster.id(), &format!("a connection was lost: {e}"));
            continue;
        }
        let Some(slot) = Slot::take(&live, limits.max_clients) else {
            // One short write into a fresh socket's empty send buffer.
            let _ = (&stream).write(MAX_CLIENTS_REPLY);
            if let Some(more) = refusals.due() {
                let peer = stream
                    .peer_addr()
                    .map_or_else(|_| "?".into(), |a| a.to_string());
                let limit = limits.max_clients;
                cluster::log(
                    ctx.cluster.id(),
                    &format!(
                        "refused a connection from {peer}: max_clients ({limit}) reached{more}"
                    ),
                );
            }
            continue;
        };
        // A worker thread only stops with the process.
        let _ = workers[n % threads].send((stream, slot));
    }
    Ok(())
}

/// Starts connection thread `i`: it serves the connections sent to it.
fn worker(
    i: usize,
    limits: Limits,
    ctx: Arc<Ctx>,
) -> io::Result<mpsc::UnboundedSender<(std::net::TcpStream, Slot)>> {
    let (tx, mut rx) = mpsc::unbounded_channel::<(std::net::TcpStream, Slot)>();
    let log = ctx.db.new_log()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    std::thread::Builder::new()
        .name(format!("conn-{i}"))
        .spawn(move || {
            runtime.block_on(async move {
                while let Some((stream, slot)) = rx.recv().await {
                    match TcpStream::from_std(stream) {
                        Ok(stream) => {
                            tokio::spawn(connection(
                                stream,
                                slot,
                                limits,
                                Arc::clone(&ctx),
                                Arc::clone(&log),
                            ));
                        }
                        Err(e) => {
                            cluster::log(ctx.cluster.id(), &format!("a connection was lost: {e}"))
                        }
                    }
                }
            });
        })?;
    Ok(tx)
}

/// One of the `max_clients` connections: held by the connection while it
/// lives, given back when dropped.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    /// A slot if fewer than `max` are held.
    fn take(live: &Arc<AtomicUsize>, max: usize) -> Option<Self> {
        live.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max).then_some(n + 1)
        })
        .ok()?;
        Some(Self(Arc::clone(live)))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Keeps a log line that may repeat with every connection (a flood of
/// them) to one a second.
#[derive(Default)]
struct Throttle {
    last: Option<Instant>,
    skipped: u64,
}

impl Throttle {
    /// `Some(note)` when a line is due, the note telling how many were
    /// skipped since the last; `None` when this one is skipped.
    fn due(&mut self) -> Option<String> {
        if self
            .last
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
        {
            self.skipped += 1;
            return None;
        }
        self.last = Some(Instant::now());
        let skipped = std::mem::take(&mut self.skipped);
        Some(match skipped {
            0 => String::new(),
            n => format!(" ({n} more like it not logged)"),
        })
    }
}

/// What a command may declare on a connection: a bulk longer than the
/// query buffer could never complete, so it is refused at its header too.
fn bounds(limits: &Limits) -> Bounds {
    Bounds {
        max_args: limits.max_args,
        max_bulk_len: limits.max_bulk_len.min(limits.query_buffer_limit),
    }
}

/// Answers `-ERR Protocol error: <reason>` and logs that the connection
/// from `peer` is closed for it (the caller closes it).
fn refuse(out: &mut Vec<u8>, ctx: &Ctx, peer: &str, reason: &str) {
    resp::put_error(out, &format!("ERR Protocol error: {reason}"));
    cluster::log(
        ctx.cluster.id(),
        &format!("closed the connection from {peer}: Protocol error: {reason}"),
    );
}

/// Serves one client until it closes; its changes go to `log`, its
/// thread's.
async fn connection(stream: TcpStream, slot: Slot, limits: Limits, ctx: Arc<Ctx>, log: Arc<Log>) {
    let _slot = slot;
    let peer = stream
        .peer_addr()
        .map_or_else(|_| "?".into(), |a| a.to_string());
    let mut conn = Connection::new(stream, limits.query_buffer_limit);
    let bounds = bounds(&limits);
    let mut decoder = Decoder::default();
    let mut session = Session::default();
    loop {
        match conn.read_more().await {
            Ok(Input::Arrived) => {}
            Ok(Input::Closed) | Err(_) => return,
            Ok(Input::Full) => {
                let reason = format!("query buffer limit exceeded ({} bytes)", conn.limit());
                refuse(&mut conn.output, &ctx, &peer, &reason);
                let _ = conn.send().await;
                return;
            }
        }
        let mut consumed = 0;
        let mut close = false;
        let before = log.appended();
        loop {
            let rest = &conn.input[consumed..];
            match resp::line_before_command(rest) {
                Some(Line::Blank(n)) => {
                    consumed += n;
                    continue;
                }
                Some(Line::Inline(n)) => {
                    resp::put_error(
                        &mut conn.output,
                        "ERR inline commands are not supported: send RESP arrays",
                    );
                    consumed += n;
                    continue;
                }
                Some(Line::Incomplete) => break,
                Some(Line::TooLong) => {
                    refuse(&mut conn.output, &ctx, &peer, "too big inline request");
                    close = true;
                    break;
                }
                None => {}
            }
            let (ranges, used) = match decoder.decode(rest, bounds) {
                Ok(Some(command)) => command,
                Ok(None) => break,
                Err(e) => {
                    refuse(&mut conn.output, &ctx, &peer, &e.to_string());
                    close = true;
                    break;
                }
            };
            let argv: Vec<&[u8]> = ranges.into_iter().map(|r| &rest[r]).collect();
            let next = cmd::run(&ctx, &mut session, &argv, &mut conn.output, &log);
            drop(argv);
            consumed += used;
            match next {
                Next::Continue => {}
                Next::Close => {
                    close = true;
                    break;
                }
                Next::Blocking(job) => {
                    log.flush();
                    if conn.send().await.is_err() {
                        return;
                    }
                    let reply = tokio::task::spawn_blocking(job)
                        .await
                        .unwrap_or_else(|_| b"-ERR the command failed\r\n".to_vec());
                    conn.output.extend_from_slice(&reply);
                }
            }
        }
        conn.consume(consumed);
        // The changes reach the log before their replies leave. Let the
        // thread's other ready connections append theirs first, so one
        // write carries them all.
        let mark = log.appended();
        if mark > before {
            tokio::task::yield_now().await;
        }
        log.write_through(mark);
        if conn.send().await.is_err() || close {
            return;
        }
    }
}
