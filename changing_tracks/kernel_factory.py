"""Report kernels started as copies of one warm process, not as a new Python each.

A new Jupyter kernel spends about 2 s starting Python and ipykernel, and 2 s more importing
pandas, scipy, matplotlib and this package, before a report's first line runs: on the sample
that is half of each report's time. The build therefore starts one *kernel factory*: a
Python process that imports all that once and then waits on a private Unix socket. For each
report, :class:`FactoryKernelManager` asks it for a kernel; the factory forks, and the copy
becomes an ordinary ipykernel on the report's connection file, in the report's working
folder, with the report's environment and the manager's standard output and error.

Every report still runs in a process of its own, started from the same clean state (the
factory runs no notebook code), so nothing one report does is seen by another, and a kernel
that crashes takes only its report with it. Anything the factory cannot do -- it is not
running, the platform has no ``fork``, the kernel is not this Python's ipykernel -- falls back
to starting the kernel the usual way. A copy that dies or does not answer before it is ready
raises :class:`KernelStartError`, so that the caller can run its notebook again in a kernel
started the usual way (the build does, and says so in ``build.json``); a copy that crashes
writes how to its standard error.

Run as ``python -m changing_tracks.kernel_factory SOCKET [MODULE ...]``. It stops, and stops
the kernels it started, when it receives SIGTERM, its standard input closes or its parent
exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import gc
import importlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from typing import Any

__all__ = ["PRELOAD", "REPORT_IMPORTS", "KernelFactory", "KernelStartError",
           "factory_kernel_manager", "ask_factory", "available"]

#: What the report notebooks import, directly or on first use by their analyses.
REPORT_IMPORTS: tuple[str, ...] = (
    "numpy", "pandas", "pyarrow", "scipy.stats", "matplotlib",
    # the statsmodels parts the library uses (statsmodels.api imports much more)
    "statsmodels.stats.meta_analysis", "statsmodels.regression.mixed_linear_model",
    "matplotlib.pyplot",
    "changing_tracks", "changing_tracks.reports", "changing_tracks.reports.service",
    "changing_tracks.reports.programme", "changing_tracks.reports.snapshot",
)

#: Modules the factory imports before forking: the kernel itself, and what the report
#: notebooks import. A module that fails to import is skipped (the kernel then imports it,
#: or reports the error, as a fresh kernel would).
PRELOAD: tuple[str, ...] = (
    "ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell", "ipykernel.debugger",
    "IPython", *REPORT_IMPORTS,
)

_LAUNCHER = "ipykernel_launcher"

_CONNECT_TIMEOUT = 120.0  # seconds: the factory may still be importing when the first ask comes
_MAX_REQUEST = 1 << 20


class KernelStartError(RuntimeError):
    """A kernel forked by the factory died, or did not answer in time, before it was ready:
    no notebook code ran."""


def available() -> bool:
    """Whether kernels can be forked here (Linux: fork is cheap and safe before threads)."""
    return sys.platform.startswith("linux") and hasattr(os, "fork") and \
        hasattr(socket, "send_fds")


# ---------------------------------------------------------------------------
# The factory process
# ---------------------------------------------------------------------------

def _preload(modules: Sequence[str]) -> None:
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 -- the kernel imports it (or fails) as usual
            pass


def _reap(*_: Any) -> None:
    """Collect exited kernels at once, so that their managers see them gone."""
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _read_request(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    """One request: a JSON line, with the kernel's standard output and error as fds."""
    data, fds, _flags, _addr = socket.recv_fds(conn, _MAX_REQUEST, 2)
    while not data.endswith(b"\n"):
        more = conn.recv(_MAX_REQUEST)
        if not more:
            raise ConnectionError("request cut short")
        data += more
    return json.loads(data), fds


def _become_kernel(request: dict[str, Any], fds: list[int], factory: int) -> None:
    """In the forked copy: turn into the kernel the request describes; never returns."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.setsid()  # its own process group, as jupyter_client gives a kernel it starts
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        for target, fd in zip((1, 2), fds):
            os.dup2(fd, target)
        for fd in fds:
            os.close(fd)
        # a copy that crashes in C (as a fork can, if a library's thread held a lock)
        # says where, in the standard error the manager reads; ipykernel enables its own
        faulthandler.enable()
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ["JPY_PARENT_PID"] = str(factory)  # exit if the factory goes
        args = list(request["args"])
        sys.argv = [_LAUNCHER, *args]
        # the factory's objects stay frozen: the kernel's garbage collections skip them,
        # and leave their memory shared with the factory

        from ipykernel.kernelapp import IPKernelApp

        app = IPKernelApp.instance()
        app.parent_handle = factory  # read from JPY_PARENT_PID when first imported
        app.initialize(args)
        if "matplotlib_inline.backend_inline" in sys.modules:
            # the backend was loaded before the shell existed: hook it up as loading it
            # inside the kernel would have (figures shown at the end of each cell)
            from matplotlib_inline import backend_inline

            backend_inline._enable_matplotlib_integration()
        app.start()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 -- the manager reads this in the kernel's stderr
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _exit_on_signal(signum: int, _frame: Any) -> None:
    raise SystemExit(0)


def _stop_kernels(kernels: set[int]) -> None:
    for pid in kernels:
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGTERM)


def serve(address: str, preload: Sequence[str] = PRELOAD, listener_fd: int | None = None) -> None:
    """Listen on ``address`` (a Unix socket path) and fork a kernel per request.

    The socket is bound before the imports, so requests made meanwhile wait in its queue;
    ``listener_fd`` is one already bound and listening there (passed by the starter).
    """
    parent = os.getppid()
    signal.signal(signal.SIGTERM, _exit_on_signal)  # stop the kernels on the way out
    if listener_fd is not None:
        listener = socket.socket(fileno=listener_fd)
    else:
        listener = _listen(address)
    _preload(preload)
    # what the launcher does: the factory's own folder is not on a kernel's path
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]
    gc.collect()
    gc.freeze()  # the copies share these objects' memory instead of touching it
    kernels: set[int] = set()
    signal.signal(signal.SIGCHLD, _reap)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the build decides when to stop
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(sys.stdin.fileno(), selectors.EVENT_READ)
    try:
        while os.getppid() == parent:
            for key, _ in selector.select(timeout=1.0):
                if key.fileobj is not listener:
                    if not os.read(sys.stdin.fileno(), 4096):
                        return  # the build closed our input: it is done
                    continue
                conn, _ = listener.accept()
                with conn:
                    try:
                        conn.settimeout(10)
                        request, fds = _read_request(conn)
                    except (OSError, ValueError):
                        continue
                    try:
                        me = os.getpid()
                        pid = os.fork()
                        if pid == 0:
                            listener.close()
                            conn.close()
                            _become_kernel(request, fds, me)
                    finally:
                        for fd in fds:
                            os.close(fd)
                    kernels.add(pid)
                    kernels &= _alive(kernels)
                    with contextlib.suppress(OSError):
                        conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
    finally:
        _stop_kernels(_alive(kernels))
        with contextlib.suppress(OSError):
            os.unlink(address)


def _listen(address: str) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    listener.listen(64)
    return listener


def _alive(pids: set[int]) -> set[int]:
    out = set()
    for pid in pids:
        try:
            os.kill(pid, 0)
        except OSError:
            continue
        out.add(pid)
    return out


class KernelFactory:
    """Start and stop a factory process; a context manager giving its socket path.

    ``env`` is the factory's environment (the kernels' environment is sent with each
    request; this one matters for what the imports read, such as ``MPLBACKEND``).
    """

    def __init__(self, env: dict[str, str] | None = None, preload: Sequence[str] = PRELOAD):
        self.env = env
        self.preload = tuple(preload)
        self.address: str | None = None
        self._folder: str | None = None
        self._process: subprocess.Popen | None = None

    def start(self) -> str:
        self._folder = tempfile.mkdtemp(prefix="ct-kernels-")  # private: mode 0700
        self.address = os.path.join(self._folder, "factory.sock")
        # bound here and handed over: kernels can be asked for at once, and wait in the
        # socket's queue while the factory starts Python and imports
        with _listen(self.address) as listener:
            fd = listener.fileno()
            command = [sys.executable, "-m", __name__, "--fd", str(fd), self.address,
                       *self.preload]
            try:
                self._process = subprocess.Popen(command, stdin=subprocess.PIPE,
                                                 stdout=subprocess.DEVNULL, env=self.env,
                                                 start_new_session=True, pass_fds=(fd,))
            except OSError:
                self.stop()
                raise
        # only the factory holds the socket now: if it dies, asking fails at once
        return self.address

    def stop(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
                process.terminate()  # at once, even if it is still importing
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._folder is not None:
            import shutil

            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# ---------------------------------------------------------------------------
# The manager side (in the process running the notebook)
# ---------------------------------------------------------------------------

def _kernel_args(cmd: Sequence[str]) -> list[str] | None:
    """The arguments after ``-m ipykernel_launcher`` if ``cmd`` starts this Python's
    ipykernel (what the factory can become); otherwise None."""
    cmd = list(cmd)
    if len(cmd) < 3 or cmd[1:3] != ["-m", _LAUNCHER]:
        return None
    try:
        same = os.path.samefile(cmd[0], sys.executable)
    except OSError:
        same = False
    return cmd[3:] if same else None


def ask_factory(address: str, args: Sequence[str], env: dict[str, str], cwd: str,
                timeout: float = _CONNECT_TIMEOUT) -> int:
    """Ask the factory at ``address`` for a kernel; its process id.

    The kernel writes to this process's standard output and error. Raises OSError (or
    ValueError for a garbled answer) if the factory cannot be reached or refuses.
    """
    request = json.dumps({"args": list(args), "env": dict(env), "cwd": str(cwd)}).encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        conn.connect(address)
        sys.stdout.flush()
        sys.stderr.flush()
        socket.send_fds(conn, [request + b"\n"], [1, 2])
        answer = b""
        while not answer.endswith(b"\n"):
            more = conn.recv(4096)
            if not more:
                raise ConnectionError("the kernel factory closed the connection")
            answer += more
    return int(json.loads(answer)["pid"])


class _ForkedKernel:
    """What jupyter_client expects of a ``Popen`` for a kernel that is not our child."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                self.returncode = 0  # gone; the factory collected its exit status
            except PermissionError:
                pass
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout)
            time.sleep(0.02)
        return self.returncode  # type: ignore[return-value]

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def _provisioner_class():
    from jupyter_client.provisioning import LocalProvisioner

    class FactoryProvisioner(LocalProvisioner):
        """Launches through the factory when it can, the usual way otherwise."""

        factory_address: str | None = None
        forked = False  # whether the kernel is a copy of the factory

        async def launch_kernel(self, cmd: list[str], **kwargs: Any):
            self.forked = False
            args = _kernel_args(cmd)
            if args is None or not self.factory_address:
                return await super().launch_kernel(cmd, **kwargs)
            env = kwargs.get("env") or dict(os.environ)
            cwd = kwargs.get("cwd") or os.getcwd()
            try:
                # blocking, not in a thread pool: this process may be a fork of one whose
                # pool threads are gone (the build's workers are)
                pid = ask_factory(self.factory_address, args, env, str(cwd))
            except (OSError, ValueError, KeyError):
                return await super().launch_kernel(cmd, **kwargs)
            self.process = _ForkedKernel(pid)
            self.forked = True
            self.pid = pid
            self.pgid = pid  # the kernel leads its own process group (setsid)
            self.cwd = cwd
            return self.connection_info

        async def wait(self) -> int | None:
            """As LocalProvisioner's, polling every 20 ms rather than 100 ms: each report
            waits for its kernel to exit, and a forked kernel exits at once."""
            if not isinstance(self.process, _ForkedKernel):
                return await super().wait()
            while self.process.poll() is None:
                await asyncio.sleep(0.02)
            ret, self.process = self.process.returncode, None
            return ret

    return FactoryProvisioner


def _client_class():
    """jupyter_client's asynchronous client, ready as soon as the kernel has answered.

    Its ``wait_for_ready`` waits, as jupyter_client's does, for the kernel_info reply and
    then for a message on IOPub (so that IOPub is known to be connected), but then drops
    the messages already there instead of waiting for 0.2 s of silence: a third of
    starting a forked kernel. The messages dropped either way are the kernel's start-up
    notices; papermill reads only the replies to its own requests.
    """
    from queue import Empty

    from jupyter_client.asynchronous import AsyncKernelClient

    class FactoryKernelClient(AsyncKernelClient):
        async def wait_for_ready(self, timeout: float | None = None) -> None:
            deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
            while True:
                self.kernel_info()
                try:
                    msg = await self.shell_channel.get_msg(timeout=1)
                except Empty:
                    pass
                else:
                    if msg["msg_type"] == "kernel_info_reply":
                        try:  # IOPub connected: the kernel's status messages arrive
                            await self.iopub_channel.get_msg(timeout=0.2)
                        except Empty:
                            pass
                        else:
                            self._handle_kernel_info_reply(msg)
                            break
                failed = KernelStartError if self._forked() else RuntimeError
                if not await self.is_alive():
                    raise failed("Kernel died before replying to kernel_info")
                if time.monotonic() > deadline:
                    raise failed(f"Kernel didn't respond in {timeout:.0f} seconds")
            while await self.iopub_channel.msg_ready():
                await self.iopub_channel.get_msg(timeout=0)

        def _forked(self) -> bool:
            return bool(getattr(getattr(self.parent, "provisioner", None), "forked", False))

    FactoryKernelClient.__qualname__ = FactoryKernelClient.__name__ = "FactoryKernelClient"
    return FactoryKernelClient


def factory_kernel_manager(address: str):
    """An ``AsyncKernelManager`` class whose kernels come from the factory at ``address``.

    Pass it to papermill as ``kernel_manager_class``.
    """
    from jupyter_client import AsyncKernelManager
    from traitlets import default

    provisioner_class = _provisioner_class()
    client_class = _client_class()

    class FactoryKernelManager(AsyncKernelManager):
        @default("client_factory")
        def _client_factory_default(self) -> type:
            return client_class

        async def _async_finish_shutdown(self, waittime: float | None = None,
                                         pollinterval: float = 0.1, restart: bool = False):
            """As jupyter_client's, checking every 10 ms rather than 100 ms whether the
            kernel has exited: a forked kernel exits at once, and every report waits."""
            await super()._async_finish_shutdown(waittime, min(pollinterval, 0.01), restart)

        async def _async_pre_start_kernel(self, **kw: Any):
            if self.provisioner is None:
                self.kernel_id = self.kernel_id or kw.pop("kernel_id", str(uuid.uuid4()))
                self.provisioner = provisioner_class(kernel_id=self.kernel_id,
                                                     kernel_spec=self.kernel_spec, parent=self)
                self.provisioner.factory_address = address
            return await super()._async_pre_start_kernel(**kw)

    FactoryKernelManager.__qualname__ = FactoryKernelManager.__name__ = "FactoryKernelManager"
    return FactoryKernelManager


def _main(argv: list[str]) -> int:
    fd = None
    if argv[:1] == ["--fd"] and len(argv) > 1 and argv[1].isdigit():
        fd, argv = int(argv[1]), argv[2:]
    if not argv:
        print("usage: python -m changing_tracks.kernel_factory [--fd FD] SOCKET [MODULE ...]",
              file=sys.stderr)
        return 2
    serve(argv[0], tuple(argv[1:]) or PRELOAD, listener_fd=fd)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
