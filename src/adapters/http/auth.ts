// Bearer JWT authentication (jose): issuer, audience and keys from config; the token names the
// caller (sub), its organisation (org) and its roles. Routes declare the roles they admit.
import type { NextFunction, Request, Response } from 'express';
import { createLocalJWKSet, createRemoteJWKSet, errors as joseErrors, jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { z } from 'zod';
import { reject } from '../../domain/errors.js';
import { sendRejection } from './errors.js';

export const callerRoles = ['programme_manager', 'approver', 'finance', 'admin', 'auditor'] as const;
export type CallerRole = (typeof callerRoles)[number];

export interface Caller {
  readonly subject: string;
  readonly organisationId: string;
  readonly roles: readonly CallerRole[];
}

export interface AuthConfig {
  readonly issuer: string;
  readonly audience: string;
  readonly jwks: { readonly keys: readonly Record<string, unknown>[] } | null;
  readonly jwksUrl: string | null;
  readonly clockToleranceSeconds: number;
}

/** Asymmetric algorithms only: a shared-secret (HS*) or unsigned token is never accepted. */
export const tokenAlgorithms = ['ES256', 'EdDSA', 'PS256', 'RS256'];
/** A bearer token longer than this is not one of ours. */
export const bearerTokenMaxBytes = 8 * 1024;

const claims = z.object({
  sub: z.string().min(1).max(256),
  org: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/),
  roles: z.array(z.enum(callerRoles)).min(1).max(callerRoles.length),
  exp: z.number(),
});

export type Authenticate = (req: Request) => Promise<Caller | null>;

export function createAuthenticator(config: AuthConfig): Authenticate {
  const keys: JWTVerifyGetKey = config.jwks
    ? createLocalJWKSet(config.jwks as unknown as JSONWebKeySet)
    : createRemoteJWKSet(new URL(config.jwksUrl ?? 'invalid:'), { timeoutDuration: 5_000, cooldownDuration: 30_000 });
  return async (req) => {
    const header = req.headers.authorization;
    if (typeof header !== 'string' || header.length > bearerTokenMaxBytes) return null;
    const match = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/.exec(header);
    if (!match) return null;
    try {
      const { payload } = await jwtVerify(match[1]!, keys, {
        issuer: config.issuer,
        audience: config.audience,
        algorithms: tokenAlgorithms,
        clockTolerance: config.clockToleranceSeconds,
        requiredClaims: ['exp', 'sub'],
      });
      const parsed = claims.safeParse(payload);
      if (!parsed.success) return null;
      return { subject: parsed.data.sub, organisationId: parsed.data.org, roles: parsed.data.roles };
    } catch (error) {
      if (error instanceof joseErrors.JOSEError) return null;
      throw error;
    }
  };
}

declare module 'express-serve-static-core' {
  interface Request {
    caller?: Caller;
  }
}

/** Admits a request whose bearer token verifies and carries one of `roles`. */
export function requireRole(authenticate: Authenticate, ...roles: readonly CallerRole[]) {
  return (req: Request, res: Response, next: NextFunction) => {
    authenticate(req).then(
      (caller) => {
        if (!caller) {
          res.setHeader('www-authenticate', 'Bearer');
          return sendRejection(res, reject('AUTH_UNAUTHENTICATED'));
        }
        if (!caller.roles.some((r) => roles.includes(r))) return sendRejection(res, reject('AUTH_FORBIDDEN', `one of: ${roles.join(', ')}`));
        req.caller = caller;
        next();
      },
      next,
    );
  };
}

export function callerOf(req: Request): Caller {
  if (!req.caller) throw new Error('invariant violated: the route is behind requireRole');
  return req.caller;
}
