"""Where a status-list slot lives: list ids from 1, indexes from 0, no slot shared."""

from __future__ import annotations

import pytest

from service.store.status import LIST_CAPACITY, position


@pytest.mark.parametrize(
    "slot, expected",
    [
        (1, (1, 0)),
        (2, (1, 1)),
        (LIST_CAPACITY, (1, LIST_CAPACITY - 1)),
        (LIST_CAPACITY + 1, (2, 0)),
        (3 * LIST_CAPACITY + 7, (4, 6)),
    ],
)
def test_a_slot_maps_to_its_list_and_index(slot: int, expected: tuple[int, int]) -> None:
    assert position(slot) == expected


def test_consecutive_slots_never_share_a_position() -> None:
    around = range(LIST_CAPACITY - 3, LIST_CAPACITY + 4)
    assert len({position(slot) for slot in around}) == len(around)
