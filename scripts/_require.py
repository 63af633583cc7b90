"""Shared import check for the reference scripts: a clear message instead of a traceback."""

import importlib
import sys

INSTALL_HINT = (
    "install them into a virtual environment outside the repository, e.g.\n"
    "  python3 -m venv /work/venv && /work/venv/bin/pip install torch transformers peft safetensors\n"
    "and run this script with /work/venv/bin/python"
)


def require(*modules):
    """Imports `modules` or exits with status 2 naming the missing ones."""
    loaded, missing = [], []
    for name in modules:
        try:
            loaded.append(importlib.import_module(name))
        except ImportError as err:  # ModuleNotFoundError or a broken install
            missing.append(f"{name} ({err})")
    if missing:
        sys.stderr.write(f"error: missing Python packages: {', '.join(missing)}\n{INSTALL_HINT}\n")
        sys.exit(2)
    return loaded


def versions(*modules):
    return " ".join(f"{m.__name__}={getattr(m, '__version__', '?')}" for m in modules)
