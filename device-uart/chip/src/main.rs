//! The socket chip of device-uart, on the host: what a WIZnet W5500 gives
//! the MCU (8 TCP sockets: accept, connect, send, receive, close), carried
//! as frames (`kevy_uart::frame`, the firmware's own code) on QEMU's
//! UART0.
//!
//! ```text
//! kevy-uart-chip --listen 127.0.0.1:PORT [--pid-file PATH] -- qemu-system-arm ... -serial stdio ...
//! ```
//!
//! It starts QEMU itself with UART0 on QEMU's stdin and stdout (pipes),
//! listens on `--listen`, gives each client a socket number below
//! `CLIENT_SOCKETS` (a client beyond them waits in the listen backlog),
//! opens outgoing connections on the MCU's `Connect`, and relays bytes
//! both ways. Threads: one reads QEMU's output (the MCU's frames), one
//! writes frames to QEMU's input, one accepts, and each connection has a
//! reader and a writer, so a slow client stalls only its own writer. QEMU
//! reads its input only as fast as the guest empties the UART: frames
//! wait in the pipe, none is lost; the readers stop reading their clients
//! while more than `QUEUED_MAX` bytes wait for the UART. When QEMU exits,
//! the chip exits with it (its clients see their connections close). A
//! malformed frame from the MCU stops the chip and QEMU.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use kevy_uart::frame::{
    self, CLIENT_SOCKETS, Decoder, FrameError, HEADER, Kind, MAX_PAYLOAD, SOCKETS, Side,
};

/// Bytes of frames waiting for the UART before the readers pause.
const QUEUED_MAX: usize = 64 * 1024;
/// Replies queued for one client that does not read them: beyond this
/// many frames the chip drops the client (it sees its connection reset).
const CLIENT_QUEUE: usize = 1024;
/// How long the chip tries an outgoing connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

enum State {
    Free,
    /// A `Connect` in progress.
    Connecting,
    Open {
        /// To the connection's writer thread; dropped on the MCU's `Close`
        /// (the writer sends what it has, then shuts the connection).
        out: SyncSender<Vec<u8>>,
        stream: TcpStream,
        /// `Closed` sent: the socket waits for the MCU's `Close`.
        closed_sent: bool,
    },
}

struct Slot {
    /// Counts the socket's uses: a thread of an earlier connection on
    /// the same number sees a different one and keeps quiet.
    generation: u64,
    state: State,
}

struct Chip {
    slots: Mutex<Vec<Slot>>,
    uart: Sender<Vec<u8>>,
    queued: AtomicUsize,
}

impl Chip {
    fn slots(&self) -> MutexGuard<'_, Vec<Slot>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a frame for the UART.
    fn send(&self, kind: Kind, socket: u8, payload: &[u8]) {
        let mut buf = vec![0; HEADER + payload.len()];
        match frame::encode(Side::Chip, kind, socket, payload, &mut buf) {
            Ok(n) => {
                buf.truncate(n);
                self.queued.fetch_add(n, Ordering::AcqRel);
                let _ = self.uart.send(buf);
            }
            Err(e) => eprintln!("chip: frame not sent: {e}"),
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut listen = None;
    let mut pid_file = None;
    let mut command = Vec::new();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--listen" => listen = it.next(),
            "--pid-file" => pid_file = it.next(),
            "--" => {
                command = it.by_ref().collect();
            }
            other => {
                eprintln!("chip: unknown argument {other}");
                return ExitCode::from(2);
            }
        }
    }
    let (Some(listen), Some((program, rest))) = (listen, command.split_first()) else {
        eprintln!("usage: kevy-uart-chip --listen HOST:PORT [--pid-file PATH] -- QEMU-COMMAND...");
        return ExitCode::from(2);
    };
    let listener = match TcpListener::bind(&listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("chip: cannot listen on {listen}: {e}");
            return ExitCode::from(1);
        }
    };
    let mut child: Child = match Command::new(program)
        .args(rest)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("chip: cannot start {program}: {e}");
            return ExitCode::from(1);
        }
    };
    if let Some(path) = pid_file
        && let Err(e) = std::fs::write(&path, format!("{}\n", child.id()))
    {
        eprintln!("chip: cannot write {path}: {e}");
    }
    let (Some(stdin), Some(mut stdout)) = (child.stdin.take(), child.stdout.take()) else {
        eprintln!("chip: no pipes to QEMU");
        return ExitCode::from(1);
    };
    let (uart, frames) = mpsc::channel();
    let chip = Arc::new(Chip {
        slots: Mutex::new(
            (0..SOCKETS)
                .map(|_| Slot {
                    generation: 0,
                    state: State::Free,
                })
                .collect(),
        ),
        uart,
        queued: AtomicUsize::new(0),
    });
    eprintln!(
        "chip: listening on {listen}, QEMU pid {} on the UART",
        child.id()
    );
    {
        let chip = chip.clone();
        thread::spawn(move || write_uart(&chip, stdin, frames));
    }
    {
        let chip = chip.clone();
        thread::spawn(move || accept(&chip, &listener));
    }

    // QEMU's output: the MCU's frames.
    let mut decoder = Decoder::new(Side::Mcu);
    let mut buf = [0u8; 4096];
    let mut failed: Option<FrameError> = None;
    'read: loop {
        let n = match stdout.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for &b in buf.get(..n).unwrap_or_default() {
            match decoder.push(b) {
                Ok(Some(f)) => on_frame(&chip, f.kind, f.socket, f.payload),
                Ok(None) => {}
                Err(e) => {
                    failed = Some(e);
                    break 'read;
                }
            }
        }
    }
    if let Some(e) = failed {
        eprintln!("chip: malformed frame from the MCU ({e}): stopping QEMU");
        let _ = child.kill();
        let _ = child.wait();
        return ExitCode::from(1);
    }
    let status = child.wait();
    eprintln!("chip: QEMU ended ({status:?}); the chip stops");
    ExitCode::from(1)
}

/// Frames to QEMU's input, in order.
fn write_uart(chip: &Chip, mut stdin: ChildStdin, frames: Receiver<Vec<u8>>) {
    for f in frames {
        if stdin.write_all(&f).and_then(|()| stdin.flush()).is_err() {
            return;
        }
        chip.queued.fetch_sub(f.len(), Ordering::AcqRel);
    }
}

/// Clients on the listening port, each given a free client socket.
fn accept(chip: &Arc<Chip>, listener: &TcpListener) {
    loop {
        // Wait for a free client socket before taking the next client
        // from the backlog.
        let (socket, generation) = loop {
            let mut slots = chip.slots();
            let free = slots
                .iter_mut()
                .take(usize::from(CLIENT_SOCKETS))
                .position(|s| matches!(s.state, State::Free));
            if let Some(i) = free
                && let Some(slot) = slots.get_mut(i)
            {
                slot.state = State::Connecting;
                slot.generation += 1;
                break (i as u8, slot.generation);
            }
            drop(slots);
            thread::sleep(Duration::from_millis(2));
        };
        let stream = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(e) => {
                    eprintln!("chip: accept: {e}");
                    thread::sleep(Duration::from_millis(50));
                }
            }
        };
        let _ = stream.set_nodelay(true);
        open(chip, socket, generation, stream, Kind::Accepted);
    }
}

/// A connection on `socket` (accepted, or connected for the MCU): tells
/// the MCU, then starts its reader and writer.
fn open(chip: &Arc<Chip>, socket: u8, generation: u64, stream: TcpStream, kind: Kind) {
    let (Ok(reader), Ok(writer)) = (stream.try_clone(), stream.try_clone()) else {
        eprintln!("chip: socket {socket}: cannot clone the connection");
        let mut slots = chip.slots();
        if let Some(slot) = slots.get_mut(usize::from(socket))
            && slot.generation == generation
        {
            slot.state = State::Free;
            chip.send(
                if kind == Kind::Accepted {
                    Kind::Closed
                } else {
                    Kind::Refused
                },
                socket,
                &[],
            );
        }
        return;
    };
    let (out, replies) = mpsc::sync_channel(CLIENT_QUEUE);
    {
        let mut slots = chip.slots();
        let Some(slot) = slots.get_mut(usize::from(socket)) else {
            return;
        };
        if slot.generation != generation {
            // The MCU closed the socket while it was connecting.
            return;
        }
        slot.state = State::Open {
            out,
            stream,
            closed_sent: false,
        };
        chip.send(kind, socket, &[]);
    }
    thread::spawn(move || write_socket(writer, replies));
    let chip = chip.clone();
    thread::spawn(move || read_socket(&chip, socket, generation, reader));
}

/// The MCU's bytes to one connection; when the MCU closes it (the sender
/// is dropped), what is queued is sent and the connection shut.
fn write_socket(mut stream: TcpStream, replies: Receiver<Vec<u8>>) {
    for bytes in replies {
        if stream.write_all(&bytes).is_err() {
            break;
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

/// One connection's bytes to the MCU, then its `Closed`.
fn read_socket(chip: &Chip, socket: u8, generation: u64, mut stream: TcpStream) {
    let mut buf = [0u8; MAX_PAYLOAD];
    loop {
        while chip.queued.load(Ordering::Acquire) > QUEUED_MAX {
            thread::sleep(Duration::from_millis(1));
        }
        let n = stream.read(&mut buf).unwrap_or(0);
        let mut slots = chip.slots();
        let Some(slot) = slots.get_mut(usize::from(socket)) else {
            return;
        };
        let State::Open { closed_sent, .. } = &mut slot.state else {
            return;
        };
        if slot.generation != generation || *closed_sent {
            return;
        }
        match buf.get(..n) {
            Some(bytes) if n > 0 => chip.send(Kind::Data, socket, bytes),
            _ => {
                *closed_sent = true;
                chip.send(Kind::Closed, socket, &[]);
                return;
            }
        }
    }
}

/// A frame from the MCU.
fn on_frame(chip: &Arc<Chip>, kind: Kind, socket: u8, payload: &[u8]) {
    let mut slots = chip.slots();
    let Some(slot) = slots.get_mut(usize::from(socket)) else {
        return;
    };
    match kind {
        Kind::Send => {
            if let State::Open { out, stream, .. } = &slot.state
                && let Err(TrySendError::Full(_)) = out.try_send(payload.to_vec())
            {
                eprintln!("chip: socket {socket}: the client reads nothing; dropped");
                let _ = stream.shutdown(Shutdown::Both);
            }
            // To a socket already closed: the client left; dropped.
        }
        Kind::Close => match &slot.state {
            State::Free => eprintln!("chip: socket {socket}: Close of a free socket"),
            State::Connecting => {
                // The connect in progress is abandoned (its thread sees
                // another generation).
                slot.generation += 1;
                slot.state = State::Free;
                chip.send(Kind::Closed, socket, &[]);
            }
            State::Open { closed_sent, .. } => {
                let sent = *closed_sent;
                // Dropping `out` lets the writer finish and shut the connection.
                slot.state = State::Free;
                if !sent {
                    chip.send(Kind::Closed, socket, &[]);
                }
            }
        },
        Kind::Connect => {
            if !matches!(slot.state, State::Free) || socket < CLIENT_SOCKETS {
                eprintln!("chip: socket {socket}: Connect refused (not a free outgoing socket)");
                if matches!(slot.state, State::Free) {
                    chip.send(Kind::Refused, socket, &[]);
                }
                return;
            }
            let Ok((host, port)) = frame::address(payload) else {
                return;
            };
            let target = format!("{host}:{port}");
            slot.state = State::Connecting;
            slot.generation += 1;
            let generation = slot.generation;
            drop(slots);
            let chip = chip.clone();
            thread::spawn(move || {
                let stream = target
                    .to_socket_addrs()
                    .ok()
                    .and_then(|mut a| a.next())
                    .and_then(|a| TcpStream::connect_timeout(&a, CONNECT_TIMEOUT).ok());
                match stream {
                    Some(s) => {
                        let _ = s.set_nodelay(true);
                        open(&chip, socket, generation, s, Kind::Connected);
                    }
                    None => {
                        let mut slots = chip.slots();
                        if let Some(slot) = slots.get_mut(usize::from(socket))
                            && slot.generation == generation
                        {
                            slot.state = State::Free;
                            chip.send(Kind::Refused, socket, &[]);
                        }
                    }
                }
            });
        }
        // The decoder passes MCU kinds only.
        _ => {}
    }
}
