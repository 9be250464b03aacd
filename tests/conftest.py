"""Test-wide setup: node-side module_utils, the capture loader and the shared garbage test
(garbage.py) import as plain modules."""

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS.parent / "module_utils"))
sys.path.insert(0, str(TESTS))
