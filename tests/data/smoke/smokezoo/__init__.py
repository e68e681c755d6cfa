"""Example torch-smoke factories (good and purpose-made bad ones) for mlgate's tests."""
