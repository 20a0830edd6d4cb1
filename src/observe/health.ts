/**
 * The /healthz rule. The agent is healthy while it runs and nothing waits too long:
 *
 *   unhealthy ⇔ stopping
 *             ∨ (queue not empty
 *                ∧ the oldest queued message has waited longer than the window
 *                ∧ nothing was delivered within the window)
 *
 * "Delivered" is the broker taking a stored message (PUBACK, PUBCOMP, QoS 0 written). Before the
 * first delivery of this run, the time since delivery counts from the agent's start, so a
 * restart with an old backlog gets one window to deliver before it is called unhealthy.
 *
 * So: an empty queue is healthy even while disconnected (nothing is at risk, and a source that
 * reports rarely must not flap the check); a fresh reading waiting a few seconds is healthy; a
 * long backlog that is draining is healthy; a queue stuck for longer than the window is not,
 * connected or not.
 */
import type { AgentSnapshot } from './snapshot.js';

export interface Health {
  healthy: boolean;
  /** Why not, for a person reading the 503 body; absent when healthy. */
  reason?: string;
}

export type HealthInput = Pick<AgentSnapshot, 'now' | 'startedAt' | 'stopping' | 'connected' | 'queue' | 'lastDeliveryAt'>;

/** `3m 12s`, `45s`, `1h 3m`: for reasons a person reads. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`;
}

export function judgeHealth(input: HealthInput, windowMs: number): Health {
  if (input.stopping) return { healthy: false, reason: 'the agent is stopping' };
  const { messages, oldestEnqueuedAt } = input.queue;
  if (messages === 0 || oldestEnqueuedAt === null) return { healthy: true };
  const waited = input.now - oldestEnqueuedAt;
  if (waited <= windowMs) return { healthy: true };
  const sinceDelivery = input.now - (input.lastDeliveryAt ?? input.startedAt);
  if (sinceDelivery <= windowMs) return { healthy: true };
  const delivered = input.lastDeliveryAt === null ? `nothing delivered since the agent started ${formatAge(sinceDelivery)} ago` : `nothing delivered for ${formatAge(sinceDelivery)}`;
  const link = input.connected ? 'connected, but the broker acknowledges nothing' : 'not connected to the broker';
  return {
    healthy: false,
    reason: `${messages} queued message(s), the oldest waiting ${formatAge(waited)}; ${delivered} (healthWindow ${formatAge(windowMs)}); ${link}`,
  };
}
