import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CALLER_IDENTITY } from "./policy.js";

/** Options of {@link createDevCertificates}. */
export interface DevCertificateOptions {
  /** Folder the files are written to (created, mode 0700). */
  readonly dir: string;
  /** Client certificates to make: each one's CN (the caller identity the policy names). */
  readonly clients: readonly string[];
  /** Validity in days (default 30: these are for trying mTLS, not for production). */
  readonly days?: number;
  /** Overwrite files that exist (default: refuse). */
  readonly force?: boolean;
}

/** Paths of the PEM files written. */
export interface DevCertificates {
  readonly ca: { readonly cert: string; readonly key: string };
  readonly server: { readonly cert: string; readonly key: string };
  readonly clients: Readonly<Record<string, { readonly cert: string; readonly key: string }>>;
}

const openssl = (args: readonly string[]): void => {
  execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
};

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

/**
 * A local CA, a server certificate for localhost / 127.0.0.1 / ::1 and client certificates (CN =
 * caller identity), all P-256, made with the `openssl` on PATH (node:crypto can parse X.509 but not
 * issue it). Private keys are written mode 0600.
 */
export function createDevCertificates(options: DevCertificateOptions): DevCertificates {
  const { dir, clients, days = 30, force = false } = options;
  for (const name of clients) {
    if (!CALLER_IDENTITY.test(name) || name.includes("/")) throw new Error(`client name "${name}": letters, digits and ._:@+=- only`);
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = (file: string): string => join(dir, file);
  const outputs = ["ca.crt", "ca.key", "server.crt", "server.key", ...clients.flatMap((c) => [`${c}.crt`, `${c}.key`])];
  const existing = outputs.filter((file) => existsSync(path(file)));
  if (!force && existing.length > 0) throw new Error(`${dir} already holds ${existing.join(", ")}; use --force to overwrite`);

  openssl(["req", "-x509", ...EC, "-keyout", path("ca.key"), "-out", path("ca.crt"), "-days", String(days),
    "-subj", "/CN=grant-ledger dev CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
  const issue = (name: string, subject: string, extensions: string): { cert: string; key: string } => {
    const cert = path(`${name}.crt`);
    const key = path(`${name}.key`);
    const csr = path(`${name}.csr`);
    const ext = path(`${name}.ext`);
    writeFileSync(ext, extensions);
    try {
      openssl(["req", "-new", ...EC, "-keyout", key, "-out", csr, "-subj", subject]);
      openssl(["x509", "-req", "-in", csr, "-CA", path("ca.crt"), "-CAkey", path("ca.key"), "-set_serial", `0x${randomBytes(16).toString("hex")}`,
        "-days", String(days), "-sha256", "-extfile", ext, "-out", cert]);
    } finally {
      rmSync(csr, { force: true });
      rmSync(ext, { force: true });
    }
    chmodSync(key, 0o600);
    return { cert, key };
  };
  chmodSync(path("ca.key"), 0o600);
  const server = issue("server", "/CN=localhost",
    "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n");
  const issued: Record<string, { cert: string; key: string }> = {};
  for (const name of clients) {
    issued[name] = issue(name, `/CN=${name}`,
      `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\nsubjectAltName=URI:grant-ledger:caller:${name}\n`);
  }
  return { ca: { cert: path("ca.crt"), key: path("ca.key") }, server, clients: issued };
}
