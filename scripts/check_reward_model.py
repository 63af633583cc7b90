#!/usr/bin/env python3
"""Checks the reward model as HF tools load it (issue #14, item 4):

  1. the folder of `cargo xtask merge --score-head` loads with
     `AutoModelForSequenceClassification.from_pretrained` with no missing or unexpected weights,
     num_labels 1 and `score.weight` `[1, hidden]`; with `--score-head`, that
     `score_head.safetensors` (what training writes) holds `score.weight` in that shape, equal to
     the folder's (TRL's reward model loads it as is);
  2. its scores on random token rows are the last token's hidden state · score.weight, what our
     reward model computes (`objective::last_token_scores`), max |Δ| ≤ `--tolerance`.
Exits 1 when a check fails, 2 when packages are missing.

Usage:
  cargo xtask merge --base runs/tiny/models/reward/model --score-head runs/tiny/models/reward/score_head.safetensors \\
      --out /tmp/reward-hf
  /work/venv/bin/python scripts/check_reward_model.py /tmp/reward-hf --score-head runs/tiny/models/reward/score_head.safetensors
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _require import require, versions  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reward_dir", help="folder written by `cargo xtask merge --score-head`")
    parser.add_argument("--score-head", help="score_head.safetensors written by training (checked when given)")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    args = parser.parse_args()

    torch, transformers, st = require("torch", "transformers", "safetensors.torch")
    print(f"# {versions(torch, transformers)}", file=sys.stderr)
    failed = False

    model, info = transformers.AutoModelForSequenceClassification.from_pretrained(
        args.reward_dir, dtype=torch.float32, attn_implementation="eager", output_loading_info=True)
    model.eval()
    hidden = model.config.hidden_size
    problems = {k: v for k, v in info.items() if v and k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    print(f"load {type(model).__name__} num_labels={model.config.num_labels} "
          f"{'OK' if not problems and model.config.num_labels == 1 else 'FAIL ' + str(problems)}")
    failed |= bool(problems) or model.config.num_labels != 1

    shape_ok = tuple(model.score.weight.shape) == (1, hidden)
    print(f"model score.weight {tuple(model.score.weight.shape)} {'OK' if shape_ok else 'FAIL'}")
    failed |= not shape_ok
    if args.score_head:
        w = st.load_file(args.score_head).get("score.weight")
        file_ok = w is not None and tuple(w.shape) == (1, hidden)
        print(f"{os.path.basename(args.score_head)} score.weight {tuple(w.shape) if w is not None else None} "
              f"{'OK' if file_ok else 'FAIL'}")
        failed |= not file_ok
        if file_ok:
            same = torch.equal(model.score.weight.detach(), w.float())
            print(f"folder's score head equals the file's: {'OK' if same else 'FAIL'}")
            failed |= not same

    ids = torch.randint(0, model.config.vocab_size, (3, 12), generator=torch.Generator().manual_seed(0))
    pad = model.config.pad_token_id
    if pad is not None:
        ids[ids == pad] = (pad + 1) % model.config.vocab_size
    with torch.no_grad():
        scores = model(input_ids=ids).logits[:, 0]
        last_hidden = model.model(input_ids=ids).last_hidden_state[:, -1]
        expected = last_hidden @ model.score.weight[0]
    diff = (scores - expected).abs().max().item()
    ok = diff <= args.tolerance
    print(f"scores {scores.tolist()} vs last hidden · score.weight: max |Δ| = {diff:.3e} {'OK' if ok else 'FAIL'}")
    failed |= not ok
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
