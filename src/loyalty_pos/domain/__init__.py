"""The loyalty rules, pure: no I/O, no clock reads, no globals. Standard library only."""
