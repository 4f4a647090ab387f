# SPDX-License-Identifier: GPL-3.0-or-later
"""msgtrkd_harness.py: a private session for msgtrkd tests.

The implementation lives in tools/msgtrkd_session.py (shared with the README demo, the
real-daemon CLI test and the refresh benchmark); this module re-exports it under the name
the tests import. See that module for what a Session is.

Never: pass a secret on a command line or write one to a file.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tools"))

from msgtrkd_session import *  # noqa: E402,F401,F403
from msgtrkd_session import __all__  # noqa: E402,F401
