#!/usr/bin/env python3
"""PyTorch + PEFT anchor for the LoRA SFT step benchmark (issue 4).

A tiny Qwen3-architecture model with random weights (hidden 256, 4 layers, 4 heads, 2 kv
heads, head_dim 64, intermediate 768, vocab 151,936, tied embeddings), f32, eager attention;
PEFT LoRA r 16 (alpha 32, dropout 0) on all seven projections; a batch of 8 × 256 random
tokens with labels on the last 16 tokens of each row (-100 elsewhere); AdamW (lr 1e-4,
eps 1e-8, weight decay 0.01). One step = forward with `labels` (HF's loss over the full
logits, as a PEFT/TRL user runs it), backward, optimizer step, zero_grad.
`--logits-at-labels` instead runs the LM head only at the label positions (the optimisation
the Rust trainer uses) for a second, stronger anchor.

Prints one machine-readable line:
  pytorch_peft lora_step_s=… tok_s=… …
Reported: the mean of `--steps` timed steps after `--warmup` untimed ones.

Usage: /work/venv/bin/python scripts/bench_pytorch_lora_step.py [--threads 2] [--steps 3]
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _require import require, versions  # noqa: E402

TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--label-tokens", type=int, default=16, help="labelled tokens at the end of each row")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--intermediate", type=int, default=768)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--kv-heads", type=int, default=2)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--vocab", type=int, default=151936)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--alpha", type=float, default=32.0)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--logits-at-labels", action="store_true",
                        help="compute the LM head only at label positions (custom loss)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch, transformers, peft = require("torch", "transformers", "peft")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    config = transformers.Qwen3Config(
        vocab_size=args.vocab,
        hidden_size=args.hidden,
        intermediate_size=args.intermediate,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        num_key_value_heads=args.kv_heads,
        head_dim=args.head_dim,
        tie_word_embeddings=True,
        rms_norm_eps=1e-6,
        max_position_embeddings=4096,
        use_sliding_window=False,
        attn_implementation="eager",
    )
    base = transformers.Qwen3ForCausalLM(config).to(torch.float32)
    lora = peft.LoraConfig(r=args.rank, lora_alpha=args.alpha, lora_dropout=0.0,
                           target_modules=TARGET_MODULES, task_type="CAUSAL_LM")
    model = peft.get_peft_model(base, lora)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    n_trainable = sum(p.numel() for p in trainable)
    n_total = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW(trainable, lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    print(f"# {n_total / 1e6:.1f} M parameters, {n_trainable / 1e6:.3f} M trainable; "
          f"{versions(torch, transformers, peft)} threads={torch.get_num_threads()}", file=sys.stderr)

    generator = torch.Generator().manual_seed(args.seed)
    input_ids = torch.randint(0, min(args.vocab, 151643), (args.batch, args.seq), generator=generator)
    labels = torch.full_like(input_ids, -100)
    labels[:, -args.label_tokens:] = input_ids[:, -args.label_tokens:]

    def step():
        if args.logits_at_labels:
            # Shifted causal-LM loss, LM head only where a label is predicted.
            hidden = model(input_ids=input_ids, output_hidden_states=True, logits_to_keep=1).hidden_states[-1]
            shift_labels = labels[:, 1:]
            mask = shift_labels != -100
            logits = model.get_output_embeddings()(hidden[:, :-1][mask])
            loss = torch.nn.functional.cross_entropy(logits.float(), shift_labels[mask])
        else:
            loss = model(input_ids=input_ids, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.item()

    for _ in range(args.warmup):
        step()
    times = []
    for i in range(args.steps):
        t0 = time.perf_counter()
        loss = step()
        times.append(time.perf_counter() - t0)
        print(f"# step {i}: {times[-1]:.3f} s, loss {loss:.4f}", file=sys.stderr)
    step_s = sum(times) / len(times)
    tokens = args.batch * args.seq
    print(
        f"pytorch_peft lora_step_s={step_s:.4f} tok_s={tokens / step_s:.1f} min_step_s={min(times):.4f} "
        f"batch={args.batch} seq={args.seq} label_tokens={args.label_tokens} rank={args.rank} "
        f"logits_at_labels={int(args.logits_at_labels)} threads={args.threads} "
        f"torch={torch.__version__} transformers={transformers.__version__} peft={peft.__version__}"
    )


if __name__ == "__main__":
    main()
