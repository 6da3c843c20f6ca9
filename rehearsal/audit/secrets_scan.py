"""A scan of a working tree and its git history for committed secret keys and webhook
secrets of the supported providers. Each finding names the file, the line and the commit
(None: the working tree); the value is masked (its prefix and last four characters).

Written by hand rather than with a scanner library (docs/audit.md says why): the patterns
are few, they come from the providers' declarations (their secret key prefixes), and the
history is read with plain `git log -p`, which every repository has.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from rehearsal.errors import UsageError

# Not a declared provider yet: Stripe's live secret and restricted keys, and the `whsec_`
# webhook secrets Stripe, Standard Webhooks and MintCash use (anchors.md §1; MintCash
# contract WEBHOOK_SECRET_PREFIX).
EXTRA_PREFIXES = {"sk_live_": "secret key (live)", "rk_live_": "restricted key (live)"}
WEBHOOK_SECRET_PREFIX = "whsec_"
BODY = r"[A-Za-z0-9]{12,}"  # "sk_test_…" and "sk_test_xxx" in docs are not keys
MAX_FILE = 1024 * 1024  # bytes; larger files are not source


@dataclass(frozen=True)
class Finding:
    file: str
    line: int
    commit: str | None  # None: in the working tree now
    kind: str  # "secret key (live)", "webhook secret", …
    masked: str

    @property
    def webhook(self) -> bool:
        return self.kind == "webhook secret"

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "commit": self.commit,
            "kind": self.kind,
            "masked": self.masked,
        }


def prefixes() -> dict[str, str]:
    """Each secret prefix to scan for, and what it is: every declared provider's secret
    keys (both modes), Stripe's live keys, and webhook secrets."""
    from rehearsal import providers

    found: dict[str, str] = {}
    for name in providers.names():
        key = providers.declaration_of(name).secret_key
        for mode, prefix in key.all_prefixes():
            found[prefix] = f"secret key ({mode})"
    found.update(EXTRA_PREFIXES)
    found[WEBHOOK_SECRET_PREFIX] = "webhook secret"
    return found


def _pattern(kinds: dict[str, str]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(p) for p in sorted(kinds, key=len, reverse=True))
    return re.compile(rf"(?<![A-Za-z0-9_])({alternatives})({BODY})")


def mask(prefix: str, rest: str) -> str:
    return f"{prefix}…{rest[-4:]}"


def scan_text(text: str, kinds: dict[str, str]) -> list[tuple[int, str, str]]:
    """(line number, kind, masked value) for each secret in `text`."""
    pattern = _pattern(kinds)
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for m in pattern.finditer(line):
            found.append((number, kinds[m.group(1)], mask(m.group(1), m.group(2))))
    return found


def _git(repo: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, errors="replace"
        )
    except OSError:
        return None
    return done.stdout if done.returncode == 0 else None


def _tree_files(repo: Path) -> list[Path]:
    listed = _git(repo, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    if listed is not None:
        return [repo / name for name in listed.split("\0") if name]
    skip = {".git", ".venv", "node_modules", "__pycache__"}
    return [p for p in repo.rglob("*") if p.is_file() and not skip & set(p.parts)]


def scan_tree(repo: Path, kinds: dict[str, str]) -> list[Finding]:
    findings = []
    for path in _tree_files(repo):
        try:
            if path.stat().st_size > MAX_FILE:
                continue
            data = path.read_bytes()
        except OSError:
            continue
        if b"\0" in data[:8192]:
            continue  # binary
        text = data.decode("utf-8", "replace")
        for line, kind, masked in scan_text(text, kinds):
            findings.append(Finding(str(path.relative_to(repo)), line, None, kind, masked))
    return findings


HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@")


def scan_history(repo: Path, kinds: dict[str, str]) -> list[Finding]:
    """Each secret added by any commit on any ref, at the line it was added, once per file
    and value (the first commit, oldest first, that added it)."""
    log = _git(
        repo, "log", "--all", "--reverse", "-p", "--no-color", "--no-ext-diff",
        "--unified=0", "--format=commit %H",
    )  # fmt: skip
    if log is None:
        return []
    findings: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    commit, file, line = "", "", 0
    pattern = _pattern(kinds)
    for text in log.splitlines():
        if text.startswith("commit ") and len(text) == 47:
            commit = text[7:19]
        elif text.startswith("+++ "):
            file = text[6:] if text.startswith("+++ b/") else ""
        elif m := HUNK.match(text):
            line = int(m.group(1))
        elif text.startswith("+") and file:
            for found in pattern.finditer(text[1:]):
                masked = mask(found.group(1), found.group(2))
                if (file, found.group(0)) not in seen:
                    seen.add((file, found.group(0)))
                    findings.append(Finding(file, line, commit, kinds[found.group(1)], masked))
            line += 1
    return findings


def scan(repo: Path) -> tuple[list[Finding], bool]:
    """Findings in the working tree and in the history; whether `repo` is a git repository."""
    if not repo.is_dir():
        raise UsageError(f"--repo: not a folder: {repo}")
    kinds = prefixes()
    is_git = _git(repo, "rev-parse", "--git-dir") is not None
    history = scan_history(repo, kinds) if is_git else []
    return scan_tree(repo, kinds) + history, is_git
