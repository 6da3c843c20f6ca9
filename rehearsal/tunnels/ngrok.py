"""`--tunnel ngrok`: the ngrok agent, driven by pyngrok, on our terms.

pyngrok's defaults are unsafe for us (see docs/tunnels.md): it downloads a binary when the
path is missing, writes the user's own ~/.config/ngrok/ngrok.yml, puts the auth token on
the agent's command line (visible in `ps`), and its start timeout is only checked between
log lines, so a silent agent blocks `connect()` (and `kill()`) forever. So: an explicit
binary (never the pyngrok wrapper), a private temporary config (0600, in a 0700 folder)
that carries the token, no token on argv, our own start deadline, and a hung agent ended
by its pid. The token never reaches a message: it is scrubbed from any error text.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
import threading
from typing import Any

from rehearsal.errors import UsageError
from rehearsal.tunnels.base import TunnelError
from rehearsal.tunnels.binaries import find_binary

INSTALL = "install the ngrok agent (https://ngrok.com/download)"
ALREADY_ONLINE = ("ERR_NGROK_334", "already online")


class NgrokTunnel:
    mode = "ngrok"

    def __init__(self, public_url: str, inspect_url: str | None, config: Any, workdir: str):
        self.public_url = public_url.rstrip("/")
        self.inspect_url = inspect_url
        self._config = config
        self.workdir = workdir  # private: the config with the token
        self.pid = _pid(config)

    def alive(self) -> bool:
        from pyngrok import process

        return process.is_process_running(self._config.ngrok_path)

    def close(self) -> None:
        from pyngrok import ngrok

        with contextlib.suppress(Exception):
            if self.alive():
                ngrok.disconnect(self.public_url, self._config)
        try:
            ngrok.kill(self._config)  # kills and reaps the agent (or finds it already gone)
        except Exception:
            # Only when pyngrok could not: by then our pid is still the agent's (unreaped),
            # never a recycled one belonging to another process.
            _kill(self.pid)
        shutil.rmtree(self.workdir, ignore_errors=True)


def open_ngrok(upstream: str, *, domain: str | None, deadline: float) -> NgrokTunnel:
    import logging

    from pyngrok import conf, ngrok
    from pyngrok.exception import PyngrokError

    # pyngrok logs every agent line; unhandled, Python would print its errors raw on
    # stderr. Our TunnelError says what went wrong and what to do.
    quiet = logging.getLogger("pyngrok")
    if not quiet.handlers:
        quiet.addHandler(logging.NullHandler())

    binary = find_binary(
        "ngrok", "REHEARSAL_NGROK_BIN", also=("PYNGROK_NGROK_PATH",), install=INSTALL
    )
    token = os.environ.get("NGROK_AUTHTOKEN")
    if not token:
        raise UsageError(
            "--tunnel ngrok needs NGROK_AUTHTOKEN",
            hint="export your ngrok auth token (dashboard.ngrok.com, 'Your Authtoken'); "
            "it is read from the environment only",
        )
    workdir = tempfile.mkdtemp(prefix="rehearsal-ngrok-")  # mode 0700
    config_path = os.path.join(workdir, "ngrok.yml")
    fd = os.open(config_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:  # JSON strings are YAML scalars: no quoting surprises
        f.write(f'version: "3"\nagent:\n  authtoken: {json.dumps(token)}\n')
    config = conf.PyngrokConfig(
        ngrok_path=binary,
        config_path=config_path,
        startup_timeout=max(1, int(deadline)),
        request_timeout=min(4.0, deadline),
        config_version="3",
    )
    config.auth_token = None  # else pyngrok passes `--authtoken <token>` on argv
    config.api_key = None
    options: dict[str, Any] = {}
    if domain:
        options["url"] = domain if "://" in domain else f"https://{domain}"

    box: dict[str, Any] = {}

    def connect() -> None:
        try:
            box["tunnel"] = ngrok.connect(upstream, pyngrok_config=config, **options)
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=connect, name="ngrok-start", daemon=True)
    thread.start()
    try:
        thread.join(deadline)
    except BaseException:  # Ctrl-C during the start: the agent must not survive us
        _abandon(config, workdir)
        raise
    if thread.is_alive():
        pid = _pid(config)
        _abandon(config, workdir)
        thread.join(5)
        raise TunnelError(
            f"the ngrok agent did not come up within {deadline:g}s; it was ended"
            + (f" (pid {pid})" if pid else ""),
            hint="check that this machine reaches ngrok (connect.ngrok-agent.com:443) and "
            "that the agent starts by hand: `ngrok http 8000`",
        )
    error = box.get("error")
    if error is not None:
        _abandon(config, workdir)
        if isinstance(error, PyngrokError | OSError):
            raise _explain(error, token, domain) from None
        raise error
    tunnel = box["tunnel"]
    process = _process(config)
    return NgrokTunnel(
        str(tunnel.public_url), process.api_url if process else None, config, workdir
    )


def _explain(error: Exception, token: str, domain: str | None) -> Exception:
    parts = [str(error), str(getattr(error, "ngrok_error", "") or "")]
    parts.append(str(getattr(error, "body", "") or ""))
    text = " ".join(parts).replace(token, "***")
    if any(marker in text for marker in ALREADY_ONLINE):
        where = f"https://{domain}" if domain and "://" not in domain else (domain or "")
        return TunnelError(
            f"ngrok refused: the endpoint {where or 'of this account'} is already online "
            "(ERR_NGROK_334): another ngrok agent holds it",
            hint="stop the other agent first (another run, or one left by a killed run: "
            "`pgrep -a ngrok`); a free account has one domain, so concurrent runs need "
            "separate accounts",
        )
    if "ERR_NGROK_4018" in text or "authentication failed" in text:
        return TunnelError(
            "ngrok refused the auth token (ERR_NGROK_4018)",
            hint="check NGROK_AUTHTOKEN (dashboard.ngrok.com, 'Your Authtoken')",
        )
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return TunnelError(f"ngrok did not start: {first}")


def _process(config: Any) -> Any:
    from pyngrok import process

    return process._current_processes.get(config.ngrok_path)  # pyngrok>=9,<10


def _pid(config: Any) -> int | None:
    proc = _process(config)
    return int(proc.proc.pid) if proc is not None else None


def _kill(pid: int | None) -> None:
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


def _abandon(config: Any, workdir: str) -> None:
    """End the agent by its pid: pyngrok's kill() would wait on the lock a hung start holds."""
    proc = _process(config)
    if proc is not None:
        _kill(proc.proc.pid)
        with contextlib.suppress(Exception):
            proc.proc.wait(timeout=5)
    shutil.rmtree(workdir, ignore_errors=True)
