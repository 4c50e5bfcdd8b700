"""A benchmark report rewritten as its run goes (train_step.py: after the timing, after each model, at the
end) reads its commit line once, at the start: read again, the report's own first version in results/
would mark the commit '+dirty'."""


def test_a_rewritten_report_reads_its_provenance_once(tmp_path, monkeypatch, load_benchmark):
    bench = load_benchmark("train_step")
    reads = []
    monkeypatch.setattr(bench, "provenance_lines", lambda device: reads.append(device) or ["- commit: abc"])
    report = tmp_path / "bench_train_step.md"
    bench.main(["--models", "ResNet-56", "--steps", "1", "--rounds", "1", "--out", str(report)])
    assert len(reads) == 1 and report.read_text().splitlines()[3] == "- commit: abc"
