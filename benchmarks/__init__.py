"""asv benchmarks of the suite's hot paths (see benchmarks/README.md).

asv's virtualenv environments (`asv continuous`, `asv run A..B`) set ASV_ENV_TYPE and
have the commit under test installed: the benchmarks import that. Anywhere else (an
`existing` environment: `asv run --python=same`, `asv check -E existing`; pytest) they
measure the checkout they live in, put first on sys.path, not whatever `suite` the
interpreter has installed.
"""

import os
import sys
from pathlib import Path

if "ASV_ENV_TYPE" not in os.environ:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
