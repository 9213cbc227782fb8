"""Elevo as a sync target: its users snapshot file, delivered to a folder or over SFTP.

Elevo publishes no API. :class:`ElevoSink` writes the complete users file Elevo imports
(``uniq_identifier`` = the Lucca id) and delivers it with a :class:`Delivery`:
:class:`DirectoryDelivery` (a local folder) or :class:`SftpDelivery` (Elevo's SFTP server,
``pip install 'lucca-sync[sftp]'``), encrypted for Elevo's OpenPGP key with :class:`Encryption`
(``pip install 'lucca-sync[gpg]'``) if asked.

Where things live, in the order a run uses them:

- ``_state.py`` — what the last published file held (the sink's memory between runs), the run
  history and its count, the incremental-sync state;
- ``_lock.py`` — one run at a time: the state folder's ``flock`` and who holds it;
- ``_recovery.py`` — trusting the state or refusing it (`StateRecoveryError`), and rebuilding
  it from the published file or an export;
- ``_batch.py`` — a run's changes over the published snapshot, copy on write;
- ``_refusals.py`` — what Elevo would refuse in the file (values, duplicates, managers), found
  for the users a batch touched, and settling the batch until nothing is refused;
- ``_rows.py`` — which users the file names, as full or ``skip`` rows, by which identifier;
- ``_csv.py`` — Elevo's columns, value checks, CSV rendering and quoting, reading exports;
- ``_sink.py`` — `ElevoSink`: the `Sink` lifecycle over those steps;
- ``_encryption.py`` — `Encryption`, `RecipientKey`: Elevo's OpenPGP key, checked, and
  encrypting the file in memory (pysequoia);
- ``_atomic.py`` — writing a file so a reader never sees half of it;
- ``_delivery.py`` — `DirectoryDelivery` (a folder) and `SftpDelivery` (paramiko).
"""

from __future__ import annotations

from lucca_sync.elevo._csv import COLUMNS
from lucca_sync.elevo._delivery import (
    Delivery,
    DirectoryDelivery,
    ReadableDelivery,
    SftpDelivery,
    UncertainDeliveryError,
)
from lucca_sync.elevo._encryption import Encryption, RecipientKey
from lucca_sync.elevo._lock import StateLockedError
from lucca_sync.elevo._recovery import StateRecoveryError
from lucca_sync.elevo._sink import ElevoSink

__all__ = [
    "COLUMNS",
    "Delivery",
    "DirectoryDelivery",
    "ElevoSink",
    "Encryption",
    "ReadableDelivery",
    "RecipientKey",
    "SftpDelivery",
    "StateLockedError",
    "StateRecoveryError",
    "UncertainDeliveryError",
]
