"""`--gpus`: a target's runs go side by side, as many at once as there are GPU groups, each seeing only its
own GPUs and writing its output to its own log; a failed run is reported and the others still run."""

import logging
import sys
import textwrap

import pytest

from seqnorm_repro.job_pool import Job, gpu_groups, run_jobs
from seqnorm_repro.reproduce import cli

# A "run": its GPUs and when it ran, on stdout (its log), then its exit code.
RUN = textwrap.dedent(
    """
    import os, sys, time
    start = time.monotonic()
    time.sleep(0.5)
    print(os.environ["CUDA_VISIBLE_DEVICES"], start, time.monotonic())
    sys.exit(int(sys.argv[1]))
    """
)


def test_jobs_run_side_by_side_each_on_its_own_gpus(tmp_path, caplog):
    codes = [0, 3, 0, 0, 0]
    jobs = [Job(f"run {i}", [sys.executable, "-c", RUN, str(c)], tmp_path / f"run{i}" / "console.log")
            for i, c in enumerate(codes)]  # fmt: skip
    with caplog.at_level(logging.ERROR):
        assert run_jobs(jobs, ["0,1", "2,3"]) == codes
    runs = [job.log.read_text().split() for job in jobs]  # every job ran, the failed one's too
    spans = [(gpus, float(start), float(end)) for gpus, start, end in runs]
    assert {gpus for gpus, _, _ in spans} == {"0,1", "2,3"}
    for i, (gpus, start, end) in enumerate(spans):
        beside = [other for j, other in enumerate(spans) if j != i and other[1] < end and start < other[2]]
        assert len(beside) <= 1 and all(other[0] != gpus for other in beside)  # two at once, own GPUs
    assert any(spans[i][1] < spans[j][2] and spans[j][1] < spans[i][2] for i in range(5) for j in range(i))
    assert caplog.messages == [f"run 1 exited with 3; its output is in {jobs[1].log}"]


def test_gpus_split_into_groups_of_nproc(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert gpu_groups(["0", "1", "2", "3"], 1) == ["0", "1", "2", "3"]
    assert gpu_groups([4, 5, 6, 7], 2) == ["4,5", "6,7"]
    with pytest.raises(ValueError, match="3 GPUs do not split into jobs of 2"):
        gpu_groups(["0", "1", "2"], 2)
    for ids in (["0", "0"], [], [""], ["GPU-1"]):
        with pytest.raises(ValueError, match="give 'all' or distinct GPU ids"):
            gpu_groups(ids, 1)


def test_gpu_ids_count_within_cuda_visible_devices(monkeypatch):
    """As torch numbers them: in a SLURM allocation of GPUs 4-7, GPU 0 is the allocation's first."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5,6,7")
    assert gpu_groups("all", 2) == ["4,5", "6,7"]
    assert gpu_groups(["0", "2"], 1) == ["4", "6"]
    with pytest.raises(ValueError, match="GPU 4 is not among the 4 that CUDA_VISIBLE_DEVICES=4,5,6,7 leaves"):
        gpu_groups(["4"], 1)
    for hidden in ("", "-1", "-1,0"):  # CUDA reads up to the first invalid entry
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", hidden)
        with pytest.raises(ValueError, match="no CUDA device is visible here"):
            gpu_groups("all", 1)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--gpus", "0,1", "--launcher", "slurm"], "not as a Hydra multirun under --launcher slurm"),
        (["--gpus="], "--gpus : give 'all' or distinct GPU ids"),
        (["--nproc", "2"], "--nproc 2 needs --launcher torchrun"),
        (
            ["--gpus", "0,1,2", "--launcher", "torchrun", "--nproc", "2"],
            "--gpus 0,1,2 --nproc 2: 3 GPUs do not split into jobs of 2",
        ),
    ],
)
def test_gpus_that_cannot_work_stop_before_any_run_in_one_line(args, error, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(cli, "run_target", _no_run)
    assert cli.main(["table1", "--runs", str(tmp_path / "runs"), "--results", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert error in err and err.count("\n") == 1


def test_the_command_line_passes_one_gpu_group_per_run(tmp_path, monkeypatch):
    seen = []
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)  # ids as given
    monkeypatch.setattr(cli, "_cannot_start", lambda *args, **kwargs: None)  # as if CIFAR-100 were in data/
    monkeypatch.setattr(cli, "run_target", lambda *args: seen.append(args[-1]) or {})
    cli.main(["table1", "--gpus", "0,1,2,3", "--runs", str(tmp_path / "runs"), "--results", str(tmp_path)])
    assert seen == [["0", "1", "2", "3"]]


def _no_run(*args):
    raise AssertionError("a run started although --gpus cannot work")
