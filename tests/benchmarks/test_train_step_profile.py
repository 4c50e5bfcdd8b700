"""benchmarks/train_step.py --profile's report: GPU time per step by kernel kind, beside BatchNorm's."""

from seqnorm_repro.tracking.kernel_times import kernel_kind


def test_kernel_kinds_by_name():
    assert kernel_kind("triton_per_fused__native_batch_norm_legit_functional_relu_3") == "normalisation"
    assert kernel_kind("moments_kernel") == kernel_kind("seq_ghost_grad_kernel") == "normalisation"
    assert kernel_kind("cudnn::bn_bw_1C11_kernel_new<float>") == "normalisation"
    assert kernel_kind("sm90_xmma_fprop_implicit_gemm_bf16bf16_bf16f32_f32_nhwckrsc_nhwc") == "convolution"
    assert kernel_kind("void at::native::(anonymous)::multi_tensor_apply_kernel<...>") == "optimizer"
    assert kernel_kind("triton_poi_fused_relu_threshold_backward_7") == "other"


def test_profile_table_sums_kernels_per_kind_against_batchnorm(load_benchmark):
    bench = load_benchmark("train_step")

    def row(norm, kernels):
        return bench.Row("WRN", 512, norm, 0.04, 0.04, 1.0, (1.0, 1.0), 1.0, kernels)

    rows = [
        row("BatchNorm", {"triton_red_fused__native_batch_norm_legit_functional_0": 0.002, "conv_x": 0.006}),
        row("GhostNorm gm=8", {"moments_kernel": 0.001, "affine_kernel": 0.0015, "conv_x": 0.006,
                               "triton_poi_fused_relu_1": 0.0005}),
    ]  # fmt: skip
    lines = bench.profile_section(rows)
    table = {line.split(" | ")[1]: line.split(" | ")[2:] for line in lines if line.startswith("| WRN")}
    # normalisation, convolution, optimizer, other, total, vs BatchNorm
    assert table["BatchNorm"] == ["2.00", "6.00", "0.00", "0.00", "8.00", "1.000 |"]
    assert table["GhostNorm gm=8"] == ["2.50", "6.00", "0.00", "0.50", "9.00", "1.125 |"]
    assert any(
        line.startswith("- WRN, GhostNorm gm=8, largest kernels: `conv_x` 6000.0 us") for line in lines
    )
