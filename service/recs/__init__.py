"""Recommendations: candidate sources, the blend and its explanations, similar items.

Sources of candidates for a user (sources/, each scored, then normalised to 0..1):

- graph:     with a published model, the SIMILAR_TO neighbours (of that model
             version) of the user's recent items, weighted by the decayed
             weight of the interaction; evidence: the anchor item ("similar to
             <title>"). Without a model (or without neighbours for the
             anchors), co-interaction: items of users who share the user's
             items ("users with similar taste also liked").
- interest:  the most popular (trending) items of the user's strongest
             interests: published strength when the model has one, live
             decayed evidence otherwise ("matches your interest <name>").
- embedding: user·item dot product of the published embeddings, used to
             re-rank the pooled candidates ("fits your taste profile").
- trending:  time-decayed popularity; a small prior in the blend, the fill when
             other sources run dry, and the whole answer for a cold start.

Seen items (the user's most recent RECS_SEEN_LIMIT interactions) and
`exclude` ids never come back; `interest=` keeps only items tagged with it.

Per-worker caches keep the hot path at one or two graph round trips: the
trending snapshot (snapshot.py, refreshed in the background every RECS_CACHE_S),
the published model version (5 s) and per model version the neighbour lists and
item embeddings (published.py), and finished answers (caches.py). A new model
version simply misses the caches.

Modules: recommender.py (the facade the API uses), ranking.py (one request:
sources, blend, fill), blend.py (weights, totals, explanations), evidence.py,
context.py (what every source gets and returns), profile.py (the user's
interests and the published-strength rule), snapshot.py, published.py,
caches.py, similar.py (similar items). Nothing here imports Flask or service.api.
"""
