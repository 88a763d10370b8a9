// The web console's interest page: the interest's name and kind, how many items carry
// it and how many users have evidence or a strength for it. No row for an unknown id.
MATCH (t:Interest {id: $interest_id})
OPTIONAL MATCH (t)<-[:TAGGED]-(i:Item)
WITH t, count(i) AS items
OPTIONAL MATCH (t)<-[e:INTERESTED_IN]-(:User)
RETURN t.name AS name, t.kind AS kind, items, count(e) AS users
