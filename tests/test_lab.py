"""`kansoku lab` without OpenStack running: its errors, its PID bookkeeping and `down`.

The lab's real run is in test_real_openstack.py; these cover what a user meets when the lab
cannot start or is not there, and that `down` stops exactly the recorded processes.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kansoku.cli import build_app
from kansoku.errors import KansokuError
from kansoku.lab import nova_setup as lab_nova
from kansoku.lab import services as lab_services
from kansoku.lab.cli import lab_down, lab_status, lab_up
from kansoku.lab.services import LabPaths, LabState, ServiceRecord, write_state


def _state(root: Path, services: list[ServiceRecord]) -> LabState:
    return LabState(
        root=str(root),
        keystone_url="http://127.0.0.1:1",
        placement_url="http://127.0.0.1:2",
        nova_url="http://127.0.0.1:3",
        transport_url="rabbit://guest:guest@127.0.0.1:4/",
        rpc_topic="kansoku-lab",
        services=services,
    )


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", "60"], start_new_session=True)


def test_missing_openstack_packages_name_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: object) -> object:
        return None if name == "placement" else real(name)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(KansokuError, match=r"openstack-placement.*pip install 'kansoku\[lab\]'"):
        lab_up(tmp_path / "lab")
    assert not (tmp_path / "lab" / "lab.json").exists()


def test_status_and_down_without_a_lab_say_how_to_start_one(tmp_path: Path) -> None:
    for call in (lab_status, lab_down):
        with pytest.raises(KansokuError, match=r"no lab in .*kansoku lab up --dir"):
            call(tmp_path)


def test_cli_error_is_one_line_without_traceback(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kansoku", "lab", "status", "--dir", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "no lab in" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_corrupt_state_file_is_a_clear_error(tmp_path: Path) -> None:
    LabPaths(tmp_path).state.write_text('{"root": 1}')
    with pytest.raises(KansokuError, match=r"lab\.json: not a lab state file"):
        lab_status(tmp_path)


def test_down_stops_exactly_the_recorded_pids(tmp_path: Path) -> None:
    recorded, bystander = _sleeper(), _sleeper()
    # like epmd: a daemon that leads no process group of its own PID
    helper = subprocess.Popen(["sleep", "60"])
    try:
        write_state(
            LabPaths(tmp_path),
            _state(
                tmp_path,
                [
                    ServiceRecord(name="keystone", pid=recorded.pid, extra_pids=[helper.pid]),
                    ServiceRecord(name="rpc-client", pid=0),
                ],
            ),
        )
        assert lab_status(tmp_path) == [("keystone", recorded.pid, True, "")]
        result = CliRunner().invoke(build_app(), ["lab", "down", "--dir", str(tmp_path)])
        assert result.exit_code == 0, result.output
        assert "stopped: keystone" in result.output
        assert recorded.wait(timeout=10) is not None
        assert helper.wait(timeout=10) is not None
        assert bystander.poll() is None  # not ours: untouched
        assert lab_status(tmp_path) == [("keystone", recorded.pid, False, "")]
        # a second down is harmless and says so
        again = CliRunner().invoke(build_app(), ["lab", "down", "--dir", str(tmp_path)])
        assert "nothing was running" in again.output
    finally:
        for proc in (recorded, helper, bystander):
            if proc.poll() is None:
                os.kill(proc.pid, 9)
                proc.wait()


def test_up_refuses_a_directory_whose_lab_still_runs(tmp_path: Path) -> None:
    alive = _sleeper()
    try:
        write_state(LabPaths(tmp_path), _state(tmp_path, [ServiceRecord(name="placement", pid=alive.pid)]))
        with pytest.raises(KansokuError, match=r"already running .*\(placement\).*kansoku lab down"):
            lab_up(tmp_path)
    finally:
        os.killpg(alive.pid, 9)
        alive.wait()


def test_setup_command_failure_shows_its_output(tmp_path: Path) -> None:
    with pytest.raises(KansokuError, match=r"demo step failed \(exit 3\).*\n.*boom"):
        lab_services._run(
            [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"], {}, "demo step", tmp_path
        )
    with pytest.raises(KansokuError, match=r"not installed: pip install 'kansoku\[lab\]'"):
        lab_services._run([str(tmp_path / "no-such-manage")], {}, "keystone db_sync", tmp_path)


def test_config_files_use_text_and_json_logging(tmp_path: Path) -> None:
    paths = LabPaths(tmp_path)
    text = lab_nova.nova_conf_text(
        paths, "http://127.0.0.1:5000", "http://127.0.0.1:8778", "rabbit://x/", "http://127.0.0.1:9292"
    )
    assert "use_json = False" in text
    assert "endpoint_override = http://127.0.0.1:9292" in text  # nova reads images from the lab's glance
    assert f"connection = sqlite:///{paths.service('nova') / 'nova.db'}?timeout=30" in text
    assert "count_usage_from_placement = True" in text
    assert "endpoint_override = http://127.0.0.1:8778" in text
    assert f"log_file = {paths.log('nova-api')}" in text


def _lab_whose_process_stopped(root: Path, name: str) -> None:
    """A lab.json in `root` recording `name` under the PID of a process that has exited."""
    gone = _sleeper()
    os.killpg(gone.pid, 9)
    gone.wait()
    write_state(LabPaths(root), _state(root, [ServiceRecord(name=name, pid=gone.pid)]))


def test_traffic_against_a_stopped_lab_says_which_part_stopped(tmp_path: Path) -> None:
    from kansoku.lab.traffic import run_traffic

    _lab_whose_process_stopped(tmp_path, "nova-api")
    with pytest.raises(KansokuError, match=r"not running \(nova-api stopped\).*kansoku lab up"):
        run_traffic(tmp_path)


def test_two_step_against_a_stopped_lab_says_which_part_stopped(tmp_path: Path) -> None:
    from kansoku.lab.two_step import run_two_step

    _lab_whose_process_stopped(tmp_path, "nova-compute")
    with pytest.raises(KansokuError, match=r"not running \(nova-compute stopped\)"):
        run_two_step(tmp_path)


def test_compute_driver_is_the_fake_driver_unless_asked(tmp_path: Path) -> None:
    paths = LabPaths(tmp_path)
    assert "compute_driver = fake.FakeDriver" in lab_nova.nova_service_conf_text(paths, "nova-compute")
    text = lab_nova.nova_service_conf_text(paths, "nova-compute", "fake.FakeBuildAbortDriver")
    assert "compute_driver = fake.FakeBuildAbortDriver" in text
    assert "compute_driver =" not in lab_nova.nova_service_conf_text(
        paths, "nova-api", "fake.FakeBuildAbortDriver"
    )
