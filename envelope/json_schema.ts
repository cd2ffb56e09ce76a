/**
 * JSON Schema export of the envelope (`main.ts schema` prints it).
 *
 * Portable: web APIs only.
 *
 * @module
 */

import { z } from "zod";
import { DeadLetterSchema } from "./dead_letter.ts";
import { ObservationSchema } from "./observation.ts";

/**
 * The JSON Schema (draft 2020-12) of the Observation envelope, generated from
 * the zod schema.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { observationJsonSchema } from "./json_schema.ts";
 *
 * const schema = observationJsonSchema();
 * assert.equal(schema.$schema, "https://json-schema.org/draft/2020-12/schema");
 * assert.equal((schema.oneOf ?? schema.anyOf)?.length, 3);
 * ```
 */
export function observationJsonSchema(): z.core.JSONSchema.BaseSchema {
  return {
    ...z.toJSONSchema(ObservationSchema),
    title: "SDA Observation envelope v1",
  };
}

/**
 * The JSON Schema (draft 2020-12) of the DeadLetter record.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { deadLetterJsonSchema } from "./json_schema.ts";
 *
 * assert.deepEqual(deadLetterJsonSchema().required?.includes("reason"), true);
 * ```
 */
export function deadLetterJsonSchema(): z.core.JSONSchema.BaseSchema {
  return { ...z.toJSONSchema(DeadLetterSchema), title: "SDA DeadLetter v1" };
}
