import { parseArgs } from "node:util";
import { ENVIRONMENT, loadConfig, readConfigFile, type Config } from "../../services/config/config.js";

/** Config keys whose values are secrets: printed as set/unset only. */
const SECRET_KEYS: ReadonlySet<keyof Config> = new Set(["tokenHashKey", "tokenHashOldKeys", "requestKey", "checkpointSigningKey"]);

/** A URL's password (nats://user:pass@host) masked. */
const maskUrl = (value: string): string => value.replace(/^([a-z]+:\/\/[^:/@]*:)[^@]*@/i, "$1****@");

/** The effective configuration with secrets masked (exported for tests). */
export function maskedConfig(config: Config): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(config).map(([key, value]) => {
      if (SECRET_KEYS.has(key as keyof Config)) return [key, value === undefined ? undefined : "**** (set)"];
      if (key === "natsUrl" && typeof value === "string") return [key, value.split(",").map(maskUrl).join(",")];
      return [key, value];
    }),
  );
}

/**
 * `grant-ledger config check [--json]`: validates the configuration (environment over the
 * GL_CONFIG_FILE over defaults) and prints the effective values with their variables and where each
 * came from, secrets masked. Exit 0 valid, 2 invalid.
 */
export async function configCheck(args: string[]): Promise<number> {
  let json: boolean;
  try {
    json = parseArgs({ args, options: { json: { type: "boolean" } }, strict: true }).values.json ?? false;
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\nusage: grant-ledger config check [--json]\n`);
    return 2;
  }
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  }
  const masked = maskedConfig(config);
  if (json) {
    process.stdout.write(`${JSON.stringify(masked, null, 2)}\n`);
    return 0;
  }
  const configFile = process.env["GL_CONFIG_FILE"];
  const fromFile = new Set(configFile === undefined || configFile === "" ? [] : Object.keys(readConfigFile(configFile)));
  // Every variable, unset optional ones included.
  const rows = Object.entries(ENVIRONMENT).map(([variable, key]) => {
    const value = masked[key];
    const fromEnv = (process.env[variable] ?? "") !== "";
    const shown = value === undefined ? "(unset)" : Array.isArray(value) ? value.join(",") : typeof value === "string" ? value : JSON.stringify(value);
    return [variable, key, shown, fromEnv ? "env" : fromFile.has(key) ? "file" : "default"] as const;
  });
  const width = (i: 0 | 1 | 2) => Math.max(...rows.map((row) => row[i].length));
  process.stdout.write("configuration is valid; effective values (secrets masked):\n");
  for (const row of rows) {
    process.stdout.write(`  ${row[0].padEnd(width(0))}  ${row[1].padEnd(width(1))}  ${row[2].padEnd(width(2))}  ${row[3]}\n`);
  }
  return 0;
}
