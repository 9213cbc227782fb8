"""check_sink: passes for a correct sink, names the check that fails for a broken one."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from lucca_sync import Plan, TargetUser
from lucca_sync.testing import MemorySink, check_sink


def seed(sink: object, user: TargetUser) -> None:
    assert isinstance(sink, MemorySink)
    sink.users_by_key[user.key] = user


class TestPassing:
    """MemorySink passes every check."""

    def test_memory_sink_passes_every_check(self) -> None:
        result = check_sink(MemorySink, seed=seed, transactional=True)
        assert "create round-trip" in result.passed
        assert "adoption" in result.passed
        assert "plan, apply, re-plan is empty" in result.passed
        assert "generation follows the users" in result.passed
        assert "run history keeps every applied run" in result.passed
        assert "check_plan writes nothing" in result.passed
        assert not result.skipped

    def test_optional_checks_are_listed_as_skipped(self) -> None:
        result = check_sink(MemorySink)
        assert "adoption" not in result.passed
        assert len(result.skipped) == 2


class LosesAccents(MemorySink):
    def create(self, key: str, fields: Mapping[str, str | None]) -> None:
        ascii_only = {
            k: v.encode("ascii", "replace").decode() if v else v for k, v in fields.items()
        }
        super().create(key, ascii_only)


class ForgetsSuspension(MemorySink):
    def suspend(self, key: str) -> None:
        self._existing(key)


class SilentOnUnknownKeys(MemorySink):
    def update(
        self, key: str, changes: Mapping[str, str | None], *, new_key: str | None = None
    ) -> None:
        if key in self.users_by_key:
            super().update(key, changes, new_key=new_key)


class Prefilled(MemorySink):
    def __init__(self) -> None:
        super().__init__([TargetUser(key="x")])


class KeepsLastRunOnly(MemorySink):
    def append_history(self, record: Mapping[str, object]) -> None:
        self.history[:] = [dict(record)]


class RaisesValueError(MemorySink):
    def suspend(self, key: str) -> None:
        raise ValueError("not a SinkError")


class PicksOnEveryone(MemorySink):
    def check_plan(self, plan: Plan) -> Mapping[str, str]:
        return {create.key: "refused" for create in plan.creates}


class FrozenGeneration(MemorySink):
    def generation(self) -> int:
        return 4


class TestFailing:
    """A broken sink fails with the name of the check and what was expected."""

    @pytest.mark.parametrize(
        ("factory", "message"),
        [
            (LosesAccents, "create round-trip: after create: field 'first_name' reads back as"),
            (ForgetsSuspension, "suspend and reactivate: a suspended user must read back"),
            (SilentOnUnknownKeys, "unknown keys surface as SinkError: update of an unknown key"),
            (Prefilled, "the factory must return an empty sink"),
            (PicksOnEveryone, "check_plan writes nothing: check_plan\\(\\) refused valid"),
            (FrozenGeneration, "generation follows the users: generation\\(\\) is still 4"),
            (KeepsLastRunOnly, "run history keeps every applied run: load_history"),
        ],
    )
    def test_the_failure_names_the_check(self, factory: type[MemorySink], message: str) -> None:
        with pytest.raises(AssertionError, match=message):
            check_sink(factory)

    def test_an_exception_other_than_sink_error_fails_the_check(self) -> None:
        with pytest.raises(AssertionError, match="raised ValueError; a sink signals") as caught:
            check_sink(RaisesValueError)
        assert isinstance(caught.value.__cause__, ValueError)
