#!/usr/bin/env python3
"""A multi-turn agent loop against `spec-actions serve`, with the official `openai` package.

The agent offers two tools (`list_files`, `read_file`, answered from a small in-memory
project), asks the server for its next action, executes a tool call locally and sends the
result back as a `tool` message, until the server answers with text or `--turns` is reached.
Each step prints the action and the routing headers (`x-spec-route`, `x-spec-gate-score`,
`x-spec-cost`, `x-spec-models`).

Usage (after `spec-actions serve --run runs/tiny --addr 127.0.0.1:8080`):
  python scripts/openai_agent.py --base-url http://127.0.0.1:8080/v1 [--turns 4]
Exits 2 when the `openai` package is missing (`pip install openai`).
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _require import require  # noqa: E402

PROJECT = {
    "README.md": "# demo\nA tiny project.\n",
    "src/main.py": "def main():\n    print('hello')\n",
}

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "list_files",
            "description": "List the files of the project.",
            "parameters": {"type": "object", "properties": {}},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read one file of the project.",
            "parameters": {
                "type": "object",
                "properties": {"path": {"type": "string", "description": "file path"}},
                "required": ["path"],
            },
        },
    },
]


def run_tool(name, arguments):
    if name == "list_files":
        return json.dumps(sorted(PROJECT))
    if name == "read_file":
        return PROJECT.get(arguments.get("path", ""), "error: no such file")
    return f"error: unknown tool {name}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", default="http://127.0.0.1:8080/v1")
    parser.add_argument("--turns", type=int, default=4, help="most model calls (bounded loop)")
    parser.add_argument("--task", default="What does src/main.py print? Look at the files first.")
    args = parser.parse_args()
    (openai,) = require("openai")
    client = openai.OpenAI(base_url=args.base_url, api_key="not-needed")
    messages = [
        {"role": "system", "content": "You are a coding agent. Use the tools to inspect the project."},
        {"role": "user", "content": args.task},
    ]
    for turn in range(args.turns):
        raw = client.chat.completions.with_raw_response.create(
            model="spec-actions", messages=messages, tools=TOOLS, tool_choice="auto"
        )
        completion = raw.parse()
        h = raw.headers
        message = completion.choices[0].message
        print(
            f"turn {turn}: model={completion.model} route={h.get('x-spec-route')} "
            f"gate={h.get('x-spec-gate-score')} cost={h.get('x-spec-cost')} models={h.get('x-spec-models')} "
            f"tokens={completion.usage.total_tokens}"
        )
        if not message.tool_calls:
            print(f"  answer: {message.content}")
            return 0
        messages.append(
            {
                "role": "assistant",
                "content": message.content,
                "tool_calls": [
                    {"id": c.id, "type": "function", "function": {"name": c.function.name, "arguments": c.function.arguments}}
                    for c in message.tool_calls
                ],
            }
        )
        for call in message.tool_calls:
            try:
                arguments = json.loads(call.function.arguments or "{}")
            except json.JSONDecodeError:
                arguments = {}
            result = run_tool(call.function.name, arguments)
            print(f"  call {call.function.name}({call.function.arguments}) -> {result[:60]!r}")
            messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
    print(f"stopped after {args.turns} turns")
    return 0


if __name__ == "__main__":
    sys.exit(main())
