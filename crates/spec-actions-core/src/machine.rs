//! What machine a run or a benchmark ran on: the CPU model, the cores Rust may use, and the
//! SIMD features detected at run time — so two benchmark tables from different machines can be
//! told apart (speed figures are only comparable as same-run ratios on one machine).
//!
//! ```
//! let m = spec_actions_core::machine::Machine::detect();
//! assert!(m.cores >= 1);
//! // e.g. "AMD EPYC (family 26 model 2) · 2 cores · SIMD: avx2 fma avx512f … · matmul kernels: AVX-512 · decode kernels: AVX-512 or AVX2, chosen by timing"
//! println!("{m}");
//! ```

use std::fmt;

/// The machine, as detected at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// `model name` of `/proc/cpuinfo` (Linux) with its `cpu family` and `model` numbers, else
    /// the target architecture: "AMD EPYC" or "Intel(R) Xeon(R) Processor" alone, as a VM
    /// often reports them, names several generations of CPU.
    pub cpu: String,
    /// [`std::thread::available_parallelism`].
    pub cores: usize,
    /// The SIMD features this CPU has among those the kernels use (`avx2`, `fma`, `avx512f`,
    /// `avx512bw`, `avx512vl`, `avx512vnni`, `avx512bf16`, `f16c`), in that order.
    pub simd: Vec<&'static str>,
}

impl Machine {
    /// Reads the CPU model and detects the SIMD features.
    pub fn detect() -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| cpu_name(&text))
            .unwrap_or_else(|| std::env::consts::ARCH.to_string());
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Machine {
            cpu,
            cores,
            simd: simd_features(),
        }
    }

    /// The matmul kernels burn's Flex backend runs on this CPU: `gemm` dispatches to its
    /// AVX-512 kernels (built in by the workspace's `x86-v4` feature) when the CPU has
    /// AVX-512F, to its AVX2 + FMA kernels otherwise, else to portable code.
    pub fn matmul_kernels(&self) -> &'static str {
        let has = |f: &str| self.simd.contains(&f);
        if has("avx512f") {
            "AVX-512"
        } else if has("avx2") && has("fma") {
            "AVX2+FMA"
        } else {
            "portable"
        }
    }

    /// The kernels the vendored Flex (`vendor/burn-flex`, `ops::row_vector`) may multiply a
    /// decode step's weights with, f32 or bf16: where the CPU has AVX-512F, its 512-bit and
    /// 256-bit kernels (each with and without a prefetch of the weight rows), the fastest
    /// chosen by timing them on the process's first products, a choice for each kind of
    /// product (`burn_flex::f32_kernels_chosen` and `bf16_kernels_chosen` name them); where it
    /// has AVX2, the 256-bit ones; its portable loops otherwise (the same sums, the same bits,
    /// on all of them).
    pub fn decode_kernels(&self) -> &'static str {
        if self.simd.contains(&"avx512f") {
            "AVX-512 or AVX2, chosen by timing"
        } else if self.simd.contains(&"avx2") {
            "AVX2, chosen by timing"
        } else {
            "portable"
        }
    }
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} · {} core{} · SIMD: {} · matmul kernels: {} · decode kernels: {}",
            self.cpu,
            self.cores,
            if self.cores == 1 { "" } else { "s" },
            if self.simd.is_empty() {
                "none detected".to_string()
            } else {
                self.simd.join(" ")
            },
            self.matmul_kernels(),
            self.decode_kernels()
        )
    }
}

/// `"<model name> (family F model M)"` from the text of `/proc/cpuinfo` (its first processor),
/// or the model name alone where the numbers are missing; `None` without a model name.
fn cpu_name(cpuinfo: &str) -> Option<String> {
    let field = |name: &str| {
        cpuinfo.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == name).then(|| value.trim().to_string())
        })
    };
    let name = field("model name")?;
    Some(match (field("cpu family"), field("model")) {
        (Some(family), Some(model)) => format!("{name} (family {family} model {model})"),
        _ => name,
    })
}

#[cfg(target_arch = "x86_64")]
fn simd_features() -> Vec<&'static str> {
    let detected = [
        ("avx2", std::arch::is_x86_feature_detected!("avx2")),
        ("fma", std::arch::is_x86_feature_detected!("fma")),
        ("avx512f", std::arch::is_x86_feature_detected!("avx512f")),
        ("avx512bw", std::arch::is_x86_feature_detected!("avx512bw")),
        ("avx512vl", std::arch::is_x86_feature_detected!("avx512vl")),
        ("avx512vnni", std::arch::is_x86_feature_detected!("avx512vnni")),
        ("avx512bf16", std::arch::is_x86_feature_detected!("avx512bf16")),
        ("f16c", std::arch::is_x86_feature_detected!("f16c")),
    ];
    detected
        .into_iter()
        .filter(|(_, on)| *on)
        .map(|(name, _)| name)
        .collect()
}

#[cfg(not(target_arch = "x86_64"))]
fn simd_features() -> Vec<&'static str> {
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_is_named_with_its_family_and_model() {
        // the first lines of a 2-core VM's /proc/cpuinfo (one processor shown)
        let cpuinfo = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 26\n\
                       model\t\t: 2\nmodel name\t: AMD EPYC\nstepping\t: 1\n\n\
                       processor\t: 1\ncpu family\t: 26\nmodel\t\t: 2\nmodel name\t: AMD EPYC\n";
        assert_eq!(cpu_name(cpuinfo).as_deref(), Some("AMD EPYC (family 26 model 2)"));
        // an Arm /proc/cpuinfo has neither a model name nor a family
        assert_eq!(cpu_name("processor\t: 0\nBogoMIPS\t: 50.00\n"), None);
        assert_eq!(cpu_name("model name : Some CPU\n").as_deref(), Some("Some CPU"));
    }

    #[test]
    fn the_kernel_choice_follows_the_features() {
        let machine = |simd: Vec<&'static str>| Machine {
            cpu: "test".into(),
            cores: 2,
            simd,
        };
        assert_eq!(
            machine(vec!["avx2", "fma", "avx512f"]).matmul_kernels(),
            "AVX-512"
        );
        assert_eq!(machine(vec!["avx2", "fma"]).matmul_kernels(), "AVX2+FMA");
        assert_eq!(machine(vec!["avx2"]).matmul_kernels(), "portable");
        assert_eq!(machine(vec![]).matmul_kernels(), "portable");
        assert_eq!(
            machine(vec!["avx2", "fma", "avx512f"]).decode_kernels(),
            "AVX-512 or AVX2, chosen by timing"
        );
        assert_eq!(machine(vec!["avx2"]).decode_kernels(), "AVX2, chosen by timing");
        assert_eq!(machine(vec!["fma", "f16c"]).decode_kernels(), "portable");
        let shown = machine(vec!["avx2", "fma"]).to_string();
        assert_eq!(
            shown,
            "test · 2 cores · SIMD: avx2 fma · matmul kernels: AVX2+FMA · decode kernels: AVX2, chosen by timing"
        );
    }
}
