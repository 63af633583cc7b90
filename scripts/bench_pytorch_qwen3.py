#!/usr/bin/env python3
"""PyTorch anchor for the Qwen3 inference benchmark (issue 3).

Builds a Qwen3-0.6B-shaped model with random weights through HF transformers (nothing is
downloaded), f32, eager attention, batch 1, and times a prefill of 128 tokens and 32 greedy
decode steps with the KV cache (DynamicCache, as `generate()` uses), on 2 threads.
The prefill computes logits at the last position only (`logits_to_keep=1`, as `generate()`
does); `--all-logits` computes them at every position instead.

Prints one machine-readable line:
  pytorch prefill_tok_s=… decode_tok_s=… prefill_s=… decode_s=… …
Each figure is the best of `--repeats` runs after one warm-up run.

Usage: /work/venv/bin/python scripts/bench_pytorch_qwen3.py [--threads 2] [--prefill 128] [--decode 32]
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _require import require, versions  # noqa: E402


def qwen3_0_6b_config(transformers, vocab_size):
    """The published Qwen3-0.6B shape."""
    return transformers.Qwen3Config(
        vocab_size=vocab_size,
        hidden_size=1024,
        intermediate_size=3072,
        num_hidden_layers=28,
        num_attention_heads=16,
        num_key_value_heads=8,
        head_dim=128,
        tie_word_embeddings=True,
        rope_theta=1_000_000.0,
        rms_norm_eps=1e-6,
        max_position_embeddings=40960,
        attention_bias=False,
        use_sliding_window=False,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument("--prefill", type=int, default=128, help="prompt tokens (default 128)")
    parser.add_argument("--decode", type=int, default=32, help="decode steps (default 32)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; the best is reported (default 3)")
    parser.add_argument("--vocab", type=int, default=151936, help="vocabulary size (default 151936)")
    parser.add_argument("--all-logits", action="store_true", help="prefill computes logits at every position")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch, transformers = require("torch", "transformers")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    config = qwen3_0_6b_config(transformers, args.vocab)
    config._attn_implementation = "eager"
    t = time.perf_counter()
    model = transformers.Qwen3ForCausalLM(config).to(torch.float32).eval()
    build_s = time.perf_counter() - t
    params = sum(p.numel() for p in model.parameters())
    print(f"# model: {params / 1e6:.1f} M parameters ({params * 4 / 1e9:.2f} GB f32), built in {build_s:.1f} s; "
          f"{versions(torch, transformers)} threads={torch.get_num_threads()}", file=sys.stderr)

    generator = torch.Generator().manual_seed(args.seed)
    prompt = torch.randint(0, min(args.vocab, 151643), (1, args.prefill), generator=generator)
    logits_to_keep = 0 if args.all_logits else 1

    def run_once():
        with torch.inference_mode():
            t0 = time.perf_counter()
            out = model(input_ids=prompt, use_cache=True, logits_to_keep=logits_to_keep)
            next_token = out.logits[:, -1, :].argmax(dim=-1, keepdim=True)
            t1 = time.perf_counter()
            cache = out.past_key_values
            for _ in range(args.decode):
                out = model(input_ids=next_token, past_key_values=cache, use_cache=True, logits_to_keep=1)
                cache = out.past_key_values
                next_token = out.logits[:, -1, :].argmax(dim=-1, keepdim=True)
            t2 = time.perf_counter()
        return t1 - t0, t2 - t1

    run_once()  # warm-up: allocator, kernels' first-call costs
    prefill_s, decode_s = float("inf"), float("inf")
    for i in range(args.repeats):
        p, d = run_once()
        print(f"# run {i}: prefill {p:.3f} s, decode {d:.3f} s", file=sys.stderr)
        prefill_s, decode_s = min(prefill_s, p), min(decode_s, d)

    print(
        f"pytorch prefill_tok_s={args.prefill / prefill_s:.2f} decode_tok_s={args.decode / decode_s:.3f} "
        f"prefill_s={prefill_s:.4f} decode_s={decode_s:.4f} prefill_tokens={args.prefill} "
        f"decode_steps={args.decode} threads={args.threads} all_logits={int(args.all_logits)} "
        f"torch={torch.__version__} transformers={transformers.__version__}"
    )


if __name__ == "__main__":
    main()
