"""``lucca-sync rebuild-state``: give the Elevo sink its memory back after it was lost."""

from __future__ import annotations

import argparse

from lucca_sync.cli._config_load import load_config
from lucca_sync.cli._console import EXIT_OK, Console
from lucca_sync.exceptions import ConfigurationError


def _cmd_rebuild_state(args: argparse.Namespace, console: Console) -> int:
    if args.from_file is not None and args.from_export is not None:
        raise ConfigurationError("--from-file and --from-export: give one of them, not both")
    config = load_config(args.config)
    sink = config.sink(lock_timeout=args.wait_for_lock)
    try:
        count = sink.rebuild_state(from_file=args.from_file, from_export=args.from_export)
        managed = sum(1 for user in sink.users() if user.managed)
    finally:
        sink.close()
    source = (
        f"the export {args.from_export}"
        if args.from_export is not None
        else f"the file {args.from_file}"
        if args.from_file is not None
        else "the published users file"
    )
    console.say(
        f"Rebuilt the Elevo state in {sink.state_path.parent} from {source}: {count} user(s), "
        f"{managed} managed by the sync, the others protected by skip rows until adopted."
    )
    console.say(
        f"Review the next plan before applying it: lucca-sync plan --config {args.config}"
        + (" (with sync.match_by set to adopt users back)" if managed < count else "")
    )
    console.report({"state": str(sink.state_path), "users": count, "managed": managed})
    return EXIT_OK
