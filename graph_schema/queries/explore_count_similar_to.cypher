// The web console's overview: how many SIMILAR_TO relationships, from the engine's per-type
// statistics (O(1) on both engines, where count_types scans every relationship).
MATCH ()-[r:SIMILAR_TO]->() RETURN count(r) AS n
