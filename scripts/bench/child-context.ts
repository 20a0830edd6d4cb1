import type { RssSampler } from './probe.js';

/** What a workload gets from the child harness. */
export interface ChildContext {
  sampler: RssSampler;
  /** Backlog workloads: the backlog is in place; the parent now brings the broker up. */
  filled(): void;
}
