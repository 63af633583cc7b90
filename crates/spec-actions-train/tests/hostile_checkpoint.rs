//! Failure paths of checkpointing: a checkpoint that cannot be written (an unwritable
//! checkpoint folder, a disk that fills up half-way through a tensor file) is a typed error
//! naming the checkpoint, never a panic; the previous checkpoint stays valid and `LATEST` names
//! it; nothing half-written is left; and the same run resumes from it onto the uninterrupted
//! loss trajectory.
//!
//! "Disk full" without root: a child process of this test binary lowers its own
//! `RLIMIT_FSIZE` (with `SIGXFSZ` ignored) during training, so the kernel fails the next write
//! past the limit (`EFBIG`) exactly as a full disk fails it (`ENOSPC`): half-way through a file.

use std::path::{Path, PathBuf};
use std::process::Command;

use burn::backend::{Autodiff, Flex};
use burn::prelude::*;
use spec_actions_qwen3::action_prompts::{IGNORE, LabeledTokens};
use spec_actions_qwen3::loader::load_qwen3;
use spec_actions_qwen3::lora::LoraConfig;
use spec_actions_train::tasks::SftObjective;
use spec_actions_train::trainer::{BatchLoss, Objective, TrainError, TrainModel, Trainer, TrainerConfig};

type B = Autodiff<Flex>;

/// burn's backend RNG is process-global: tests that draw from it run one at a time.
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    RNG.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The tiny fixture (HF transformers 5.23) with fresh rank-4 adapters, seeded.
fn tiny_model(lora: &LoraConfig) -> TrainModel<B> {
    let device = Default::default();
    B::seed(&device, 3);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../spec-actions-qwen3/tests/data/tiny");
    let base = load_qwen3::<B>(dir, &device).expect("fixture loads");
    TrainModel {
        qwen: base.with_new_lora(lora),
        score_head: None,
    }
}

/// A learnable token task over the fixture's 1024-token vocabulary (as in tests/trainer.rs).
fn class_task(n: usize) -> Vec<LabeledTokens> {
    (0..n as u64)
        .map(|i| {
            let class = 10 + (i % 4) as u32;
            let noise = |k: u64| ((7919 + i * 104_729 + k * 15_485_863) % 900 + 20) as u32;
            let ids: Vec<u32> = vec![class, noise(1), noise(2), 5, 200 + class, 300 + class];
            let labels = ids
                .iter()
                .enumerate()
                .map(|(j, &t)| if j >= 4 { i64::from(t) } else { IGNORE })
                .collect();
            LabeledTokens { ids, labels }
        })
        .collect()
}

/// 8 steps of 2 micro-batches, a checkpoint every 2 steps.
fn config() -> TrainerConfig {
    TrainerConfig {
        total_steps: 8,
        batch_size: 4,
        grad_accum: 2,
        lr: 1e-2,
        warmup_steps: 2,
        checkpoint_every: 2,
        eval_every: 100,
        progress: false,
        ..TrainerConfig::default()
    }
}

/// SFT whose `calls`-th micro-batch first runs `sabotage` (once). Step k runs calls 2k+1 and
/// 2k+2, so call 5 falls inside step 2: after checkpoint 2, before checkpoint 4.
struct SabotageAt<F: Fn() + Sync> {
    inner: SftObjective,
    calls: std::sync::atomic::AtomicUsize,
    at_call: usize,
    sabotage: F,
}

impl<F: Fn() + Sync> Objective for SabotageAt<F> {
    type Example = LabeledTokens;
    fn count(&self, batch: &[&LabeledTokens]) -> usize {
        self.inner.count(batch)
    }
    fn loss<Bk: Backend>(
        &self,
        model: &TrainModel<Bk>,
        batch: &[&LabeledTokens],
        device: &Bk::Device,
    ) -> BatchLoss<Bk> {
        if self.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1 == self.at_call {
            (self.sabotage)();
        }
        self.inner.loss(model, batch, device)
    }
}

fn sabotaged<F: Fn() + Sync>(sabotage: F) -> SabotageAt<F> {
    SabotageAt {
        inner: SftObjective { pad_id: 0 },
        calls: 0.into(),
        at_call: 5,
        sabotage,
    }
}

/// The losses of the same run, uninterrupted.
fn uninterrupted_losses(lora: &LoraConfig) -> Vec<f64> {
    let dir = tempfile::tempdir().expect("dir");
    let (_, report) = Trainer::new(config(), dir.path(), lora.clone())
        .fit(
            tiny_model(lora),
            &SftObjective { pad_id: 0 },
            &class_task(16),
            None,
            &Default::default(),
        )
        .expect("uninterrupted run");
    report.losses
}

/// The guarantees after a failed checkpoint 4: a typed error naming it, checkpoint 2 intact
/// and named by `LATEST`, no temporary folder left, then a resume onto `expected`.
fn check_failed_checkpoint_then_resume(
    result: Result<(TrainModel<B>, spec_actions_train::trainer::TrainReport), TrainError>,
    trainer: &Trainer,
    repair: impl FnOnce(),
    lora: &LoraConfig,
    expected: &[f64],
) {
    let checkpoints = trainer.run_dir.join("checkpoints");
    let err = match result {
        Err(err) => err,
        Ok(_) => panic!("training succeeded although checkpoint 4 could not be written"),
    };
    match &err {
        TrainError::CheckpointWrite {
            step: 4,
            checkpoint,
            last_checkpoint: Some(last),
            ..
        } => {
            assert_eq!(checkpoint, &checkpoints.join("step-0000004"));
            assert_eq!(last, &checkpoints.join("step-0000002"));
        }
        other => panic!("expected CheckpointWrite at step 4, got {other}"),
    }
    let shown = err.to_string();
    assert!(
        shown.contains("step-0000004") && shown.contains("step-0000002"),
        "{shown}"
    );
    assert!(shown.contains("resume"), "{shown}");

    repair();
    let latest = trainer
        .latest_checkpoint()
        .expect("the previous checkpoint survives");
    assert_eq!(latest, checkpoints.join("step-0000002"));
    for file in [
        "trainable.safetensors",
        "optimizer.safetensors",
        "trainer_state.json",
    ] {
        assert!(latest.join(file).is_file(), "{file}");
    }
    assert!(latest.join("adapter/adapter_model.safetensors").is_file());
    let leftovers: Vec<_> = std::fs::read_dir(&checkpoints)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp") || n.ends_with(".old") || n == "step-0000004")
        .collect();
    assert_eq!(
        leftovers,
        Vec::<String>::new(),
        "half-written checkpoint left behind"
    );

    let (_, report) = trainer
        .fit(
            tiny_model(lora),
            &SftObjective { pad_id: 0 },
            &class_task(16),
            None,
            &Default::default(),
        )
        .expect("resumes once the folder is writable again");
    assert_eq!(report.resumed_from, Some(2));
    assert_eq!(report.losses, expected, "resumed trajectory differs");
    assert!(report.final_checkpoint.ends_with("step-0000008"));
}

/// Whether permission bits stop this process from creating files in `dir` (they do not stop
/// root or a process with CAP_DAC_OVERRIDE).
fn read_only_blocks_writes(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    let probe = dir.join(".probe");
    let blocked = std::fs::write(&probe, b"x").is_err();
    let _ = std::fs::remove_file(&probe);
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    blocked
}

#[test]
fn unwritable_checkpoint_folder_keeps_the_previous_checkpoint_and_resumes() {
    use std::os::unix::fs::PermissionsExt;
    let _rng = rng_lock();
    let lora = LoraConfig::new(4, 8.0);
    let expected = uninterrupted_losses(&lora);
    let dir = tempfile::tempdir().expect("dir");
    let trainer = Trainer::new(config(), dir.path(), lora.clone());
    let checkpoints = trainer.run_dir.join("checkpoints");

    // Without root the folder is made read-only; as root (permission bits do not apply) the
    // name the next checkpoint is assembled under is taken by a regular file, so creating its
    // folder fails the same way.
    let probe = tempfile::tempdir().expect("dir");
    let permissions_work = read_only_blocks_writes(probe.path());
    let blocker = checkpoints.join(".step-0000004.tmp");
    let objective = sabotaged(|| {
        if permissions_work {
            std::fs::set_permissions(&checkpoints, std::fs::Permissions::from_mode(0o555)).unwrap();
        } else {
            std::fs::write(&blocker, b"not a folder").unwrap();
        }
    });
    let result = trainer.fit(
        tiny_model(&lora),
        &objective,
        &class_task(16),
        None,
        &Default::default(),
    );
    let repair = || {
        if permissions_work {
            std::fs::set_permissions(&checkpoints, std::fs::Permissions::from_mode(0o755)).unwrap();
        } else {
            assert_eq!(std::fs::read(&blocker).unwrap(), b"not a folder");
            std::fs::remove_file(&blocker).unwrap();
        }
    };
    println!(
        "blocked by {}",
        if permissions_work { "permissions" } else { "a file" }
    );
    check_failed_checkpoint_then_resume(result, &trainer, repair, &lora, &expected);
}

/// Env var that makes `full_disk_child` run (it names the run folder).
const CHILD_ENV: &str = "SPEC_ACTIONS_HOSTILE_CHECKPOINT_CHILD";
const CHILD_DONE: &str = "full-disk child: all checks passed";

/// The child process of `disk_full_during_a_checkpoint_keeps_the_previous_one_and_resumes`.
#[test]
#[ignore = "helper: run as a child process by disk_full_during_a_checkpoint_keeps_the_previous_one_and_resumes"]
fn full_disk_child() {
    let Ok(run_dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let lora = LoraConfig::new(4, 8.0);
    let expected = uninterrupted_losses(&lora);
    let trainer = Trainer::new(config(), &run_dir, lora.clone());
    let checkpoints = trainer.run_dir.join("checkpoints");
    let metrics = trainer.run_dir.join("metrics.jsonl");
    let set_file_size_limit = |limit: libc::rlim_t| {
        let rlimit = libc::rlimit {
            rlim_cur: limit,
            rlim_max: libc::RLIM_INFINITY,
        };
        // SAFETY: plain system calls with valid arguments.
        unsafe {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &rlimit), 0, "setrlimit");
        }
    };
    let objective = sabotaged(|| {
        // Room for the metrics lines of steps 3 and 4, not for a tensor file of checkpoint 4.
        let metrics_len = std::fs::metadata(&metrics).unwrap().len();
        let tensors_len = std::fs::metadata(checkpoints.join("step-0000002/trainable.safetensors"))
            .unwrap()
            .len();
        let limit = metrics_len + 1024;
        assert!(
            limit < tensors_len,
            "fixture too small: {tensors_len} bytes of tensors"
        );
        set_file_size_limit(limit);
    });
    let result = trainer.fit(
        tiny_model(&lora),
        &objective,
        &class_task(16),
        None,
        &Default::default(),
    );
    if let Err(TrainError::CheckpointWrite { source, .. }) = &result {
        let cause = source.to_string();
        assert!(
            cause.contains(".step-0000004.tmp") && cause.contains("File too large"),
            "{cause}"
        );
    }
    // The disk is freed.
    check_failed_checkpoint_then_resume(
        result,
        &trainer,
        || set_file_size_limit(libc::RLIM_INFINITY),
        &lora,
        &expected,
    );
    println!("{CHILD_DONE}");
}

#[test]
fn disk_full_during_a_checkpoint_keeps_the_previous_one_and_resumes() {
    let dir = tempfile::tempdir().expect("dir");
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "full_disk_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir.path())
        .output()
        .expect("child starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains(CHILD_DONE),
        "child failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
}
