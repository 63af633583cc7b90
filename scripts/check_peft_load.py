#!/usr/bin/env python3
"""Checks that PEFT loads an adapter folder we saved, and that it computes what we computed.

Loads the base checkpoint folder with transformers (f32, eager attention), applies the adapter
with `PeftModel.from_pretrained`, then
  1. checks every tensor of the adapter file reached a LoRA parameter of the model
     (file key `…q_proj.lora_A.weight` ↔ parameter `…q_proj.lora_A.<adapter>.weight`), equal
     to the file's values, and that no LoRA parameter of the model was left unloaded;
  2. runs the reference file's `input_ids` and prints max |Δ| between the logits and the
     reference logits (key `--logits-key`, default `lora_logits`, the fixtures' format).
Exits 1 when a tensor is missing or max |Δ| exceeds `--tolerance`, 2 when packages are missing.

Usage:
  /work/venv/bin/python scripts/check_peft_load.py BASE_DIR ADAPTER_DIR REFERENCE.safetensors \
      [--logits-key lora_logits] [--tolerance 1e-4]
e.g. with the fixtures:
  /work/venv/bin/python scripts/check_peft_load.py crates/spec-actions-qwen3/tests/data/tiny \
      crates/spec-actions-qwen3/tests/data/tiny/lora crates/spec-actions-qwen3/tests/data/tiny/reference.safetensors
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _require import require, versions  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base_dir", help="HF checkpoint folder (config.json + safetensors)")
    parser.add_argument("adapter_dir", help="adapter_config.json + adapter_model.safetensors")
    parser.add_argument("reference", help="safetensors file with input_ids and reference logits")
    parser.add_argument("--logits-key", default="lora_logits")
    parser.add_argument("--input-ids-key", default="input_ids")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    args = parser.parse_args()

    torch, transformers, peft, st = require("torch", "transformers", "peft", "safetensors.torch")
    print(f"# {versions(torch, transformers, peft)}", file=sys.stderr)

    for path in (args.base_dir, args.adapter_dir, args.reference):
        if not os.path.exists(path):
            sys.exit(f"error: {path} does not exist")
    adapter_file = os.path.join(args.adapter_dir, "adapter_model.safetensors")
    if not os.path.exists(adapter_file):
        sys.exit(f"error: {adapter_file} does not exist")

    base = transformers.AutoModelForCausalLM.from_pretrained(
        args.base_dir, dtype=torch.float32, attn_implementation="eager")
    model = peft.PeftModel.from_pretrained(base, args.adapter_dir).eval()
    adapter_name = model.active_adapter

    # 1. Every saved tensor is a loaded LoRA parameter, and every LoRA parameter was saved.
    saved = st.load_file(adapter_file)
    params = dict(model.named_parameters())
    lora_params = {name for name in params if ".lora_" in name}
    problems, matched = [], set()
    for key, tensor in saved.items():
        stem, leaf = key.rsplit(".", 1)
        name = f"{stem}.{adapter_name}.{leaf}"
        if name not in params:
            problems.append(f"file tensor {key}: no parameter {name} in the model")
            continue
        matched.add(name)
        if tuple(params[name].shape) != tuple(tensor.shape):
            problems.append(f"{key}: shape {tuple(tensor.shape)} in the file, {tuple(params[name].shape)} in the model")
        elif not torch.equal(params[name].detach().float(), tensor.float()):
            problems.append(f"{key}: values differ from the loaded parameter")
    for name in sorted(lora_params - matched):
        problems.append(f"model parameter {name} has no tensor in the file (left at its initial value)")
    print(f"peft_load tensors_in_file={len(saved)} lora_parameters={len(lora_params)} matched={len(matched)}")
    for problem in problems:
        print(f"  PROBLEM: {problem}")

    # 2. Logits against the reference.
    reference = st.load_file(args.reference)
    for key in (args.input_ids_key, args.logits_key):
        if key not in reference:
            sys.exit(f"error: {args.reference} has no tensor {key!r} (has: {', '.join(sorted(reference))})")
    with torch.no_grad():
        logits = model(input_ids=reference[args.input_ids_key].long()).logits.float()
    expected = reference[args.logits_key].float()
    if logits.shape != expected.shape:
        sys.exit(f"error: logits shape {tuple(logits.shape)} vs reference {tuple(expected.shape)}")
    max_abs = (logits - expected).abs().max().item()
    ok = max_abs <= args.tolerance and not problems
    print(f"peft_load logits_max_abs_diff={max_abs:.3e} tolerance={args.tolerance:.0e} "
          f"key={args.logits_key} {'OK' if ok else 'FAIL'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
