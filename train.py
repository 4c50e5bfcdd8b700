"""Train one model: `python train.py [overrides]`; configs in conf/, code in seqnorm_repro/train/."""

from seqnorm_repro.launch import main

if __name__ == "__main__":
    main()
