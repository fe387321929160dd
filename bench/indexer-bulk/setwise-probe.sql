-- A cost probe, not the rules: how long the largest derived rows take when computed set-wise,
-- table against table, on a database the normal path filled (a copy of the one
-- `BENCH_BULK_KEEP=1 pnpm bench indexer-bulk` keeps):
--   psql "$DATABASE_DIRECT_URL" -c 'CREATE DATABASE probe TEMPLATE bench_norm_<tag>'
--   psql "${DATABASE_DIRECT_URL%/*}/probe" -f bench/indexer-bulk/setwise-probe.sql
-- The notification rules are simplified (no blocks, no hidden replies or gates, no starter-pack
-- or verification reasons, no first-reason-wins); on the bench mix its row count is within 0.1%
-- of the real table's. apps/indexer/DATABASE.md "What that rewrite would be" has the figures.
\timing on
SET jit = off;
SET work_mem = '256MB';
CREATE TEMP TABLE n2 AS SELECT did, "recordUri", "recordCid", author, reason, "reasonSubject", "sortAt" FROM notification WHERE false;
-- like / repost / follow notifications, set-wise
INSERT INTO n2 SELECT split_part(l.subject,'/',3), l.uri, l.cid, l.creator, 'like', l.subject, l."sortAt" FROM "like" l
  LEFT JOIN actor a ON a.did = split_part(l.subject,'/',3) WHERE split_part(l.subject,'/',3) <> l.creator AND a."upstreamStatus" IS DISTINCT FROM 'deleted';
INSERT INTO n2 SELECT split_part(l.subject,'/',3), l.uri, l.cid, l.creator, 'repost', l.subject, l."sortAt" FROM repost l
  LEFT JOIN actor a ON a.did = split_part(l.subject,'/',3) WHERE split_part(l.subject,'/',3) <> l.creator AND a."upstreamStatus" IS DISTINCT FROM 'deleted';
INSERT INTO n2 SELECT l."subjectDid", l.uri, l.cid, l.creator, 'follow', NULL, l."sortAt" FROM follow l
  LEFT JOIN actor a ON a.did = l."subjectDid" WHERE l."subjectDid" <> l.creator AND a."upstreamStatus" IS DISTINCT FROM 'deleted';
-- reply notifications: 4 ancestors, set-wise
INSERT INTO n2 SELECT split_part(x.anc,'/',3), p.uri, p.cid, p.creator, 'reply', x.anc, p."sortAt" FROM post p
  LEFT JOIN post a1 ON a1.uri = p."replyParent" LEFT JOIN post a2 ON a2.uri = a1."replyParent" LEFT JOIN post a3 ON a3.uri = a2."replyParent" LEFT JOIN post a4 ON a4.uri = a3."replyParent"
  CROSS JOIN LATERAL (VALUES (a1.uri),(a2.uri),(a3.uri),(a4.uri)) x(anc)
  WHERE p."replyParent" IS NOT NULL AND x.anc IS NOT NULL AND split_part(x.anc,'/',3) <> p.creator;
-- mentions
INSERT INTO n2 SELECT ft.v->>'did', p.uri, p.cid, p.creator, 'mention', NULL, p."sortAt" FROM post p JOIN record r ON r.uri = p.uri AND strpos(r.json, 'app.bsky.richtext.facet#mention') > 0
  CROSS JOIN LATERAL jsonb_array_elements((r.json::jsonb)->'facets') f(v) CROSS JOIN LATERAL jsonb_array_elements(f.v->'features') ft(v)
  WHERE ft.v->>'$type' = 'app.bsky.richtext.facet#mention';
-- quotes
INSERT INTO n2 SELECT split_part(e."embedUri",'/',3), p.uri, p.cid, p.creator, 'quote', e."embedUri", p."sortAt" FROM post p JOIN post_embed_record e ON e."postUri" = p.uri;
SELECT count(*) FROM n2;
-- counters, set-wise
CREATE TEMP TABLE pa AS SELECT k AS uri, sum(l) AS likes, sum(r) AS reposts, sum(q) AS replies FROM (
  SELECT subject k, 1 l, 0 r, 0 q FROM "like" UNION ALL SELECT subject, 0, 1, 0 FROM repost UNION ALL SELECT "replyParent", 0, 0, 1 FROM post WHERE "replyParent" IS NOT NULL) s GROUP BY k;
CREATE TEMP TABLE pra AS SELECT k AS did, sum(f) AS followers, sum(g) AS follows, sum(p) AS posts FROM (
  SELECT "subjectDid" k, 1 f, 0 g, 0 p FROM follow UNION ALL SELECT creator, 0, 1, 0 FROM follow UNION ALL SELECT creator, 0, 0, 1 FROM post) s GROUP BY k;
-- the notification table's indexes, built on the set
CREATE TEMP TABLE n3 AS SELECT * FROM n2 ORDER BY did, "sortAt";
CREATE INDEX ON n3 (did, "sortAt"); CREATE INDEX ON n3 ("recordUri"); CREATE INDEX ON n3 (author);
CREATE UNIQUE INDEX ON n3 (sha256(decode(replace(length("recordUri")::text||':'||"recordUri"||length(did)::text||':'||did||length(reason)::text||':'||reason||length(coalesce("reasonSubject",''))::text||':'||coalesce("reasonSubject",''),'\','\\'),'escape')));
