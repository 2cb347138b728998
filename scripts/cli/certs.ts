import { parseArgs } from "node:util";
import { createDevCertificates } from "../../services/security/certs.js";

const DEFAULT_CLIENTS = ["front-door", "resource-server", "security", "auditor", "operator"];

/**
 * `grant-ledger certs dev [--out DIR] [--client NAME]... [--days N] [--force]`: a local CA, a server
 * certificate for localhost/127.0.0.1 and client certificates (CN = caller identity) for trying mTLS.
 */
export async function certsDev(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        out: { type: "string", default: "data/certs" },
        client: { type: "string", multiple: true },
        days: { type: "string", default: "30" },
        force: { type: "boolean", default: false },
      },
      strict: true,
    }));
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  }
  const days = Number(values.days);
  if (!Number.isInteger(days) || days < 1 || days > 825) {
    process.stderr.write("--days: a whole number of days, 1 to 825\n");
    return 2;
  }
  let made;
  try {
    made = createDevCertificates({ dir: values.out, clients: values.client ?? DEFAULT_CLIENTS, days, force: values.force });
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
  const lines = [
    `CA:     ${made.ca.cert} (key ${made.ca.key})`,
    `server: ${made.server.cert} (key ${made.server.key}) for localhost, 127.0.0.1, ::1`,
    ...Object.entries(made.clients).map(([name, c]) => `client: ${c.cert} (key ${c.key}) identity "${name}"`),
    "",
    "Serve with mTLS:",
    `  GL_TLS_CERT=${made.server.cert} GL_TLS_KEY=${made.server.key} GL_TLS_CLIENT_CA=${made.ca.cert} grant-ledger serve`,
  ];
  process.stdout.write(lines.join("\n") + "\n");
  return Promise.resolve(0);
}
