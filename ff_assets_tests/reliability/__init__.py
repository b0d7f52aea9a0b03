"""Fault tests: a run killed mid-write, a fit killed mid-save, the tracking server lost
mid-run; each checks that nothing stored is lost and that a re-run completes."""
