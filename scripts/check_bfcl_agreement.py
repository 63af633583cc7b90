#!/usr/bin/env python3
"""Checks that `cargo xtask score-bfcl` scores function calls as BFCL's own AST checker does.

For every AST-checked single-turn category of the bundled BFCL v4 data (`assets/bfcl-v4`:
simple_python, simple_java, simple_javascript, multiple, parallel, parallel_multiple and the live
versions), it takes each
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

simple_java / simple_javascript are checked in BFCL's Language.JAVA / JAVASCRIPT: their
predictions are source text (the gold's values written as the importer writes them, e.g. `42L`,
`new String[]{a, b}`, `{"k": "v"}`), with two more variants:
  json_value     the JSON values themselves instead of source text
  respell        one source text respelled (`L` / `f` / `.0` dropped, `true` → `True`, quotes,
                 `[` → `new Array(`, spacing)

Last run (bfcl-eval 2026.3.23, 3 Dec 2026; 22 581 predictions, every one agreeing; valid =
predictions bfcl-eval scores correct):
  category                  cases  agree disagree raised  valid
  simple_python              3454   3454        0      0   1275
  multiple                   1729   1729        0      0    645
  parallel                   2094   2094        0      0    810
  parallel_multiple          2094   2094        0      0    812
  live_simple                2163   2163        0      0    855
  live_multiple              9168   9168        0      0   3689
  live_parallel               178    178        0      0     78
  live_parallel_multiple      251    251        0      0    104
  simple_java                 961    961        0      0    315
  simple_javascript           489    489        0      0    163
  total                     22581  22581        0      0   8746

--multi-turn: for every gold step of every imported multi-turn case and its perturbations
(gold, case_punct, bang, int_float, value_changed, drop_optional, drop_required, extra_arg,
wrong_name, list_order), the step's call in its turn is replaced by the prediction and BFCL's
own multi_turn_checker runs on the turns so far (earlier turns as the ground truth); score-bfcl
scores the step (ids `<case>#t<turn>.s<step>`). Last run (3 Dec 2026):
  category                    steps  agree disagree  valid not imported
  multi_turn_base              7524   7315      209   1509            0
  multi_turn_long_context      7949   7752      197   1557            0
  multi_turn_miss_param        7508   7299      209   1506            0
  multi_turn_miss_func         7475   7271      204   1494            1
  total                       30456  29637      819   6066            1
Every difference is a call BFCL passes and score-bfcl does not, in the two classes named in
spec_actions_data::bfcl_check ("Named differences from BFCL's multi-turn checker"): same
executed result 575, type rules (an int written as a float) 244.

Usage (from the repository root; builds xtask in the dev profile unless --xtask is given):
  /work/venv/bin/python scripts/check_bfcl_agreement.py [--bfcl assets/bfcl-v4] [--xtask PATH]
      [--categories simple_python,live_simple] [--show 50]
  /work/venv/bin/python scripts/check_bfcl_agreement.py --multi-turn [CATEGORIES] [--limit N]
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
    "simple_java", "simple_javascript",
]


def py_float_text(f):
    return repr(float(f))


def java_source(v, ty, items):
    """A gold value as Java source text BFCL's java_type_converter reads back (the importer's
    rule, spec_actions_core::type_converter::java_source, written again here)."""
    if isinstance(v, str):
        return v
    if ty == "long" and type(v) is int:
        return f"{v}L"
    if ty == "float" and type(v) in (int, float):
        return py_float_text(v) + "f"
    if ty == "double" and type(v) in (int, float):
        return py_float_text(v)
    if ty == "Array" and isinstance(v, list):
        it = items or "any"
        parts = [str(x) if it in ("String", "char", "any") else java_source(x, it, None) for x in v]
        arr = {"integer": "int", "any": "Object"}.get(it, it)
        return f"new {arr}[]{{{', '.join(parts)}}}"
    if ty == "ArrayList" and isinstance(v, list):
        it = items or "any"
        parts = [f'"{x}"' if it == "String" else f"'{x}'" if it == "char" else str(x) if it == "any"
                 else java_source(x, it, None) for x in v]
        return f"new ArrayList<>(Arrays.asList({', '.join(parts)}))"
    if ty == "HashMap" and isinstance(v, dict):
        if not v:
            return "new HashMap<>()"
        puts = " ".join(f'put("{k}", {java_literal(x)});' for k, x in v.items())
        return f"new HashMap<String, Object>() {{{{ {puts} }}}}"
    return java_literal(v)


def java_literal(v):
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return py_float_text(v)
    return str(v)


def js_source(v, ty, items):
    """A gold value as JavaScript source text BFCL's js_type_converter reads back."""
    if isinstance(v, str):
        wrapped = len(v) >= 1 and ((v[0] == v[-1] == '"') or (v[0] == v[-1] == "'"))
        return f'"{v}"' if ty == "String" and wrapped else v
    if ty == "array" and isinstance(v, list):
        return "[" + ", ".join(f'"{x}"' if isinstance(x, str) and items in ("String", None) else js_literal(x)
                               for x in v) + "]"
    return js_literal(v)


def js_literal(v):
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, float):
        return f"{v:.1f}" if v.is_integer() and abs(v) < 1e16 else repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(js_literal(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f'"{k}": {js_literal(x)}' for k, x in v.items()) + "}"
    return str(v)


def language_of(category):
    return "javascript" if "javascript" in category else "java" if "java" in category else "python"


def as_source(calls, category, functions):
    """Java / JavaScript calls: every argument written as source text."""
    lang = language_of(category)
    if lang == "python":
        return calls
    out = []
    for c in calls:
        decl = next((f for f in functions if f["name"] == c["name"]), {"parameters": {"properties": {}}})
        props = decl["parameters"].get("properties", {})
        args = {}
        for k, v in c["arguments"].items():
            p = props.get(k)
            if p is None:
                args[k] = v
                continue
            items = (p.get("items") or {}).get("type")
            args[k] = (java_source if lang == "java" else js_source)(v, p["type"], items)
        out.append({"name": c["name"], "arguments": args})
    return out


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
    lang = language_of(category)
    gold = as_source(concrete_calls(ground_truth), category, functions)
    out = [("gold", gold), ("other_value", as_source(concrete_calls(ground_truth, last=True), category, functions))]
    if lang != "python":
        # The JSON values themselves, not source text (BFCL: type_error:java / type_error:js
        # for a non-string), and source-text spellings BFCL's converters read differently.
        out.append(("json_value", concrete_calls(ground_truth)))

        def respell(args, _):
            changed = False
            for k, v in list(args.items()):
                if not isinstance(v, str):
                    continue
                for a, b in (("L", ""), ("f", ""), (".0", ""), ("true", "True"), ("new ", "new  "),
                             ('"', "'"), ("[", "new Array("), ("}", " }")):
                    if a in v:
                        args[k] = v.replace(a, b, 1)
                        changed = True
                        break
            return changed
        out.append(("respell", None))  # placeholder, filled below once `edit` exists
    first = ground_truth[0]
    (name, params), = first.items()
    decl = next((f for f in functions if f["name"] == name), {"parameters": {"properties": {}}})
    props = decl["parameters"].get("properties", {})

    def edit(fn):
        calls = copy.deepcopy(gold)
        return calls if fn(calls[0]["arguments"], calls) is not False else None

    if lang != "python":
        out[-1] = ("respell", edit(respell))

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


MULTI_TURN_CATEGORIES = ["multi_turn_base", "multi_turn_long_context", "multi_turn_miss_param", "multi_turn_miss_func"]
FUNC_DOC_FILES = {
    "GorillaFileSystem": "gorilla_file_system.json", "MathAPI": "math_api.json",
    "MessageAPI": "message_api.json", "TwitterAPI": "posting_api.json", "TicketAPI": "ticket_api.json",
    "TradingBot": "trading_bot.json", "TravelAPI": "travel_booking.json",
    "VehicleControlAPI": "vehicle_control.json",
}


def parse_call_string(text, param_order):
    """BFCL's ground-truth call string `f(a=1, b='x')` → (name, {arg: value}); positional
    arguments take the declared parameter order (as the importer does)."""
    import ast
    node = ast.parse(text, mode="eval").body
    name = ast.unparse(node.func)
    args = {}
    for i, a in enumerate(node.args):
        args[param_order[i]] = ast.literal_eval(a)
    for kw in node.keywords:
        args[kw.arg] = ast.literal_eval(kw.value)
    return name, args


def call_string(name, args):
    return f"{name}({', '.join(f'{k}={v!r}' for k, v in args.items())})"


def step_variants(name, args, doc):
    """(variant, name, args) predictions for one gold step."""
    required = set(doc["parameters"].get("required", []))
    out = [("gold", name, dict(args))]

    def edit(variant, fn, new_name=None):
        a = copy.deepcopy(args)
        if fn(a) is not False:
            out.append((variant, new_name or name, a))

    def strings(fn):
        def go(a):
            keys = [k for k, v in a.items() if isinstance(v, str) and v]
            if not keys:
                return False
            a[keys[0]] = fn(a[keys[0]])
        return go
    edit("case_punct", strings(shuffle_case))
    edit("bang", strings(lambda x: x + "!"))

    def int_float(a):
        for k, v in a.items():
            if type(v) is int:
                a[k] = float(v)
                return
            if type(v) is float and v.is_integer():
                a[k] = int(v)
                return
        return False
    edit("int_float", int_float)

    def value_changed(a):
        for k, v in a.items():
            if type(v) is bool:
                a[k] = not v
                return
            if type(v) in (int, float):
                a[k] = v + 1
                return
            if isinstance(v, str):
                a[k] = v + "x"
                return
        return False
    edit("value_changed", value_changed)

    def drop(optional):
        def fn(a):
            keys = [k for k in a if (k not in required) == optional]
            if not keys:
                return False
            del a[keys[0]]
        return fn
    edit("drop_optional", drop(True))
    edit("drop_required", drop(False))
    edit("extra_arg", lambda a: a.update(extra_argument_x=1))
    edit("wrong_name", lambda a: None, new_name=name + "_v2")

    def list_order(a):
        keys = [k for k, v in a.items() if isinstance(v, list) and len(v) >= 2 and v != v[::-1]]
        if not keys:
            return False
        a[keys[0]] = a[keys[0]][::-1]
    edit("list_order", list_order)
    return out


def multi_turn_agreement(args, xtask, model_name, tmp):
    """For every gold step of every multi-turn case (up to --limit cases per category) and its
    perturbations: BFCL's multi_turn_checker on the turns so far, the step's gold call replaced
    by the prediction, against score-bfcl's verdict on the step."""
    mt_checker, mt_utils = require("bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker",
                                   "bfcl_eval.eval_checker.multi_turn_eval.multi_turn_utils")
    docs = {}
    for cls, file in FUNC_DOC_FILES.items():
        docs[cls] = {d["name"]: d for d in read_jsonl(os.path.join(args.bfcl, "multi_turn_func_doc", file))}
    rows, disagreements, classes, named_classes = [], [], {}, {}
    run_no = 0
    for category in args.multi_turn.split(","):
        questions = read_jsonl(os.path.join(args.bfcl, f"BFCL_v4_{category}.json"))
        if args.limit:
            questions = questions[: args.limit]
        answers = {a["id"]: a for a in read_jsonl(os.path.join(args.bfcl, "possible_answer", f"BFCL_v4_{category}.json"))}
        # The steps score-bfcl knows (the importer's; a case it reports as not imported has none).
        empty, listing = os.path.join(tmp, "empty.jsonl"), os.path.join(tmp, f"{category}.steps.jsonl")
        open(empty, "w").close()
        subprocess.run([xtask, "score-bfcl", "--bfcl", args.bfcl, "--category", category,
                        "--predictions", empty, "--out", listing], check=True, stdout=subprocess.DEVNULL)
        known = {r["id"] for r in read_jsonl(listing)}
        not_imported = set()
        by_variant = {}
        for q in questions:
            gt = answers[q["id"]]["ground_truth"]
            funcs = {}
            for cls in q["involved_classes"]:
                funcs.update(docs.get(cls, {}))
            for t, turn in enumerate(gt):
                for s_i, text in enumerate(turn):
                    name = text.split("(")[0]
                    doc = funcs.get(name)
                    if doc is None:
                        continue
                    if f"{q['id']}#t{t}.s{s_i}" not in known:
                        not_imported.add(q["id"])
                        continue
                    g_name, g_args = parse_call_string(text, list(doc["parameters"].get("properties", {})))
                    for variant, p_name, p_args in step_variants(g_name, g_args, doc):
                        model_turn = list(turn)
                        model_turn[s_i] = call_string(p_name, p_args)
                        decoded = [[list(gt[i])] if gt[i] else [] for i in range(t)] + [[model_turn]]
                        run_no += 1
                        tag = f"agree{run_no}"
                        try:
                            result = mt_checker.multi_turn_checker(decoded, gt[: t + 1], q, category, tag)
                            ok, err = bool(result["valid"]), result.get("error_type")
                        except Exception as e:  # noqa: BLE001
                            ok, err = None, f"raised {type(e).__name__}: {e}"
                        for key in [k for k in vars(mt_utils) if k.startswith(tag + "_")]:
                            del vars(mt_utils)[key]
                        step_id = f"{q['id']}#t{t}.s{s_i}"
                        repeated = text in turn[:s_i] or any(text in gt[i] for i in range(t))
                        by_variant.setdefault(variant, []).append(
                            (step_id, {"name": p_name, "arguments": p_args}, ok, err, repeated))
        agree = disagree = valid = 0
        for variant, items in by_variant.items():
            pred_path = os.path.join(tmp, f"{category}.{variant}.jsonl")
            out_path = os.path.join(tmp, f"{category}.{variant}.out.jsonl")
            with open(pred_path, "w", encoding="utf-8") as f:
                for step_id, call, *_ in items:
                    f.write(json.dumps({"id": step_id, "calls": [call]}) + "\n")
            subprocess.run([xtask, "score-bfcl", "--bfcl", args.bfcl, "--category", category,
                            "--predictions", pred_path, "--out", out_path],
                           check=True, stdout=subprocess.DEVNULL)
            ours = {r["id"]: r for r in read_jsonl(out_path)}
            for step_id, call, ok, err, repeated in items:
                mine = ours[step_id]
                valid += bool(ok)
                if ok == mine["valid"]:
                    agree += 1
                else:
                    disagree += 1
                    key = (variant, ok, mine["valid"])
                    classes[key] = classes.get(key, 0) + 1
                    # The named classes of bfcl_check's docs.
                    if variant == "int_float" and str(mine.get("error_type", "")).startswith("type_error"):
                        named = "type rules (int written as float)"
                    elif ok and repeated:
                        named = "repeated step (its output is already in the turn so far)"
                    elif ok:
                        named = "same executed result (state and outputs)"
                    else:
                        named = "other"
                    named_classes[named] = named_classes.get(named, 0) + 1
                    disagreements.append((category, step_id, variant, call, ok, err, mine))
        rows.append((category, agree + disagree, agree, disagree, valid, len(not_imported)))
    print(f"{'category':<26} {'steps':>6} {'agree':>6} {'disagree':>8} {'valid':>6} {'not imported':>12}")
    for category, n, agree, disagree, valid, skipped in rows:
        print(f"{category:<26} {n:>6} {agree:>6} {disagree:>8} {valid:>6} {skipped:>12}")
    total = [sum(r[i] for r in rows) for i in (1, 2, 3, 4, 5)]
    print(f"{'total':<26} {total[0]:>6} {total[1]:>6} {total[2]:>8} {total[3]:>6} {total[4]:>12}")
    print("steps: predictions (gold steps x variants); valid: predictions bfcl-eval scores correct;")
    print("not imported: cases the importer reports and does not import (no steps to compare)")
    print("\ndisagreements by named class (bfcl_check's docs):")
    for named, n in sorted(named_classes.items(), key=lambda kv: -kv[1]):
        print(f"  {named:<58} {n}")
    print("\ndisagreements by variant (bfcl-eval valid, score-bfcl valid): count")
    for (variant, b, m), n in sorted(classes.items(), key=lambda kv: -kv[1]):
        print(f"  {variant:<14} bfcl={b!s:<5} ours={m!s:<5} {n}")
    shown = disagreements if args.show == 0 else disagreements[: args.show]
    for category, step_id, variant, call, ok, err, mine in shown:
        print(f"\nDISAGREE {step_id} [{variant}]: bfcl-eval valid={ok} ({err}), score-bfcl valid={mine['valid']}")
        print(f"  call: {json.dumps(call)[:300]}")
        print(f"  score-bfcl: {mine.get('error_type')}: {str(mine.get('error'))[:200]}")
    return bool(disagreements)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bfcl", default="assets/bfcl-v4")
    parser.add_argument("--xtask", help="a built xtask binary (default: cargo build -p xtask, dev profile)")
    parser.add_argument("--categories", default=",".join(CATEGORIES))
    parser.add_argument("--show", type=int, default=50, help="disagreements printed (all when 0)")
    parser.add_argument("--multi-turn", nargs="?", const=",".join(MULTI_TURN_CATEGORIES), default=None,
                        help="compare multi-turn steps with BFCL's multi_turn_checker instead (these categories)")
    parser.add_argument("--limit", type=int, default=0, help="multi-turn: first N cases per category (0: all)")
    args = parser.parse_args()

    (bfcl_eval,) = require("bfcl_eval")
    model_config_note = stub_model_config_if_unloadable()
    ast_mod, enums = require("bfcl_eval.eval_checker.ast_eval.ast_checker", "bfcl_eval.constants.enums")
    ast_checker = ast_mod.ast_checker
    languages = {"python": enums.Language.PYTHON, "java": enums.Language.JAVA,
                 "javascript": enums.Language.JAVASCRIPT}
    model_name = pick_model_name(sys.modules["bfcl_eval.constants.model_config"].MODEL_CONFIG_MAPPING)
    print(f"# bfcl-eval {version_of('bfcl-eval')}; checker model name {model_name!r}{model_config_note}")
    xtask = xtask_binary(args)
    if args.multi_turn:
        with tempfile.TemporaryDirectory() as tmp:
            sys.exit(1 if multi_turn_agreement(args, xtask, model_name, tmp) else 0)

    rows, disagreements = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for category in args.categories.split(","):
            questions = read_jsonl(os.path.join(args.bfcl, f"BFCL_v4_{category}.json"))
            answers = {a["id"]: a for a in read_jsonl(os.path.join(args.bfcl, "possible_answer", f"BFCL_v4_{category}.json"))}
            by_variant = {}
            for q in questions:
                gt = answers[q["id"]]["ground_truth"]
                for variant, calls in variants(q["id"], category, gt, q["function"]):
                    language = languages[language_of(category)]
                    expected = bfcl_valid(ast_checker, language, q["function"], calls, gt, category, model_name)
                    by_variant.setdefault(variant, []).append((q["id"], calls, expected))
            agree = disagree = raised = valid = 0
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
                    valid += bool(bfcl_ok)
                    if bfcl_ok is None and not mine["valid"]:
                        # Named difference (accepted.rs): where BFCL's checker raises, the call
                        # is scored wrong here.
                        raised += 1
                    elif bfcl_ok == mine["valid"]:
                        agree += 1
                    else:
                        disagree += 1
                        disagreements.append((category, case_id, variant, calls, bfcl_ok, bfcl_err, mine))
            rows.append((category, agree + disagree + raised, agree, disagree, raised, valid))

    print(f"{'category':<24} {'cases':>6} {'agree':>6} {'disagree':>8} {'raised':>6} {'valid':>6}")
    for category, cases, agree, disagree, raised, valid in rows:
        print(f"{category:<24} {cases:>6} {agree:>6} {disagree:>8} {raised:>6} {valid:>6}")
    total = [sum(r[i] for r in rows) for i in (1, 2, 3, 4, 5)]
    print(f"{'total':<24} {total[0]:>6} {total[1]:>6} {total[2]:>8} {total[3]:>6} {total[4]:>6}")
    print("valid: predictions bfcl-eval scores correct")
    print("raised: bfcl-eval's checker raised and score-bfcl scored the call wrong (a named difference)")
    shown = disagreements if args.show == 0 else disagreements[: args.show]
    for category, case_id, variant, calls, bfcl_ok, bfcl_err, mine in shown:
        print(f"\nDISAGREE {category} {case_id} [{variant}]: bfcl-eval valid={bfcl_ok}, score-bfcl valid={mine['valid']}")
        print(f"  calls: {json.dumps(calls)[:400]}")
        print(f"  bfcl-eval: {str(bfcl_err)[:300]}")
        print(f"  score-bfcl: {mine.get('error_type')}: {str(mine.get('error'))[:300]}")
    sys.exit(1 if disagreements else 0)


if __name__ == "__main__":
    main()
