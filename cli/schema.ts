/**
 * `main.ts schema`: print the JSON Schema of the Observation envelope.
 *
 * @module
 */

import { deadLetterJsonSchema, observationJsonSchema } from "../envelope/json_schema.ts";
import { type Command, EXIT, parseOptions } from "./_args.ts";

const HELP = `Usage: main.ts schema [--dead-letter]

Prints the JSON Schema (draft 2020-12) of the Observation envelope v1,
generated from the zod schema that the service validates with.

Options:
  --dead-letter  print the schema of the DeadLetter record instead
  --help         show this help
`;

/** The `schema` command. */
export const schema: Command = {
  help: HELP,
  run(args) {
    const { values } = parseOptions(args, { "dead-letter": { type: "boolean" } });
    const json = values["dead-letter"] ? deadLetterJsonSchema() : observationJsonSchema();
    console.log(JSON.stringify(json, null, 2));
    return Promise.resolve(EXIT.ok);
  },
};
