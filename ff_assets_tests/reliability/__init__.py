"""Reliability tests: injected faults (a run killed mid-write or mid-save, the tracking server
lost), concurrent runs and promotions, retries; each checks the state afterwards."""
