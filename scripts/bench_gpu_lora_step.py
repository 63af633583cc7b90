#!/usr/bin/env python3
"""PyTorch + PEFT anchor of the GPU LoRA step (issue 16, `scripts/gpu_check.sh`).

A Qwen3 model of a published shape (1.7B, 4B or 8B: the shapes `Qwen3Config::qwen3_*` in the
Rust crate use) with random weights, built on the GPU in bf16, SDPA attention; PEFT LoRA r 16
(alpha 32, dropout 0) on all seven projections, adapters in f32 as in the Rust trainer;
a batch of B × S random tokens with labels on the last 64 tokens of each row (-100
elsewhere); AdamW (lr 1e-4, eps 1e-8, weight decay 0.01). One step = forward (LM head only
at the label positions, as the Rust trainer computes its loss), backward, optimizer step,
zero_grad — the step `cargo xtask dry-run` times.

Prints one machine-readable line:
  pytorch_peft model=… step_s=… tok_s=… peak_allocated_gib=… peak_reserved_gib=… …
Reported: the mean of `--steps` timed steps after `--warmup` untimed ones; peak memory is
`torch.cuda.max_memory_allocated` / `max_memory_reserved` over the whole run.

Usage: /work/venv/bin/python scripts/bench_gpu_lora_step.py --model 1.7b --batch 4 --seq 1024
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _require import require, versions  # noqa: E402

TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

# hidden, intermediate, layers, heads, tied embeddings (kv heads 8, head_dim 128, vocab 151,936)
SHAPES = {
    "0.6b": (1024, 3072, 28, 16, True),
    "1.7b": (2048, 6144, 28, 16, True),
    "4b": (2560, 9728, 36, 32, True),
    "8b": (4096, 12288, 36, 32, False),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(SHAPES), required=True, help="published Qwen3 shape")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=1024)
    parser.add_argument("--label-tokens", type=int, default=64, help="labelled tokens at the end of each row")
    parser.add_argument("--layers", type=int, default=None, help="build this many layers instead of the real depth")
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--alpha", type=float, default=32.0)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for name in ("batch", "seq", "steps", "rank"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if not 1 <= args.label_tokens < args.seq:
        parser.error("--label-tokens must be in 1 .. seq - 1")

    torch, transformers, peft = require("torch", "transformers", "peft")
    if not torch.cuda.is_available():
        sys.stderr.write("error: no CUDA device visible to torch\n")
        sys.exit(2)
    torch.manual_seed(args.seed)
    hidden, intermediate, layers, heads, tied = SHAPES[args.model]
    config = transformers.Qwen3Config(
        vocab_size=151936,
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=args.layers or layers,
        num_attention_heads=heads,
        num_key_value_heads=8,
        head_dim=128,
        tie_word_embeddings=tied,
        rms_norm_eps=1e-6,
        rope_theta=1_000_000.0,
        max_position_embeddings=40960,
        use_sliding_window=False,
        attn_implementation="sdpa",
    )
    device = torch.device("cuda")
    with device:
        base = transformers.Qwen3ForCausalLM(config).to(torch.bfloat16)
    lora = peft.LoraConfig(r=args.rank, lora_alpha=args.alpha, lora_dropout=0.0,
                           target_modules=TARGET_MODULES, task_type="CAUSAL_LM")
    model = peft.get_peft_model(base, lora)
    for name, p in model.named_parameters():
        if p.requires_grad:  # adapters in f32, as the Rust trainer keeps them
            p.data = p.data.float()
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    n_total = sum(p.numel() for p in model.parameters())
    print(f"# {args.model}: {n_total / 1e9:.2f} B parameters, {sum(p.numel() for p in trainable) / 1e6:.1f} M "
          f"trainable; {torch.cuda.get_device_name()} {versions(torch, transformers, peft)}", file=sys.stderr)

    generator = torch.Generator().manual_seed(args.seed)
    input_ids = torch.randint(1, 151643, (args.batch, args.seq), generator=generator).to(device)
    labels = torch.full_like(input_ids, -100)
    labels[:, -args.label_tokens:] = input_ids[:, -args.label_tokens:]

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            hidden_states = model(input_ids=input_ids, output_hidden_states=True,
                                  logits_to_keep=1).hidden_states[-1]
            shift_labels = labels[:, 1:]
            mask = shift_labels != -100
            logits = model.get_output_embeddings()(hidden_states[:, :-1][mask])
        loss = torch.nn.functional.cross_entropy(logits.float(), shift_labels[mask])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.item()

    torch.cuda.reset_peak_memory_stats()
    for _ in range(args.warmup):
        step()
    times = []
    for i in range(args.steps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        loss = step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        print(f"# step {i}: {times[-1]:.3f} s, loss {loss:.4f}", file=sys.stderr)
    step_s = sum(times) / len(times)
    tokens = args.batch * args.seq
    gib = 1 << 30
    print(
        f"pytorch_peft model={args.model} step_s={step_s:.4f} tok_s={tokens / step_s:.1f} "
        f"peak_allocated_gib={torch.cuda.max_memory_allocated() / gib:.2f} "
        f"peak_reserved_gib={torch.cuda.max_memory_reserved() / gib:.2f} "
        f"batch={args.batch} seq={args.seq} label_tokens={args.label_tokens} rank={args.rank} "
        f"torch={torch.__version__} transformers={transformers.__version__} peft={peft.__version__}"
    )


if __name__ == "__main__":
    main()
