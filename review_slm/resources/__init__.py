"""Every I/O boundary: an interface and its implementations, chosen by profile in definitions.py."""
