"""Data-parallel training under torchrun (gloo, CPU processes): the same result as one process."""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from course_lib import distributed
from course_lib.data import Batch

WORKER = Path(__file__).with_name("ddp_worker.py")
STEPS = 8


def run(out: Path, processes: int, *extra: str, check: bool = True) -> subprocess.CompletedProcess:
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--standalone",
                 f"--nproc_per_node={processes}"] if processes > 1 else [sys.executable])
    done = subprocess.run([*launcher, str(WORKER), str(out), str(STEPS), *extra],
                          capture_output=True, text=True, timeout=240,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    if check:
        assert done.returncode == 0, done.stderr[-3000:]
    return done


def assert_same_run(a: Path, b: Path) -> None:
    first, second = torch.load(a), torch.load(b)
    for name, weight in first["model"].items():
        torch.testing.assert_close(second["model"][name], weight, atol=1e-5, rtol=1e-5)
    assert len(first["loss"]) == len(second["loss"])
    torch.testing.assert_close(torch.tensor(second["loss"]), torch.tensor(first["loss"]),
                               atol=1e-5, rtol=1e-5)


@pytest.fixture(scope="module")
def alone(tmp_path_factory):
    out = tmp_path_factory.mktemp("alone") / "one.pt"
    run(out, 1)
    return out


@pytest.mark.slow
def test_two_processes_end_where_one_does(alone, tmp_path):
    run(tmp_path / "two.pt", 2)
    assert_same_run(alone, tmp_path / "two.pt")
    two = torch.load(tmp_path / "two.pt")
    assert two["world_size"] == 2 and list(two["evals"]) == [STEPS]  # rank 0 evaluated


@pytest.mark.slow
@pytest.mark.parametrize("before, after", [(2, 1), (1, 2)])
def test_a_checkpoint_resumes_with_another_number_of_processes(alone, tmp_path, before, after):
    checkpoint = tmp_path / "run.ckpt"
    run(tmp_path / "unused.pt", before, "--checkpoint", str(checkpoint), "--stop-after", "3")
    assert checkpoint.exists() and not (tmp_path / "unused.pt").exists()
    run(tmp_path / "resumed.pt", after, "--checkpoint", str(checkpoint))
    assert_same_run(alone, tmp_path / "resumed.pt")


@pytest.mark.slow
def test_a_time_budget_ends_every_process_at_the_same_step(tmp_path):
    run(tmp_path / "budget.pt", 2, "--budget-minutes", "0.1")  # would hang if ranks disagreed
    result = torch.load(tmp_path / "budget.pt")
    assert result["plan"] and 0 < len(result["loss"]) <= result["plan"][-1][1]


@pytest.mark.slow
def test_a_failing_process_ends_the_run_with_its_reason(tmp_path):
    done = run(tmp_path / "never.pt", 2, "--fail-at-step", "3", check=False)
    assert done.returncode != 0
    assert "rank 1 failed on purpose" in done.stderr + done.stdout
    assert not (tmp_path / "never.pt").exists()


def test_shards_are_the_same_rows_of_every_tensor_and_together_the_batch():
    batch = Batch(src=torch.arange(24).view(6, 4), src_lengths=torch.tensor([4, 3, 2, 4, 1, 2]),
                  src_mask=torch.ones(6, 4, dtype=torch.bool), labels=torch.arange(6))
    parts = [distributed.shard(batch, distributed.Context(rank, 3)) for rank in range(3)]
    for field in ("src", "src_lengths", "src_mask", "labels"):
        joined = torch.cat([getattr(part, field) for part in parts])
        assert torch.equal(joined, getattr(batch, field)), field
    assert parts[1].tgt is None and torch.equal(parts[1].labels, torch.tensor([2, 3]))
    pair = distributed.shard((torch.zeros(4, 2), {"y": torch.arange(4)}), distributed.Context(1, 2))
    assert pair[0].shape == (2, 2) and pair[1]["y"].tolist() == [2, 3]
    with pytest.raises(ValueError, match="divisible by --nproc_per_node"):
        distributed.shard(torch.zeros(5, 2), distributed.Context(0, 2))
    alone = distributed.Context()
    assert distributed.shard(batch, alone) is batch and not alone.parallel and alone.is_main
    assert distributed.mean(2.5, alone) == 2.5 and distributed.agree("plan", alone) == "plan"


def test_data_parallel_answers_for_its_models_attributes():
    assert dataclasses.is_dataclass(Batch)
    assert distributed.DataParallel.__getattr__ is not torch.nn.Module.__getattr__


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("COURSE_DATA_DIR"),
                    reason="set COURSE_DATA_DIR to the corpus mirror")
def test_course_train_runs_data_parallel_under_torchrun(tmp_path):
    out = tmp_path / "gpt.pt"
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "course_lib.cli", "train", "gpt-char", "--minutes", "0.15", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("nats/char") == 1  # rank 0 alone reports
    assert "on 2 process(es)" in done.stdout and out.exists()


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("COURSE_DATA_DIR"), reason="set COURSE_DATA_DIR to the corpus mirror")
def test_course_train_runs_a_translation_recipe_under_torchrun(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "course_lib.cli", "train", "multi30k-transformer", "--steps", "2"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("trained 2 steps") == 1 and "validation loss" in done.stdout
