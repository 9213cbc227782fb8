"""Elevo as a sync target: its users snapshot file, delivered to a folder or over SFTP.

Elevo publishes no API. :class:`ElevoSink` writes the complete users file Elevo imports
(``uniq_identifier`` = the Lucca id) and delivers it with a :class:`Delivery`:
:class:`DirectoryDelivery` (a local folder) or :class:`SftpDelivery` (Elevo's SFTP server,
``pip install 'lucca-sync[sftp]'``), encrypted for Elevo's OpenPGP key with :class:`Encryption`
(``pip install 'lucca-sync[gpg]'``) if asked.

Where things live, in the order a run uses them:

- ``_state.py`` — what the last published file held (the sink's memory between runs);
- ``_csv.py`` — Elevo's columns, value checks, CSV rendering and quoting, reading exports;
- ``_lock.py`` — one run at a time: the state folder's ``flock`` and who holds it;
- ``_recovery.py`` — a state that cannot be trusted: the error that stops the run, the rebuild
  from the published file or an export;
- ``_sink.py`` — `ElevoSink`: the `Sink` lifecycle over the snapshot;
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
