"""Migration scripts, oldest first; each one is applied once and never edited after release."""
