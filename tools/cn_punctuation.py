"""Full-width punctuation checker/fixer for Chinese UI copy (issue 13 U8).

    python tools/cn_punctuation.py          # list half-width , : ; ! ? ( ) touching CJK; exit 1
    python tools/cn_punctuation.py --fix    # rewrite src/ and tests/ in place (idempotent)

The logic lives in ``xiaodian.web.cn_punctuation`` (stdlib only); this runs it from the
repository root without installing anything.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
os.chdir(ROOT)

from xiaodian.web.cn_punctuation import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
