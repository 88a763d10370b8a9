// FOLLOWS edges in the graph, by kind (tests, console).
MATCH ()-[r:FOLLOWS]->()
RETURN r.kind AS kind, count(r) AS n
ORDER BY kind
