"""Logs no metric through mlgate.track, only prints progress for a few seconds: alive."""
import time

for i in range(14):
    print(f"step {i} working", flush=True)
    time.sleep(0.3)
