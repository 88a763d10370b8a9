// One batch of a batched incremental publish: carry $limit interests of $carry_from into $model_version.
MATCH (ct:Interest) WHERE ct.model_version = $carry_from
WITH ct LIMIT $limit
SET ct.model_version = $model_version
RETURN count(ct) AS n
