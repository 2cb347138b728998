import type { IncomingMessage } from "node:http";
import { invalidClient, invalidRequest } from "./errors.js";

/** How the client authenticated at an endpoint (RFC 8414 / RFC 7591 method names). */
export type ClientAuthMethod = "client_secret_basic" | "client_secret_post" | "none";

/** What the client presented; checked by the commands' ClientAuthenticator, never here. */
export interface PresentedClient {
  readonly clientId: string;
  /** Empty for `none` (a public client). */
  readonly clientSecret: string;
  readonly method: ClientAuthMethod;
}

/** Ledger-minted client ids: anything else names no client, so it fails like a wrong secret. */
const CLIENT_ID = /^[A-Za-z0-9_-]{1,64}$/;
const BASIC = /^Basic ([A-Za-z0-9+/]+={0,2})$/i;
const MAX_SECRET = 4096;

function formUnescape(s: string): string {
  return decodeURIComponent(s.replace(/\+/g, " "));
}

/** RFC 6749 §2.3.1: id and secret are form-urlencoded before being joined and base64-encoded. */
function fromBasic(header: string): { clientId: string; clientSecret: string } {
  const match = BASIC.exec(header);
  if (match?.[1] === undefined) throw invalidClient("malformed Basic credentials");
  const decoded = Buffer.from(match[1], "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon === -1) throw invalidClient("malformed Basic credentials");
  try {
    return { clientId: formUnescape(decoded.slice(0, colon)), clientSecret: formUnescape(decoded.slice(colon + 1)) };
  } catch {
    throw invalidClient("malformed Basic credentials");
  }
}

/**
 * The client's credentials from exactly one method (RFC 6749 §2.3: a client MUST NOT use more than
 * one): the Authorization header (client_secret_basic), `client_id` + `client_secret` in the body
 * (client_secret_post), or `client_id` alone (none, for public clients). No client at all, or a
 * client id that cannot be one, is `invalid_client` (401).
 */
export function presentedClient(request: IncomingMessage, form: ReadonlyMap<string, string>): PresentedClient {
  const authorization = request.headers.authorization;
  const bodyId = form.get("client_id");
  const bodySecret = form.get("client_secret");
  let presented: PresentedClient;
  if (authorization !== undefined) {
    if (bodySecret !== undefined) throw invalidRequest("use one client authentication method, not Basic and client_secret together");
    const basic = fromBasic(authorization);
    // A client_id in the body next to Basic is allowed (some clients send both) only when it agrees.
    if (bodyId !== undefined && bodyId !== basic.clientId) throw invalidRequest("client_id differs from the Basic credentials");
    presented = { ...basic, method: "client_secret_basic" };
  } else if (bodyId !== undefined) {
    presented = { clientId: bodyId, clientSecret: bodySecret ?? "", method: bodySecret === undefined ? "none" : "client_secret_post" };
  } else {
    throw invalidClient("client authentication is required (Basic, client_secret_post, or client_id for a public client)");
  }
  if (!CLIENT_ID.test(presented.clientId) || presented.clientSecret.length > MAX_SECRET) throw invalidClient("client authentication failed");
  if (presented.method === "client_secret_basic" && presented.clientSecret === "") throw invalidClient("client authentication failed");
  return presented;
}
