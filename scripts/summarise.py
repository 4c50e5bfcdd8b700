"""Summarise your own runs: one row per config, mean ± std over seeds, as a markdown table.

    python scripts/summarise.py multirun/2026-12-03_16-47-19            # one -m sweep
    python scripts/summarise.py multirun/a multirun/b --out results/my_study.md

Every results.json under the given folders counts; see seqnorm_repro/reproduce/summary.py.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from seqnorm_repro.reproduce.summary import collect_runs, render_summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "folders", nargs="+", type=Path, help="run or sweep directories (searched recursively)"
    )
    parser.add_argument("--out", type=Path, help="also write the table here")
    args = parser.parse_args(argv)
    if missing := [str(folder) for folder in args.folders if not folder.is_dir()]:
        print(
            f"error: no such directory: {', '.join(missing)}; give a sweep or run directory", file=sys.stderr
        )
        return 2
    collected = collect_runs(args.folders)
    if not collected.rows:
        print(f"error: no completed run under {', '.join(map(str, args.folders))}", file=sys.stderr)
        print("\n".join(collected.not_counted), file=sys.stderr)
        return 1
    command = shlex.join(["python", "scripts/summarise.py", *(argv if argv is not None else sys.argv[1:])])
    table = render_summary(collected, command)
    print(table, end="")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
