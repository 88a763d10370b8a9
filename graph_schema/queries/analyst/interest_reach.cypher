// How far does each interest reach? Users with evidence for it, users the model
// gives it a strength, and the average published strength.
// params: {}
MATCH (t:Interest)
OPTIONAL MATCH (t)<-[r:INTERESTED_IN]-(:User)
WITH t, count(r) AS users, count(r.strength) AS modelled, avg(r.strength) AS avg_strength
RETURN t.id AS interest_id, t.name AS interest, t.kind AS kind, users, modelled, avg_strength
ORDER BY users DESC, interest_id
