"""Re-measure one of the paper's tables (`make reproduce-table1` etc.); see seqnorm_repro/reproduce/cli.py."""

import sys

from seqnorm_repro.reproduce.cli import main

if __name__ == "__main__":
    sys.exit(main())
