"""Kernels for the notebook build, with every temporary file in one folder per kernel.

Each kernel talks over Unix sockets in its own folder under ``<tmp>/crm-models-<uid>/``, and its
connection file lives there too, so nothing is scattered in ``/tmp`` or the Jupyter runtime
folder.  The folder is removed when the kernel is done; a folder left by a killed build is
removed by the next build (its name starts with the dead build's process id).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def runtime_root() -> Path:
    """``<tmp>/crm-models-<uid>``: this user's kernel folders (private, mode 0700)."""
    root = Path(tempfile.gettempdir()) / f"crm-models-{os.getuid()}"
    root.mkdir(mode=0o700, exist_ok=True)
    return root


def new_kernel_dir() -> Path:
    """A fresh folder for one kernel's sockets and connection file."""
    return Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=runtime_root()))


def pid_alive(pid: int) -> bool:
    """True while process ``pid`` exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_kernel_dirs() -> list[str]:
    """Remove kernel folders whose build process is gone; return their names."""
    removed = []
    for path in runtime_root().iterdir():
        pid = path.name.split("-", 1)[0]
        if path.is_dir() and pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return removed


def kernel_manager_class(kernel_dir: Path) -> type:
    """A kernel manager using Unix sockets and a connection file inside ``kernel_dir`` (no TCP
    ports, no warning about unencrypted TCP); nbclient creates, owns and shuts it down."""
    from jupyter_client.manager import AsyncKernelManager

    class FolderKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(transport="ipc", **kwargs)
            self.ip = str(kernel_dir / "kernel")
            self.connection_file = str(kernel_dir / "connection.json")

    return FolderKernelManager


class _Follower(threading.Thread):
    """Hands each complete line a kernel appends to its progress file to ``say``."""

    def __init__(self, path: Path, say: Callable[[str], None], every: float) -> None:
        super().__init__(daemon=True)
        self.path, self.say, self.every = path, say, every
        self.offset = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.every):
            self.read()
        self.read()

    def read(self) -> None:
        try:
            with self.path.open("rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return
        complete = data[: data.rfind(b"\n") + 1]
        self.offset += len(complete)
        for line in complete.decode("utf-8", "replace").splitlines():
            self.say(line)


@contextmanager
def follow_progress(path: Path, say: Callable[[str], None], every: float = 0.5) -> Iterator[None]:
    """While the block runs (a kernel executing a notebook), pass the lines the kernel writes
    to ``path`` (:func:`crm_models.progress.tell_build`) on to ``say``, the last ones included."""
    follower = _Follower(path, say, every)
    follower.start()
    try:
        yield
    finally:
        follower.stopped.set()
        follower.join()
