"""MemorySink: an inspectable in-memory sink with failure injection."""

from __future__ import annotations

from collections.abc import Callable
from typing import get_args

import pytest

from lucca_sync import LuccaDirectory, TargetUser
from lucca_sync.exceptions import SinkError
from lucca_sync.testing import FailingOperation, FakeLucca, MemorySink, Operation, make_lucca_user


class TestOperations:
    """Operations change users_by_key and are logged."""

    def test_create_update_suspend_reactivate(self) -> None:
        sink = MemorySink()
        sink.create("1", {"uniq_identifier": "1", "job_title": "Dev"})
        sink.update("1", {"job_title": "Lead"})
        sink.suspend("1")
        assert sink.users_by_key["1"].suspended
        sink.reactivate("1", {"job_title": "CTO"})
        user = sink.users_by_key["1"]
        assert (user.suspended, user.fields["job_title"]) == (False, "CTO")
        assert [op.name for op in sink.log] == ["create", "update", "suspend", "reactivate"]
        assert sink.log[1] == Operation("update", "1", {"job_title": "Lead"})

    def test_adoption_renames_and_manages_the_user(self) -> None:
        sink = MemorySink([TargetUser(key="old", fields={"uniq_identifier": "old"}, managed=False)])
        sink.update("old", {}, new_key="7")
        assert list(sink.users_by_key) == ["7"]
        assert sink.users_by_key["7"].managed
        assert sink.users_by_key["7"].fields["uniq_identifier"] == "7"

    def test_unknown_keys_raise_sink_error_with_the_key(self) -> None:
        with pytest.raises(SinkError) as caught:
            MemorySink().suspend("404")
        assert caught.value.key == "404"

    def test_unaccepted_fields_are_refused(self) -> None:
        sink = MemorySink(accepted_fields={"uniq_identifier"})
        assert not sink.accepts_field("job_title")
        with pytest.raises(SinkError, match="job_title"):
            sink.create("1", {"uniq_identifier": "1", "job_title": "Dev"})


class TestBatches:
    """abort rolls back; refusals roll back one record; failures are injected on demand."""

    def test_abort_restores_the_state_before_begin(self) -> None:
        sink = MemorySink([TargetUser(key="1")])
        sink.begin()
        sink.suspend("1")
        sink.create("2", {})
        sink.abort()
        assert sink.users() == [TargetUser(key="1")]

    def test_a_refused_record_is_rolled_back_and_returned(self) -> None:
        sink = MemorySink()
        sink.refuse_on_commit("2", "bad e-mail")
        sink.begin()
        sink.create("1", {})
        sink.create("2", {})
        assert sink.commit() == {"2": "bad e-mail"}
        assert list(sink.users_by_key) == ["1"]

    def test_injected_failures_stop_after_the_given_count(self) -> None:
        sink = MemorySink()
        sink.fail_on("create", times=2)
        for _ in range(2):
            with pytest.raises(SinkError):
                sink.create("1", {})
        sink.create("1", {})
        assert "1" in sink.users_by_key

    def test_a_failing_commit_raises(self) -> None:
        sink = MemorySink()
        sink.fail_commit("disk full")
        sink.begin()
        with pytest.raises(SinkError, match="disk full"):
            sink.commit()

    def test_duplicate_initial_keys_are_refused(self) -> None:
        with pytest.raises(ValueError, match="duplicate"):
            MemorySink([TargetUser(key="1"), TargetUser(key="1")])


class TestOperationNames:
    """Operation names are checked at run time: a typo raises instead of injecting nothing."""

    def test_fail_on_a_misspelt_operation_raises_and_suggests_the_name(self) -> None:
        sink = MemorySink()
        with pytest.raises(ValueError, match=r"unknown operation 'creat'; did you mean 'create'\?"):
            sink.fail_on("creat", "1")  # type: ignore[arg-type]  # the typo under test

    def test_commit_is_not_a_fail_on_operation(self) -> None:
        with pytest.raises(ValueError, match="unknown operation 'commit'"):
            MemorySink().fail_on("commit")  # type: ignore[arg-type]  # fail_commit() does that

    def test_fail_on_needs_at_least_one_failure(self) -> None:
        with pytest.raises(ValueError, match="times must be at least 1"):
            MemorySink().fail_on("create", times=0)

    def test_every_failing_operation_name_makes_its_call_fail(self) -> None:
        sink = MemorySink([TargetUser(key="1")])
        calls: dict[str, Callable[[], object]] = {
            "begin": sink.begin,
            "create": lambda: sink.create("2", {}),
            "update": lambda: sink.update("1", {}),
            "reactivate": lambda: sink.reactivate("1", {}),
            "suspend": lambda: sink.suspend("1"),
            "exclude": lambda: sink.exclude("1"),
        }
        assert sorted(calls) == sorted(get_args(FailingOperation))
        for name in get_args(FailingOperation):
            sink.fail_on(name)
            with pytest.raises(SinkError, match=f"injected {name} failure"):
                calls[name]()

    def test_an_operation_with_a_misspelt_name_cannot_be_built(self) -> None:
        with pytest.raises(ValueError, match="'name' must be in"):
            Operation("creat", "1")  # type: ignore[arg-type]  # the typo under test


class TestPytestPlugin:
    """The opt-in fixtures give an empty sink and a directory on a running fake Lucca."""

    def test_memory_sink_fixture_is_an_empty_memory_sink(self, memory_sink: MemorySink) -> None:
        assert isinstance(memory_sink, MemorySink)
        assert memory_sink.users() == []

    def test_lucca_directory_reads_the_fake_lucca_fixture(
        self, fake_lucca: FakeLucca, lucca_directory: LuccaDirectory
    ) -> None:
        fake_lucca.add_user(make_lucca_user(id=12, firstName="Zoé"))
        assert [e.id for e in lucca_directory.list_employees()] == [12]
