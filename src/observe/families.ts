/**
 * What /metrics shows: every family, its meaning and its type, from one snapshot. The README's
 * metrics table lists the same names.
 */
import type { Health } from './health.js';
import type { MetricFamily, MetricType, Sample } from './metrics.js';
import type { AgentSnapshot } from './snapshot.js';

const seconds = (ms: number): number => ms / 1000;

function family(name: string, type: MetricType, help: string, samples: readonly Sample[] | number): MetricFamily {
  return { name: `sensorgate_${name}`, type, help, samples: typeof samples === 'number' ? [{ value: samples }] : samples };
}

export function metricFamilies(s: AgentSnapshot, health: Health): MetricFamily[] {
  const perSource = (value: (source: AgentSnapshot['sources'][number]) => number | null): Sample[] =>
    s.sources.flatMap((source) => {
      const v = value(source);
      return v === null ? [] : [{ labels: { source: source.name }, value: v }];
    });
  return [
    family('up', 'gauge', '1 while the agent runs (the listener stops with it).', 1),
    family('healthy', 'gauge', '1 when /healthz answers 200, else 0.', health.healthy ? 1 : 0),
    family('start_time_seconds', 'gauge', 'When the agent started, seconds since the epoch.', seconds(s.startedAt)),
    family('connected', 'gauge', '1 while connected to the broker (CONNACK accepted), else 0.', s.connected ? 1 : 0),
    family('reconnects_total', 'counter', 'Dials after the first one (each lost or failed connection leads to one).', s.reconnects),
    family('readings_total', 'counter', 'Readings each source handed to the pipeline.', perSource((source) => source.readings)),
    family('parse_errors_total', 'counter', 'Input a source could not turn into a reading (serial: unparsed, noisy, invalid UTF-8 and over-long lines; 1-Wire: rejected probe reads).', perSource((source) => source.parseErrors)),
    family('source_failures_total', 'counter', 'Times a source failed and was restarted.', perSource((source) => source.failures)),
    family('source_up', 'gauge', '1 while a source runs, 0 while it waits to restart or has finished.', perSource((source) => (source.state === 'running' ? 1 : 0))),
    family('last_reading_timestamp_seconds', 'gauge', 'When a source last handed over a reading, seconds since the epoch (absent before the first).', perSource((source) => (source.lastReadingAt === null ? null : seconds(source.lastReadingAt)))),
    family('published_total', 'counter', 'Stored messages written to the broker for the first time (QoS 0 included).', s.published),
    family('resent_total', 'counter', 'Stored messages sent again after a reconnect (DUP=1 PUBLISH or PUBREL).', s.resent),
    family('acked_total', 'counter', 'Stored QoS 1/2 messages the broker acknowledged (PUBACK, PUBCOMP) and the store deleted.', s.acked),
    family('dropped_total', 'counter', 'Messages dropped by the store.whenFull policy.', s.dropped),
    family('corrupt_total', 'counter', 'Undecodable stored messages moved aside to bad!<seq>.', s.corrupt),
    family('received_total', 'counter', 'Messages received from the broker (commands, Home Assistant status).', s.received),
    family('queue_messages', 'gauge', 'Messages in the store waiting for the broker (in flight included).', s.queue.messages),
    family('queue_bytes', 'gauge', 'Encoded size of the messages in the store.', s.queue.bytes),
    family('queue_oldest_age_seconds', 'gauge', 'How long the oldest stored message has waited (0 when the store is empty).', s.queue.oldestEnqueuedAt === null ? 0 : Math.max(0, seconds(s.now - s.queue.oldestEnqueuedAt))),
    family('inflight', 'gauge', 'QoS 1/2 publishes unacknowledged on the wire.', s.inflight),
    family('last_delivery_timestamp_seconds', 'gauge', 'When the broker last took a stored message, seconds since the epoch (0 before the first since start).', s.lastDeliveryAt === null ? 0 : seconds(s.lastDeliveryAt)),
    family(
      'commands_total',
      'counter',
      'Remote commands run, by name (other: unknown names) and result.',
      s.commands.flatMap((c) => [
        { labels: { command: c.command, result: 'ok' }, value: c.ok },
        { labels: { command: c.command, result: 'error' }, value: c.failed },
      ]),
    ),
  ];
}
