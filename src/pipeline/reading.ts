/** A value measured by a source. Sources know nothing of MQTT; the pipeline shapes these. */
export type FieldValue = number | string | boolean;

export interface Reading {
  /** Name of the source that produced it (config `sources[].name`). */
  source: string;
  /** Epoch ms when it was measured. */
  ts: number;
  fields: Readonly<Record<string, FieldValue>>;
}
