"""The Recommender: one per worker, holding the worker's caches; what the API calls."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from graph_schema.clock import now_ms
from graph_schema.store.serving import ServingReads
from service.config import ApiSettings
from service.recs import profile, ranking, similar
from service.recs.caches import CachedAnswer, ResponseCache
from service.recs.context import Context
from service.recs.freshness import ChangeFeed, ChangeLog
from service.recs.published import NOT_READ, PublishedModel
from service.recs.snapshot import Snapshot, SnapshotKeeper


class UnknownInterest(LookupError):
    pass


# a user's negative feedback as the event log holds it: (item, |weight|, ts, the item's interests)
NegativeTerms = list[tuple[str, float, int, list[str]]]


@dataclass(frozen=True)
class Feedback:
    """The user's negative feedback: items never to show again, and the negative
    evidence per interest (profile.negative_evidence)."""

    rejected: tuple[str, ...] = ()
    negative: Mapping[str, float] | None = None


NO_FEEDBACK = Feedback()


class FeedbackTerms:
    """Each user's negative feedback terms, kept by the worker under the user's change-feed
    generation (freshness.py): a new event of the user, a delete or a reset of the feed
    makes the entry unreachable, as it does the user's cached answers. So a computed answer
    reads them from the event log only when something of the user's changed; the evidence
    is decayed from the terms at each use, so it is the same as a fresh read's. Entries
    live at most `ttl_s`; everything goes past `capacity` entries."""

    def __init__(self, capacity: int, ttl_s: float) -> None:
        self.capacity, self.ttl_s = capacity, ttl_s
        self._data: dict[tuple[str, int], tuple[float, NegativeTerms]] = {}
        self._lock = threading.Lock()

    def get(self, user_id: str, generation: int, read: Callable[[], NegativeTerms]) -> NegativeTerms:
        key, now = (user_id, generation), time.monotonic()
        found = self._data.get(key)
        if found is not None and found[0] > now:
            return found[1]
        terms = read()
        with self._lock:
            if len(self._data) >= self.capacity:
                self._data = {}
            self._data[key] = (now + self.ttl_s, terms)
        return terms

    def clear(self) -> None:
        with self._lock:
            self._data = {}


class Recommender:
    def __init__(self, settings: ApiSettings, eventlog: ChangeLog | None = None) -> None:
        self.settings = settings
        self.published = PublishedModel(settings)
        self.snapshots = SnapshotKeeper(
            settings.recs_cache_s, settings.trending_tau_days * 86_400_000.0, settings.trending_limit
        )
        self.answers = ResponseCache(settings.recs_answer_cache, settings.recs_answer_ttl_s)
        self.terms = FeedbackTerms(settings.recs_cache_items, settings.recs_answer_ttl_s)
        self.eventlog = eventlog
        # RECS_FRESHNESS=feed: cached answers and feedback terms are checked against the
        # tailed log (freshness.py). With the answer cache off there is no feed (its polls
        # cost more than the terms save when every answer is computed: bench/api.py)
        self.feed = (
            ChangeFeed(settings.recs_feed_poll_ms, settings.recs_feed_settle_ms, self._forget_users)
            if settings.recs_freshness == "feed" and eventlog is not None and self.answers.enabled
            else None
        )

    def _forget_users(self) -> None:
        self.answers.clear()
        self.terms.clear()

    def touched(self, users: Iterable[str]) -> None:
        """This worker changed these users (events, a delete): their cached answers go."""
        if self.feed is not None:
            self.feed.touch(users)

    def model_version(self, store: ServingReads, known: Any = NOT_READ) -> str | None:
        """The published version: `known` when the caller just read it, else cached for 5 s."""
        return self.published.version(store, known)

    def snapshot(self, store: ServingReads) -> Snapshot:
        return self.snapshots.get(store)

    def invalidate(self) -> None:
        """Forget the model version, the snapshot and every cached answer."""
        self.published.forget_version()
        self.snapshots.drop()
        self.answers.clear()

    def answer(
        self,
        store: ServingReads,
        user_id: str,
        dumps: Callable[[Any], bytes],
        k: int = 20,
        strategy: str = "blend",
        exclude: Iterable[str] = (),
        interest: str | None = None,
        explain: bool = True,
        feedback: Callable[[], NegativeTerms] = list,
        blend: tuple[tuple[str, float], ...] = (),
        pin: str | None = None,
    ) -> tuple[CachedAnswer, bool]:
        """`recommend` serialised by `dumps`, from the answer cache when nothing it
        depends on changed (see caches.py, freshness.py); returns (answer, cache hit).
        `feedback` reads the user's negative feedback terms from the event log: on every
        request when the cache checks the stores (or is off); with the change feed, only
        when the user changed since the worker last read them (FeedbackTerms): an answer
        computed for other parameters, after a publish or after its entry expired reads
        no log."""
        exclude = tuple(exclude)
        params = (k, strategy, exclude, interest, explain, blend, pin)
        if not self.answers.enabled:
            fb = self._feedback(user_id, feedback)
            result = self.recommend(
                store, user_id, k, strategy, exclude + fb.rejected, interest, explain,
                negative=fb.negative, blend=blend, pin=pin,
            )  # fmt: skip
            return CachedAnswer(dumps(result), result["strategy"], model_version=result["model_version"]), False
        key: tuple[Any, ...]
        if self.feed is not None and self.eventlog is not None:
            self.feed.current(self.eventlog, store)
            mv: Any = self.feed.model_version
            key = (user_id, self.feed.generation(user_id), mv, *params)
            hit = self.answers.get(key)
            if hit is not None:
                return hit, True
            fb = self._feedback(user_id, feedback)
        else:
            state = store.user_state(user_id)
            fb = self._feedback(user_id, feedback)  # log-only events: the graph's rev does not move with them
            mv = state.model_version
            key = (user_id, state.known, state.rev, mv, fb.rejected, *params)
            hit = self.answers.get(key)
            if hit is not None:
                return hit, True
        result = self.recommend(
            store, user_id, k, strategy, exclude + fb.rejected, interest, explain, mv, fb.negative, blend, pin
        )
        answer = self.answers.put(key, dumps(result), result["strategy"], result["model_version"])
        return answer, False

    def _feedback(self, user_id: str, read: Callable[[], NegativeTerms]) -> Feedback:
        terms = read() if self.feed is None else self.terms.get(user_id, self.feed.generation(user_id), read)
        if not terms:
            return NO_FEEDBACK
        rejected = tuple(sorted({item for item, *_ in terms}))
        return Feedback(rejected, profile.negative_evidence(terms, now_ms(), self.settings.evidence_tau_ms))

    def recommend(
        self,
        store: ServingReads,
        user_id: str,
        k: int = 20,
        strategy: str = "blend",
        exclude: Iterable[str] = (),
        interest: str | None = None,
        explain: bool = True,
        model_version: Any = NOT_READ,
        negative: Mapping[str, float] | None = None,
        blend: tuple[tuple[str, float], ...] = (),
        pin: str | None = None,
    ) -> dict[str, Any]:
        """Recommendations for a user, as the API answers them; UnknownInterest for an
        `interest` the graph does not know. `pin`: serve that model version (an
        experiment arm) from its kept snapshot; the published one if this host has none."""
        snap = self.snapshot(store)
        if interest is not None and not snap.knows_interest(store, interest):
            raise UnknownInterest(interest)
        prof = profile.load(store, user_id, self.settings)
        if model_version is NOT_READ and prof.read_published:  # read with the profile
            model_version = prof.published
        mv = self.model_version(store, model_version)
        if negative:  # negative feedback lowers the live evidence (profile.negative_evidence)
            prof = profile.lowered(prof, dict(negative), now_ms(), self.settings.evidence_tau_ms)
        # the snapshot of the publish the profile saw (a cache hit's version may be older)
        model = (
            self.published.snapshot(store, mv, prof.published_at)
            if prof.read_published and prof.published == mv
            else None
        )
        pinned = self.published.shared.of_version(pin) if pin is not None and pin != mv else None
        if pinned is not None and pinned.users is not None:
            prof = profile.as_of(prof, pinned.version, pinned.users.user(user_id))
            mv, model = pinned.version, pinned
        ctx = Context(
            store=store,
            published=self.published,
            settings=self.settings,
            user_id=user_id,
            profile=prof,
            snapshot=snap,
            model_version=mv,
            excluded=frozenset(exclude).union(prof.seen),
            n=k,
            interest=interest,
            blend=blend,
            model=model,
            pinned=pinned is not None,
        )
        return ranking.recommend(ctx, strategy, explain)

    def similar_items(self, store: ServingReads, item_id: str, k: int) -> dict[str, Any]:
        return similar.similar_items(store, item_id, k, self.model_version(store))
