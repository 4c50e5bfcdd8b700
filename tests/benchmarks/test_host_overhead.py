"""benchmarks/host_overhead.py on CPU: every Triton launch of a step is stubbed, counted, then put back;
the ATen ops that run a kernel are counted beside them."""

import torch

from seqnorm_repro.norms import triton_kernels, triton_ops


def test_report_counts_each_layers_launches_and_restores_the_kernels(tmp_path, load_benchmark):
    benchmark = load_benchmark("host_overhead")
    kernels = {name: getattr(triton_kernels, name) for name in triton_kernels.LAUNCHED}
    check, threads = triton_ops._check, torch.get_num_threads()
    out = tmp_path / "host.md"
    benchmark.main(["--device", "cpu", "--steps", "20", "--rounds", "2", "--out", str(out)])
    table = [line.strip("|").split("|") for line in out.read_text().splitlines() if line.startswith("| ")]
    rows = {cells[0].strip(): [cell.strip() for cell in cells[1:]] for cells in table}
    assert rows["nn.BatchNorm2d"][1:] == ["1.00", "0", "3"]  # forward, backward, num_batches_tracked += 1
    assert rows["GhostNorm gm=2"][2] == "6"  # moments, statistics, apply; grad sums, grad maths, dx
    assert rows["SeqNorm gc=4 gm=2"][2] == "8"  # and the GroupNorm stage each way
    # num_batches_tracked += 1 alone: the statistics kernel updates the running averages, and autograd
    # fills no zero gradients for the statistics outputs
    assert rows["GhostNorm gm=2"][3] == rows["SeqNorm gc=4 gm=2"][3] == "1"
    assert {name: getattr(triton_kernels, name) for name in kernels} == kernels
    assert triton_ops._check is check and torch.get_num_threads() == threads
