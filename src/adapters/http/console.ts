// The web console (console/, built by Vite into static files): served at /console beside the API,
// with a content security policy of its own (scripts and styles from this origin only, nothing
// inline, no framing), long-lived caching for its content-hashed assets and none for its page.
// Also what the page needs to sign in: /console/config.json (which sign-in the server offers) and,
// in dev mode only, /console/dev-sign-in, which mints a dev token as `tuma token --dev` does.
// None of this is the API: it lives outside /v1, and the console itself calls /v1 only.
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import express, { type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import { reject } from '../../domain/errors.js';
import { callerRoles, type CallerRole } from './auth.js';
import { sendRejection } from './errors.js';
import { jsonBody } from './json-body.js';

/** Claims of a dev sign-in token: the same as `tuma token --dev` takes. */
export interface DevTokenClaims {
  readonly subject: string;
  readonly organisationId: string;
  readonly roles: readonly CallerRole[];
  readonly ttlSeconds: number;
}

export interface ConsoleDeps {
  /** The built console (index.html, assets/); null: the console is not served (404). */
  readonly dir: string | null;
  /**
   * Mints a bearer token from the dev issuer. Given only in dev mode when the API trusts the dev
   * issuer; absent, /console/dev-sign-in does not exist (404, as any unknown path).
   */
  readonly devSignIn?: ((claims: DevTokenClaims) => Promise<string>) | null;
  /** OpenID Connect sign-in through the configured issuer (authorization code + PKCE in the browser); null: none. */
  readonly oidc?: { readonly issuer: string; readonly clientId: string; readonly scope: string } | null;
}

/** How long a dev sign-in token lives: a working session, as `tuma token --dev`'s default. */
export const devSignInTtlSeconds = 3600;
/** A dev sign-in body is three short members. */
export const devSignInBodyMaxBytes = 1024;
/** Hashed assets never change under their name: cached a year. */
const assetMaxAgeSeconds = 365 * 24 * 3600;

const devSignInBody = z.strictObject({
  organisationId: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/),
  subject: z.string().regex(/^[\x21-\x7e]{1,256}$/),
  roles: z.array(z.enum(callerRoles)).min(1).max(callerRoles.length).refine((r) => new Set(r).size === r.length, 'a role twice'),
});

/** The console's policy: this origin only, nothing inline, no framing; the issuer's origin for OIDC's token exchange. */
export function consoleCsp(oidcIssuer: string | null): string {
  let issuerOrigin = '';
  if (oidcIssuer) {
    try {
      issuerOrigin = ` ${new URL(oidcIssuer).origin}`;
    } catch {
      issuerOrigin = '';
    }
  }
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    `connect-src 'self'${issuerOrigin}`,
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "object-src 'none'",
  ].join('; ');
}

/** The /console routes, for app.use('/console', …) after the API's own headers (this overrides them). */
export function consoleRouter(deps: ConsoleDeps, writeLimits: readonly RequestHandler[] = []): express.Router {
  const router = express.Router({ strict: false });
  const csp = consoleCsp(deps.oidc?.issuer ?? null);
  router.use((_req, res, next) => {
    res.setHeader('content-security-policy', csp);
    next();
  });

  router.use('/config.json', (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    res.setHeader('cache-control', 'no-store');
    res.json({ devSignIn: Boolean(deps.devSignIn), oidc: deps.oidc ?? null });
  });

  const mint = deps.devSignIn;
  if (mint) {
    const parse = jsonBody({ limit: devSignInBodyMaxBytes, type: () => true });
    router.use('/dev-sign-in', ...writeLimits, (req, res, next) => {
      if (req.method !== 'POST') return next();
      // Only JSON: a cross-site form cannot send it without a preflight, which is refused (404).
      if (!/^application\/json\s*(;|$)/i.test(req.headers['content-type'] ?? '')) {
        return sendRejection(res, reject('REQUEST_UNSUPPORTED_MEDIA_TYPE', 'send application/json'));
      }
      parse(req, res, (error?: unknown) => {
        if (error) return next(error);
        const body = devSignInBody.safeParse(req.body);
        if (!body.success) {
          const fields = [...new Set(body.error.issues.map((i) => i.path.join('.') || '(body)'))].join(', ');
          return sendRejection(res, reject('REQUEST_MALFORMED', `organisationId (1-64 of A-Z a-z 0-9 _ . : -), subject (1-256 printable characters) and roles (${callerRoles.join(', ')}); wrong: ${fields}`));
        }
        const { organisationId, subject, roles } = body.data;
        mint({ organisationId, subject, roles, ttlSeconds: devSignInTtlSeconds }).then(
          (token) => {
            res.setHeader('cache-control', 'no-store');
            res.status(201).json({ token, expiresIn: devSignInTtlSeconds });
          },
          (mintError: unknown) => next(mintError),
        );
      });
    });
  }

  const dir = deps.dir;
  if (dir && existsSync(path.join(dir, 'index.html'))) {
    // Content-hashed names (Vite): immutable. Anything else under /console: revalidated each time.
    router.use('/assets', gzippedAssets(path.join(dir, 'assets')));
    router.use('/assets', express.static(path.join(dir, 'assets'), {
      index: false, fallthrough: true, redirect: false, dotfiles: 'deny',
      setHeaders: (res: Response) => {
        res.setHeader('cache-control', `public, max-age=${assetMaxAgeSeconds}, immutable`);
        res.setHeader('vary', 'accept-encoding');
      },
    }));
    router.use(express.static(dir, {
      // /console → /console/, so the page's relative place is the directory.
      index: 'index.html', fallthrough: true, redirect: true, dotfiles: 'deny',
      setHeaders: (res: Response) => res.setHeader('cache-control', 'no-cache'),
    }));
  }
  return router;
}

/** A built script or style sheet's name: Vite's `name-hash.ext`, never a path, a dotfile or `..`. */
const compressibleAsset = /^\/([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.(js|css))$/;

/**
 * The console's scripts and style sheets gzipped for a browser that accepts it (issue #16 item 1:
 * a 3G-class link downloads the ~130 KB compressed, not the ~460 KB the files hold). Each file is
 * compressed once, on its first request, and kept: the names are content-hashed, so a file never
 * changes under its name. Anything else (no gzip accepted, another file) falls through to
 * express.static.
 */
function gzippedAssets(assetsDir: string): RequestHandler {
  const compressed = new Map<string, Promise<Buffer>>();
  return (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    const name = compressibleAsset.exec(req.path);
    if (!name || !/\bgzip\b/i.test(String(req.headers['accept-encoding'] ?? ''))) return next();
    const file = path.join(assetsDir, name[1]!);
    if (path.dirname(file) !== assetsDir || !existsSync(file) || !statSync(file).isFile()) return next();
    let body = compressed.get(file);
    if (!body) {
      body = promisify(gzip)(readFileSync(file), { level: 9 });
      compressed.set(file, body);
    }
    body.then(
      (bytes) => {
        res.setHeader('content-type', name[2] === 'js' ? 'text/javascript; charset=utf-8' : 'text/css; charset=utf-8');
        res.setHeader('content-encoding', 'gzip');
        res.setHeader('vary', 'accept-encoding');
        res.setHeader('content-length', String(bytes.byteLength));
        res.setHeader('cache-control', `public, max-age=${assetMaxAgeSeconds}, immutable`);
        if (req.method === 'HEAD') res.end();
        else res.end(bytes);
      },
      (error: unknown) => {
        compressed.delete(file);
        next(error);
      },
    );
  };
}
