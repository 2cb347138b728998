import { join, resolve } from "node:path";
import type { Projection } from "../../projections/runner/index.js";
import { AUDIT_PROJECTION } from "../../projections/audit/index.js";
import { TOKENS_PROJECTION } from "../../projections/tokens/index.js";
import type { Config } from "../../services/config/config.js";
import { UsageError } from "./audit-common.js";

/** Every projection this build runs. */
export const PROJECTIONS: readonly Projection[] = [TOKENS_PROJECTION, AUDIT_PROJECTION];

/** `<dataDir>/projections`, absolute. */
export const projectionsDir = (config: Config): string => resolve(join(config.dataDir, "projections"));

/** The projection called `name`, or a usage error listing the known ones. */
export function projectionNamed(name: string | undefined): Projection {
  const found = PROJECTIONS.find((p) => p.name === name);
  if (found === undefined) {
    throw new UsageError(`${name === undefined ? "missing projection name" : `unknown projection "${name}"`}: one of ${PROJECTIONS.map((p) => p.name).join(", ")}`);
  }
  return found;
}
