"""Scale-out tests: servers and daemons the tests start on loopback and stop at teardown."""
