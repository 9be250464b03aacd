"""Test-wide setup: node-side module_utils and the capture loader import as plain modules."""

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS.parent / "module_utils"))
sys.path.insert(0, str(TESTS))
