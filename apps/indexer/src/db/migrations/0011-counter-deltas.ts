/**
 * Counters kept by delta (writer/aggregates.ts). A recount of `post_agg.likeCount` or
 * `profile_agg.followersCount` reads every base row of the key: linear in a post's likes or an
 * account's followers (10⁵–10⁶ on the network), on every batch that touches the key. Instead,
 * statement-level triggers on the base tables (transition tables: one statement per write, not
 * per row) record how many rows of each key the statement added or removed:
 *
 *  - inside the indexer's writer (`indexer.counter_deltas` = 'on', set per transaction) into the
 *    session's temporary `indexer_counter_delta` (ON COMMIT DELETE ROWS: nothing outlives the
 *    transaction), which the writer's last phase adds to the stored counters under its sorted
 *    key locks: the same lock order as before, no lock on a counter row before that phase;
 *  - from any other writer (an operator's DELETE, an older indexer during a rollout) straight
 *    into the counter row.
 *
 * Arguments of `indexer_count_delta()`: the counter's table, its key column, the counter column,
 * the base table's key column, and optionally which base rows count (a condition over `$row`;
 * replyCount: the replies that do not violate their thread's gate, so a flag update moves it).
 * They are the `rows` of the record modules' `AggregateCount`s kept by `delta` (records/*.ts);
 * writer/counter-deltas.test.ts checks that they match.
 */
export const name = '0011-counter-deltas'

/** replyCount: a reply that violates its thread's gate is not counted (writer/post-flags.ts). */
const NOT_VIOLATING = `($row."violatesThreadGate" IS NULL OR $row."violatesThreadGate" = false)`

const COUNTED: readonly { base: string; column: string; table: string; key: string; counter: string; where?: string }[] = [
  { base: 'like', column: 'subject', table: 'post_agg', key: 'uri', counter: 'likeCount' },
  { base: 'repost', column: 'subject', table: 'post_agg', key: 'uri', counter: 'repostCount' },
  { base: 'post', column: 'replyParent', table: 'post_agg', key: 'uri', counter: 'replyCount', where: NOT_VIOLATING },
  { base: 'quote', column: 'subject', table: 'post_agg', key: 'uri', counter: 'quoteCount' },
  { base: 'follow', column: 'subjectDid', table: 'profile_agg', key: 'did', counter: 'followersCount' },
  { base: 'follow', column: 'creator', table: 'profile_agg', key: 'did', counter: 'followsCount' },
  { base: 'post', column: 'creator', table: 'profile_agg', key: 'did', counter: 'postsCount' },
]

/** The session's table of deltas, created by whichever of the two functions runs first. */
const CREATE_DELTAS = `IF to_regclass('pg_temp.indexer_counter_delta') IS NULL THEN
    CREATE TEMPORARY TABLE indexer_counter_delta (counter text NOT NULL, k text NOT NULL, d bigint NOT NULL) ON COMMIT DELETE ROWS;
  END IF;`

/**
 * The trigger function. `prologue` runs first (migration 0012: counters deferred during a bulk
 * load); empty here, so this migration's text is what it always was.
 */
export const countDeltaFunction = (
  prologue = '',
): string => `CREATE OR REPLACE FUNCTION indexer_count_delta() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  agg_table text := TG_ARGV[0];
  agg_key text := TG_ARGV[1];
  counter text := TG_ARGV[2];
  col text := TG_ARGV[3];
  -- which rows count (never null), over the row named $row; all of them when absent
  pred text := coalesce(TG_ARGV[4], 'true');
  deltas text;
BEGIN${prologue}
  IF TG_OP = 'INSERT' THEN
    deltas := format('SELECT r.%1$I::text AS k, count(*)::bigint AS d FROM new_rows r WHERE r.%1$I IS NOT NULL AND %2$s GROUP BY 1',
      col, replace(pred, '$row', 'r'));
  ELSIF TG_OP = 'DELETE' THEN
    deltas := format('SELECT r.%1$I::text AS k, -count(*)::bigint AS d FROM old_rows r WHERE r.%1$I IS NOT NULL AND %2$s GROUP BY 1',
      col, replace(pred, '$row', 'r'));
  ELSE
    -- a row leaves the count of its old key when it counted there and moved or stopped counting,
    -- and enters the count of its new key when it counts there and moved or did not count before
    deltas := format('SELECT k, sum(d)::bigint AS d FROM (
        SELECT o.%1$I::text AS k, -1 AS d FROM old_rows o JOIN new_rows n USING (uri)
          WHERE %2$s AND (o.%1$I IS DISTINCT FROM n.%1$I OR NOT %3$s)
        UNION ALL
        SELECT n.%1$I::text, 1 FROM old_rows o JOIN new_rows n USING (uri)
          WHERE %3$s AND (o.%1$I IS DISTINCT FROM n.%1$I OR NOT %2$s)
      ) x WHERE k IS NOT NULL GROUP BY k', col, replace(pred, '$row', 'o'), replace(pred, '$row', 'n'));
  END IF;
  IF current_setting('indexer.counter_deltas', true) = 'on' THEN
    ${CREATE_DELTAS}
    EXECUTE format('INSERT INTO pg_temp.indexer_counter_delta (counter, k, d) SELECT %L, k, d FROM (%s) x', counter, deltas);
  ELSE
    EXECUTE format('UPDATE %1$I a SET %3$I = greatest(a.%3$I + x.d, 0) FROM (%4$s) x WHERE a.%2$I = x.k', agg_table, agg_key, counter, deltas);
    EXECUTE format('INSERT INTO %1$I (%2$I, %3$I) SELECT k, greatest(d, 0) FROM (%4$s) x ORDER BY k ON CONFLICT (%2$I) DO NOTHING',
      agg_table, agg_key, counter, deltas);
  END IF;
  RETURN NULL;
END
$fn$`

/** Called by the writer at the start of each transaction: deltas into the session's table. */
const ENABLE = `CREATE OR REPLACE FUNCTION indexer_counter_deltas_on() RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM set_config('indexer.counter_deltas', 'on', true);
  ${CREATE_DELTAS}
END
$fn$`

const triggers = (c: (typeof COUNTED)[number]): string[] => {
  const args = `'${c.table}', '${c.key}', '${c.counter}', '${c.column}'${c.where ? `, '${c.where.replace(/'/g, "''")}'` : ''}`
  const name = (op: string) => `indexer_${c.counter}_${op}`
  const table = `"${c.base}"`
  return [
    `DROP TRIGGER IF EXISTS ${name('ins')} ON ${table}`,
    `CREATE TRIGGER ${name('ins')} AFTER INSERT ON ${table} REFERENCING NEW TABLE AS new_rows
      FOR EACH STATEMENT EXECUTE FUNCTION indexer_count_delta(${args})`,
    `DROP TRIGGER IF EXISTS ${name('del')} ON ${table}`,
    `CREATE TRIGGER ${name('del')} AFTER DELETE ON ${table} REFERENCING OLD TABLE AS old_rows
      FOR EACH STATEMENT EXECUTE FUNCTION indexer_count_delta(${args})`,
    `DROP TRIGGER IF EXISTS ${name('upd')} ON ${table}`,
    `CREATE TRIGGER ${name('upd')} AFTER UPDATE ON ${table} REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
      FOR EACH STATEMENT EXECUTE FUNCTION indexer_count_delta(${args})`,
  ]
}

export const statements: readonly string[] = [countDeltaFunction(), ENABLE, ...COUNTED.flatMap(triggers)]
