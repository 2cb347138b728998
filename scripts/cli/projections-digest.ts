import { existsSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { parseArgs } from "node:util";
import { projectionFileDigest, resolveActive } from "../../projections/runner/index.js";
import { auditConfig, UsageError, withUsage } from "./audit-common.js";
import { projectionNamed, projectionsDir } from "./projections-common.js";

/**
 * `grant-ledger projections digest <name> [--file F] [--json]`: the content digest of a projection
 * file (the active one by default) at the sequence it has applied: SHA-256 over every table's rows
 * in primary-key order, checkpoint excluded (projections/runner/digest.ts). Two copies at the same
 * sequence agree when they hold the same rows. Exit 0; 1 when the file is missing; 2 on bad usage.
 */
export function projectionsDigest(args: string[]): Promise<number> {
  return withUsage(() => {
    let parsed;
    try {
      parsed = parseArgs({ args, allowPositionals: true, options: { file: { type: "string" }, json: { type: "boolean" } }, strict: true });
    } catch (error) {
      throw new UsageError(error instanceof Error ? error.message : String(error));
    }
    const projection = projectionNamed(parsed.positionals[0]);
    const dir = projectionsDir(auditConfig());
    const given = parsed.values.file;
    const file = given === undefined ? join(dir, resolveActive(dir, projection.name, projection.version).file) : isAbsolute(given) ? given : join(dir, given);
    if (!existsSync(file)) {
      process.stderr.write(`no file ${file}\n`);
      return Promise.resolve(1);
    }
    const result = projectionFileDigest(file, projection.name);
    if (parsed.values.json === true) process.stdout.write(`${JSON.stringify({ projection: projection.name, file, ...result })}\n`);
    else {
      const rows = Object.entries(result.rows).map(([table, n]) => `${table}=${n}`).join(" ");
      process.stdout.write(`${result.digest}  ${projection.name} seq ${result.seq}  ${file}\n  rows: ${rows}\n`);
    }
    return Promise.resolve(0);
  });
}
