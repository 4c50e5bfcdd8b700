"""benchmarks/train_step.py --profile's report: GPU time per step by kernel kind, beside BatchNorm's."""

import pytest
import torch

from seqnorm_repro.tracking import kernel_times
from seqnorm_repro.tracking.kernel_times import kernel_kind


def test_kernel_kinds_by_name():
    assert kernel_kind("triton_per_fused__native_batch_norm_legit_functional_relu_3") == "normalisation"
    assert kernel_kind("moments_kernel") == kernel_kind("seq_ghost_grad_kernel") == "normalisation"
    assert kernel_kind("cudnn::bn_bw_1C11_kernel_new<float>") == "normalisation"
    assert kernel_kind("void cudnn::bn_fw_tr_1C11_singleread_spec_kernel<__half>") == "normalisation"
    assert kernel_kind("void batchnorm_fwtr_nhwc_semiPersist<__half, float>") == "normalisation"  # NHWC
    assert kernel_kind("void batchnorm_bwtr_nhwc_semiPersist<__half, float>") == "normalisation"
    assert kernel_kind("sm90_xmma_fprop_implicit_gemm_bf16bf16_bf16f32_f32_nhwckrsc_nhwc") == "convolution"
    assert kernel_kind("void at::native::(anonymous)::multi_tensor_apply_kernel<...>") == "optimizer"
    assert kernel_kind("triton_poi_fused_relu_threshold_backward_7") == "other"


def test_profile_table_sums_kernels_per_kind_against_batchnorm(load_benchmark):
    bench = load_benchmark("train_step")

    def row(norm, kernels):
        return bench.Row("WRN", 512, norm, 0.04, 0.04, 1.0, (1.0, 1.0), 1.0, kernels)

    rows = [
        row("BatchNorm", {"triton_red_fused__native_batch_norm_legit_functional_0": 0.002, "conv_x": 0.006}),
        row("GhostNorm gm=8", {"moments_kernel": 0.001, "conv_x": 0.006,  # compiled: its apply pass is
                               "triton_poi_fused__to_copy_add_mul_relu_sub_view_1": 0.002}),  # pointwise
    ]  # fmt: skip
    lines = bench.profile_section(rows)
    table = {line.split(" | ")[1]: line.split(" | ")[2:] for line in lines if line.startswith("| WRN")}
    # normalisation, convolution, optimizer, other, total, vs BatchNorm
    assert table["BatchNorm"] == ["2.00", "6.00", "0.00", "0.00", "8.00", "1.000 |"]
    assert table["GhostNorm gm=8"] == ["1.00", "6.00", "0.00", "2.00", "9.00", "1.125 |"]
    assert "statistics kernels only, so compare the totals" in lines[3]
    assert any(
        line.startswith("- WRN, GhostNorm gm=8, largest kernels: `conv_x` 6000.0 us") for line in lines
    )


def test_a_failing_profiler_gives_no_kernel_times_and_one_line(monkeypatch, capsys):
    def broken(run, calls):
        raise RuntimeError("CUPTI_ERROR_NOT_INITIALIZED\nmore")

    monkeypatch.setattr(kernel_times, "gpu_time_by_kernel", broken)
    assert kernel_times.gpu_time_by_kernel_or_empty(lambda: None, 1) == {}
    assert capsys.readouterr().err == (
        "  profiled run failed, no kernel times: RuntimeError: CUPTI_ERROR_NOT_INITIALIZED\n"
    )


def test_step_times_are_handed_over_before_profiling(monkeypatch, tmp_path, load_benchmark):
    """A time limit or a profiler crash during --profile must not lose the timed rows."""
    bench = load_benchmark("train_step")
    handed_over = []

    def crashing_profiler(run, calls):
        assert len(handed_over) == 1, "profiled before the rows were handed over"
        raise KeyboardInterrupt  # stands in for the time limit's signal

    monkeypatch.setattr(bench, "gpu_time_by_kernel_or_empty", crashing_profiler)
    bench.register_configs()
    tiny = bench.Setup("SimpleNet", ("model=simplenet",), 10, (1, 8, 8), 64)
    with pytest.raises(KeyboardInterrupt):
        bench.measure(tiny, torch.device("cpu"), 1, 1, tmp_path, handed_over.append, profile=True)
    assert [row.norm for row in handed_over[0]] == list(bench.NORMS)
