"""``python -m loyalty_pos.ledger`` runs the admin CLI, for machines without the entry point."""

from loyalty_pos.ledger.cli import main

raise SystemExit(main())
