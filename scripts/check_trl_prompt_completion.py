#!/usr/bin/env python3
"""Checks that TRL trains on what our trainer trains on, for the prompt-completion SFT file
(`sft_pc_train.jsonl`, issue #14, item 5).

Runs TRL's own `SFTTrainer` dataset preparation (a tiny random Qwen3 as the model: only the
tokenization matters) on the first `--rows` rows and checks, row by row, that the tokens TRL
puts the loss on (`labels` ≠ -100) decode to the row's `completion` (the answer up to its
`<|im_end|>`: TRL adds no EOS of its own) and the rest to its `prompt` (the Rust test `spec-actions-qwen3/tests/prompt_completion.rs` checks, with TRL's procedure,
that these are our SFT row's tokens and loss positions).
Prints the token-length distribution against TRL's default `max_length` (1,024).
Exits 1 when a row differs, 2 when packages are missing.

Usage:
  /work/venv/bin/python scripts/check_trl_prompt_completion.py runs/tiny/datasets/sft_pc_train.jsonl \\
      --tokenizer assets/qwen3-tokenizer [--rows 200]
"""

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _require import require, versions  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file")
    parser.add_argument("--tokenizer", default="assets/qwen3-tokenizer")
    parser.add_argument("--rows", type=int, default=200)
    args = parser.parse_args()

    torch, transformers, trl, datasets = require("torch", "transformers", "trl", "datasets")
    print(f"# {versions(torch, transformers, trl, datasets)}", file=sys.stderr)

    rows = []
    with open(args.file) as f:
        for line in f:
            rows.append(json.loads(line))
            if len(rows) >= args.rows:
                break
    data = datasets.Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"]} for r in rows])
    tokenizer = transformers.AutoTokenizer.from_pretrained(args.tokenizer)
    config = transformers.Qwen3Config(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32,
                                      num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1, head_dim=8)
    model = transformers.Qwen3ForCausalLM(config)
    with tempfile.TemporaryDirectory() as out:
        sft_args = trl.SFTConfig(output_dir=out, max_length=None, report_to=[], bf16=False, use_cpu=True)
        trainer = trl.SFTTrainer(model=model, args=sft_args, train_dataset=data, processing_class=tokenizer)
        prepared = trainer.train_dataset
    bad = 0
    lengths = []
    for row, item in zip(rows, prepared):
        # TRL 1.x folds its completion mask into `labels` (-100 where there is no loss)
        ids = item["input_ids"]
        mask = [label != -100 for label in item["labels"]] if "labels" in item else item["completion_mask"]
        lengths.append(len(ids))
        completion = tokenizer.decode([t for t, m in zip(ids, mask) if m])
        prompt = tokenizer.decode([t for t, m in zip(ids, mask) if not m])
        problems = []
        if completion != row["completion"]:
            problems.append(f"loss tokens decode to {completion!r}, completion is {row['completion']!r}")
        if prompt != row["prompt"]:
            problems.append("the tokens without loss are not the prompt")
        if problems:
            bad += 1
            print(f"row {row['id']}: " + "; ".join(problems))
    lengths.sort()
    q = lambda f: lengths[round((len(lengths) - 1) * f)]
    over = sum(1 for n in lengths if n > 1024)
    print(f"rows {len(lengths)}: tokens p50 {q(0.5)} p90 {q(0.9)} p99 {q(0.99)} max {lengths[-1]}; "
          f"over TRL's default max_length 1024: {over} ({100 * over / len(lengths):.1f} %)")
    print(f"{len(rows) - bad}/{len(rows)} rows: TRL's loss tokens are the completion {'OK' if bad == 0 else 'FAIL'}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
