"""``python -m lucca_sync``: the ``lucca-sync`` command line."""

from __future__ import annotations

from lucca_sync.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
