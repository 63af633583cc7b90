#!/usr/bin/env python3
"""Builds a random Qwen3 with Qwen3's real vocabulary (151,936 tokens) at a small width, a PEFT
adapter on it, and a float64 reference of its LoRA loss and gradients, in the fixtures' format.

What it measures: the precision of the LM-head loss over a real vocabulary. The parity example
then compares our (f32) loss and every LoRA gradient with the float64 values, and this script
prints PyTorch's own float32 error against the same float64 values, with the same measures:
  loss:      |ours − f64|                                   (parity's --loss-tolerance, 1e-5)
  gradients: max |a − b| / max(|b|, 1e-3 · max|b|) per tensor (parity's --grad-tolerance, 1e-3)

Writes
  OUT/model/            config.json + model.safetensors (f32, tied embeddings)
  OUT/model/lora/       adapter_config.json + adapter_model.safetensors (B ≠ 0: a "trained" adapter)
  OUT/reference.safetensors
      input_ids, logits (base), lora_logits, merged_logits, train_labels, train_loss and every
      grad.<PEFT name>, all computed in float64 from the f32 weights
  OUT/pytorch_f32.json  PyTorch f32's errors against the f64 reference (the bar to meet)

Usage:
  /work/venv/bin/python scripts/make_real_vocab_reference.py /tmp/realvocab
  cargo run --release -p spec-actions-qwen3 --example parity -- /tmp/realvocab/model \\
      /tmp/realvocab/reference.safetensors --loss-tolerance 1e-5 --grad-tolerance 1e-3

Trained mode (`--model DIR --adapter DIR --rows FILE`): instead of a random model, a given
checkpoint + PEFT adapter (e.g. the tiny proposer of a run, `<run>/models/cheap/model`, and a
LoRA adapter our trainer trained on it, `<run>/models/cheap/adapter`) on given token rows — real
SFT rows as our trainer encodes them (labels on the answer tokens only), written by
  cargo run -p spec-actions-train --example sft_rows -- <run>/datasets/train.jsonl ROWS.json [COUNT]
Rows of different lengths are right-padded with <|endoftext|> (label -100: causal attention
never lets a real token see the padding after it, in PyTorch as in our loss). It writes
  OUT/reference.safetensors  input_ids, train_labels, train_loss and every grad.<PEFT name>, in
                             float64 from the f32 weights (the keys lm_head_precision reads)
  OUT/pytorch_f32.json       PyTorch f32's own errors against it: transformers' loss
                             (`model(input_ids, labels=...)`, logits at every position) and the
                             same loss on the label positions' logits only; the worst error per
                             gradient tensor; p(label) statistics (how "trained" the rows are)
and then
  cargo run -p spec-actions-train --example lm_head_precision -- DIR ADAPTER OUT/reference.safetensors
The loss and the gradients are computed from the LM head at the label positions only (as our
trainer does): a position without a label adds nothing to either, so this is the full loss, at
a fraction of the memory of float64 logits at every position.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _require import require, versions  # noqa: E402


def rel_error(ours, ref):
    """Parity's relative measure: max |a − b| / max(|b|, 1e-3 · max|b|)."""
    ours, ref = ours.double(), ref.double()
    floor = max(1e-3 * ref.abs().max().item(), sys.float_info.min)
    return ((ours - ref).abs() / ref.abs().clamp_min(floor)).max().item()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir")
    parser.add_argument("--vocab", type=int, default=151_936)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--seq", type=int, default=24)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--embed-std", type=float, default=0.1,
                        help="std of the (tied) embedding, which sets how peaked the model is: 0.1 (default) "
                             "gives mean p(label) ~ 0.002 and PyTorch f32 within the parity tolerances; 0.2 "
                             "p(label) ~ 0.3, where PyTorch f32's own gradient error is ~1.3e-3")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--labels", choices=["argmax", "random"], default="argmax",
                        help="argmax: each token the model's own most likely next token (a trained model: "
                             "p(label) large); random: uniform tokens")
    parser.add_argument("--model", help="trained mode: an HF Qwen3 checkpoint folder (f32) instead of a random model")
    parser.add_argument("--adapter", help="trained mode: the PEFT adapter folder trained on --model")
    parser.add_argument("--rows", help="trained mode: JSON rows {\"rows\": [{\"ids\", \"labels\"}]} "
                                       "(spec-actions-train's sft_rows example)")
    parser.add_argument("--pad-id", type=int, default=151_643, help="trained mode: padding token (<|endoftext|>)")
    parser.add_argument("--full-logits-limit-gib", type=float, default=4.0,
                        help="trained mode: measure transformers' own f32 loss (logits at every position) "
                             "only when those logits take at most this much memory")
    parser.add_argument("--keep-f32-norms", action="store_true",
                        help="trained mode: leave transformers' RMSNorm in f32 inside the f64 reference "
                             "(to see what that costs)")
    args = parser.parse_args()

    torch, transformers, peft, st = require("torch", "transformers", "peft", "safetensors.torch")
    print(f"# {versions(torch, transformers, peft)}", file=sys.stderr)
    trained = [args.model, args.adapter, args.rows]
    if any(trained):
        if not all(trained):
            parser.error("--model, --adapter and --rows go together")
        trained_reference(args, torch, transformers, peft, st)
        return
    torch.manual_seed(args.seed)
    model_dir = os.path.join(args.out_dir, "model")
    adapter_dir = os.path.join(model_dir, "lora")
    os.makedirs(model_dir, exist_ok=True)

    heads = max(1, args.hidden // 16)
    config = transformers.Qwen3Config(
        vocab_size=args.vocab, hidden_size=args.hidden, intermediate_size=3 * args.hidden,
        num_hidden_layers=args.layers, num_attention_heads=heads, num_key_value_heads=max(1, heads // 2),
        head_dim=16, max_position_embeddings=4096, tie_word_embeddings=True, rms_norm_eps=1e-6,
        eos_token_id=None, bos_token_id=None, pad_token_id=None)
    base = transformers.Qwen3ForCausalLM(config).float()
    with torch.no_grad():
        base.model.embed_tokens.weight.normal_(0.0, args.embed_std)
        for name, p in base.named_parameters():
            if name.endswith("norm.weight"):  # gains around 1, not exactly 1
                p.uniform_(0.8, 1.2)
    base.save_pretrained(model_dir)

    lora = peft.LoraConfig(r=args.rank, lora_alpha=2 * args.rank, lora_dropout=0.0,
                           target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
                           task_type="CAUSAL_LM")
    model = peft.get_peft_model(base, lora)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:  # a trained adapter: B is not zero, so A has gradients
                p.normal_(0.0, 0.05)
    model.save_pretrained(adapter_dir)

    ids = torch.randint(0, args.vocab, (args.batch, args.seq))
    labels = ids.clone()
    if args.labels == "argmax":
        # A trained model predicts its labels: the label of position t is the model's own most
        # likely token after position t − 1 (in f64, inputs unchanged), so p(label) is large
        # and the gradient's `p − 1` at the label cancels.
        model.to(torch.float64).eval()
        with torch.no_grad():
            labels[:, 1:] = model(input_ids=ids).logits[:, :-1].argmax(-1)
    labels[:, : args.seq // 3] = -100  # the loss on the answer part only, as our SFT rows
    labels[1, -3:] = -100

    def causal_lm_loss(logits):
        """transformers' ForCausalLMLoss (mean over labels != -100) in the logits' own dtype —
        transformers' own upcasts to f32, which would make the f64 reference f32."""
        shift_logits = logits[:, :-1].reshape(-1, logits.shape[-1])
        shift_labels = labels[:, 1:].reshape(-1)
        return torch.nn.functional.cross_entropy(shift_logits, shift_labels, ignore_index=-100)

    def run(dtype):
        model.to(dtype)
        model.zero_grad()
        model.train()
        out = model(input_ids=ids)
        out.loss = causal_lm_loss(out.logits)
        out.loss.backward()
        grads = {f"grad.{n}": p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
        model.eval()
        with torch.no_grad():
            base_logits = None
            with model.disable_adapter():
                base_logits = model(input_ids=ids).logits.detach().clone()
        return out.logits.detach().clone(), out.loss.detach().clone(), grads, base_logits

    lora_logits, loss, grads, logits = run(torch.float64)
    # merged logits in f64 from a copy (merge_and_unload changes the model)
    import copy
    merged = copy.deepcopy(model).merge_and_unload().eval()
    with torch.no_grad():
        merged_logits = merged(input_ids=ids).logits.detach().clone()
    del merged
    lora_logits32, loss32, grads32, _ = run(torch.float32)

    reference = {
        "input_ids": ids.long(),
        "train_labels": labels.long(),
        "logits": logits,
        "lora_logits": lora_logits,
        "merged_logits": merged_logits,
        "train_loss": loss.reshape(1),
        **grads,
    }
    st.save_file({k: v.contiguous() for k, v in reference.items()}, os.path.join(args.out_dir, "reference.safetensors"))

    grad_errors = {k: rel_error(grads32[k], grads[k]) for k in grads}
    a_keys = [k for k in grads if "lora_A" in k]
    b_keys = [k for k in grads if "lora_B" in k]
    summary = {
        "versions": versions(torch, transformers, peft),
        "vocab": args.vocab, "hidden": args.hidden, "layers": args.layers, "batch": args.batch, "seq": args.seq,
        "label_tokens": int((labels[:, 1:] != -100).sum()),
        "loss_f64": loss.item(),
        "mean_p_label": float(torch.exp(-torch.nn.functional.cross_entropy(
            lora_logits[:, :-1].reshape(-1, args.vocab), labels[:, 1:].reshape(-1), ignore_index=-100,
            reduction="none")[labels[:, 1:].reshape(-1) != -100]).mean()),
        "pytorch_f32_loss_abs_error": abs(loss32.double().item() - loss.item()),
        "pytorch_f32_lora_logits_max_abs_error": (lora_logits32.double() - lora_logits).abs().max().item(),
        "pytorch_f32_grad_rel_error_max_A": max(grad_errors[k] for k in a_keys),
        "pytorch_f32_grad_rel_error_max_B": max(grad_errors[k] for k in b_keys),
    }
    with open(os.path.join(args.out_dir, "pytorch_f32.json"), "w") as f:
        json.dump(summary, f, indent=2)
    for k, v in summary.items():
        print(f"{k}: {v}")


def f64_norms(torch, transformers):
    """transformers' Qwen3RMSNorm normalises in float32 whatever its input's dtype (forward and
    backward), which would put f32 roundings into the float64 reference at every norm: in f64
    it normalises in f64 here (f32 inputs unchanged). RoPE's cos / sin table stays as
    transformers computes it (in f32, as ours): a constant of the model, not a computation."""
    norm = transformers.models.qwen3.modeling_qwen3.Qwen3RMSNorm
    f32_forward = norm.forward

    def forward(self, hidden_states):
        if hidden_states.dtype != torch.float64:
            return f32_forward(self, hidden_states)
        variance = hidden_states.pow(2).mean(-1, keepdim=True)
        return self.weight * (hidden_states * torch.rsqrt(variance + self.variance_epsilon))

    norm.forward = forward


def trained_reference(args, torch, transformers, peft, st):
    """The float64 reference of a given checkpoint + adapter on given rows, and PyTorch f32's
    errors against it (the module doc's trained mode)."""
    with open(args.rows) as f:
        rows = json.load(f)["rows"]
    if not rows:
        sys.exit(f"error: {args.rows}: no rows")
    width = max(len(r["ids"]) for r in rows)
    ids = torch.full((len(rows), width), args.pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    for i, r in enumerate(rows):
        if len(r["ids"]) != len(r["labels"]):
            sys.exit(f"error: {args.rows}: row {i}: {len(r['ids'])} ids but {len(r['labels'])} labels")
        ids[i, : len(r["ids"])] = torch.tensor(r["ids"])
        labels[i, : len(r["labels"])] = torch.tensor(r["labels"])
    shift = labels[:, 1:] != -100  # position t - 1 predicts the label at t
    targets = labels[:, 1:][shift]
    if targets.numel() == 0:
        sys.exit(f"error: {args.rows}: no label tokens")
    os.makedirs(args.out_dir, exist_ok=True)
    if not args.keep_f32_norms:
        f64_norms(torch, transformers)

    base = transformers.AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    vocab = base.config.vocab_size
    model = peft.PeftModel.from_pretrained(base, args.adapter, is_trainable=True)
    causal = model.get_base_model()

    def label_logits():
        """Logits at the label positions only: `[label tokens, vocab]`."""
        hidden = causal.model(input_ids=ids).last_hidden_state
        return causal.lm_head(hidden[:, :-1][shift])

    def run(dtype, loss_fn):
        model.to(dtype)
        model.zero_grad()
        model.train()  # lora_dropout is 0: train and eval compute the same
        loss, extra = loss_fn()
        loss.backward()
        grads = {f"grad.{n}": p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
        return loss.detach().clone(), grads, extra

    def at_labels():
        logits = label_logits()
        return torch.nn.functional.cross_entropy(logits, targets), logits.detach()

    loss64, grads64, logits64 = run(torch.float64, at_labels)
    p_label = torch.exp(-torch.nn.functional.cross_entropy(logits64, targets, reduction="none"))
    del logits64
    loss32, grads32, _ = run(torch.float32, at_labels)
    full_gib = len(rows) * width * vocab * 4 / 2**30
    hf = None
    if full_gib <= args.full_logits_limit_gib:
        # transformers' own loss: logits at every position, ForCausalLMLoss (upcast to f32)
        hf = run(torch.float32, lambda: (model(input_ids=ids, labels=labels).loss, None))

    reference = {
        "input_ids": ids,
        "train_labels": labels,
        "train_loss": loss64.reshape(1),
        **grads64,
    }
    st.save_file({k: v.contiguous() for k, v in reference.items()}, os.path.join(args.out_dir, "reference.safetensors"))

    def errors(loss, grads):
        per_tensor = {k: rel_error(grads[k], grads64[k]) for k in grads64}
        worst = lambda part: max((v, k) for k, v in per_tensor.items() if part in k)  # noqa: E731
        (a, a_key), (b, b_key) = worst("lora_A"), worst("lora_B")
        return {
            "loss_abs_error": abs(loss.double().item() - loss64.item()),
            "grad_rel_error_max_A": a, "worst_A": a_key,
            "grad_rel_error_max_B": b, "worst_B": b_key,
            "grad_rel_error": per_tensor,
        }

    summary = {
        "versions": versions(torch, transformers, peft),
        "model": os.path.abspath(args.model), "adapter": os.path.abspath(args.adapter),
        "rows_file": os.path.abspath(args.rows),
        "vocab": vocab, "rows": len(rows), "width": width,
        "tokens": [len(r["ids"]) for r in rows],
        "label_tokens": int(targets.numel()),
        "reference": "float64" + (" with transformers' f32 RMSNorm" if args.keep_f32_norms else ""),
        "loss_f64": loss64.item(),
        "p_label": {
            "mean": p_label.mean().item(), "min": p_label.min().item(), "max": p_label.max().item(),
            "above_0.9": int((p_label > 0.9).sum()), "above_0.99": int((p_label > 0.99).sum()),
        },
        "pytorch_f32_label_positions": errors(loss32, grads32),
        "pytorch_f32_transformers_loss": errors(hf[0], hf[1]) if hf else f"skipped: {full_gib:.1f} GiB of logits",
    }
    with open(os.path.join(args.out_dir, "pytorch_f32.json"), "w") as f:
        json.dump(summary, f, indent=2)
    for k, v in summary.items():
        if isinstance(v, dict) and "grad_rel_error" in v:
            v = {key: val for key, val in v.items() if key != "grad_rel_error"}
        print(f"{k}: {v}")


if __name__ == "__main__":
    main()
