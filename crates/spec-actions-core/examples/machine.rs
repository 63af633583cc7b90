//! Prints this machine as every bench header and run manifest records it: CPU model, cores,
//! the SIMD features detected at run time, the matmul kernels burn's Flex backend dispatches to
//! and the kernels of its bf16 decode products.
//!
//! ```text
//! cargo run -p spec-actions-core --example machine
//! ```
//!
//! `scripts/cpu_fallback.sh` runs it under `qemu-x86_64 -cpu <model>` to check that the run-time
//! dispatch sees an emulated CPU without AVX-512 (or without AVX2) as such.
use spec_actions_core::machine::Machine;

fn main() {
    println!("{}", Machine::detect());
}
