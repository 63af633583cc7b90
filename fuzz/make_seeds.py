#!/usr/bin/env python3
"""Writes fuzz/seeds/<target>/ from real inputs in the repo (standard library only).

Run from the repository root: `python3 fuzz/make_seeds.py`. Sources:
- action_parser: the model-output shapes of crates/spec-actions-core/src/parse.rs's tests and
  the greedy outputs of crates/spec-actions-verify/tests/data/hand.jsonl;
- jsonl_example: rows in the dataset format (core Example) built from BFCL multi-turn questions;
- bfcl_call: ground-truth call strings of assets/bfcl-v4/possible_answer/*multi_turn_base*;
- qwen3_config: the fixtures' config.json (5.x layout) and Qwen3-1.7B / 8B hub configs (4.x);
- safetensors_loader: tiny checkpoints (f32, bf16, sharded) for fuzz_targets/safetensors_loader.rs's config;
- chat_template: conversations of crates/spec-actions-qwen3/tests/data/chat_template_cases.json;
- adapter_config: the fixtures' PEFT 0.21 adapter_config.json files and a hand-written
  `all-linear` rsLoRA config;
- results_file: crates/spec-actions-frontier/tests/data/smoke-results.json cut to its first three
  configurations and six records each (accuracies recomputed), and two hand-written files;
- parity_reference: reference files in the layout of scripts/make_reference.py for the target's
  tiny model (vocab 8, hidden 4, one layer): input_ids, logits, hidden states, the padded
  batch, greedy prompt and output (values arbitrary: the checks fail, every path runs), one with
  F16 logits and one with a 1-D input_ids.
"""
import hashlib, json, os, struct, pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
SEEDS = ROOT / "fuzz" / "seeds"


def write(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = SEEDS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)


# action_parser
outputs = [
    "final_answer", "Action: file_read.", '"BLOCKED"', "<think>tests failed</think>\n\nrepair",
    "**Action:** ask_clarification", "The next action is file_read.", "verifier<|im_end|>",
    "The user wants the config checked.\n</think>\n\nverifier",
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}\n</tool_call>',
    'tool_call\n<tool_call>\n{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}\n</tool_call><|im_end|>',
    '<tool_call>\n```json\n{"name": "ls", "parameters": {}}\n```\n</tool_call>',
    '{"kind": "file_write", "name": "write_file", "arguments": {"path": "a.txt"}}',
    '{"action": "retrieval"}', "```\nverifier\n```", "I am not sure", "<think>\nI should first",
]
for line in (ROOT / "crates/spec-actions-verify/tests/data/hand.jsonl").read_text().splitlines()[:4]:
    row = json.loads(line)
    outputs.append(json.dumps(row.get("greedy", {}).get("action", {})))
for o in outputs:
    write("action_parser", o)

# bfcl_call
calls = []
for line in (ROOT / "assets/bfcl-v4/possible_answer/BFCL_v4_multi_turn_base.json").read_text().splitlines()[:40]:
    for turn in json.loads(line)["ground_truth"]:
        calls.extend(turn)
calls += ["edit_ticket(ticket_id=0, updates={'status':'Urgent', 'priority':5})",
          "f(r'C:\\dir', \"\"\"tri\nple\"\"\", -1_000.5e-3, (1, 2), {1, 2}, None, True, x='\\x41\\u00e9\\101')"]
for c in sorted(set(calls))[:30]:
    write("bfcl_call", c)

# jsonl_example: questions of the first multi-turn cases, in the dataset's Example format
rows = []
for i, line in enumerate((ROOT / "assets/bfcl-v4/BFCL_v4_multi_turn_base.json").read_text().splitlines()[:4]):
    case = json.loads(line)
    msgs = [{"role": m["role"], "content": m["content"]} for m in case["question"][0]]
    rows.append({"id": f"bfcl:{case['id']}#turn0", "source": "bfcl:multi_turn_base", "conversation": case["id"],
                 "split": ["train", "dev", "eval", "heldout"][i], "messages": msgs,
                 "tools": [{"type": "function", "function": {"name": "cd", "parameters": {"type": "dict"}}}],
                 "gold": {"kind": "tool_call", "name": "cd", "arguments": {"folder": "document"}}})
rows.append({"id": "s1", "source": "synthetic:repair", "conversation": "c", "split": "train",
             "messages": [{"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": "run_tests", "arguments": {}}}]},
                          {"role": "tool", "name": "run_tests", "content": "1 failed"}], "gold": {"kind": "repair"}})
for r in rows:
    write("jsonl_example", json.dumps(r) + "\n")
write("jsonl_example", "\n".join(json.dumps(r) for r in rows[:2]) + "\n\nnot json\n")

# qwen3_config
for d in ["tiny", "tiny-untied-sharded-bf16"]:
    write("qwen3_config", (ROOT / "crates/spec-actions-qwen3/tests/data" / d / "config.json").read_text())
hub = {"architectures": ["Qwen3ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
       "bos_token_id": 151643, "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu",
       "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 6144,
       "max_position_embeddings": 40960, "max_window_layers": 28, "model_type": "qwen3",
       "num_attention_heads": 16, "num_hidden_layers": 28, "num_key_value_heads": 8, "rms_norm_eps": 1e-06,
       "rope_scaling": None, "rope_theta": 1000000, "sliding_window": None, "tie_word_embeddings": True,
       "torch_dtype": "bfloat16", "transformers_version": "4.51.0", "use_cache": True,
       "use_sliding_window": False, "vocab_size": 151936}
write("qwen3_config", json.dumps(hub, indent=2))
write("qwen3_config", json.dumps(dict(hub, hidden_size=4096, intermediate_size=12288, num_hidden_layers=36,
                                      num_attention_heads=32, tie_word_embeddings=False), indent=2))

# safetensors_loader: the tensors of the target's fixed config
SHAPES = {
    "model.embed_tokens.weight": [8, 4], "model.norm.weight": [4],
    "model.layers.0.self_attn.q_proj.weight": [4, 4], "model.layers.0.self_attn.k_proj.weight": [2, 4],
    "model.layers.0.self_attn.v_proj.weight": [2, 4], "model.layers.0.self_attn.o_proj.weight": [4, 4],
    "model.layers.0.self_attn.q_norm.weight": [2], "model.layers.0.self_attn.k_norm.weight": [2],
    "model.layers.0.mlp.gate_proj.weight": [4, 4], "model.layers.0.mlp.up_proj.weight": [4, 4],
    "model.layers.0.mlp.down_proj.weight": [4, 4], "model.layers.0.input_layernorm.weight": [4],
    "model.layers.0.post_attention_layernorm.weight": [4],
}


def safetensors(shapes, dtype):
    size = {"F32": 4, "BF16": 2, "F16": 2}[dtype]
    header, data, off = {}, b"", 0
    for name, shape in shapes.items():
        n = 1
        for s in shape:
            n *= s
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + n * size]}
        data += bytes((i * 7 + off) % 251 for i in range(n * size))
        off += n * size
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


f32 = safetensors(SHAPES, "F32")
write("safetensors_loader", b"\x00" + f32)
write("safetensors_loader", b"\x00" + safetensors(SHAPES, "BF16"))
write("safetensors_loader", b"\x00" + f32[: len(f32) - 10])
index = {"metadata": {"total_size": 576}, "weight_map": {n: "a.safetensors" for n in SHAPES}}
write("safetensors_loader", b"\x01" + json.dumps(index).encode() + b"\x00" + safetensors(SHAPES, "F16"))

# chat_template
cases = json.loads((ROOT / "crates/spec-actions-qwen3/tests/data/chat_template_cases.json").read_text())
for case in cases:
    write("chat_template", json.dumps({k: case[k] for k in ["messages", "tools", "add_generation_prompt", "enable_thinking"] if k in case}))

# adapter_config
for d in ["tiny", "tiny-untied-sharded-bf16"]:
    write("adapter_config", (ROOT / "crates/spec-actions-qwen3/tests/data" / d / "lora/adapter_config.json").read_text())
write("adapter_config", json.dumps({"peft_type": "LORA", "r": 16, "lora_alpha": 32, "lora_dropout": 0.05,
                                    "target_modules": "all-linear", "use_rslora": True, "bias": "none",
                                    "rank_pattern": {}, "modules_to_save": None,
                                    "base_model_name_or_path": "Qwen/Qwen3-1.7B"}))

# results_file
smoke = json.loads((ROOT / "crates/spec-actions-frontier/tests/data/smoke-results.json").read_text())
small = dict(smoke, configs=[])
for c in smoke["configs"][:3]:
    records = c.get("records", [])[:6]
    c = dict(c, records=records)
    if records:
        c["accuracy"] = sum(r["correct"] for r in records) / len(records)
    small["configs"].append(c)
write("results_file", json.dumps(small, indent=1))
write("results_file", json.dumps({"schema_version": 1, "title": "study v2", "random_baseline": 1 / 9,
                                  "configs": [{"name": "A", "description": "strong only", "accuracy": 0.76,
                                               "mean_cost": 1.0},
                                              {"name": "F@0.8", "description": "gated", "accuracy": 0.7,
                                               "mean_cost": 0.41, "accept_rate": 0.6, "fallback_rate": 0.4}]}))
write("results_file", json.dumps({"schema_version": 99, "configs": []}))


# parity_reference: tensors with their own dtypes and values
def reference(tensors):
    header, data = {}, b""
    for name, (dtype, shape, values) in tensors.items():
        fmt = {"F32": "<f", "F16": "<e", "I64": "<q"}[dtype]
        raw = b"".join(struct.pack(fmt, v) for v in values)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def values(n, scale=0.1):
    return [((i * 37) % 17 - 8) * scale for i in range(n)]


ref = {
    "input_ids": ("I64", [1, 4], [1, 5, 2, 7]),
    "logits": ("F32", [1, 4, 8], values(32)),
    "hidden_state.0": ("F32", [1, 4, 4], values(16)),
    "hidden_state.1": ("F32", [1, 4, 4], values(16, 0.3)),
    "padded_attention_mask": ("I64", [1, 4], [0, 1, 1, 1]),
    "padded_logits": ("F32", [1, 4, 8], values(32, 0.2)),
    "greedy_prompt": ("I64", [1, 3], [1, 5, 2]),
    "greedy_output": ("I64", [1, 6], [1, 5, 2, 3, 3, 7]),
}
write("parity_reference", reference(ref))
write("parity_reference", reference({k: ref[k] for k in ["input_ids", "logits"]}))
write("parity_reference", reference(dict(ref, logits=("F16", [1, 4, 8], values(32)))))
write("parity_reference", reference(dict(ref, input_ids=("I64", [4], [1, 5, 2, 7]))))
