/**
 * Every fuzz target, by name, in run order.
 *
 * @module
 */

import type { Target } from "./_target.ts";
import { islTarget } from "./_target_isl.ts";
import { opticalCsvStreamTarget, opticalCsvTarget, opticalJsonTarget } from "./_target_optical.ts";
import { tdmTarget } from "./_target_tdm.ts";

/** The targets of `deno task fuzz` and of the bounded run in `deno task test`. */
export const TARGETS: Readonly<Record<string, Target>> = {
  [tdmTarget.name]: tdmTarget,
  [opticalCsvTarget.name]: opticalCsvTarget,
  [opticalJsonTarget.name]: opticalJsonTarget,
  [islTarget.name]: islTarget,
  [opticalCsvStreamTarget.name]: opticalCsvStreamTarget,
};
