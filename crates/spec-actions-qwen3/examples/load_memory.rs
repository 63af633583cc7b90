//! Peak memory of loading a checkpoint folder, against the size of the model it builds.
//!
//! ```text
//! cargo run --release -p spec-actions-qwen3 --example load_memory            # random Qwen3-0.6B shape
//! cargo run --release -p spec-actions-qwen3 --example load_memory -- CKPT_DIR
//! ```
//!
//! Without a folder, a random Qwen3-0.6B-shaped checkpoint (f32, 2.4 GB) is first written to a
//! temporary folder. The load itself runs in a fresh child process, which reports
//! - its peak *anonymous* memory (RSS of heap memory, sampled every 2 ms while loading): the
//!   memory the model really takes, since the safetensors files are memory-mapped and their
//!   pages belong to the page cache;
//! - its `VmHWM` (peak resident set, file-backed pages of the mapping included);
//! - the model's own size in f32 (parameter count × 4 bytes).
//!
//! Loading converts one tensor at a time from the mapping, so the anonymous peak should be the
//! model plus about one tensor, not twice the model.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use burn::backend::Flex;
use spec_actions_qwen3::{Qwen3, Qwen3Config, load_qwen3};

/// A field of `/proc/self/status` in bytes (`None` off Linux).
fn status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn gib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 30) as f64
}

/// The child: load `dir`, sampling the anonymous RSS meanwhile.
fn load_and_report(dir: &Path) -> ExitCode {
    let before = status_bytes("RssAnon:").unwrap_or(0);
    let peak = Arc::new(AtomicU64::new(before));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                if let Some(anon) = status_bytes("RssAnon:") {
                    peak.fetch_max(anon, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let started = Instant::now();
    let model: Result<Qwen3<Flex>, _> = load_qwen3(dir, &Default::default());
    let seconds = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let model = match model {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let params = model.config.parameter_count().unwrap_or(0) as u64;
    let model_bytes = params * 4;
    let anon = peak.load(Ordering::Relaxed).saturating_sub(before);
    let hwm = status_bytes("VmHWM:").unwrap_or(0);
    println!(
        "loaded {} ({:.1} M parameters) in {seconds:.1} s",
        dir.display(),
        params as f64 / 1e6
    );
    println!("model in f32:            {:.2} GiB", gib(model_bytes));
    println!(
        "peak anonymous memory:   {:.2} GiB  ({:.2}× the model)",
        gib(anon),
        anon as f64 / model_bytes.max(1) as f64
    );
    println!(
        "peak resident (VmHWM):   {:.2} GiB  (mapped file pages included)",
        gib(hwm)
    );
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, dir] = args.as_slice()
        && flag == "--child"
    {
        return load_and_report(Path::new(dir));
    }
    let (dir, _temp): (PathBuf, Option<tempfile::TempDir>) = match args.get(1) {
        Some(dir) => (PathBuf::from(dir), None),
        None => {
            let temp = match tempfile::tempdir() {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error: no temporary folder: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let mut config = Qwen3Config::qwen3_0_6b();
            config.storage_dtype = Some("float32".into());
            eprintln!(
                "writing a random Qwen3-0.6B-shaped checkpoint to {} …",
                temp.path().display()
            );
            let model: Qwen3<Flex> = config.init(&Default::default());
            if let Err(e) = model.save_hf(temp.path()) {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
            drop(model);
            (temp.path().to_path_buf(), Some(temp))
        }
    };
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match Command::new(exe).arg("--child").arg(&dir).status() {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: could not start the loading process: {e}");
            ExitCode::FAILURE
        }
    }
}
