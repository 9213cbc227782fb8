"""MemorySink: an inspectable in-memory sink with failure injection."""

from __future__ import annotations

import pytest

from lucca_sync import LuccaDirectory, TargetUser
from lucca_sync.exceptions import SinkError
from lucca_sync.testing import FakeLucca, MemorySink, Operation, make_lucca_user


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
