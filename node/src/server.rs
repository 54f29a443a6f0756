//! The listener and the connection threads: each thread runs a
//! single-threaded tokio runtime and owns one data log; the listener
//! hands accepted connections to the threads in turn. A connection
//! decodes every complete command it has received, runs them, has its
//! thread's log written, then sends all their replies: pipelined commands
//! share one log write and one send, and the ready connections of a
//! thread share one log write (a group commit).

use std::io;
use std::net::TcpListener;
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::cluster;
use crate::cmd::{self, Ctx, Next, Session};
use crate::connection::Connection;
use crate::db::Log;
use crate::limits::Limits;
use crate::resp::{self, Line};

/// Serves clients on `listener` with `threads` connection threads; never
/// returns unless the listener fails.
pub fn serve(
    listener: TcpListener,
    threads: usize,
    limits: Limits,
    ctx: Arc<Ctx>,
) -> io::Result<()> {
    let _ = limits;
    let mut workers = Vec::with_capacity(threads);
    for i in 0..threads {
        let (tx, mut rx) = mpsc::unbounded_channel::<std::net::TcpStream>();
        let ctx = Arc::clone(&ctx);
        let log = ctx.db.new_log()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()?;
        std::thread::Builder::new()
            .name(format!("conn-{i}"))
            .spawn(move || {
                runtime.block_on(async move {
                    while let Some(stream) = rx.recv().await {
                        match TcpStream::from_std(stream) {
                            Ok(stream) => {
                                tokio::spawn(connection(
                                    stream,
                                    Arc::clone(&ctx),
                                    Arc::clone(&log),
                                ));
                            }
                            Err(e) => cluster::log(
                                ctx.cluster.id(),
                                &format!("a connection was lost: {e}"),
                            ),
                        }
                    }
                });
            })?;
        workers.push(tx);
    }
    for (n, stream) in listener.incoming().enumerate() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                cluster::log(ctx.cluster.id(), &format!("accept failed: {e}"));
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        stream.set_nonblocking(true)?;
        // A worker thread only stops with the process.
        let _ = workers[n % threads].send(stream);
    }
    Ok(())
}

/// Serves one client until it closes; its changes go to `log`, its
/// thread's.
async fn connection(stream: TcpStream, ctx: Arc<Ctx>, log: Arc<Log>) {
    let mut conn = Connection::new(stream);
    let mut session = Session::default();
    loop {
        match conn.read_more().await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
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
                None => {}
            }
            let (ranges, used) = match resp::decode_command(rest) {
                Ok(Some(command)) => command,
                Ok(None) => break,
                Err(e) => {
                    resp::put_error(&mut conn.output, &format!("ERR Protocol error: {e}"));
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
