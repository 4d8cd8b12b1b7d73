"""The checkout screen's widgets, one module per screen area."""
