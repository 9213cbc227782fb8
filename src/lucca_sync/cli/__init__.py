"""The ``lucca-sync`` command line (also ``python -m lucca_sync``).

Commands: ``demo`` (the whole pipeline on a built-in fake Lucca), ``plan``, ``apply``,
``preview``, ``check`` and ``history`` (read a TOML configuration; secrets come from environment
variables).

Exit codes: 0 success, 1 runtime error, 2 configuration or usage error, 3 safety stop, 130
interrupted, 141 stdout closed by its reader. Every failure ends with one ``lucca-sync: error: …``
line on stderr (or, with ``--log-format json``, the run's JSON line); ``--debug`` adds the
traceback.

Where things live:

- ``_main.py`` — `main`: logging, dispatch, every failure turned into one line and an exit code;
- ``_parser.py`` — the argument parser, one sub-command per command module;
- ``_console.py`` — exit codes and the `Console` every command prints through;
- ``_logs.py`` — stderr: timestamped log lines or JSON lines, and the run's outcome line;
- ``_messages.py`` — messages in the CLI reader's words (a safety stop's next commands);
- ``_config.py`` — the TOML configuration as typed sections, and what they build (the
  directory, the sink, the plan options); secrets read from the environment;
- ``_config_load.py`` — reading and checking a configuration file, every problem at once;
- ``_progress.py`` — the progress line on stderr (reading, then applying);
- one module per command: ``_demo.py``, ``_plan.py`` (``plan`` and ``apply``), ``_preview.py``,
  ``_check.py``, ``_history.py``.
"""

from lucca_sync.cli._console import EXIT_CONFIG, EXIT_ERROR, EXIT_OK, EXIT_SAFETY
from lucca_sync.cli._main import main

__all__ = ["EXIT_CONFIG", "EXIT_ERROR", "EXIT_OK", "EXIT_SAFETY", "main"]
