"""loyalty-pos: a loyalty terminal for a store's checkout, and its central ledger."""

__version__ = "0.1.0"
