// Which interests are rising in a community: each interest's share of the members'
// interest weight in the newest version against the version before (0 if absent then)?
// params: {"community_id": "c1"}
MATCH (c:Community {id: $community_id})
WITH c ORDER BY c.written_at DESC
WITH collect(c)[..2] AS cs
WHERE size(cs) > 0
WITH cs[0] AS now, CASE WHEN size(cs) > 1 THEN cs[1] ELSE null END AS before
UNWIND range(0, size(now.top_interests) - 1) AS k
WITH now, before, now.top_interests[k] AS interest_id, now.top_interest_names[k] AS interest,
     now.interest_shares[k] AS share_now
WITH interest_id, interest, share_now, now.model_version AS version_now, before.model_version AS version_before,
     [j IN range(0, size(coalesce(before.top_interests, [])) - 1)
      WHERE before.top_interests[j] = interest_id | before.interest_shares[j]] AS earlier
RETURN interest_id, interest, share_now, coalesce(earlier[0], 0.0) AS share_before,
       share_now - coalesce(earlier[0], 0.0) AS change, version_now, version_before
ORDER BY change DESC, interest_id
