//! The device test suite: the shared test vectors, on a Cortex-M under
//! QEMU. A failed check or a panic exits QEMU with status 1.
#![no_std]
#![no_main]

use kevy_scope_device::{exit, paint_stack, stack_high_water, static_ram};

#[path = "../../../vectors/mod.rs"]
mod vectors;

#[cortex_m_rt::entry]
fn main() -> ! {
    paint_stack();
    let outcome = vectors::run_all(|suite, passed| {
        defmt::info!("suite {=str}: {=usize} checks passed", suite, passed);
    });
    match outcome {
        Ok(total) => {
            defmt::info!(
                "all {=usize} checks passed; stack high-water {=usize} B, static RAM {=usize} B",
                total,
                stack_high_water(),
                static_ram()
            );
            exit(true)
        }
        Err(failure) => {
            defmt::error!("FAILED: {}", failure);
            exit(false)
        }
    }
}
