"""``python -m gnnrec.train CONFIG [KEY=VALUE ...]`` == ``gnnrec train ...``.

The entry point for launchers that start a module, above all ``torchrun``::

    torchrun --nproc-per-node 2 -m gnnrec.train configs/ml1m_cd/cd_lightgcn.yaml

(see :mod:`gnnrec.train.distributed`).
"""

import sys

from gnnrec.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
