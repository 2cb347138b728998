import { GRANT_TYPES } from "./token-endpoint.js";
import type { Endpoint } from "./reply.js";

export const PATHS = {
  token: "/oauth2/token",
  introspection: "/oauth2/introspect",
  revocation: "/oauth2/revoke",
  metadata: "/.well-known/oauth-authorization-server",
} as const;

/**
 * RFC 8414 metadata, saying exactly what this server does: the three endpoints, the three grant
 * types, S256 only, the client authentication methods each endpoint accepts, the scope catalog.
 * There is no authorization endpoint here (codes are issued through the ledger's
 * IssueAuthorizationCode by the product's consent front door), so no response type is listed.
 */
export function authorizationServerMetadata(issuer: string, scopes: readonly string[]) {
  return {
    issuer,
    token_endpoint: `${issuer}${PATHS.token}`,
    introspection_endpoint: `${issuer}${PATHS.introspection}`,
    revocation_endpoint: `${issuer}${PATHS.revocation}`,
    grant_types_supported: [...GRANT_TYPES],
    response_types_supported: [],
    scopes_supported: [...scopes],
    code_challenge_methods_supported: ["S256"],
    token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post", "none"],
    // Resource servers: a confidential client's credentials (API keys and mTLS work too, outside RFC 8414's names).
    introspection_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post"],
    revocation_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post", "none"],
  };
}

/** `GET /.well-known/oauth-authorization-server`. */
export function metadataEndpoint(issuer: () => string, scopes: readonly string[]): Endpoint {
  return async () => ({ status: 200, body: authorizationServerMetadata(issuer(), scopes), headers: { "cache-control": "public, max-age=300" } });
}
