// Bearer JWT authentication (jose): issuer, audience and keys from config; the token names the
// caller (sub), its organisation (org) and its roles. Routes declare the roles they admit.
import type { NextFunction, Request, Response } from 'express';
import { hash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { createLocalJWKSet, createRemoteJWKSet, errors as joseErrors, jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { z } from 'zod';
import { reject, type Rejection } from '../../domain/errors.js';
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

/**
 * Tokens verified lately, remembered so that a client's next request with the same token skips the
 * signature check (an ES256 verification is most of a status read's CPU): at most this many, the
 * oldest forgotten first. Keyed by the token's SHA-256; only tokens that verified are remembered.
 */
export const verifiedTokensMax = 10_000;
/**
 * The longest a verified token is remembered, in ms: a key withdrawn from a remote JWKS stops
 * admitting its tokens within this (and within the JWKS's own refresh). Never past the token's exp.
 */
export const verifiedTokenTtlMs = 60_000;

/** `now`: the clock that decides expiry (the tests move it). */
export function createAuthenticator(config: AuthConfig, now: () => Date = () => new Date()): Authenticate {
  const keys: JWTVerifyGetKey = config.jwks
    ? createLocalJWKSet(config.jwks as unknown as JSONWebKeySet)
    : createRemoteJWKSet(new URL(config.jwksUrl ?? 'invalid:'), { timeoutDuration: 5_000, cooldownDuration: 30_000 });
  // SHA-256 of the token -> its caller and until when (ms) it may be answered from here.
  const verified = new Map<string, { readonly caller: Caller; readonly until: number }>();
  return async (req) => {
    const header = req.headers.authorization;
    if (typeof header !== 'string' || header.length > bearerTokenMaxBytes) return null;
    const match = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/.exec(header);
    if (!match) return null;
    const token = match[1]!;
    const at = now();
    const key = hash('sha256', token, 'base64');
    const known = verified.get(key);
    if (known) {
      if (at.getTime() < known.until) return known.caller;
      verified.delete(key);
    }
    try {
      const { payload } = await jwtVerify(token, keys, {
        issuer: config.issuer,
        audience: config.audience,
        algorithms: tokenAlgorithms,
        clockTolerance: config.clockToleranceSeconds,
        requiredClaims: ['exp', 'sub'],
        currentDate: at,
      });
      const parsed = claims.safeParse(payload);
      if (!parsed.success) return null;
      const caller: Caller = { subject: parsed.data.sub, organisationId: parsed.data.org, roles: parsed.data.roles };
      // Remembered until its exp (without the clock tolerance: past exp jose decides again), at most the TTL.
      const until = Math.min(at.getTime() + verifiedTokenTtlMs, parsed.data.exp * 1000);
      if (until > at.getTime()) {
        if (verified.size >= verifiedTokensMax) verified.delete(verified.keys().next().value!);
        verified.set(key, { caller, until });
      }
      return caller;
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

/**
 * Why a caller may not go on, or null when it may: no verified token (401, and `res` is told the
 * scheme to use) or none of `roles` (403). What requireRole answers, and the status reads' path
 * outside Express (read-fast-path.ts) with it.
 */
export function refusalOf(caller: Caller | null, roles: readonly CallerRole[], res: Pick<ServerResponse, 'setHeader'>): Rejection | null {
  if (!caller) {
    res.setHeader('www-authenticate', 'Bearer');
    return reject('AUTH_UNAUTHENTICATED');
  }
  return caller.roles.some((r) => roles.includes(r)) ? null : reject('AUTH_FORBIDDEN', `one of: ${roles.join(', ')}`);
}

/** Admits a request whose bearer token verifies and carries one of `roles`. */
export function requireRole(authenticate: Authenticate, ...roles: readonly CallerRole[]) {
  return (req: Request, res: Response, next: NextFunction) => {
    authenticate(req).then(
      (caller) => {
        const refusal = refusalOf(caller, roles, res);
        if (refusal) return sendRejection(res, refusal);
        req.caller = caller!;
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
