"""The validation split: stratified by group, chosen by a seeded hash of each file name."""
from __future__ import annotations

import hashlib
from collections import defaultdict

#: Share of each group held out for validation, and the smallest group that gives one.
VAL_FRACTION = 0.09
MIN_GROUP = 4


def _rank(name: str, seed: str) -> str:
    return hashlib.sha256(f"{seed}:{name}".encode()).hexdigest()


def validation(names: list[str], groups: list[str], seed: str = "palette-kit",
               fraction: float = VAL_FRACTION) -> set[str]:
    """The names held out: in each group of at least ``MIN_GROUP`` members, the ``round(fraction * n)``
    (at least one) whose seeded hashes are smallest. Independent of the order of ``names``."""
    members: dict[str, list[str]] = defaultdict(list)
    for name, group in zip(names, groups, strict=True):
        members[group].append(name)
    held = set()
    for group in members.values():
        if len(group) >= MIN_GROUP:
            held.update(sorted(group, key=lambda n: _rank(n, seed))[:max(1, round(fraction * len(group)))])
    return held
