// The communities of one version: (:Community {key, id, model_version, size,
// top_interests, top_interest_names, interest_shares, written_at}); MERGE on the
// key (version/id) so a retried write is the same graph.
// $communities: [id, size, [interest ids], [names], [shares]] per community.
UNWIND $communities AS c
MERGE (n:Community {key: $version + '/' + c[0]})
SET n.id = c[0], n.model_version = $version, n.size = c[1], n.top_interests = c[2],
    n.top_interest_names = c[3], n.interest_shares = c[4], n.written_at = $written_at
RETURN count(n) AS n
