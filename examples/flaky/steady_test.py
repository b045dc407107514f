#!/usr/bin/python3
"""A test that is not flaky: it uses randomness and the clock but asserts
only what always holds. Expected: detrun flaky finds no failure (exit 0)."""
import datetime
import random

values = [random.random() for _ in range(100)]
assert all(0.0 <= v < 1.0 for v in values)
assert datetime.date.today().year >= 1970
print("ok")
