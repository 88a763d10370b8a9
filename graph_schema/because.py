"""What one entry of a user's learned ranking is there because of (User.recs_because).

The refresh (training.user_lists) writes one string per ranked item, or an empty list
when none has a reason (graph_schema.store.serving.reasons pads it back), and the API
(service.recs.sources.learned) reads it back:

- "" : no single reason;
- an item id : the user's known item that contributes most through the item-item weights;
- FOLLOWED, then the count and the people, separated by SEP : the item is there mostly
  because people the user follows took it ("liked by 3 people you follow").

FOLLOWED and SEP are control characters, which no item or user id may contain (ingestion
rejects them: service/ingest/schemas.py ID_PATTERN), so the two kinds cannot be confused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

FOLLOWED = "\x1efollowed"
SEP = "\x1f"


@dataclass(frozen=True, slots=True)
class SocialBecause:
    count: int  # how many of the people the user follows took the item
    people: tuple[str, ...]  # some of them, the largest contribution first


def followed_because(count: int, people: Sequence[str]) -> str:
    return SEP.join([FOLLOWED, str(count), *people])


def liked_by_followed(because: str | None) -> SocialBecause | None:
    """The people behind a social `because`; None for any other."""
    if not because or not because.startswith(FOLLOWED + SEP):
        return None
    _, count, *people = because.split(SEP)
    return SocialBecause(int(count), tuple(people))
