"""The refresh's text steps: embed the changed texts before the pull, write the text tags
after publishing (training.refresh calls both; each is a no-op when text is off).

Text tags are written only once the run has published, under its model_version, because
live evidence counts a text tag only while its version is the published one: the tags of a
run that is rejected never reach a user's evidence.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from training import text
from training.data import TrainingData
from training.options import RefreshOptions
from training.text_cache import TextVectorCache
from training.text_sync import TextSync, sync_texts
from training.text_tags import MAX_TAGS_PER_ITEM, tag_rows, threshold_on_known

if TYPE_CHECKING:
    from training.store_protocol import RefreshStore

log = logging.getLogger(__name__)

# The encoder's libraries are imported with this module, that is when a refresh job loads
# training.refresh, before it takes its lease: importing sentence-transformers holds the
# interpreter for seconds at a time (1.8 s measured), starving the lease's heartbeat thread.
if text.missing_dependency() is None:
    import sentence_transformers  # noqa: F401


def text_off_reason(opts: RefreshOptions) -> str | None:
    """Why this refresh runs without text (None: it runs with it)."""
    if not opts.text_features:
        return "TEXT_FEATURES is off"
    return text.missing_dependency()


def embed_texts(store: RefreshStore, opts: RefreshOptions, cache: TextVectorCache | None = None) -> TextSync | None:
    """The text vectors of every item and interest, the changed ones embedded (the others
    from `cache` where it has them); None without text."""
    reason = text_off_reason(opts)
    if reason:
        log.warning("refresh runs without text features: %s", reason)
        return None
    return sync_texts(
        store, text.encoder_device(opts.train.device), opts.text_batch_size, cache, precision=opts.text_precision
    )


def catalogue_tags(data: TrainingData) -> dict[str, set[str]]:
    """item id -> the interests the catalogue tags it with (the pulled tags are the catalogue's)."""
    out: dict[str, set[str]] = {}
    for item, interest in zip(data.tag_item.tolist(), data.tag_interest.tolist(), strict=True):
        out.setdefault(data.items.ids[item], set()).add(data.interests.ids[interest])
    return out


def write_text_tags(
    store: RefreshStore,
    opts: RefreshOptions,
    texts: TextSync | None,
    data: TrainingData,
    model_version: str,
    previous: str | None = None,
) -> dict[str, int]:
    """After publishing: replace the items' text tags with this run's (TEXT_TAGS), or remove
    them all (the catalogue opted out); counts for the run's record. When they would come out
    as `previous`'s (the version published before this run: no text embedded, the catalogue
    unchanged since, the same settings), they are moved to this version instead of rewritten.
    The model is already published and serving: a failure here is logged (and counted),
    never raised."""
    try:
        return _write_text_tags(store, opts, texts, data, model_version, previous)
    except Exception as exc:
        log.warning("text tags of %s not written: %s", model_version, exc)
        return {"text_tags_failed": 1}


def _write_text_tags(
    store: RefreshStore,
    opts: RefreshOptions,
    texts: TextSync | None,
    data: TrainingData,
    model_version: str,
    previous: str | None,
) -> dict[str, int]:
    if not opts.text_tags:
        return {"text_tags_removed": store.remove_text_tags()}
    if texts is None or not texts.items.ids or not texts.interests.ids:
        return {}
    # what the tags are chosen with besides the texts and the catalogue
    key = f"{text.MODEL_VERSION}|{opts.text_tag_threshold}|{MAX_TAGS_PER_ITEM}"
    unchanged = not texts.counts.get("item_texts_embedded") and not texts.counts.get("interest_texts_embedded")
    if previous is not None and unchanged:
        # the same texts, catalogue and settings give the same tags: 3.3 s of a 1M-event
        # incremental run rewrote 24k identical edges. The store checks, in the write that
        # moves them, that they are previous's and chosen at the catalogue this run read.
        carried = store.retag_text_tags(previous, model_version, key, texts.catalogue_rev)
        if carried is not None:
            log.info("text tags: %d carried from %s", carried, previous)
            return {"text_tags_carried": carried}
    items, interests = texts.items, texts.interests
    catalogue = catalogue_tags(data)
    threshold = opts.text_tag_threshold
    if threshold is None:
        threshold = threshold_on_known(items.ids, items.vectors, interests.ids, interests.vectors, catalogue)
    rows = tag_rows(items.ids, items.vectors, interests.ids, interests.vectors, threshold, catalogue)
    written = store.write_text_tags(rows, model_version, text.MODEL_VERSION)
    store.mark_text_tags(model_version, key, texts.catalogue_rev)
    log.info("text tags: %d written at threshold %.2f", written, threshold)
    return {"text_tags": written}
