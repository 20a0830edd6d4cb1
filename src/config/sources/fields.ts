/**
 * The `fields:` block any source can have (serial today; GPIO and 1-Wire can share it): per field,
 * keyed by the name the source gives, `rename`, `scale`, `offset`, `unit` and `type`. See
 * src/sources/fields.ts for what they do.
 */
import * as z from 'zod';
import { fieldNameProblem } from '../../sources/fields.js';
import type { FieldSpec, FieldSpecs } from '../../sources/fields.js';

const MAX_UNIT_LENGTH = 32;

/** A field name the config chooses (csv column, lines field, rename target). */
export const fieldName = () =>
  z.string().superRefine((name, ctx) => {
    const problem = fieldNameProblem(name);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  });

const fieldSpecSchema = z
  .strictObject({
    rename: fieldName().optional(),
    scale: z
      .number()
      .refine((n) => Number.isFinite(n) && n !== 0, { error: 'must be a number other than 0' })
      .optional(),
    offset: z
      .number()
      .refine((n) => Number.isFinite(n), { error: 'must be a finite number' })
      .optional(),
    unit: z.string().min(1, { error: 'must not be empty' }).max(MAX_UNIT_LENGTH, { error: `must be at most ${MAX_UNIT_LENGTH} characters` }).optional(),
    type: z.enum(['auto', 'number', 'string']).optional(),
  })
  .superRefine((spec, ctx) => {
    if (spec.type === 'string' && (spec.scale !== undefined || spec.offset !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['type'], message: 'cannot be string together with scale or offset (they need a number)' });
    }
  })
  .transform((spec): FieldSpec => Object.fromEntries(Object.entries(spec).filter(([, value]) => value !== undefined)));

const fieldsRecord = z.record(z.string(), z.preprocess((value) => value ?? {}, fieldSpecSchema)).superRefine((fields, ctx) => {
  const byOutput = new Map<string, string>();
  for (const [name, spec] of Object.entries(fields)) {
    const output = spec.rename ?? name;
    if (spec.rename === undefined) {
      const problem = fieldNameProblem(name);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', path: [name], message: `${problem}; give it a rename` });
    }
    const other = byOutput.get(output);
    if (other !== undefined) ctx.addIssue({ code: 'custom', path: [name, 'rename'], message: `gives the same field name "${output}" as fields.${other}` });
    byOutput.set(output, name);
  }
});

/** `fields:` → FieldSpecs; left out or empty: no transforms. */
export const fieldSpecsSchema = z.preprocess((value) => value ?? {}, fieldsRecord).transform((fields): FieldSpecs => fields);
