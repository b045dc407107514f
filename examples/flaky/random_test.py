#!/usr/bin/python3
"""A flaky unit test that depends on randomness.

It checks a "sampler" that should pick three distinct items, but the test
draws with random.choice and fails when two draws collide: about one run
in nine. Under detrun the draws follow --seed, so every seed either always
passes or always fails. Expected: detrun flaky names `culprit: random`.
"""
import random

ITEMS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta",
         "iota", "kappa", "lambda", "mu", "nu", "xi", "omicron", "pi", "rho",
         "sigma", "tau", "upsilon", "phi", "chi", "psi", "omega"]

picked = [random.choice(ITEMS) for _ in range(3)]
if len(set(picked)) != 3:
    raise SystemExit(f"FAIL: expected three distinct items, got {picked}")
print("ok", picked)
