"""The Recommender: one per worker, holding the worker's caches; what the API calls."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from graph_schema.clock import now_ms
from graph_schema.store.serving import ServingReads
from graph_schema.store.serving_rows import UserProfile
from service.config import ApiSettings
from service.recs import profile, ranking, similar
from service.recs.caches import CachedAnswer, KeptPerUser, ResponseCache
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


class Recommender:
    def __init__(self, settings: ApiSettings, eventlog: ChangeLog | None = None) -> None:
        self.settings = settings
        self.published = PublishedModel(settings)
        self.snapshots = SnapshotKeeper(
            settings.recs_cache_s, settings.trending_tau_days * 86_400_000.0, settings.trending_limit
        )
        self.answers = ResponseCache(settings.recs_answer_cache, settings.recs_answer_ttl_s)
        # each user's negative feedback terms and profile, while the change feed sees the
        # user unchanged: a computed answer then asks no store (see _profile)
        self.terms: KeptPerUser[NegativeTerms] = KeptPerUser(settings.recs_cache_items, settings.recs_answer_ttl_s)
        self.profiles: KeptPerUser[UserProfile] = KeptPerUser(settings.recs_profile_cache, settings.recs_answer_ttl_s)
        self.eventlog = eventlog
        # RECS_FRESHNESS=feed: cached answers, feedback terms and profiles are checked
        # against the tailed log (freshness.py). With neither answers nor profiles kept
        # there is no feed (its polls would cost more than the terms save: bench/api.py)
        self.feed = (
            ChangeFeed(settings.recs_feed_poll_ms, settings.recs_feed_settle_ms, self._forget_users)
            if settings.recs_freshness == "feed"
            and eventlog is not None
            and (self.answers.enabled or self.profiles.enabled)
            else None
        )

    def _forget_users(self) -> None:
        self.answers.clear()
        self.terms.clear()
        self.profiles.clear()

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
        self.profiles.clear()

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
        request without the change feed (RECS_FRESHNESS=check, or neither answers nor
        profiles kept); with it, only when the user changed since the worker last read
        them (KeptPerUser): an answer computed for other parameters, after a publish or
        after its entry expired reads no log."""
        exclude = tuple(exclude)
        params = (k, strategy, exclude, interest, explain, blend, pin)
        if self.feed is not None and self.eventlog is not None:
            self.feed.current(self.eventlog, store)
        if not self.answers.enabled:
            fb = self._feedback(user_id, feedback)
            result = self.recommend(
                store, user_id, k, strategy, exclude + fb.rejected, interest, explain,
                negative=fb.negative, blend=blend, pin=pin,
            )  # fmt: skip
            return CachedAnswer(dumps(result), result["strategy"], model_version=result["model_version"]), False
        key: tuple[Any, ...]
        if self.feed is not None:
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
        terms = read() if self.feed is None else self.terms.get_or_read(user_id, self.feed.generation(user_id), read)
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
        prof = self._profile(store, user_id)
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

    def _profile(self, store: ServingReads, user_id: str) -> UserProfile:
        """The user's profile: read from the graph (one round trip), or, with the change
        feed, the one this worker read last while the feed has seen no change of the user
        and the published version is the one it was read with. The live parts are
        recomputed from it at each use (evidence decayed to now, negative feedback, the
        fresh anchors after the learned ranking), so a computed answer from a kept
        profile is the answer a fresh read gives. What it does not see is bounded by
        RECS_ANSWER_TTL_S, as for cached answers: the people a user follows acting
        (social rows), a catalogue title changing."""
        feed = self.feed
        if feed is None or self.eventlog is None or not self.profiles.enabled:
            return profile.load(store, user_id, self.settings)
        feed.current(self.eventlog, store)  # (answer() polled already; the console calls recommend())
        generation = feed.generation(user_id)  # before the read (KeptPerUser)
        kept = self.profiles.get(user_id, generation)
        # (an unknown user's profile names no version: a cold start does not depend on one)
        if kept is not None and (kept.published == feed.model_version or not kept.read_published):
            return kept
        prof = profile.load(store, user_id, self.settings)
        self.profiles.put(user_id, generation, self._kept(store, user_id, prof))
        return prof

    def _kept(self, store: ServingReads, user_id: str, prof: UserProfile) -> UserProfile:
        """`prof` as the worker keeps it: the same values, its item ids (seen, and the
        learned ranking's when the version's snapshot holds the same ranking) the
        snapshot's strings, shared instead of one copy per profile (~16 KB a MovieLens
        profile instead of ~40 as parsed)."""
        if not prof.read_published or prof.published is None:
            return prof
        model = self.published.snapshot(store, prof.published, prof.published_at)
        if model is None or model.version != prof.published:
            return prof
        ids, index = model.ids, model.index
        seen = tuple(ids[row] if (row := index.get(i)) is not None else i for i in prof.seen)
        side = model.users.user(user_id) if model.users is not None and prof.ranking else None
        if side is None or (side.ranking, side.ranking_at) != (prof.ranking, prof.ranking_at):
            return dataclasses.replace(prof, seen=seen)
        return dataclasses.replace(prof, seen=seen, ranking=side.ranking)

    def similar_items(self, store: ServingReads, item_id: str, k: int) -> dict[str, Any]:
        return similar.similar_items(store, item_id, k, self.model_version(store))
