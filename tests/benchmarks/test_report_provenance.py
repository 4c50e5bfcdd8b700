"""A benchmark report rewritten as its run goes (train_step.py: after the timing, after each model, at the
end) reads its hardware, commit and date lines once, so that every version names the run's start."""


def test_a_rewritten_report_reads_its_provenance_once(tmp_path, monkeypatch, load_benchmark):
    bench = load_benchmark("train_step")
    reads = []
    monkeypatch.setattr(bench, "provenance_lines", lambda device: reads.append(device) or ["- commit: abc"])

    def measured(setup, device, steps, rounds, run_dir, timed, profile=False):
        rows = [
            bench.Row(setup.label, setup.batch, norm, 0.2, 0.2, 1.0, (1.0, 1.0), 1.0, {})
            for norm in bench.NORMS
        ]
        timed(rows)
        return rows

    monkeypatch.setattr(bench, "measure", measured)
    report = tmp_path / "bench_train_step.md"
    bench.main(["--steps", "1", "--rounds", "1", "--out", str(report)])  # three models: rewritten 7 times
    lines = report.read_text().splitlines()
    assert (
        len(reads) == 1
        and lines[3] == "- commit: abc"
        and sum("| BatchNorm |" in line for line in lines) == 3
    )
