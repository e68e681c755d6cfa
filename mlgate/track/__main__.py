"""``python -m mlgate.track _wandb RUN_DIR``: the wandb writer process of a tracked run."""
from __future__ import annotations

import sys

from mlgate.track import main

sys.exit(main())
