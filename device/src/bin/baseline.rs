//! The same runtime and logging as the firmware, without kevy-scope: the
//! footprint report subtracts this from the firmware to size the crate.
#![no_std]
#![no_main]

use kevy_scope_device::{exit, paint_stack, stack_high_water};

#[kevy_scope_device::entry]
fn main() -> ! {
    paint_stack();
    defmt::info!(
        "baseline up; stack high-water {=usize} B",
        stack_high_water()
    );
    exit(true)
}
