import sys
from pathlib import Path

# tests/casecheck.py is a helper module shared by unit and integration tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
