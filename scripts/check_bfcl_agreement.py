#!/usr/bin/env python3
"""Checks that `cargo xtask score-bfcl` scores function calls as BFCL's own AST checker does.

For every AST-checked single-turn category of the bundled BFCL v4 data (`assets/bfcl-v4`:
simple_python, multiple, parallel, parallel_multiple and their live versions), it takes each
case's ground truth and derives predictions from it, deterministically:
  gold           the first accepted value of every argument (the call we train on)
  other_value    the last accepted value of every argument (another value BFCL accepts)
  drop_optional  an argument whose accepted values include "" left out
  drop_required  an argument without "" left out
  case_punct     strings upper-cased, with spaces and `,./-_*^` moved around
  bang           a string argument with "!" appended (not a character BFCL ignores)
  int_float      an integer written as a float (100 -> 100.0) and a whole float as an int
  wrong_name     the function name with "_v2" appended
  list_order     a list argument with its items reversed
  list_int       a list of floats written as ints
  extra_arg      an argument the function does not declare
  value_changed  a number / bool / string value changed
  dict_key       a nested dict with one key dropped
  call_order     parallel cases: the calls in reverse order
  call_dropped   parallel cases: the last call left out
then scores each prediction with bfcl-eval's `ast_checker` and with `xtask score-bfcl`
(one predictions file per category and variant) and prints the agreement table (category,
cases, agree, disagree) and every disagreement. Exits 1 when any disagree, 2 when bfcl-eval is
missing.

simple_java / simple_javascript are left out: BFCL checks them with its Java / JavaScript type
converters, which score-bfcl does not port (it refuses those categories).

Last run (bfcl-eval 2026.3.23, 2 Dec 2026; 21 131 predictions, every one agreeing):
  category                  cases  agree disagree
  simple_python              3454   3454        0
  multiple                   1729   1729        0
  parallel                   2094   2094        0
  parallel_multiple          2094   2094        0
  live_simple                2163   2163        0
  live_multiple              9168   9168        0
  live_parallel               178    178        0
  live_parallel_multiple      251    251        0
  total                     21131  21131        0
Multi-turn categories are not compared: BFCL scores them by executing the calls (its
multi-turn checker compares the classes' states and outputs); our multi-turn golds keep exact
call matching.

Usage (from the repository root; builds xtask in the dev profile unless --xtask is given):
  /work/venv/bin/python scripts/check_bfcl_agreement.py [--bfcl assets/bfcl-v4] [--xtask PATH]
      [--categories simple_python,live_simple] [--show 50]
"""

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _require import require  # noqa: E402

CATEGORIES = [
    "simple_python", "multiple", "parallel", "parallel_multiple",
    "live_simple", "live_multiple", "live_parallel", "live_parallel_multiple",
]


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


OMIT = object()


def first_value(alternatives, last=False):
    """The first (or last) accepted value that is not "" (OMIT: the argument is left out)."""
    values = [v for v in alternatives if v != ""]
    if not values:
        return OMIT
    v = values[-1] if last else values[0]
    return nested_value(v, last)


def nested_value(v, last):
    """A nested dict of the ground truth is a dict of accepted-value lists."""
    if isinstance(v, dict) and v and all(isinstance(x, list) for x in v.values()):
        out = {}
        for k, alts in v.items():
            x = first_value(alts, last)
            if x is not OMIT:
                out[k] = x
        return out
    if isinstance(v, list):
        return [nested_value(x, last) if isinstance(x, dict) else x for x in v]
    return v


def concrete_calls(ground_truth, last=False):
    calls = []
    for call in ground_truth:
        (name, params), = call.items()
        args = {}
        for k, alts in params.items():
            v = first_value(alts, last)
            if v is not OMIT:
                args[k] = v
        calls.append({"name": name, "arguments": args})
    return calls


def shuffle_case(s):
    """Upper-case, spaces and ignored punctuation moved: BFCL's standardize_string undoes it."""
    out = s.upper().replace(" ", "_")
    return out + " ." if out else out


def variants(case_id, category, ground_truth, functions):
    """(variant name, predicted calls) pairs for one case; None calls are skipped."""
    gold = concrete_calls(ground_truth)
    out = [("gold", gold), ("other_value", concrete_calls(ground_truth, last=True))]
    first = ground_truth[0]
    (name, params), = first.items()
    decl = next((f for f in functions if f["name"] == name), {"parameters": {"properties": {}}})
    props = decl["parameters"].get("properties", {})

    def edit(fn):
        calls = copy.deepcopy(gold)
        return calls if fn(calls[0]["arguments"], calls) is not False else None

    def drop(optional):
        def fn(args, _):
            keys = [k for k, alts in params.items() if ("" in alts) == optional and k in args]
            if not keys:
                return False
            del args[keys[0]]
        return fn
    out.append(("drop_optional", edit(drop(True))))
    out.append(("drop_required", edit(drop(False))))

    def strings(fn):
        def go(args, _):
            keys = [k for k, v in args.items() if isinstance(v, str) and v]
            if not keys:
                return False
            for k in keys:
                args[k] = fn(args[k])
        return go
    out.append(("case_punct", edit(strings(shuffle_case))))
    out.append(("bang", edit(strings(lambda s: s + "!"))))

    def int_float(args, _):
        changed = False
        for k, v in list(args.items()):
            if type(v) is int:
                args[k] = float(v)
                changed = True
            elif type(v) is float and v.is_integer():
                args[k] = int(v)
                changed = True
        return changed
    out.append(("int_float", edit(int_float)))
    out.append(("wrong_name", edit(lambda args, calls: calls[0].update(name=calls[0]["name"] + "_v2"))))

    def list_order(args, _):
        keys = [k for k, v in args.items() if isinstance(v, list) and len(v) >= 2 and v != v[::-1]]
        if not keys:
            return False
        args[keys[0]] = args[keys[0]][::-1]
    out.append(("list_order", edit(list_order)))

    def list_int(args, _):
        keys = [k for k, v in args.items() if isinstance(v, list) and v and all(type(x) is float for x in v)]
        if not keys:
            return False
        args[keys[0]] = [int(x) for x in args[keys[0]]]
    out.append(("list_int", edit(list_int)))
    out.append(("extra_arg", edit(lambda args, _: args.update(extra_argument_x=1))))

    def value_changed(args, _):
        for k, v in args.items():
            if type(v) is bool:
                args[k] = not v
                return
            if type(v) in (int, float):
                args[k] = v + 1
                return
            if isinstance(v, str):
                args[k] = v + "x"
                return
        return False
    out.append(("value_changed", edit(value_changed)))

    def dict_key(args, _):
        keys = [k for k, v in args.items() if isinstance(v, dict) and v]
        if not keys:
            return False
        d = args[keys[0]]
        del d[sorted(d)[0]]
    out.append(("dict_key", edit(dict_key)))

    # An argument with a declared type that the gold left out entirely, given a value: the
    # checker rejects it unless the gold lists it.
    undeclared_in_gold = [k for k in props if k not in params]
    if undeclared_in_gold:
        out.append(("undeclared_gold", edit(lambda args, _: args.update({undeclared_in_gold[0]: "x"}))))
    if "parallel" in category and len(gold) >= 2:
        out.append(("call_order", gold[::-1]))
        out.append(("call_dropped", gold[:-1]))
    return [(v, calls) for v, calls in out if calls is not None]


def pick_model_name(model_config_mapping):
    """A model whose names BFCL leaves as they are (no `.` → `_` rewrite)."""
    for key, cfg in model_config_mapping.items():
        if "_" not in key and not getattr(cfg, "underscore_to_dot", False):
            return key
    sys.exit("error: no model in MODEL_CONFIG_MAPPING keeps function names unchanged")


def bfcl_valid(ast_checker, language, functions, calls, ground_truth, category, model_name):
    model_output = [{c["name"]: c["arguments"]} for c in calls]
    try:
        result = ast_checker(functions, model_output, ground_truth, language, category, model_name)
        return bool(result["valid"]), result.get("error")
    except Exception as err:  # noqa: BLE001 - a crash of BFCL's checker is reported as such
        return None, f"bfcl-eval raised {type(err).__name__}: {err}"


def version_of(dist):
    from importlib import metadata
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


def stub_model_config_if_unloadable():
    """`ast_checker.py` imports `bfcl_eval.constants.model_config` only for `convert_func_name`,
    and that module imports every model handler (qwen_agent, soundfile, …). When those are not
    installed, a one-entry stand-in is registered: a model that keeps function names as written
    (`underscore_to_dot=False`), which is what score-bfcl does. The checker's code is untouched."""
    try:
        import bfcl_eval.constants.model_config  # noqa: F401
        return ""
    except ImportError as err:
        import types
        stub = types.ModuleType("bfcl_eval.constants.model_config")
        stub.MODEL_CONFIG_MAPPING = {"score-bfcl": types.SimpleNamespace(underscore_to_dot=False)}
        sys.modules["bfcl_eval.constants.model_config"] = stub
        return f" (model registry not importable: {err}; stand-in used)"


def xtask_binary(args):
    if args.xtask:
        return args.xtask
    subprocess.run(["cargo", "build", "-q", "-p", "xtask"], check=True)
    target = os.environ.get("CARGO_TARGET_DIR", "target")
    return os.path.join(target, "debug", "xtask")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bfcl", default="assets/bfcl-v4")
    parser.add_argument("--xtask", help="a built xtask binary (default: cargo build -p xtask, dev profile)")
    parser.add_argument("--categories", default=",".join(CATEGORIES))
    parser.add_argument("--show", type=int, default=50, help="disagreements printed (all when 0)")
    args = parser.parse_args()

    (bfcl_eval,) = require("bfcl_eval")
    model_config_note = stub_model_config_if_unloadable()
    ast_mod, enums = require("bfcl_eval.eval_checker.ast_eval.ast_checker", "bfcl_eval.constants.enums")
    ast_checker = ast_mod.ast_checker
    language = enums.Language.PYTHON
    model_name = pick_model_name(sys.modules["bfcl_eval.constants.model_config"].MODEL_CONFIG_MAPPING)
    print(f"# bfcl-eval {version_of('bfcl-eval')}; checker model name {model_name!r}{model_config_note}")
    xtask = xtask_binary(args)

    rows, disagreements = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for category in args.categories.split(","):
            questions = read_jsonl(os.path.join(args.bfcl, f"BFCL_v4_{category}.json"))
            answers = {a["id"]: a for a in read_jsonl(os.path.join(args.bfcl, "possible_answer", f"BFCL_v4_{category}.json"))}
            by_variant = {}
            for q in questions:
                gt = answers[q["id"]]["ground_truth"]
                for variant, calls in variants(q["id"], category, gt, q["function"]):
                    expected = bfcl_valid(ast_checker, language, q["function"], calls, gt, category, model_name)
                    by_variant.setdefault(variant, []).append((q["id"], calls, expected))
            agree = disagree = 0
            for variant, items in by_variant.items():
                pred_path = os.path.join(tmp, f"{category}.{variant}.jsonl")
                out_path = os.path.join(tmp, f"{category}.{variant}.out.jsonl")
                with open(pred_path, "w", encoding="utf-8") as f:
                    for case_id, calls, _ in items:
                        f.write(json.dumps({"id": case_id, "calls": calls}) + "\n")
                subprocess.run([xtask, "score-bfcl", "--bfcl", args.bfcl, "--category", category,
                                "--predictions", pred_path, "--out", out_path],
                               check=True, stdout=subprocess.DEVNULL)
                ours = {r["id"]: r for r in read_jsonl(out_path)}
                for case_id, calls, (bfcl_ok, bfcl_err) in items:
                    mine = ours[case_id]
                    if bfcl_ok == mine["valid"]:
                        agree += 1
                    else:
                        disagree += 1
                        disagreements.append((category, case_id, variant, calls, bfcl_ok, bfcl_err, mine))
            rows.append((category, agree + disagree, agree, disagree))

    print(f"{'category':<24} {'cases':>6} {'agree':>6} {'disagree':>8}")
    for category, cases, agree, disagree in rows:
        print(f"{category:<24} {cases:>6} {agree:>6} {disagree:>8}")
    total = [sum(r[i] for r in rows) for i in (1, 2, 3)]
    print(f"{'total':<24} {total[0]:>6} {total[1]:>6} {total[2]:>8}")
    shown = disagreements if args.show == 0 else disagreements[: args.show]
    for category, case_id, variant, calls, bfcl_ok, bfcl_err, mine in shown:
        print(f"\nDISAGREE {category} {case_id} [{variant}]: bfcl-eval valid={bfcl_ok}, score-bfcl valid={mine['valid']}")
        print(f"  calls: {json.dumps(calls)[:400]}")
        print(f"  bfcl-eval: {str(bfcl_err)[:300]}")
        print(f"  score-bfcl: {mine.get('error_type')}: {str(mine.get('error'))[:300]}")
    sys.exit(1 if disagreements else 0)


if __name__ == "__main__":
    main()
