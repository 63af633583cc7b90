//! Train the bag-of-words next-kind classifier on a dataset folder's `train.jsonl` and print its
//! per-kind recall and overall kind accuracy on `eval.jsonl` and `dev.jsonl`, with the training
//! time.
//!
//! ```text
//! cargo run -p spec-actions-baseline --release --example bow_eval -- --data runs/tiny/datasets
//! ```

use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use spec_actions_baseline::{KindClassifier, KindClassifierConfig};
use spec_actions_core::jsonl::read_jsonl;
use spec_actions_core::{ActionKind, Example};

/// Train on DATA/train.jsonl, score on DATA/eval.jsonl and DATA/dev.jsonl.
#[derive(Parser)]
struct Args {
    /// A dataset folder (the output of `cargo xtask datasets`).
    #[arg(long)]
    data: PathBuf,
    /// Inverse L2 regularisation strength (scikit-learn's C).
    #[arg(long, default_value_t = KindClassifierConfig::default().c)]
    c: f64,
    /// Minimum number of training examples a term must occur in.
    #[arg(long, default_value_t = KindClassifierConfig::default().min_df)]
    min_df: usize,
    /// Most L-BFGS iterations.
    #[arg(long, default_value_t = KindClassifierConfig::default().max_iter)]
    max_iter: usize,
    /// Gradient tolerance of L-BFGS.
    #[arg(long, default_value_t = KindClassifierConfig::default().tol)]
    tol: f64,
    /// Also save the fitted classifier here (JSON).
    #[arg(long)]
    save: Option<PathBuf>,
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let read = Instant::now();
    let train: Vec<Example> = read_jsonl(args.data.join("train.jsonl"))?;
    println!(
        "read {} training examples in {:.1} s",
        train.len(),
        read.elapsed().as_secs_f64()
    );
    let config = KindClassifierConfig {
        c: args.c,
        min_df: args.min_df,
        max_iter: args.max_iter,
        tol: args.tol,
        ..KindClassifierConfig::default()
    };
    let classifier = config.fit(&train)?;
    let fit = classifier.fit_report();
    println!(
        "trained in {:.2} s: {} terms ({:.0} non-zero a row), {} L-BFGS iterations, converged {}, objective {:.5}, max |grad| {:.2e} (C = {}, min_df = {})",
        fit.seconds,
        fit.vocabulary,
        fit.mean_nnz,
        fit.iterations,
        fit.converged,
        fit.objective,
        fit.grad_max,
        config.c,
        config.min_df
    );
    for split in ["eval", "dev"] {
        score(&classifier, &args.data.join(format!("{split}.jsonl")), split)?;
    }
    if let Some(path) = &args.save {
        classifier.save(path)?;
        println!("saved {}", path.display());
    }
    Ok(())
}

fn score(classifier: &KindClassifier, path: &Path, split: &str) -> Result<(), Box<dyn Error>> {
    let examples: Vec<Example> = read_jsonl(path)?;
    let mut total = [0usize; ActionKind::COUNT];
    let mut right = [0usize; ActionKind::COUNT];
    for e in &examples {
        let kind = e.gold.kind.index();
        total[kind] += 1;
        right[kind] += usize::from(classifier.predict(e) == e.gold.kind);
    }
    let n: usize = total.iter().sum();
    let correct: usize = right.iter().sum();
    println!(
        "{split}: kind accuracy {:.3} ({correct}/{n})",
        correct as f64 / n.max(1) as f64
    );
    for kind in ActionKind::ALL {
        let i = kind.index();
        if total[i] > 0 {
            println!(
                "  {:<18} recall {:.2} ({}/{})",
                kind.as_str(),
                right[i] as f64 / total[i] as f64,
                right[i],
                total[i]
            );
        }
    }
    Ok(())
}
