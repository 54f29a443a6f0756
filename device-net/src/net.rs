//! The network card: virtio-drivers' allocation-free `VirtIONetRaw` on
//! the `virt` machine's virtio-mmio transport, as a smoltcp `Device`.
//!
//! Receive buffers are a fixed set of [`RX_BUFS`] frames, each handed to
//! the card and, once filled, lent to smoltcp for one frame, then handed
//! back on the next `receive`. Transmission copies nothing: smoltcp
//! writes the frame into the one transmit buffer and the driver sends it
//! (with its virtio-net header in a descriptor of its own) and waits for
//! the card to take it.

use core::ptr::NonNull;

use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use virtio_drivers::device::net::VirtIONetRaw;
use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};
use virtio_drivers::transport::{DeviceType, Transport};

use crate::hal::VirtHal;

/// Descriptors per virtqueue (a power of two). Receive uses one per
/// buffer, transmit two per frame (header, frame).
pub const QUEUE_SIZE: usize = 4;
/// Receive buffers.
pub const RX_BUFS: usize = 4;
/// A frame buffer: virtio-net's 12-byte header and a 1514-byte Ethernet
/// frame (virtio-drivers asks for at least 1526).
pub const BUF_LEN: usize = 1536;
/// The largest Ethernet frame, header included, without FCS.
const MTU: usize = 1514;

/// QEMU `virt`'s virtio-mmio slots: eight windows of 4 KiB from
/// 0x1000_1000, slot `i` on PLIC interrupt `1 + i`.
const MMIO_BASE: usize = 0x1000_1000;
const MMIO_SIZE: usize = 0x1000;
const MMIO_SLOTS: usize = 8;

/// The frame buffers, in a `static` (see main.rs): 7.5 KiB.
pub struct Buffers {
    rx: [[u8; BUF_LEN]; RX_BUFS],
    tx: [u8; BUF_LEN],
}

impl Buffers {
    pub const fn new() -> Self {
        Self {
            rx: [[0; BUF_LEN]; RX_BUFS],
            tx: [0; BUF_LEN],
        }
    }
}

type Raw = VirtIONetRaw<VirtHal, MmioTransport<'static>, QUEUE_SIZE>;

/// The card and its buffers.
pub struct Nic {
    raw: Raw,
    rx: &'static mut [[u8; BUF_LEN]; RX_BUFS],
    /// The card's token for each receive buffer it holds; `None` for a
    /// buffer the firmware holds (lent to smoltcp, or not yet handed).
    rx_token: [Option<u16>; RX_BUFS],
    tx: &'static mut [u8; BUF_LEN],
    /// The PLIC interrupt of the card's slot.
    pub irq: u32,
    /// The TCP port the firmware serves, and how many more connection
    /// requests (SYN) to it smoltcp may see before the next
    /// [`Nic::accept`]: one per listening socket.
    port: u16,
    syn_budget: usize,
}

/// Why there is no card.
#[derive(Debug)]
pub enum NoNic {
    /// No virtio-mmio slot holds a network card.
    NotFound,
    /// The driver refused the card.
    Driver(#[allow(dead_code)] virtio_drivers::Error),
}

impl Nic {
    /// Finds the first network card among the virtio-mmio slots and sets
    /// it up with `buffers`. Called once.
    pub fn probe(buffers: &'static mut Buffers) -> Result<Self, NoNic> {
        for slot in 0..MMIO_SLOTS {
            let addr = MMIO_BASE + slot * MMIO_SIZE;
            let Some(header) = NonNull::new(addr as *mut VirtIOHeader) else {
                continue;
            };
            // SAFETY: QEMU `virt` maps a virtio-mmio window of MMIO_SIZE
            // bytes (header and config space) at every slot address for
            // the whole run; the probe runs once and keeps at most one
            // transport per window (the others are dropped at once).
            let Ok(transport) = (unsafe { MmioTransport::new(header, MMIO_SIZE) }) else {
                continue;
            };
            if transport.device_type() != DeviceType::Network {
                continue;
            }
            let raw = Raw::new(transport).map_err(NoNic::Driver)?;
            let mut nic = Self {
                raw,
                rx: &mut buffers.rx,
                rx_token: [None; RX_BUFS],
                tx: &mut buffers.tx,
                irq: 1 + slot as u32,
                port: 0,
                syn_budget: 0,
            };
            nic.refill();
            return Ok(nic);
        }
        Err(NoNic::NotFound)
    }

    /// The card's MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.raw.mac_address()
    }

    /// Lets `listening` connection requests to `port` through until the
    /// next call. smoltcp answers a SYN no socket listens for with a
    /// reset; dropped here instead, it is sent again by the client a
    /// moment later, when a socket may be free (what a full listen
    /// backlog does on Linux), so a burst of clients waits rather than
    /// fails.
    pub fn accept(&mut self, port: u16, listening: usize) {
        self.port = port;
        self.syn_budget = listening;
    }

    /// Clears the card's interrupt status (after a wake-up).
    pub fn ack_interrupt(&mut self) {
        let _ = self.raw.ack_interrupt();
    }

    /// Hands every buffer the firmware holds back to the card.
    fn refill(&mut self) {
        for (buf, token) in self.rx.iter_mut().zip(self.rx_token.iter_mut()) {
            if token.is_none() {
                // SAFETY: the buffer lives in a `static` and is not read
                // or written until the card returns this token (`receive`
                // below, which completes it with the same buffer).
                *token = unsafe { self.raw.receive_begin(buf) }.ok();
            }
        }
    }
}

impl phy::Device for Nic {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        loop {
            // The buffer lent to smoltcp last time (or dropped) is free again.
            self.refill();
            let token = self.raw.poll_receive()?;
            let slot = self.rx_token.iter().position(|t| *t == Some(token))?;
            if let Some(t) = self.rx_token.get_mut(slot) {
                *t = None;
            }
            let buf = self.rx.get_mut(slot)?;
            // SAFETY: `buf` is the buffer `receive_begin` was given for
            // this token.
            let (header, len) = unsafe { self.raw.receive_complete(token, buf) }.ok()?;
            let range = header..header + len;
            if is_syn_to(buf.get(range.clone())?, self.port) {
                if self.syn_budget == 0 {
                    continue;
                }
                self.syn_budget -= 1;
            }
            let frame = self.rx.get(slot)?.get(range)?;
            return Some((
                RxToken { frame },
                TxToken {
                    raw: &mut self.raw,
                    buf: &mut *self.tx,
                },
            ));
        }
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken<'_>> {
        self.raw.can_send().then_some(TxToken {
            raw: &mut self.raw,
            buf: &mut *self.tx,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MTU;
        caps.max_burst_size = Some(1);
        caps
    }
}

/// Whether `frame` is an IPv4 TCP connection request (SYN without ACK)
/// to `port`.
fn is_syn_to(frame: &[u8], port: u16) -> bool {
    use smoltcp::wire::{EthernetFrame, EthernetProtocol, IpProtocol, Ipv4Packet, TcpPacket};
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return false;
    };
    if eth.ethertype() != EthernetProtocol::Ipv4 {
        return false;
    }
    let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else {
        return false;
    };
    if ip.next_header() != IpProtocol::Tcp {
        return false;
    }
    let Ok(tcp) = TcpPacket::new_checked(ip.payload()) else {
        return false;
    };
    tcp.syn() && !tcp.ack() && tcp.dst_port() == port
}

/// One received frame, lent until smoltcp has read it.
pub struct RxToken<'a> {
    frame: &'a [u8],
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.frame)
    }
}

/// The transmit buffer and the card.
pub struct TxToken<'a> {
    raw: &'a mut Raw,
    buf: &'a mut [u8; BUF_LEN],
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        // smoltcp never asks for more than the MTU (< BUF_LEN).
        let (frame, _) = self.buf.split_at_mut(len.min(BUF_LEN));
        let result = f(frame);
        // A frame the card refuses is dropped, as on a wire; TCP resends.
        let _ = self.raw.send(frame);
        result
    }
}
