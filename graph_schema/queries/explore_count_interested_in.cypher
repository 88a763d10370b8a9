// The web console's overview: how many INTERESTED_IN relationships, from the engine's per-type
// statistics (O(1) on both engines, where count_types scans every relationship).
MATCH ()-[r:INTERESTED_IN]->() RETURN count(r) AS n
