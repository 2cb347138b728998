import { readFileSync } from "node:fs";
import { z } from "zod";
import { SCOPE_PATTERN, scopeCatalog, type ScopeCatalog } from "../domain/shared/scopes.js";

const catalogFile = z.object({
  scopes: z.record(z.string().regex(SCOPE_PATTERN, "scope names are lowercase [a-z0-9_.:-], 1-64 chars"), z.string()),
});

/** Reads the scope catalog (`{"scopes": {"name": "description"}}`), failing start-up on a bad file. */
export function loadScopeCatalog(file: string): ScopeCatalog & { readonly descriptions: Readonly<Record<string, string>> } {
  const parsed = catalogFile.safeParse(JSON.parse(readFileSync(file, "utf8")));
  if (!parsed.success) throw new Error(`invalid scope catalog ${file}: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  return { ...scopeCatalog(Object.keys(parsed.data.scopes)), descriptions: parsed.data.scopes };
}
