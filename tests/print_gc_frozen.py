"""Prints how many objects the garbage collector leaves alone (tests/test_suite_settings.py:
a command forked from the suite's zygote inherits its imports frozen, so that its exit does
not walk them)."""

import gc

print(gc.get_freeze_count())
