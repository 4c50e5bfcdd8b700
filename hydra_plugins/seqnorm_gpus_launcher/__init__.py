"""`hydra/launcher=gpus` (gpus_launcher.py): Hydra finds its plugins in the hydra_plugins namespace."""
