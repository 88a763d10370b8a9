"""The graph contract: schema, named Cypher queries and the GraphStore."""
