//! This repository's crate, native API and all, under kevy-scope
//! 1.32.0's name: kevy 1.32.0 with `compat/kevy-native.patch` applied
//! builds against it (`scripts/kevy.sh --native`).
#![forbid(unsafe_code)]

pub use scope_native::*;
