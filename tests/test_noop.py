"""A run where nothing changed is cheap: nothing copied, checked, rendered, delivered or written."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path

import pytest

from lucca_sync import ApiKey, LuccaDirectory, Safety, apply, plan
from lucca_sync.elevo import ElevoSink, _refusals
from lucca_sync.elevo import _sink as elevo_sink
from lucca_sync.sinks import TargetUser
from lucca_sync.testing import FakeLucca, MemorySink, generate_company

TODAY = date(2025, 3, 1)


@pytest.fixture
def fake() -> Iterator[FakeLucca]:
    with FakeLucca(generate_company(80, today=TODAY), today=TODAY) as served:
        yield served


def directory(fake: FakeLucca) -> LuccaDirectory:
    return LuccaDirectory(fake.url, ApiKey(fake.api_key), retries=0)


def elevo(folder: Path) -> ElevoSink:
    (folder / "drop").mkdir(exist_ok=True)
    return ElevoSink.to_directory(folder / "drop", state_dir=folder / "state")


def publish_once(fake: FakeLucca, folder: Path) -> ElevoSink:
    """The first publication, approved as a reviewer would."""
    sink = elevo(folder)
    made = plan(directory(fake), sink, today=TODAY, safety=Safety(enforce=False))
    assert not apply(made, sink, expected_digest=made.digest).failures
    sink.close()
    return elevo(folder)


class TestElevoNoOp:
    """An ElevoSink re-run that changes nothing renders, checks and writes nothing."""

    def test_nothing_is_rendered_delivered_or_written(
        self, fake: FakeLucca, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        publish_once(fake, tmp_path)
        (tmp_path / "drop" / "users.csv").unlink()

        def refuse(*_args: object, **_kwargs: object) -> bytes:
            raise AssertionError("a no-op run rendered the users file")

        monkeypatch.setattr(elevo_sink, "render", refuse)
        monkeypatch.setattr(_refusals.FileCheck, "settle", refuse)
        sink = elevo(tmp_path)
        again = plan(directory(fake), sink, today=TODAY)
        report = apply(again, sink)
        assert again.is_empty
        assert not report.failures
        # The state may record the run (its history); the users file is not written again.
        assert not (tmp_path / "drop" / "users.csv").exists()

    def test_the_state_is_compact_and_an_indented_one_still_reads(
        self, fake: FakeLucca, tmp_path: Path
    ) -> None:
        sink = publish_once(fake, tmp_path)
        text = sink.state_path.read_text(encoding="utf-8")
        assert text.count("\n") == 1  # one line of JSON
        # A state written by an earlier version (indented) is read as before.
        sink.state_path.write_text(json.dumps(json.loads(text), indent=1), encoding="utf-8")
        again = plan(directory(fake), elevo(tmp_path), today=TODAY)
        assert again.is_empty


class _Watching(MemorySink):
    """A MemorySink that counts users() calls and notes whether collection ran in create()."""

    def __init__(self) -> None:
        super().__init__()
        self.listed = 0
        self.collecting: list[bool] = []

    def users(self) -> list[TargetUser]:
        self.listed += 1
        return super().users()

    def create(self, key: str, fields: Mapping[str, str | None]) -> None:
        self.collecting.append(gc.isenabled())
        super().create(key, fields)


class TestApply:
    """apply() lists the target only when the plan touches someone, with collection paused."""

    def test_an_empty_plan_lists_the_target_once_only(self, fake: FakeLucca) -> None:
        sink = _Watching()
        apply(plan(directory(fake), sink, today=TODAY), sink)
        sink.listed = 0
        again = plan(directory(fake), sink, today=TODAY)
        apply(again, sink)
        assert again.is_empty
        assert sink.listed == 1  # by plan(); apply() had nobody to compare

    def test_collection_is_paused_while_applying(self, fake: FakeLucca) -> None:
        sink = _Watching()
        apply(plan(directory(fake), sink, today=TODAY), sink)
        assert sink.collecting
        assert not any(sink.collecting)
        assert gc.isenabled()
