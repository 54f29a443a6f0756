//! Puts the memory map of the QEMU board for the target being built where
//! the linker finds it.

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
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::copy(map, out.join("memory.x")).expect("memory map copied");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed={map}");
    println!("cargo:rerun-if-changed=build.rs");
}
