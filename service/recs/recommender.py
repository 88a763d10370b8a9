"""The Recommender: one per worker, holding the worker's caches; what the API calls."""

from __future__ import annotations

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


@dataclass(frozen=True)
class Feedback:
    """The user's negative feedback: items never to show again, and the negative
    evidence per interest (profile.negative_evidence)."""

    rejected: tuple[str, ...] = ()
    negative: Mapping[str, float] | None = None


NO_FEEDBACK = Feedback()


class Recommender:
    def __init__(self, settings: ApiSettings, eventlog: ChangeLog | None = None) -> None:
        self.settings = settings
        self.published = PublishedModel(settings)
        self.snapshots = SnapshotKeeper(
            settings.recs_cache_s, settings.trending_tau_days * 86_400_000.0, settings.trending_limit
        )
        self.answers = ResponseCache(settings.recs_answer_cache, settings.recs_answer_ttl_s)
        self.eventlog = eventlog
        # RECS_FRESHNESS=feed: cached answers are checked against the tailed log (freshness.py)
        self.feed = (
            ChangeFeed(settings.recs_feed_poll_ms, settings.recs_feed_settle_ms, self.answers.clear)
            if settings.recs_freshness == "feed" and eventlog is not None and self.answers.enabled
            else None
        )

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
        feedback: Callable[[], Feedback] = lambda: NO_FEEDBACK,
        blend: tuple[tuple[str, float], ...] = (),
        pin: str | None = None,
    ) -> tuple[CachedAnswer, bool]:
        """`recommend` serialised by `dumps`, from the answer cache when nothing it
        depends on changed (see caches.py, freshness.py); returns (answer, cache hit).
        `feedback` reads the user's negative feedback: on every request when the cache
        checks the stores, only to compute an answer with the change feed."""
        exclude = tuple(exclude)
        params = (k, strategy, exclude, interest, explain, blend, pin)
        if not self.answers.enabled:
            fb = feedback()
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
            fb = feedback()
        else:
            state = store.user_state(user_id)
            fb = feedback()  # log-only events: the graph's rev does not move with them
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
