// One batch of a batched incremental publish, after every staged user is promoted: carry
// $limit users still of $carry_from (those the run did not re-fit) into $model_version,
// with their strengths of $carry_from, as publish_model.cypher's carry-forward does.
MATCH (cu:User) WHERE cu.model_version = $carry_from
WITH cu LIMIT $limit
OPTIONAL MATCH (cu)-[cr:INTERESTED_IN]->(:Interest) WHERE cr.model_version = $carry_from
SET cr.model_version = $model_version
WITH cu, count(cr) AS strengths
SET cu.model_version = $model_version
RETURN count(cu) AS n, sum(strengths) AS strengths
