"""Servers the reliability and scale-out tests start and stop themselves: an MLflow tracking
server, a Spark standalone cluster, PostgreSQL. Each binds to loopback on a free port and is
stopped at teardown, failed test or not."""
