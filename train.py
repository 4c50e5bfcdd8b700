"""Train one model: `python train.py [overrides]`; configs in conf/, code in seqnorm_repro/train/."""

import sys

if __name__ == "__main__":
    try:
        from seqnorm_repro.train.cli import main
    except KeyboardInterrupt:  # Ctrl-C while torch and the rest import: nothing has started
        sys.exit(130)
    main()
