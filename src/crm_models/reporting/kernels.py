"""Kernels for the notebook build, with every temporary file in one folder per kernel.

Each kernel talks over Unix sockets in its own folder under ``<tmp>/crm-models-<uid>/``, and its
connection file lives there too, so nothing is scattered in ``/tmp`` or the Jupyter runtime
folder.  The folder is removed when the kernel is done; a folder left by a killed build is
removed by the next build (its name starts with the dead build's process id).

A kernel can be started ahead of its notebook (:func:`start_kernel`): while one report runs,
the next report's kernel starts and imports what its notebook imports, so the notebook's first
cells do not wait for Python to load pandas, scikit-learn and the package (about 4-6 s a
report).  Only imports run ahead: the notebook itself starts from an empty namespace.
"""

from __future__ import annotations

import ast
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crm_models.progress import PROGRESS_LOG_ENV


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
    ports, no warning about unencrypted TCP).  It remembers the clients it made, so whoever
    shuts the kernel down (:func:`stop_kernel`) also closes their channels."""
    from jupyter_client.manager import AsyncKernelManager

    class FolderKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(transport="ipc", **kwargs)
            self.ip = str(kernel_dir / "kernel")
            self.connection_file = str(kernel_dir / "connection.json")
            self.clients: list[Any] = []

        def client(self, **kwargs: Any) -> Any:
            made = super().client(**kwargs)
            self.clients.append(made)
            return made

    return FolderKernelManager


@dataclass
class Kernel:
    """A kernel started for a notebook not yet run (:func:`start_kernel`)."""

    folder: Path  # its sockets, connection file and progress log
    manager: Any  # the jupyter_client AsyncKernelManager that started it

    @property
    def progress(self) -> Path:
        """The file the notebook's progress lines go to (:func:`crm_models.progress.tell_build`)."""
        return self.folder / "progress.log"


def warm_up_code(sources: list[str]) -> str:
    """The top-level import statements of notebook cells ``sources`` (one code text each), as
    one statement that runs them in a throwaway namespace and ignores any failure (the notebook
    then meets the same error in its own cell)."""
    imports = []
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        imports += [ast.unparse(n) for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    if not imports:
        return ""
    code = "\n".join(dict.fromkeys(imports))
    return f"try:\n    exec({code!r}, {{}})\nexcept Exception:\n    pass"


def start_kernel(
    kernel_name: str, cwd: Path, env: Mapping[str, str] | None = None, warm_up: str = ""
) -> Kernel:
    """Start a kernel in its own folder with the current environment plus ``env`` (and its
    progress log), in folder ``cwd``; it runs ``warm_up`` (:func:`warm_up_code`) while starting.
    Returns at once: the kernel loads in the background until a notebook connects."""
    from jupyter_core.utils import run_sync

    folder = new_kernel_dir()
    args = ["--HistoryManager.hist_file=:memory:"]  # as nbclient starts kernels: no history file
    if warm_up:
        args.append(f"--IPKernelApp.exec_lines={warm_up}")
    try:
        kernel = Kernel(folder, kernel_manager_class(folder)(kernel_name=kernel_name))
        run_sync(kernel.manager.start_kernel)(
            extra_arguments=args,
            cwd=str(cwd),
            env={**os.environ, **(env or {}), PROGRESS_LOG_ENV: str(kernel.progress)},
        )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return kernel


def stop_kernel(kernel: Kernel) -> None:
    """Shut the kernel down at once, close its clients' channels and remove its folder."""
    from jupyter_core.utils import run_sync

    manager = kernel.manager
    try:
        if run_sync(manager.is_alive)():
            run_sync(manager.shutdown_kernel)(now=True)
    finally:
        run_sync(manager.cleanup_resources)()
        for made in manager.clients:
            made.stop_channels()
        manager.clients.clear()
        shutil.rmtree(kernel.folder, ignore_errors=True)


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
