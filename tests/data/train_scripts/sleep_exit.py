"""Sleeps, writes a marker, exits with the given code (no tracking)."""
import sys
import time
from pathlib import Path

time.sleep(float(sys.argv[1]))
Path(sys.argv[3]).write_text("ran\n")
sys.exit(int(sys.argv[2]))
