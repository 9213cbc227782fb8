"""Reliability suite: fault-injection matrix, stateful property tests, fuzzing, security."""
