"""benchmarks/kernel_resources.py: how many programs of a compiled kernel fit on one sm_90 multiprocessor."""


def test_programs_per_multiprocessor_follow_the_sm90_occupancy_rules(load_benchmark):
    """Registers are allocated per warp in units of 256 out of 65536; 64 warps and 32 programs at most."""
    resources = load_benchmark("kernel_resources")
    assert resources.programs_per_sm(registers=64, warps=4, shared=0) == 8  # 2048 per warp: 32 warps
    assert resources.programs_per_sm(registers=80, warps=4, shared=0) == 6  # 2560: 25 warps
    assert resources.programs_per_sm(registers=87, warps=4, shared=0) == 5  # 2784 -> 2816: 23 warps
    assert resources.programs_per_sm(registers=128, warps=4, shared=0) == 4
    assert resources.programs_per_sm(registers=16, warps=1, shared=0) == 32  # the program limit
    assert resources.programs_per_sm(registers=32, warps=4, shared=100_000) == 2  # shared memory
