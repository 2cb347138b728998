import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The repository root: the nearest folder above this file holding package.json. Sources run from
 * `scripts/`, the build (scripts/build.sh) from `dist/scripts/`; both find the same root.
 */
export const repoRoot = ((): string => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error("no package.json above scripts/repo-root");
    dir = up;
  }
  return dir;
})();
