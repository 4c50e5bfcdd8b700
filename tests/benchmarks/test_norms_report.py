"""benchmarks/norms.py --kernels: the CUDA report lists the profiled layers' kernels under their shape."""

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
    report = bench.render_cuda({("WRN-28-10", (8, 4, 2, 2)): (1e-6, rows)}, True, torch.float16, "cmd", "hw")
    kernel_lines = [line for line in report.splitlines() if line.startswith("- kernels of")]
    assert kernel_lines == [
        "- kernels of BatchNorm2d (cuDNN) (torch.profiler, eager steps): 2 distinct, 25.0 us of GPU time per "
        "step; `bn_bw_1C11_kernel_new` 15.0 us (normalisation); `bn_fw_tr_1C11_kernel_NCHW` 10.0 us "
        "(normalisation)",
        "- kernels of GhostNorm (ours), gm=8 (torch.profiler, eager steps): 3 distinct, 19.0 us of GPU time "
        "per step; `affine_kernel` 9.0 us (normalisation); `moments_kernel` 8.0 us (normalisation); "
        "`ghost_stats_kernel` 2.0 us (normalisation)",
    ]
