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
    args = parser.parse_args()

    torch, transformers, peft, st = require("torch", "transformers", "peft", "safetensors.torch")
    print(f"# {versions(torch, transformers, peft)}", file=sys.stderr)
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


if __name__ == "__main__":
    main()
