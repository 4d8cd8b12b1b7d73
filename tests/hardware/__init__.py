"""Tests through the real device stacks: pcscd + a virtual card, ptys, a TCP printer."""
