"""Exactly resumable training: a killed run resumes to bit-identical weights."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from lamina.checkpoint import Checkpointer, CheckpointError

import lamina

SCRIPT = Path(__file__).parent / "scripts" / "resumable_run.py"


def run(directory, out, *extra, wait=True):
    command = [sys.executable, str(SCRIPT), str(directory), str(out), *extra]
    if wait:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        return Path(out).read_text()
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_checkpoint(directory, process, minimum=2, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(list(Checkpointer(directory).checkpoints())) >= minimum:
            return
        if process.poll() is not None:
            raise AssertionError(f"run ended before checkpoints: {process.stderr.read()[-2000:]}")
        time.sleep(0.05)
    raise AssertionError("no checkpoint appeared")


def killed_run(tmp_path, *extra):
    """Train until a kill -9 at step 20 (epoch 2, 5 steps in; 15 steps per epoch, checkpoints every 3)."""
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            str(tmp_path / "run"),
            str(tmp_path / "run.txt"),
            *extra,
            "--kill-at",
            "20",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    assert not (tmp_path / "run.txt").exists()
    latest = Checkpointer(tmp_path / "run").latest()
    assert latest.name == "step-000018"  # mid-epoch: 18 = 15 + 3
    return latest


@pytest.mark.parametrize("workers", [-1, 0, 2], ids=["arrays", "workers0", "workers2"])
def test_kill_9_mid_epoch_then_resume_is_bit_identical(tmp_path, workers):
    reference = run(tmp_path / "ref", tmp_path / "ref.txt", "--workers", str(workers))
    killed_run(tmp_path, "--workers", str(workers))
    resumed = run(tmp_path / "run", tmp_path / "run.txt", "--workers", str(workers), "--resume")
    assert resumed == reference


def test_kill_9_after_an_epoch_end_checkpoint_is_bit_identical(tmp_path):
    """Resuming at an epoch boundary restores the batch-order generator too."""
    reference = run(tmp_path / "ref", tmp_path / "ref.txt", "--every", "0")
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            str(tmp_path / "run"),
            str(tmp_path / "run.txt"),
            "--every",
            "0",
            "--kill-at",
            "35",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == -signal.SIGKILL
    assert Checkpointer(tmp_path / "run").latest().name == "step-000030"
    assert run(tmp_path / "run", tmp_path / "run.txt", "--every", "0", "--resume") == reference


def test_negative_control_without_rng_restore_differs(tmp_path):
    reference = run(tmp_path / "ref", tmp_path / "ref.txt", "--workers", "0")
    killed_run(tmp_path, "--workers", "0")
    resumed = run(
        tmp_path / "run", tmp_path / "run.txt", "--workers", "0", "--resume", "--no-rng-restore"
    )
    assert resumed.splitlines()[0] != reference.splitlines()[0]


def test_sigterm_saves_at_step_boundary_and_exits_cleanly(tmp_path):
    reference = run(tmp_path / "ref", tmp_path / "ref.txt")
    process = run(tmp_path / "run", tmp_path / "run.txt", "--sleep", "0.05", wait=False)
    wait_for_checkpoint(tmp_path / "run", process, minimum=1)
    before = {p.name for p in Checkpointer(tmp_path / "run").checkpoints()}
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM and "Traceback" not in stderr
    after = Checkpointer(tmp_path / "run").latest()
    assert after.name not in before or len(before) == 1  # a fresh checkpoint at the signal
    assert run(tmp_path / "run", tmp_path / "run.txt", "--resume") == reference


def test_kill_9_during_a_checkpoint_write_resumes_from_the_previous_one(tmp_path):
    reference = run(tmp_path / "ref", tmp_path / "ref.txt")
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            str(tmp_path / "run"),
            str(tmp_path / "run.txt"),
            "--kill-in-write",
            "4",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == -signal.SIGKILL
    leftovers = [p.name for p in (tmp_path / "run").iterdir() if ".partial" in p.name]
    assert leftovers, "the kill should have left a half-written staging directory"
    assert (
        Checkpointer(tmp_path / "run").latest().name == "step-000009"
    )  # the 3rd, complete checkpoint
    assert run(tmp_path / "run", tmp_path / "run.txt", "--resume") == reference


def test_partial_checkpoint_is_never_picked(tmp_path):
    x, y = lamina.testing.tiny_classification(rows=40)
    model = lamina.Sequential([lamina.layers.Dense(3)]).compile(loss="cross_entropy")
    model.fit(x, y, epochs=1, batch_size=20, checkpoint_dir=tmp_path, seed=0, verbose=0)
    good = Checkpointer(tmp_path).latest()
    # A write killed half-way: a staging directory and a half-written newer step directory.
    (tmp_path / ".step-000009.partial-123").mkdir()
    (tmp_path / ".step-000009.partial-123" / "tensors.safetensors").write_bytes(b"\x00" * 10)
    (tmp_path / "step-000009").mkdir()
    (tmp_path / "step-000009" / "tensors.safetensors").write_bytes(b"half")
    assert Checkpointer(tmp_path).latest() == good
    (tmp_path / "LATEST").unlink()  # even without the pointer, only complete checkpoints count
    assert Checkpointer(tmp_path).latest() == good


def test_checkpoint_from_another_architecture_or_optimizer_is_refused(tmp_path):
    x, y = lamina.testing.tiny_classification(rows=40)
    small = lamina.Sequential([lamina.layers.Dense(8), lamina.layers.Dense(3)]).compile(
        loss="cross_entropy"
    )
    small.fit(x, y, epochs=1, checkpoint_dir=tmp_path, verbose=0)
    big = lamina.Sequential([lamina.layers.Dense(16), lamina.layers.Dense(3)]).compile(
        loss="cross_entropy"
    )
    with pytest.raises(CheckpointError, match="different architecture") as error:
        big.fit(x, y, epochs=2, checkpoint_dir=tmp_path, resume=True, verbose=0)
    assert "Fix:" in str(error.value)
    other_optimizer = lamina.Sequential([lamina.layers.Dense(8), lamina.layers.Dense(3)])
    other_optimizer.compile(optimizer="sgd", loss="cross_entropy")
    with pytest.raises(CheckpointError, match="different optimizer"):
        other_optimizer.fit(x, y, epochs=2, checkpoint_dir=tmp_path, resume=True, verbose=0)


def test_resume_without_checkpoint_starts_fresh_and_finished_run_stays_finished(tmp_path):
    x, y = lamina.testing.tiny_classification(rows=40)
    model = lamina.Sequential([lamina.layers.Dense(3)]).compile(loss="cross_entropy")
    history = model.fit(x, y, epochs=2, checkpoint_dir=tmp_path, resume=True, verbose=0, seed=0)
    assert len(history.history["loss"]) == 2
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    again = model.fit(x, y, epochs=2, checkpoint_dir=tmp_path, resume=True, verbose=0, seed=0)
    assert again.history["loss"] == history.history["loss"]
    assert all(torch.equal(v, weights[k]) for k, v in model.state_dict().items())


def test_resume_needs_a_directory():
    model = lamina.Sequential([lamina.layers.Dense(3)]).compile(loss="cross_entropy")
    with pytest.raises(lamina.errors.ConfigError, match="checkpoint_dir"):
        model.fit(*lamina.testing.tiny_classification(rows=10), resume=True)


def test_checkpoint_files_are_safetensors_and_json(tmp_path):
    x, y = lamina.testing.tiny_classification(rows=40)
    lamina.Sequential([lamina.layers.Dense(3)]).compile(loss="cross_entropy").fit(
        x, y, epochs=1, checkpoint_dir=tmp_path, verbose=0
    )
    latest = Checkpointer(tmp_path).latest()
    assert sorted(p.name for p in latest.iterdir()) == ["state.json", "tensors.safetensors"]
    assert os.path.getsize(latest / "state.json") > 0
