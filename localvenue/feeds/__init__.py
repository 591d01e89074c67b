"""Loopback servers that speak the brokers' real wire formats, for tests and the local exchange."""
