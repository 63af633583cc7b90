//! The one place that chooses the burn backend a binary runs on, and the compute dtype that goes
//! with it.
//!
//! A binary takes `--backend flex|wgpu|cuda` ([`BackendChoice`], a clap `ValueEnum`) and hands
//! its work to [`run_on`] as a [`BackendJob`]: one generic `run::<B>` that [`run_on`] calls
//! from a single `match`, with `B` the chosen backend (autodiff-enabled; inference uses
//! `B::InnerBackend`), its default device and the [`LoadOptions`] of that backend's compute
//! dtype ([`BackendChoice::compute_dtype`]: f32 on Flex and wgpu, bf16 on CUDA).
//!
//! | choice | burn backend | cargo feature | compute dtype |
//! |---|---|---|---|
//! | `flex` | `burn::backend::Flex` (CPU) | always built | f32 |
//! | `wgpu` | `burn::backend::Wgpu` (Vulkan on Linux, Metal on macOS, DX12 on Windows; Mesa's lavapipe in CI) | `wgpu` | f32 |
//! | `cuda` | `burn::backend::Cuda` | `cuda` | bf16 |
//!
//! Every variant is always listed (so `--help` shows them all); choosing one whose feature is not
//! built in is [`BackendError::NotBuilt`], which names the feature to rebuild with.
//!
//! Why not `burn-dispatch`: burn 0.21's `Dispatch` backend chooses at run time too, but through
//! one enum tensor type whose every op matches on the backend, with its wgpu flavours (`vulkan`,
//! `metal`, `webgpu`) mutually exclusive at build time and autodiff as a device wrapper. The
//! project's code is already generic over `B: Backend` / `AutodiffBackend`, so one `match` that
//! monomorphises the job per backend gives the same run-time choice with no per-op dispatch, the
//! static autodiff types the trainer is written against, and the features deciding what is built.

use burn::backend::{Autodiff, Flex};
use burn::tensor::FloatDType;
use burn::tensor::backend::AutodiffBackend;

use crate::load_options::LoadOptions;

/// The backend a binary runs on (`--backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum BackendChoice {
    /// burn's Flex CPU backend (always built).
    Flex,
    /// burn's wgpu backend: Vulkan, Metal or DX12 (cargo feature `wgpu`).
    Wgpu,
    /// burn's CUDA backend (cargo feature `cuda`; CUDA is loaded at run time).
    Cuda,
}

/// A dtype chosen on the command line (`--dtype`), overriding the backend's
/// ([`BackendChoice::compute_dtype`]); [`BackendChoice::load_options_with`] says what it means
/// on each backend. `bf16` on Flex is bf16 *weights* with f32 compute: half the models' memory
/// and half the bytes a decode step reads (the vendored Flex multiplies a bf16 row vector by bf16
/// weights without widening them first), while norms, RoPE, attention and the residual stream
/// stay f32 (Flex's bf16 element-wise ops are slow). On a GPU `bf16` is bf16 throughout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum ComputeDtype {
    /// 32-bit floats.
    F32,
    /// bfloat16: f32's exponent, 8 significant bits.
    Bf16,
}

impl ComputeDtype {
    /// The name on the command line and in reports (`f32`, `bf16`).
    pub fn as_str(self) -> &'static str {
        match self {
            ComputeDtype::F32 => "f32",
            ComputeDtype::Bf16 => "bf16",
        }
    }
}

impl From<ComputeDtype> for FloatDType {
    fn from(d: ComputeDtype) -> Self {
        match d {
            ComputeDtype::F32 => FloatDType::F32,
            ComputeDtype::Bf16 => FloatDType::BF16,
        }
    }
}

/// A backend that was chosen but is not built into this binary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The backend's cargo feature was off when this binary was built.
    #[error(
        "backend `{backend}` is not built into this binary: rebuild with `--features {feature}` (built in: {built})"
    )]
    NotBuilt {
        /// The chosen backend (`wgpu`, `cuda`).
        backend: &'static str,
        /// The cargo feature that builds it in.
        feature: &'static str,
        /// The backends this binary has, comma-separated.
        built: String,
    },
    /// The backend is built in but this machine cannot run it (no driver, no device).
    #[error("backend `{backend}` cannot run on this machine: {reason}")]
    Unavailable {
        /// The chosen backend.
        backend: &'static str,
        /// What is missing, and what to do about it.
        reason: String,
    },
}

impl BackendChoice {
    /// Every choice, built in or not.
    pub const ALL: [BackendChoice; 3] = [BackendChoice::Flex, BackendChoice::Wgpu, BackendChoice::Cuda];

    /// The `--backend` value.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendChoice::Flex => "flex",
            BackendChoice::Wgpu => "wgpu",
            BackendChoice::Cuda => "cuda",
        }
    }

    /// The cargo feature that builds this backend in (`None`: always built).
    pub fn feature(self) -> Option<&'static str> {
        match self {
            BackendChoice::Flex => None,
            BackendChoice::Wgpu => Some("wgpu"),
            BackendChoice::Cuda => Some("cuda"),
        }
    }

    /// Whether this binary was built with this backend.
    pub fn is_built(self) -> bool {
        match self {
            BackendChoice::Flex => true,
            BackendChoice::Wgpu => cfg!(feature = "wgpu"),
            BackendChoice::Cuda => cfg!(feature = "cuda"),
        }
    }

    /// The backends this binary was built with.
    pub fn built() -> Vec<BackendChoice> {
        Self::ALL.into_iter().filter(|b| b.is_built()).collect()
    }

    /// The compute dtype of base models on this backend: bf16 on CUDA; f32 on Flex (CPU) and on
    /// wgpu (WGSL has no bf16, and lavapipe computes f32 only). LoRA adapters, their gradients
    /// and optimizer state, losses and the reward head are f32 on every backend
    /// ([`crate::model::precision`]).
    pub fn compute_dtype(self) -> FloatDType {
        match self {
            BackendChoice::Flex | BackendChoice::Wgpu => FloatDType::F32,
            BackendChoice::Cuda => FloatDType::BF16,
        }
    }

    /// How checkpoints are loaded on this backend: straight into [`Self::compute_dtype`].
    pub fn load_options(self) -> LoadOptions {
        LoadOptions::uniform(self.compute_dtype())
    }

    /// How checkpoints are loaded on this backend when `--dtype` chose `dtype`: `f32` is f32
    /// throughout; `bf16` is [`LoadOptions::bf16_weights`] on Flex (bf16 matrices, f32
    /// compute: the CPU has bf16 loads but no fast bf16 element-wise ops) and
    /// [`LoadOptions::bf16`] on the GPU backends.
    pub fn load_options_with(self, dtype: ComputeDtype) -> LoadOptions {
        match (dtype, self) {
            (ComputeDtype::F32, _) => LoadOptions::uniform(FloatDType::F32),
            (ComputeDtype::Bf16, BackendChoice::Flex) => LoadOptions::bf16_weights(),
            (ComputeDtype::Bf16, BackendChoice::Wgpu | BackendChoice::Cuda) => LoadOptions::bf16(),
        }
    }

    /// `Ok` when built in, else [`BackendError::NotBuilt`] naming the feature.
    pub fn check_built(self) -> Result<(), BackendError> {
        if self.is_built() {
            Ok(())
        } else {
            Err(self.not_built())
        }
    }

    fn not_built(self) -> BackendError {
        BackendError::NotBuilt {
            backend: self.as_str(),
            feature: self.feature().unwrap_or("none"),
            built: Self::built()
                .iter()
                .map(|b| b.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

impl std::fmt::Display for BackendChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Work to run on whichever backend [`run_on`] chooses: one generic body, monomorphised per
/// built-in backend.
pub trait BackendJob {
    /// What the job returns.
    type Output;
    /// Runs on backend `B` (autodiff-enabled; inference uses `B::InnerBackend`, whose device is
    /// the same type) and `device`, loading checkpoints with `load` (the backend's compute dtype).
    fn run<B: AutodiffBackend>(self, device: B::Device, load: LoadOptions) -> Self::Output;
}

/// Runs `job` on the chosen backend's default device: the one `match` over backends.
///
/// ```
/// use burn::tensor::backend::AutodiffBackend;
/// use spec_actions_qwen3::LoadOptions;
/// use spec_actions_qwen3::backend::{BackendChoice, BackendJob, run_on};
///
/// struct Name;
/// impl BackendJob for Name {
///     type Output = String;
///     fn run<B: AutodiffBackend>(self, _device: B::Device, load: LoadOptions) -> String {
///         format!("{} {:?}", std::any::type_name::<B>(), load.compute_dtype)
///     }
/// }
/// let flex = run_on(BackendChoice::Flex, Name)?;
/// assert!(flex.contains("Flex") && flex.ends_with("F32"), "{flex}");
/// # Ok::<(), spec_actions_qwen3::backend::BackendError>(())
/// ```
pub fn run_on<J: BackendJob>(choice: BackendChoice, job: J) -> Result<J::Output, BackendError> {
    let load = choice.load_options();
    match choice {
        BackendChoice::Flex => Ok(job.run::<Autodiff<Flex>>(Default::default(), load)),
        #[cfg(feature = "wgpu")]
        BackendChoice::Wgpu => Ok(job.run::<Autodiff<burn::backend::Wgpu>>(Default::default(), load)),
        #[cfg(feature = "cuda")]
        BackendChoice::Cuda => {
            cuda_available()?;
            Ok(job.run::<Autodiff<burn::backend::Cuda>>(Default::default(), load))
        }
        // The variants whose feature is off.
        #[allow(unreachable_patterns)]
        other => Err(other.not_built()),
    }
}

/// Whether this machine can run burn's CUDA backend: the NVIDIA driver library and NVRTC (burn
/// compiles its kernels at run time), both loaded by `cudarc` under the names it tries, then
/// `cuInit` and at least one device. burn's CUDA runtime panics on its worker thread when any of
/// these is missing; this check turns that into [`BackendError::Unavailable`].
#[cfg(feature = "cuda")]
pub fn cuda_available() -> Result<(), BackendError> {
    use cudarc::driver::result as driver;
    let unavailable = |reason: String| BackendError::Unavailable {
        backend: "cuda",
        reason,
    };
    // Safety: each only tries to open a shared library by the names cudarc would load.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        return Err(unavailable(
            "the NVIDIA driver library (libcuda.so.1) was not found: install the driver, put its \
             folder on LD_LIBRARY_PATH, or choose `--backend flex`"
                .into(),
        ));
    }
    if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        return Err(unavailable(
            "NVRTC (libnvrtc.so, part of the CUDA toolkit) was not found: burn compiles its \
             kernels with it at run time; install the toolkit or put its lib64 folder on \
             LD_LIBRARY_PATH"
                .into(),
        ));
    }
    driver::init().map_err(|e| unavailable(format!("cuInit failed: {e:?}")))?;
    match driver::device::get_count() {
        Ok(n) if n > 0 => Ok(()),
        Ok(_) => Err(unavailable("the driver reports no CUDA device".into())),
        Err(e) => Err(unavailable(format!("counting CUDA devices failed: {e:?}"))),
    }
}

/// Expands `$then!(Inner)` for each burn backend built into this binary — `Flex`, and `Wgpu` /
/// `Cuda` with their features — the one list of backends by type, for code that must name
/// `Autodiff<Inner>` concretely (`model::scaled_dot_product::attend`, which runs a custom
/// autodiff op on them).
macro_rules! each_built_backend {
    ($then:ident) => {
        $then!(burn::backend::Flex);
        #[cfg(feature = "wgpu")]
        $then!(burn::backend::Wgpu);
        #[cfg(feature = "cuda")]
        $then!(burn::backend::Cuda);
    };
}
pub(crate) use each_built_backend;

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    /// Without a usable CUDA driver (this workspace's CI machines) choosing the CUDA backend is a
    /// typed error that names what is missing, not a panic on burn's worker thread; on a machine
    /// with a GPU the job runs there.
    #[cfg(feature = "cuda")]
    #[test]
    fn cuda_without_a_driver_is_a_typed_error() {
        use burn::prelude::*;
        struct Sum;
        impl BackendJob for Sum {
            type Output = f32;
            fn run<B: AutodiffBackend>(self, device: B::Device, _load: LoadOptions) -> f32 {
                Tensor::<B, 1>::from_floats([1.0, 2.0], &device)
                    .sum()
                    .into_scalar()
                    .elem()
            }
        }
        match run_on(BackendChoice::Cuda, Sum) {
            Ok(sum) => assert_eq!(sum, 3.0),
            Err(e) => {
                let text = e.to_string();
                assert!(
                    matches!(e, BackendError::Unavailable { backend: "cuda", .. }),
                    "{text}"
                );
                assert!(
                    ["libcuda", "NVRTC", "cuInit", "device"]
                        .iter()
                        .any(|w| text.contains(w)),
                    "{text}"
                );
            }
        }
    }

    #[test]
    fn every_choice_parses_from_its_flag_value() {
        for choice in BackendChoice::ALL {
            assert_eq!(BackendChoice::from_str(choice.as_str(), false), Ok(choice));
        }
        assert!(BackendChoice::from_str("metal", false).is_err());
    }

    #[test]
    fn compute_dtype_is_bf16_on_cuda_only() {
        assert_eq!(BackendChoice::Flex.compute_dtype(), FloatDType::F32);
        assert_eq!(BackendChoice::Wgpu.compute_dtype(), FloatDType::F32);
        assert_eq!(BackendChoice::Cuda.compute_dtype(), FloatDType::BF16);
        assert_eq!(BackendChoice::Cuda.load_options(), LoadOptions::bf16());
        assert_eq!(
            BackendChoice::Flex.load_options_with(ComputeDtype::Bf16),
            LoadOptions::bf16_weights()
        );
        assert_eq!(
            BackendChoice::Cuda.load_options_with(ComputeDtype::Bf16),
            LoadOptions::bf16()
        );
        for backend in BackendChoice::ALL {
            assert_eq!(
                backend.load_options_with(ComputeDtype::F32),
                LoadOptions::default()
            );
        }
    }

    struct DeviceName;
    impl BackendJob for DeviceName {
        type Output = &'static str;
        fn run<B: AutodiffBackend>(self, _device: B::Device, _load: LoadOptions) -> &'static str {
            std::any::type_name::<B>()
        }
    }

    #[test]
    fn a_backend_not_built_in_names_its_feature() {
        assert!(run_on(BackendChoice::Flex, DeviceName).is_ok());
        for choice in [BackendChoice::Wgpu, BackendChoice::Cuda] {
            match run_on(choice, DeviceName) {
                Ok(name) => assert!(choice.is_built(), "{choice} ran as {name} without its feature"),
                // built in, on a machine without its driver (`cuda_available`)
                Err(e @ BackendError::Unavailable { .. }) => assert!(choice.is_built(), "{e}"),
                Err(e) => {
                    assert!(!choice.is_built());
                    let text = e.to_string();
                    assert!(
                        text.contains(&format!("`--features {}`", choice.as_str())) && text.contains("flex"),
                        "{text}"
                    );
                }
            }
        }
    }
}
