MATCH (i:Item {id: $item_id}) RETURN count(i) AS n
