#!/usr/bin/python3
"""A flaky unit test that depends on directory order.

It loads "plugins" in os.listdir order, but plugin b needs plugin a to be
loaded first. On most file systems the order happens to be stable on one
machine and different on another. Under detrun --dirs=sorted (the default)
it always passes; --dirs=shuffle reorders the listing per seed. Expected:
detrun flaky names `culprit: dirs`.
"""
import os
import sys
import tempfile

with tempfile.TemporaryDirectory() as d:
    for name in ["a_base", "b_extension", "c_theme", "d_locale"]:
        open(os.path.join(d, name), "w").close()
    loaded = []
    for name in os.listdir(d):
        if name == "b_extension" and "a_base" not in loaded:
            sys.exit(f"FAIL: b_extension loaded before a_base: {os.listdir(d)}")
        loaded.append(name)
print("ok")
