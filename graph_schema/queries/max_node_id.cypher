// The highest internal node id (null: no node): where FalkorDB's id windows
// (pull_*_window) end. One pass over the nodes.
MATCH (n)
RETURN max(id(n)) AS top
