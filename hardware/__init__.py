"""Simulators and helpers for running the terminal against the real device stacks without devices:
a virtual NFC card for pcscd's vpcd reader, a pty barcode scanner, pcscd process control, and
the tap-latency bench. See hardware/README.md."""
