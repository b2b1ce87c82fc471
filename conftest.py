"""Settings shared by unit_tests/ and e2e/.

Under CI (CI=true) hypothesis runs derandomized: the same examples every run, so a
submission's result does not depend on luck. Locally it explores new examples on every
run, which is how it finds bugs (the database in .hypothesis/ replays past failures).
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
