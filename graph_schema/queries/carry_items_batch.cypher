// One batch of a batched incremental publish: carry $limit items of $carry_from into $model_version.
MATCH (ci:Item) WHERE ci.model_version = $carry_from
WITH ci LIMIT $limit
SET ci.model_version = $model_version
RETURN count(ci) AS n
