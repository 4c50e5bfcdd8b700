"""Re-measure the paper's tables: sweep specs, runs through Hydra multirun, aggregation beside the paper."""
