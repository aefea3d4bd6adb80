// Bearer-token authentication shared by the HTTP and gRPC edges.

import type { TokenRepository } from '../../storage/tokens.js';
import { UnauthenticatedError } from './errors.js';

const BEARER = /^Bearer\s+(\S+)\s*$/i;

export class Authenticator {
  constructor(private readonly tokens: TokenRepository) {}

  /** Returns the tenant of an `authorization` header value; throws UNAUTHENTICATED otherwise. */
  async tenantOf(authorization: string | undefined): Promise<string> {
    if (!authorization) throw new UnauthenticatedError('no bearer token');
    const match = BEARER.exec(authorization);
    if (!match) throw new UnauthenticatedError('the authorization value is not "Bearer <token>"');
    const tenant = await this.tokens.tenantOf(match[1]!);
    if (!tenant) throw new UnauthenticatedError('unknown bearer token');
    return tenant;
  }
}
