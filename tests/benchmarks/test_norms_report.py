"""benchmarks/norms.py reports: the CUDA one lists the profiled layers' kernels under their shape (--kernels),
the CPU one says how the allocator was set."""

import torch


def test_cuda_report_lists_profiled_kernels(load_benchmark):
    bench = load_benchmark("norms")

    def row(layer, gm, kernels=None):
        return bench.CudaMeasurement(layer, torch.float16, gm, None, 3e-5, 2e-5, 0, None, kernels)

    rows = [
        row(bench.CUDA_BASELINE, None, {"bn_fw_tr_1C11_kernel_NCHW": 1e-5, "bn_bw_1C11_kernel_new": 1.5e-5}),
        row(
            "GhostNorm (ours)", 8, {"moments_kernel": 8e-6, "ghost_stats_kernel": 2e-6, "affine_kernel": 9e-6}
        ),
        row("GhostNorm (ours)", 16),
    ]
    report = bench.render_cuda(
        {("WRN-28-10", (8, 4, 2, 2)): (1e-6, rows)}, True, torch.float16, "cmd", ["- hw"]
    )
    kernel_lines = [line for line in report.splitlines() if line.startswith("- kernels of")]
    assert kernel_lines == [
        "- kernels of BatchNorm2d (cuDNN) (torch.profiler, eager steps): 2 distinct, 25.0 us of GPU time per "
        "step; `bn_bw_1C11_kernel_new` 15.0 us (normalisation); `bn_fw_tr_1C11_kernel_NCHW` 10.0 us "
        "(normalisation)",
        "- kernels of GhostNorm (ours), gm=8 (torch.profiler, eager steps): 3 distinct, 19.0 us of GPU time "
        "per step; `affine_kernel` 9.0 us (normalisation); `moments_kernel` 8.0 us (normalisation); "
        "`ghost_stats_kernel` 2.0 us (normalisation)",
    ]


def test_cpu_report_says_how_the_allocator_was_set(load_benchmark):
    """The CPU run fixes glibc's malloc thresholds (repeatable ratios) where it can, and says so."""
    bench = load_benchmark("norms")
    rows = [bench.Measurement("nn.BatchNorm2d", None, None, 1e-3, 0)]
    rows.append(bench.Measurement("GhostNorm (ours)", 8, None, 9e-4, 0))
    results = {("WRN-28-10 / 10", (8, 4, 2, 2)): rows}
    kept, default = (bench.render(results, "cpu", False, "cmd", kept) for kept in (True, False))
    assert "- allocator: glibc's mmap and trim thresholds fixed at 1 GiB" in kept
    assert "- allocator: the C library's defaults" in default
    assert "| GhostNorm (ours) | 0.90 | <= 1.1 (met) |" in kept


def test_cuda_shapes_come_in_the_order_of_models(load_benchmark):
    """Under a time limit (cuda_checks.sh's NORMS_ARGS="--models ResNet-56 WRN-28-10"), the first model
    named must go first."""
    norms = load_benchmark("norms")
    assert list(norms.cuda_shapes(["ResNet-56", "WRN-28-10"], quick=False)) == ["ResNet-56", "WRN-28-10"]
    assert norms.cuda_shapes(["ResNet-18"], quick=True) == {"ResNet-18": [(256, 64, 56, 56)]}
    assert list(norms.cuda_shapes(None, quick=False)) == list(norms.CUDA_SHAPES)
