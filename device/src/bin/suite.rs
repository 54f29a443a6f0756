//! The device test suite: the shared test vectors, then the power-cut
//! check of the node's image in flash, on a Cortex-M under QEMU. A failed
//! check or a panic exits QEMU with status 1.
#![no_std]
#![no_main]

use kevy_scope_device::{exit, paint_stack, stack_high_water, static_ram};

use kevy_scope_support::flash::{CutMode, power_cut_check};
use kevy_scope_support::vectors;

/// The power-cut check's flash: four 256-byte pages, so a few images fill
/// a page and the store reclaims pages often.
const PAGE: usize = 256;
const FLASH_LEN: usize = 4 * PAGE;
/// Persists per cut mode, each cut at every write and erase step.
const PERSISTS: u32 = 48;

/// The power-cut check in both cut modes; the number of cuts made.
#[inline(never)]
fn power_cuts() -> u32 {
    let mut flash = [0xFFu8; FLASH_LEN];
    let mut snapshot = [0xFFu8; FLASH_LEN];
    let mut cuts = 0;
    for mode in [CutMode::Clean, CutMode::Torn] {
        match power_cut_check::<PAGE>(&mut flash, &mut snapshot, PERSISTS, mode) {
            Ok(report) => {
                defmt::info!("power cuts ({}): {}", mode, report);
                cuts += report.cuts;
            }
            Err(failure) => {
                defmt::error!("FAILED power cut ({}): {}", mode, failure);
                exit(false)
            }
        }
    }
    cuts
}

#[kevy_scope_device::entry]
fn main() -> ! {
    paint_stack();
    let outcome = vectors::run_all(|suite, passed| {
        defmt::info!("suite {=str}: {=usize} checks passed", suite, passed);
    });
    let total = match outcome {
        Ok(total) => total,
        Err(failure) => {
            defmt::error!("FAILED: {}", failure);
            exit(false)
        }
    };
    let cuts = power_cuts();
    defmt::info!(
        "all {=usize} checks and {=u32} power cuts passed; stack high-water {=usize} B, static RAM {=usize} B",
        total,
        cuts,
        stack_high_water(),
        static_ram()
    );
    exit(true)
}
