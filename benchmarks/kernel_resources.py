"""What the compiler made of our Triton kernels for a Hopper GPU, read without one: per launch of a
GhostNorm gm=8 and a SeqNorm gc=4 gm=8 forward+backward on the CUDA benchmark's shapes (fp16
channels_last), the grid, registers per thread, shared memory and spills, how many programs fit on one
multiprocessor at once and so how many waves the grid takes on a 132-SM H100 or H200.

A memory-bound pass needs enough loads in flight on every multiprocessor; registers limit how many
programs share one, and a grid a little over a whole number of waves leaves multiprocessors idle at its
end. These are counts from the compiled code, not timings: `norms.py --kernels` on a GPU says which
kernels take the time.

    python benchmarks/kernel_resources.py       # -> results/kernel_resources_sm90.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from seqnorm_repro.norms import triton_aot
from seqnorm_repro.tracking.provenance import REPO_ROOT, provenance_lines

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the benchmarks folder, for its layer shapes
from norms import CUDA_SHAPES

LAYERS = {"GhostNorm gm=8": ("ghost", 8), "SeqNorm gc=4 gm=8": ("seq", 4, 8)}
# sm_90 limits per multiprocessor (CUDA occupancy rules): registers, warps, programs, shared memory
REGISTERS, WARPS, PROGRAMS, SHARED, SHARED_RESERVED, REGISTER_UNIT = 65536, 64, 32, 233472, 1024, 256


def programs_per_sm(registers: int, warps: int, shared: int) -> int:
    """Programs (thread blocks) of one kernel resident on a multiprocessor at once."""
    per_warp = -(-registers * 32 // REGISTER_UNIT) * REGISTER_UNIT
    by_registers = (REGISTERS // per_warp) // warps
    by_shared = SHARED // (shared + SHARED_RESERVED)
    return min(PROGRAMS, WARPS // warps, by_registers, by_shared)


def rows(op_args: tuple, shape) -> list[str]:
    """One table row per distinct compiled kernel of a layer's forward and backward on `shape`."""
    launches = triton_aot.layer_launches(op_args[0], shape, torch.float16, True, *op_args[1:])
    lines = []
    for launch, binary in triton_aot.compiled(launches):
        usage = triton_aot.resource_usage(binary.asm["cubin"])
        warps, shared = binary.metadata.num_warps, binary.metadata.shared
        resident = programs_per_sm(usage["REG"], warps, shared)
        spilled = usage["LOCAL"] + usage["STACK"]
        programs = launch.grid[0]
        cells = (launch.kernel.__name__, programs, warps, usage["REG"], shared, spilled, resident)
        lines.append(
            "| " + " | ".join(map(str, cells)) + f" | {programs / (resident * triton_aot.SMS):.2f} |"
        )
    return lines


def render(command: str) -> str:
    lines = [
        "# Our Triton kernels as compiled for sm_90 (H100, H200): registers, residency, waves",
        "",
        f"- command: `{command}`",
        *provenance_lines("cpu"),
        "- compiled here, no GPU: Triton's compiler and ptxas for sm_90, each launch specialised as on the "
        "GPU (`seqnorm_repro/norms/triton_aot.py`); registers and spills from cuobjdump, shared memory as "
        "launched",
        "- resident: programs of that kernel on one multiprocessor at once (registers, warps, shared "
        f"memory); waves: grid / (resident x {triton_aot.SMS} SMs), a fraction leaving SMs idle in the last",
        "- input: float16 channels_last; each layer's forward (running statistics updated), then backward",
    ]
    for model, shapes in CUDA_SHAPES.items():
        for shape in shapes:
            for layer, op_args in LAYERS.items():
                print(f"{model} {shape} {layer} ...", file=sys.stderr, flush=True)
                lines += [
                    "",
                    f"## {model} {shape}, {layer}",
                    "",
                    "| kernel | programs | warps | registers | shared (B) | spilled (B) | resident | waves |",
                    "|---|---|---|---|---|---|---|---|",
                    *rows(op_args, shape),
                ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "results" / "kernel_resources_sm90.md")
    args = parser.parse_args(argv)
    report = render("python " + " ".join(sys.argv))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
