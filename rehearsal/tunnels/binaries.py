"""Finding a tunnel's executable without being fooled and without downloading anything.

`pip install pyngrok` puts a Python console script named `ngrok` on PATH (in the venv's
bin, so first); it downloads the real agent on first use and runs it as a child, which our
kill would miss. A candidate whose first line is a Python shebang is skipped.
"""

from __future__ import annotations

import os
import re

from rehearsal.errors import UsageError


def is_python_wrapper(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(256)
    except OSError:
        return False
    first = head.split(b"\n", 1)[0]
    return first.startswith(b"#!") and b"python" in first


def find_binary(name: str, env_var: str, *, also: tuple[str, ...] = (), install: str) -> str:
    """An explicit path from `env_var` (or `also`), else the first real `name` on PATH."""
    for var in (env_var, *also):
        path = os.environ.get(var)
        if not path:
            continue
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise UsageError(f"${var} = {path}: not an executable file", hint=install)
        if is_python_wrapper(path):
            raise UsageError(
                f"${var} = {path} is a Python wrapper, not the {name} binary",
                hint=f"point it at the real {name} executable; {install}",
            )
        return path
    skipped = []
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        path = os.path.join(folder or ".", name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            if is_python_wrapper(path):
                skipped.append(path)
                continue
            return path
    note = f" (skipped {', '.join(skipped)}: pyngrok's Python wrapper)" if skipped else ""
    raise UsageError(
        f"no {name} executable found on PATH{note}",
        hint=f"{install}, or set ${env_var} to its path",
    )


_SECRET_NAME = re.compile(r"SECRET|KEY|TOKEN|PASSWORD|CONFIRM", re.IGNORECASE)


def agent_env() -> dict[str, str]:
    """The environment a tunnel agent starts with: ours without the provider keys, webhook
    secrets and tokens, which it needs none of (and which /proc/PID/environ would show)."""
    return {k: v for k, v in os.environ.items() if not _SECRET_NAME.search(k)}
