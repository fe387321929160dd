#!/usr/bin/env node
// Generates dashboards/firehose.json (run: node deploy/grafana/dashboard.mjs). Edit the panels here,
// not the JSON: deploy/deploy.test.ts checks that the JSON is what this script writes.
import { writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const DS = { type: 'prometheus', uid: 'prometheus' }
const R = '$__rate_interval'
const INST = 'instance=~"$instance"'

let id = 0
let y = 0
const panels = []

function row(title) {
  panels.push({ type: 'row', title, id: ++id, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y }, panels: [] })
  y += 1
}

/** A row of timeseries panels, each `[title, unit, [[expr, legend], …]]`, laid out side by side. */
function line(...defs) {
  const w = Math.floor(24 / defs.length)
  defs.forEach(([title, unit, targets, extra = {}], i) => {
    panels.push({
      type: 'timeseries',
      title,
      id: ++id,
      datasource: DS,
      gridPos: { h: 8, w, x: i * w, y },
      fieldConfig: { defaults: { unit, min: 0, custom: { lineWidth: 1, fillOpacity: 10, showPoints: 'never' } }, overrides: [] },
      options: {
        legend: { displayMode: 'table', placement: 'bottom', calcs: ['lastNotNull', 'max'] },
        tooltip: { mode: 'multi', sort: 'desc' },
      },
      targets: targets.map(([expr, legendFormat], j) => ({ datasource: DS, expr, legendFormat, refId: String.fromCharCode(65 + j) })),
      ...extra,
    })
  })
  y += 8
}

row('Flow')
line(
  [
    'Events in per stream (written)',
    'ops',
    [
      [`sum by (stream) (rate(ingester_stream_entries_written_total[${R}]))`, 'ingester → {{stream}}'],
      [`sum by (stream) (rate(backfiller_stream_entries_written_total[${R}]))`, 'backfiller → {{stream}}'],
    ],
  ],
  [
    'Events out per stream (acked)',
    'ops',
    [
      [`sum by (stream) (rate(indexer_stream_entries_acked_total[${R}]))`, 'indexer ← {{stream}}'],
      [`sum by (stream) (rate(backfiller_stream_entries_acked_total[${R}]))`, 'backfiller ← {{stream}}'],
    ],
  ],
)
line(
  [
    'Stream lengths',
    'short',
    [
      ['max by (stream) (indexer_stream_length)', '{{stream}}'],
      ['max by (stream) (ingester_stream_length)', '{{stream}}'],
      ['max(backfiller_output_stream_length)', 'firehose_backfill (backfiller)'],
    ],
  ],
  [
    'Lag (event time → indexed)',
    's',
    [
      ['max by (stream) (indexer_lag_seconds)', 'indexer {{stream}}'],
      ['max by (host) (ingester_lag_seconds)', 'ingester {{host}}'],
    ],
  ],
  [
    'Not yet delivered (group lag)',
    'short',
    [
      ['max by (stream, group) (indexer_stream_group_lag)', '{{stream}} / {{group}}'],
      ['max(backfiller_repos_waiting)', 'repo_backfill (waiting)'],
    ],
  ],
)
line(
  [
    'Pending (delivered, not acked)',
    'short',
    [
      ['max by (stream, group) (indexer_stream_pending)', '{{stream}} / {{group}}'],
      ['sum(backfiller_repos_running)', 'repos running (backfillers)'],
    ],
  ],
  [
    'Dead-lettered',
    'short',
    [
      [`sum by (stream) (increase(indexer_stream_entries_dead_lettered_total[${R}]))`, 'indexer {{stream}}'],
      [`sum by (stream) (increase(backfiller_repos_dead_lettered_total[${R}]))`, 'backfiller {{stream}}'],
    ],
  ],
  [
    'Streams vs their high-water mark',
    'percentunit',
    [
      ['max by (job, stream) (ingester_stream_length) / on (job) group_left () firehose:high_water_mark_entries', '{{stream}} (ingester)'],
      [
        'max by (job) (backfiller_output_stream_length) / on (job) group_left () firehose:high_water_mark_entries',
        'firehose_backfill (backfiller)',
      ],
    ],
    { fieldConfig: { defaults: { unit: 'percentunit', min: 0, max: 1 }, overrides: [] } },
  ],
)
line(
  [
    'Oldest unacked entry per group (a stopped group only ages)',
    's',
    [
      ['max by (stream, group) (indexer_stream_oldest_unacked_age_seconds)', '{{stream}} / {{group}}'],
      ['max by (stream, group) (backfiller_stream_oldest_unacked_age_seconds)', '{{stream}} / {{group}}'],
    ],
  ],
  [
    'Dead-letter streams (entries held)',
    'short',
    [
      ['max by (stream) (indexer_dlq_entries)', '{{stream}}'],
      ['max by (stream) (backfiller_dlq_entries)', '{{stream}}'],
    ],
  ],
)

row('Indexer')
line(
  ['Records written by collection', 'ops', [[`sum by (collection) (rate(indexer_records_written_total[${R}]))`, '{{collection}}']]],
  ['Events indexed by type', 'ops', [[`sum by (type, outcome) (rate(indexer_events_indexed_total[${R}]))`, '{{type}} {{outcome}}']]],
)
line([
  'Bulk load: batches deferring derived state (INDEXER_MODE=bulk, while a load is open)',
  'ops',
  [[`sum by (instance) (rate(indexer_bulk_deferred_batches_total[${R}]))`, '{{instance}}']],
])
line(
  [
    'Batch duration p95 per instance',
    's',
    [[`histogram_quantile(0.95, sum by (instance, le) (rate(indexer_batch_duration_seconds_bucket{${INST}}[${R}])))`, '{{instance}}']],
  ],
  [
    'DB transaction p95',
    's',
    [[`histogram_quantile(0.95, sum by (le) (rate(indexer_db_transaction_duration_seconds_bucket[${R}])))`, 'p95']],
  ],
  [
    'DB pool per instance',
    'short',
    [
      [`indexer_db_pool_connections{${INST}}`, '{{instance}} open'],
      [`indexer_db_pool_waiting_clients{${INST}}`, '{{instance}} waiting'],
    ],
  ],
)

row('Ingester and backfiller')
line(
  ['Frames received by host and type', 'ops', [[`sum by (host, type) (rate(ingester_frames_received_total[${R}]))`, '{{host}} {{type}}']]],
  [
    'Connected / reconnects',
    'short',
    [
      ['ingester_connected', 'connected {{host}}'],
      [`sum by (host) (increase(ingester_reconnects_total[${R}]))`, 'reconnects {{host}}'],
    ],
  ],
  [
    'Backfill repos',
    'ops',
    [
      [`sum(rate(backfiller_repos_processed_total[${R}]))`, 'processed'],
      [`sum by (reason) (rate(backfiller_repos_failed_total[${R}]))`, 'failed: {{reason}}'],
      [`sum(rate(backfiller_records_extracted_total[${R}]))`, 'records extracted'],
    ],
  ],
)

row('Sync 1.1 verification')
line(
  [
    'Commits verified / refused by reason',
    'ops',
    [
      [`sum by (host) (rate(ingester_commits_verified_total[${R}]))`, 'verified {{host}}'],
      [`sum by (reason) (rate(ingester_commits_refused_total[${R}]))`, 'refused: {{reason}}'],
      [`sum by (reason) (rate(ingester_commits_dropped_total[${R}]))`, 'dropped: {{reason}}'],
      [`sum(rate(ingester_desynchronized_commits_written_total[${R}]))`, 'written while desynchronized'],
    ],
  ],
  ['Repos desynchronized by reason', 'ops', [[`sum by (reason) (rate(ingester_repos_desynchronized_total[${R}]))`, '{{reason}}']]],
  [
    'Resyncs enqueued / completed',
    'ops',
    [
      [`sum by (reason) (rate(ingester_resyncs_enqueued_total[${R}]))`, 'enqueued: {{reason}}'],
      [`sum(rate(backfiller_resyncs_completed_total[${R}]))`, 'completed'],
      [`sum by (outcome) (rate(ingester_signing_key_resolutions_total[${R}]))`, 'key look-ups: {{outcome}}'],
    ],
  ],
)

row('Errors')
line([
  'Errors',
  'ops',
  [
    [`sum by (instance, stream) (rate(indexer_entries_failed_total[${R}]))`, 'indexer failed {{instance}} {{stream}}'],
    [`sum by (stream) (rate(indexer_entries_malformed_total[${R}]))`, 'indexer malformed {{stream}}'],
    [`sum by (host, reason) (rate(ingester_decode_errors_total[${R}]))`, 'ingester decode {{host}} {{reason}}'],
    [`sum by (instance, stream) (rate(ingester_stream_write_errors_total[${R}]))`, 'ingester XADD {{stream}}'],
    [`sum by (instance, stream) (rate(backfiller_stream_write_errors_total[${R}]))`, 'backfiller XADD {{stream}}'],
    [`sum(rate(backfiller_car_fetch_errors_total[${R}]))`, 'backfiller CAR fetch'],
    [`sum(rate(backfiller_verification_errors_total[${R}]))`, 'backfiller verification'],
  ],
])

row('Instances')
line(
  [
    'Memory (RSS) per instance, and limit',
    'bytes',
    [
      [`process_resident_memory_bytes{job=~"ingester|backfiller|indexer", ${INST}}`, '{{instance}}'],
      ['firehose:memory_limit_bytes', 'limit {{job}}'],
    ],
  ],
  [
    'CPU per instance',
    'percentunit',
    [[`rate(process_cpu_seconds_total{job=~"ingester|backfiller|indexer", ${INST}}[${R}])`, '{{instance}}']],
  ],
  ['Event loop lag p99', 's', [[`nodejs_eventloop_lag_p99_seconds{job=~"ingester|backfiller|indexer", ${INST}}`, '{{instance}}']]],
)
panels.push({
  type: 'stat',
  title: 'Up',
  id: ++id,
  datasource: DS,
  gridPos: { h: 4, w: 24, x: 0, y },
  options: {
    reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
    colorMode: 'background',
    textMode: 'name',
    orientation: 'horizontal',
  },
  fieldConfig: {
    defaults: {
      mappings: [{ type: 'value', options: { 0: { text: 'DOWN', color: 'red' }, 1: { text: 'UP', color: 'green' } } }],
      thresholds: {
        mode: 'absolute',
        steps: [
          { color: 'red', value: null },
          { color: 'green', value: 1 },
        ],
      },
    },
    overrides: [],
  },
  targets: [{ datasource: DS, expr: 'up{job=~"ingester|backfiller|indexer"}', legendFormat: '{{instance}}', refId: 'A' }],
})

const dashboard = {
  uid: 'firehose-workers',
  title: 'Firehose workers',
  tags: ['firehose'],
  timezone: 'utc',
  schemaVersion: 39,
  version: 1,
  editable: false,
  refresh: '30s',
  time: { from: 'now-6h', to: 'now' },
  templating: {
    list: [
      {
        name: 'instance',
        label: 'Instance',
        type: 'query',
        datasource: DS,
        query: { query: 'label_values(up{job=~"ingester|backfiller|indexer"}, instance)', refId: 'instance' },
        definition: 'label_values(up{job=~"ingester|backfiller|indexer"}, instance)',
        refresh: 2,
        multi: true,
        includeAll: true,
        current: { selected: true, text: ['All'], value: ['$__all'] },
        allValue: '.*',
      },
    ],
  },
  annotations: { list: [] },
  panels,
}

export const json = `${JSON.stringify(dashboard, null, 2)}\n`
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(join(dirname(fileURLToPath(import.meta.url)), 'dashboards/firehose.json'), json)
}
