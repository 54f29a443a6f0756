//! virtio-drivers' `Hal` for this machine: identity-mapped memory, no
//! IOMMU, and a fixed pool of DMA pages in `.bss` instead of a heap.
//!
//! This is the firmware's one `unsafe impl`: virtio-drivers trusts it to
//! hand out page-aligned, zeroed, unaliased memory and to give the device
//! addresses that reach the driver's buffers. Here a physical address is
//! the same number as the pointer (QEMU `virt` runs the hart with no
//! translation and the virtio device reads guest RAM directly).

use core::ptr::{NonNull, addr_of_mut};
use core::sync::atomic::{AtomicUsize, Ordering};

use virtio_drivers::{BufferDirection, Hal, PAGE_SIZE, PhysAddr};

/// Pages for the virtqueues: a modern (virtio 1) queue takes one page for
/// its descriptors and driver ring and one for its device ring; the
/// network card has two queues (receive, transmit).
pub const DMA_PAGES: usize = 4;

#[repr(C, align(4096))]
struct Pool([[u8; PAGE_SIZE]; DMA_PAGES]);

/// The pages. Only ever reached through the pointer `dma_alloc` hands
/// out, each page once.
static mut POOL: Pool = Pool([[0; PAGE_SIZE]; DMA_PAGES]);
/// Pages handed out so far (never given back: the queues live as long as
/// the firmware).
static USED: AtomicUsize = AtomicUsize::new(0);

/// The `virt` machine's view of memory.
pub struct VirtHal;

// SAFETY: `dma_alloc` hands out each page of POOL at most once, page
// aligned (`Pool`'s alignment), zeroed (`.bss`, never written before it is
// handed out), and returns the null address (refused) once the pool is
// spent. Physical and virtual addresses are the same (no MMU in use, no
// IOMMU), so `share` hands the device the buffer's own address and
// `unshare` has nothing to copy back.
unsafe impl Hal for VirtHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        let first = USED.fetch_add(pages, Ordering::Relaxed);
        if first + pages > DMA_PAGES {
            USED.fetch_sub(pages, Ordering::Relaxed);
            // paddr 0: virtio-drivers reports Error::DmaError.
            return (0, NonNull::dangling());
        }
        // In bounds: first + pages <= DMA_PAGES. addr_of_mut! makes no
        // reference to the static.
        let base = addr_of_mut!(POOL).cast::<u8>();
        // SAFETY: offset within POOL (checked above).
        let page = unsafe { base.add(first * PAGE_SIZE) };
        match NonNull::new(page) {
            Some(ptr) => (page as usize as PhysAddr, ptr),
            None => (0, NonNull::dangling()),
        }
    }

    unsafe fn dma_dealloc(_paddr: PhysAddr, _vaddr: NonNull<u8>, _pages: usize) -> i32 {
        // Only reached if the driver's set-up fails half-way: the pages
        // stay unused (leaked), which is harmless in a firmware that then
        // reports the failure and stops.
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, _size: usize) -> NonNull<u8> {
        // Only used by the PCI transport; identity mapping.
        NonNull::new(paddr as usize as *mut u8).unwrap_or(NonNull::dangling())
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> PhysAddr {
        // The device reads and writes guest RAM in place.
        buffer.cast::<u8>().as_ptr() as usize as PhysAddr
    }

    unsafe fn unshare(_paddr: PhysAddr, _buffer: NonNull<[u8]>, _direction: BufferDirection) {}
}
