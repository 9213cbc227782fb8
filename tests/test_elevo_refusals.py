"""The Elevo file checks: a batch over a large snapshot checks only what it can affect.

``FileCheck`` checks the users a batch touched and those linked to them (a shared e-mail,
username, registration number or identifier, a manager link) rather than every row. These
properties hold it to the whole-file check it replaces: on a snapshot that was itself
settled, both refuse the same users, and settling leaves the same file.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from lucca_sync.elevo import _refusals
from lucca_sync.elevo._batch import Batch
from lucca_sync.elevo._csv import KEY, MANAGER, row_order
from lucca_sync.elevo._refusals import FileCheck
from lucca_sync.elevo._state import Entry
from lucca_sync.exceptions import SinkError

KEYS = [str(number) for number in range(1, 13)]
# Pools large enough for most users to be valid, small enough for values to collide (the same
# address written in another case, with spaces), with an invalid value now and then.
emails = st.sampled_from([*(f"u{n}@x.fr" for n in range(20)), "U1@x.fr ", "not-an-email", None])
usernames = st.sampled_from([*(f"user{n}" for n in range(20)), "USER1", None])
numbers = st.sampled_from([*(f"E{n}" for n in range(20)), "e1", None])
managers = st.sampled_from([*KEYS[:6], "99", None])


@st.composite
def field_sets(draw: st.DrawFn) -> dict[str, str | None]:
    return {
        "email": draw(emails),
        "username": draw(usernames),
        "registration_number": draw(numbers),
        MANAGER: draw(managers),
    }


@st.composite
def entries(draw: st.DrawFn, key: str) -> Entry:
    fields = {**draw(field_sets()), KEY: key}
    kind = draw(st.sampled_from(["row", "row", "row", "suspended", "excluded", "unmanaged"]))
    if kind == "unmanaged":
        # An export user: known by another identifier, by none, or by its key.
        fields[KEY] = draw(st.sampled_from([key, "X" + key, None]))
        return Entry(key, fields=fields, managed=False)
    return Entry(key, fields=fields, suspended=kind == "suspended", excluded=kind == "excluded")


@st.composite
def snapshots(draw: st.DrawFn) -> dict[str, Entry]:
    """A snapshot as a commit leaves it: settled, every row valid."""
    batch = Batch({})
    for key in draw(st.lists(st.sampled_from(KEYS), unique=True, min_size=4, max_size=12)):
        batch.put(key, draw(entries(key)))
    FileCheck({}).settle(batch)
    return batch.after()


Action = Callable[[Batch], None]


@st.composite
def actions(draw: st.DrawFn) -> Action:
    # "X1"…: an identifier an unmanaged export user may be known by, taken as a key.
    key = draw(st.sampled_from([*KEYS, "20", "21", "X1", "X2", "X3"]))
    kind = draw(st.sampled_from(["create", "update", "adopt", "suspend", "reactivate", "exclude"]))
    fields = {name: value for name, value in draw(field_sets()).items() if draw(st.booleans())}
    if kind == "create":
        return lambda batch: batch.create(key, fields)
    if kind == "update":
        return lambda batch: batch.update(key, fields)
    if kind == "adopt":
        new_key = draw(st.sampled_from(["20", "21", "22"]))
        return lambda batch: batch.update(key, fields, new_key=new_key)
    if kind == "reactivate":
        return lambda batch: batch.reactivate(key, fields)
    return lambda batch: getattr(batch, kind)(key)


def replay(published: dict[str, Entry], plan: list[Action]) -> Batch:
    batch = Batch(published)
    for action in plan:
        with contextlib.suppress(SinkError):  # refused by the batch, as apply() reports it
            action(batch)
    return batch


def whole_file() -> contextlib.AbstractContextManager[object]:
    """Check every row, whatever the batch touched."""
    return mock.patch.object(_refusals, "_WHOLE_FILE_SHARE", 0.0)


def by_index() -> contextlib.AbstractContextManager[object]:
    """Check the touched rows and those linked to them, whatever their number."""
    return mock.patch.object(_refusals, "_WHOLE_FILE_SHARE", float("inf"))


@settings(max_examples=400, deadline=None)
@given(published=snapshots(), plan=st.lists(actions(), max_size=6))
def test_the_index_refuses_what_the_whole_file_check_refuses(
    published: dict[str, Entry], plan: list[Action]
) -> None:
    batch = replay(published, plan)
    with whole_file():
        expected = FileCheck(published).check(batch)
    with by_index():
        found = FileCheck(published).check(batch)
    assert set(found) == set(expected)


@settings(max_examples=400, deadline=None)
@given(published=snapshots(), plan=st.lists(actions(), max_size=6))
def test_settling_by_the_index_leaves_the_same_file(
    published: dict[str, Entry], plan: list[Action]
) -> None:
    first, second = replay(published, plan), replay(published, plan)
    with whole_file():
        expected = FileCheck(published).settle(first)
    with by_index():
        found = FileCheck(published).settle(second)
    assert set(found.reasons) == set(expected.reasons)
    assert found.held == expected.held
    assert second.after() == first.after()
    # And every row left is valid, checked as a whole.
    everyone = sorted((key for key, _ in second.items()), key=row_order)
    assert _refusals._check(second, everyone, found.held) == {}


def row(number: int) -> Entry:
    """An active, managed user with an e-mail of their own."""
    return Entry(str(number), fields={KEY: str(number), "email": f"{number}@x.fr"})


def test_a_settled_snapshot_is_refused_nothing_when_untouched() -> None:
    published = {
        "1": Entry("1", fields={KEY: "1", "email": "a@x.fr"}),
        "2": Entry("2", fields={KEY: "2", "email": "b@x.fr", MANAGER: "1"}),
    }
    assert FileCheck(published).check(Batch(published)) == {}


def test_suspending_a_manager_refuses_their_untouched_report() -> None:
    published = {
        "1": Entry("1", fields={KEY: "1", "email": "a@x.fr"}),
        "2": Entry("2", fields={KEY: "2", "email": "b@x.fr", MANAGER: "1"}),
        **{str(n): row(n) for n in range(3, 40)},
    }
    batch = Batch(published)
    batch.suspend("1")
    refused = FileCheck(published).check(batch)
    assert list(refused) == ["2"]
    assert "manager_uniq_identifier 1" in refused["2"]


def test_a_new_user_taking_a_published_email_is_refused_and_the_owner_keeps_it() -> None:
    published = {str(n): row(n) for n in range(1, 40)}
    batch = Batch(published)
    batch.create("77", {"email": "5@X.fr", "username": "new"})
    assert list(FileCheck(published).check(batch)) == ["77"]


def test_a_new_user_keyed_by_an_export_users_identifier_is_refused() -> None:
    published = {
        "3": Entry("3", fields={KEY: "X3", "email": "a@x.fr"}, managed=False),
        **{str(n): row(n) for n in range(10, 40)},
    }
    batch = Batch(published)
    batch.create("X3", {"email": "b@x.fr"})
    refused = FileCheck(published).check(batch)
    assert list(refused) == ["X3"]
    assert "already the identifier of Elevo user 3" in refused["X3"]


@settings(max_examples=300, deadline=None)
@given(
    published=snapshots(),
    first=st.lists(actions(), min_size=1, max_size=6),
    then=st.lists(actions(), max_size=4),
)
def test_users_held_by_a_commit_are_checked_by_the_next_one(
    published: dict[str, Entry], first: list[Action], then: list[Action]
) -> None:
    batch = replay(published, first)
    held = FileCheck(published).settle(batch).held
    after = batch.after()
    second = replay(after, then)
    with whole_file():
        expected = FileCheck(after, held).check(second)
    with by_index():
        found = FileCheck(after, held).check(second)
    assert set(found) == set(expected)


def test_a_held_user_is_checked_again_by_an_unrelated_batch() -> None:
    published = {
        "1": row(1),
        "2": Entry("2", fields={KEY: "2", "email": "2@x.fr", MANAGER: "1"}),
        **{str(n): row(n) for n in range(3, 40)},
    }
    batch = Batch(published)
    batch.suspend("1")
    refusals = FileCheck(published).settle(batch)
    assert refusals.held == {"2"}
    later = Batch(batch.after())
    later.update("30", {"first_name": "Zoé"})
    assert list(FileCheck(batch.after(), refusals.held).check(later)) == ["2"]
