"""Reliability tests: injected faults, concurrent runs and retries, checking the state after."""
