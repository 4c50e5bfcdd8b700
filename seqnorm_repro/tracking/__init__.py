"""Where results come from: provenance for results files, W&B and local run records."""
