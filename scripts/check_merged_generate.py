#!/usr/bin/env python3
"""Checks a merged model folder written by `cargo xtask merge` (or `save_hf`) with transformers:

  1. it loads with `AutoModelForCausalLM.from_pretrained` (no missing or unexpected weights);
  2. `generate()` runs on it (greedy, `--new-tokens` tokens) — the folder's config is one
     transformers generates from (issue #14, item 3: `"eos_token_id": []` made it an IndexError);
  3. with `--base` and `--adapter`: its logits equal PEFT's `merge_and_unload()` of that base and
     adapter (max |Δ| ≤ `--tolerance`);
  4. with `--logits FILE` (from `cargo xtask logits`): its logits on the file's `input_ids` equal
     the file's `logits` (max |Δ| ≤ `--tolerance`).
Exits 1 when a check fails, 2 when packages are missing.

Usage:
  cargo xtask merge --base BASE --adapter ADAPTER --out /tmp/merged
  cargo xtask logits --model /tmp/merged --tokens 1,2,3,4 --out /tmp/merged-logits.safetensors
  /work/venv/bin/python scripts/check_merged_generate.py /tmp/merged --base BASE --adapter ADAPTER \\
      --logits /tmp/merged-logits.safetensors
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _require import require, versions  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("merged_dir")
    parser.add_argument("--base")
    parser.add_argument("--adapter")
    parser.add_argument("--logits", help="safetensors file with input_ids and logits")
    parser.add_argument("--new-tokens", type=int, default=8)
    parser.add_argument("--tolerance", type=float, default=1e-4)
    args = parser.parse_args()

    torch, transformers, peft, st = require("torch", "transformers", "peft", "safetensors.torch")
    print(f"# {versions(torch, transformers, peft)}", file=sys.stderr)
    failed = False

    model, info = transformers.AutoModelForCausalLM.from_pretrained(
        args.merged_dir, dtype=torch.float32, attn_implementation="eager", output_loading_info=True)
    model.eval()
    problems = {k: v for k, v in info.items() if v and k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    print(f"load {'OK' if not problems else 'FAIL ' + str(problems)} "
          f"(eos_token_id in config: {model.config.eos_token_id!r})")
    failed |= bool(problems)

    vocab = model.config.vocab_size
    prompt = torch.tensor([[1, 2, 3, 4, 5]]) % vocab
    try:
        with torch.no_grad():
            # as a user calls it: no pad_token_id given (transformers then takes the EOS id, and
            # an empty `eos_token_id` list fails here with an IndexError)
            out = model.generate(prompt, max_new_tokens=args.new_tokens, do_sample=False)
        print(f"generate OK: {out[0, prompt.shape[1]:].tolist()}")
    except Exception as err:  # the failure this checks for
        print(f"generate FAIL: {type(err).__name__}: {err}")
        failed = True

    if args.base and args.adapter:
        base = transformers.AutoModelForCausalLM.from_pretrained(
            args.base, dtype=torch.float32, attn_implementation="eager")
        reference = peft.PeftModel.from_pretrained(base, args.adapter).merge_and_unload().eval()
        ids = torch.randint(0, vocab, (2, 16), generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            diff = (model(input_ids=ids).logits - reference(input_ids=ids).logits).abs().max().item()
        ok = diff <= args.tolerance
        print(f"merged vs PEFT merge_and_unload: max |Δ| logits = {diff:.3e} {'OK' if ok else 'FAIL'}")
        failed |= not ok

    if args.logits:
        ref = st.load_file(args.logits)
        with torch.no_grad():
            logits = model(input_ids=ref["input_ids"].long()).logits
        diff = (logits - ref["logits"].float()).abs().max().item()
        ok = diff <= args.tolerance
        print(f"transformers vs {os.path.basename(args.logits)}: max |Δ| logits = {diff:.3e} {'OK' if ok else 'FAIL'}")
        failed |= not ok
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
