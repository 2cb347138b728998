import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { ServiceError } from "@grpc/grpc-js";
import type { PolicyDocument } from "../../services/security/policy.js";
import type { ClientSecurity } from "./grpc-clients.js";

const repoRoot = resolve(fileURLToPath(new URL("../..", import.meta.url)));

/** Writes a policy file (its input form: permissions as strings) and returns its path. */
export function writePolicy(dir: string, policy: PolicyDocument, name = "policy.json"): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(policy, null, 2));
  return file;
}

/** TLS options of a test client: trust `caDir`'s CA, present `client`'s certificate from `clientDir`. */
export function tlsClient(caDir: string, client?: string, clientDir = caDir): ClientSecurity["tls"] {
  return {
    ca: readFileSync(join(caDir, "ca.crt")),
    ...(client === undefined ? {} : { cert: readFileSync(join(clientDir, `${client}.crt`)), key: readFileSync(join(clientDir, `${client}.key`)) }),
  };
}

/** Runs `grant-ledger <args>` (tsx) and collects its exit code and output. */
export function runCli(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ["--import", "tsx", join(repoRoot, "scripts/cli.ts"), ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    child.on("exit", (code) => done({ code, stdout, stderr }));
  });
}

/** The status of a call that must fail (throws when it succeeds). */
export async function failure(call: Promise<unknown>): Promise<ServiceError> {
  try {
    await call;
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error("expected the call to fail, but it succeeded");
}
