// The web console's overview: how many TAGGED relationships, from the engine's per-type
// statistics (O(1) on both engines, where count_types scans every relationship).
MATCH ()-[r:TAGGED]->() RETURN count(r) AS n
