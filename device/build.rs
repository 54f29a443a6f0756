//! Puts the memory map of the QEMU board for the target being built where
//! the linker finds it, and the board's core clock where the code finds it
//! (`board.rs` in `OUT_DIR`).

use std::{env, fs, path::PathBuf};

fn main() {
    let target = env::var("TARGET").unwrap_or_default();
    // Target triple -> the QEMU board's map (see README, "Device suites").
    let map = match target.as_str() {
        "thumbv6m-none-eabi" => "memory/microbit.x",
        "thumbv7m-none-eabi" => "memory/lm3s6965evb.x",
        "thumbv7em-none-eabihf" => "memory/mps2-an386.x",
        "riscv32imc-unknown-none-elf" | "riscv32imac-unknown-none-elf" => "memory/qemu-virt.x",
        other => panic!("no QEMU board for target {other:?}"),
    };
    // The core clock QEMU gives the board (SysTick's clock with CLKSOURCE
    // set): nRF51 16 MHz; LM3S6965 200 MHz PLL / 16 at reset; MPS2 25 MHz.
    // RISC-V programs count with minstret and need no clock.
    let core_hz: u64 = match target.as_str() {
        "thumbv6m-none-eabi" => 16_000_000,
        "thumbv7m-none-eabi" => 12_500_000,
        "thumbv7em-none-eabihf" => 25_000_000,
        _ => 0,
    };
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::copy(map, out.join("memory.x")).expect("memory map copied");
    let board = format!(
        "/// The QEMU board's core clock in Hz (0: not used on this target).\n\
         pub const CORE_HZ: u64 = {core_hz};\n"
    );
    fs::write(out.join("board.rs"), board).expect("board.rs written");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed={map}");
    println!("cargo:rerun-if-changed=build.rs");
}
