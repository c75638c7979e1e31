"""The kernel factory: report kernels forked from one warm process, each its own process."""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import nbformat
import papermill
import pytest

from changing_tracks import kernel_factory as kf

pytestmark = pytest.mark.skipif(not kf.available(), reason="kernels are forked on Linux only")

# "wave" is a standard module nothing else imports: seen in a kernel, the factory preloaded it
PRELOAD = ("ipykernel.kernelapp", "wave")


def notebook(tmp_path, *sources):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    return path


def run(path, manager, **kwargs):
    out = path.with_name("out.ipynb")
    return papermill.execute_notebook(str(path), str(out), kernel_name="python3",
                                      progress_bar=False, kernel_manager_class=manager,
                                      **kwargs)


def stdout_of(nb, cell):
    return "".join(o.get("text", "") for o in nb.cells[cell].outputs if o.output_type == "stream"
                   and o.name == "stdout")


def gone(pid, within=10.0):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def factory():
    f = kf.KernelFactory(preload=PRELOAD)
    address = f.start()
    yield f, address
    f.stop()


def test_each_kernel_is_a_new_warm_process_with_the_callers_folder_and_environment(
        factory, tmp_path, monkeypatch):
    f, address = factory
    monkeypatch.setenv("CT_FACTORY_TEST", "from the manager")
    path = notebook(
        tmp_path,
        "import json, os, sys\n"
        "print(json.dumps({'pid': os.getpid(), 'ppid': os.getppid(), 'cwd': os.getcwd(),\n"
        "  'env': os.environ.get('CT_FACTORY_TEST'), 'warm': 'wave' in sys.modules,\n"
        "  'pgid': os.getpgid(0), 'defined': 'leftover' in globals()}))\n"
        "leftover = 1",
        "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3]);")
    manager = kf.factory_kernel_manager(address)
    seen = []
    for _ in range(2):
        nb = run(path, manager, cwd=str(tmp_path))
        seen.append(json.loads(stdout_of(nb, 0)))
        # figures are shown inline, as in a kernel started the usual way
        assert any("image/png" in o.get("data", {}) for o in nb.cells[1].outputs)
    first, second = seen
    assert first["pid"] != second["pid"]
    for kernel in seen:
        assert kernel["ppid"] == f._process.pid  # forked by the factory
        assert kernel["pid"] != os.getpid() and kernel["pgid"] == kernel["pid"]
        assert kernel["cwd"] == str(tmp_path)
        assert kernel["env"] == "from the manager"
        assert kernel["warm"] is True
        assert kernel["defined"] is False  # nothing carried over from the last report
        assert gone(kernel["pid"])  # shut down with its notebook


def test_kernel_writes_to_the_managers_standard_error(factory, tmp_path, capfd):
    _, address = factory
    path = notebook(tmp_path, "import os\nos.write(2, b'kernel says hello\\n')")
    run(path, kf.factory_kernel_manager(address))
    assert "kernel says hello" in capfd.readouterr().err


def test_errors_and_timeouts_behave_as_usual(factory, tmp_path):
    _, address = factory
    manager = kf.factory_kernel_manager(address)
    path = notebook(tmp_path, "1 / 0")
    with pytest.raises(papermill.PapermillExecutionError, match="ZeroDivisionError"):
        run(path, manager)
    path = notebook(tmp_path, "import os\nprint(os.getpid())", "import time\ntime.sleep(60)")
    started = time.monotonic()
    with pytest.raises(Exception, match="timed out"):
        run(path, manager, execution_timeout=2)
    assert time.monotonic() - started < 30
    pid = int(stdout_of(nbformat.read(path.with_name("out.ipynb"), as_version=4), 0))
    assert gone(pid)


def test_without_a_factory_kernels_start_the_usual_way(tmp_path):
    path = notebook(tmp_path, "import os\nprint(os.getppid())")
    nb = run(path, kf.factory_kernel_manager(str(tmp_path / "no-factory.sock")))
    assert int(stdout_of(nb, 0)) == os.getpid()  # our own child, launched by jupyter_client


def test_only_this_pythons_ipykernel_is_forked():
    assert kf._kernel_args([sys.executable, "-m", "ipykernel_launcher", "-f", "c.json"]) == \
        ["-f", "c.json"]
    assert kf._kernel_args([sys.executable, "-m", "other_kernel", "-f", "c.json"]) is None
    assert kf._kernel_args(["/usr/bin/false", "-m", "ipykernel_launcher", "-f", "c"]) is None
    assert kf._kernel_args(["R", "--slave"]) is None


def test_stopping_the_factory_stops_its_kernels(tmp_path):
    from jupyter_client.connect import write_connection_file

    f = kf.KernelFactory(preload=PRELOAD)
    address = f.start()
    connection, _ = write_connection_file(str(tmp_path / "kernel.json"))
    pid = kf.ask_factory(address, ["-f", connection], dict(os.environ), str(tmp_path))
    assert not gone(pid, within=1.0)
    f.stop()
    assert gone(pid)
    assert not os.path.exists(address)


def test_factory_stops_when_its_input_closes(tmp_path):
    f = kf.KernelFactory(preload=PRELOAD)
    f.start()
    process = f._process
    time.sleep(0.5)
    process.stdin.close()
    assert process.wait(timeout=30) == 0
    f.stop()


def test_a_kernel_outlives_nothing_when_the_factory_is_killed(tmp_path):
    from jupyter_client import BlockingKernelClient
    from jupyter_client.connect import write_connection_file

    f = kf.KernelFactory(preload=PRELOAD)
    address = f.start()
    connection, _ = write_connection_file(str(tmp_path / "kernel.json"))
    pid = kf.ask_factory(address, ["-f", connection], dict(os.environ), str(tmp_path))
    client = BlockingKernelClient(connection_file=connection)
    client.load_connection_file()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)  # up and watching its parent
    finally:
        client.stop_channels()
    os.kill(f._process.pid, signal.SIGKILL)
    f.stop()
    assert gone(pid, within=15.0)  # its parent poller notices the factory is gone


def test_the_client_is_ready_without_waiting_for_iopub_silence(factory):
    """Factory kernels are talked to by FactoryKernelClient, whose wait_for_ready returns
    once the kernel has answered and IOPub is connected (no 0.2 s wait for silence), and
    the kernel then runs code with its output arriving on IOPub."""
    import asyncio

    _, address = factory
    manager = kf.factory_kernel_manager(address)()

    async def start_and_run():
        await manager.start_kernel()
        client = manager.client()
        client.start_channels()
        try:
            started = time.monotonic()
            await client.wait_for_ready(timeout=60)
            ready = time.monotonic() - started
            reply = await client.execute_interactive("print('hello from the kernel')",
                                                     output_hook=outputs.append, timeout=60)
            return ready, reply
        finally:
            client.stop_channels()
            await manager.shutdown_kernel(now=True)

    outputs = []
    ready, reply = asyncio.run(start_and_run())
    assert type(manager.client()).__name__ == "FactoryKernelClient"
    assert reply["content"]["status"] == "ok"
    assert any(m["msg_type"] == "stream" and "hello from the kernel" in m["content"]["text"]
               for m in outputs)
    assert ready < 30


def test_a_graceful_shutdown_checks_often_whether_the_kernel_has_gone(factory, monkeypatch):
    """Every report waits for its kernel to exit: the manager looks every 10 ms (not
    jupyter_client's 100 ms), and the kernel is gone once shutdown_kernel returns."""
    import asyncio

    from jupyter_client import AsyncKernelManager

    seen = []
    base = AsyncKernelManager._async_finish_shutdown

    async def finish(self, waittime=None, pollinterval=0.1, restart=False):
        seen.append(pollinterval)
        await base(self, waittime, pollinterval, restart)

    monkeypatch.setattr(AsyncKernelManager, "_async_finish_shutdown", finish)
    _, address = factory
    manager = kf.factory_kernel_manager(address)()

    async def start_and_stop():
        await manager.start_kernel()
        pid = manager.provisioner.pid
        await manager.shutdown_kernel()  # graceful: asks the kernel to exit, then waits
        return pid

    pid = asyncio.run(start_and_stop())
    assert seen == [0.01]
    assert gone(pid, within=1)


def _dying_copies(monkeypatch):
    """Make every kernel the factory forks die at once, as one that crashed would; the pids
    asked for."""
    asked = []
    ask = kf.ask_factory

    def ask_then_kill(*args, **kwargs):
        pid = ask(*args, **kwargs)
        os.kill(pid, signal.SIGKILL)
        asked.append(pid)
        return pid

    monkeypatch.setattr(kf, "ask_factory", ask_then_kill)
    return asked


def test_a_copy_that_dies_before_it_is_ready_is_a_kernel_start_error(factory, tmp_path,
                                                                       monkeypatch):
    _, address = factory
    asked = _dying_copies(monkeypatch)
    path = notebook(tmp_path, "print('never runs')")
    with pytest.raises(kf.KernelStartError, match="died before replying"):
        run(path, kf.factory_kernel_manager(address))
    assert len(asked) == 1


def test_the_build_runs_a_report_again_in_a_usual_kernel_if_its_copy_dies(factory, tmp_path,
                                                                           monkeypatch):
    from changing_tracks import build

    _, address = factory
    asked = _dying_copies(monkeypatch)
    path = notebook(tmp_path, "import os\nprint(os.getppid())")
    spec = {"notebook": str(path), "parameters": {}, "html": str(tmp_path / "r.html"),
            "ipynb": str(tmp_path / "r.ipynb"), "title": "R", "cwd": str(tmp_path),
            "timeout": 60, "index_href": "index.html", "kernel_factory": address}
    outcome = build._run_job(spec)
    assert outcome["status"] == "ok", outcome["error"]
    assert len(asked) == 1  # the factory's copy was asked for once, and died
    assert outcome["kernel_restart"].startswith("Kernel died before replying")  # in build.json
    executed = nbformat.read(tmp_path / "r.ipynb", as_version=4)
    assert int(stdout_of(executed, 0)) == os.getpid()  # then a kernel started the usual way
