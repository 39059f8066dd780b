// What `mauth doctor` checks, in the order it prints them. To add a check (the directory, say),
// add a DoctorCheck to DOCTOR_CHECKS: `run` gets the configuration and the shared helpers
// (database, fetch with the timeout, clock readings) and returns one or more findings, each with
// a hint when it is not ✅. A check that throws or runs out of time is printed as ❌ by the runner.
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';
import { importJWK, jwtVerify, SignJWT, type JWK } from 'jose';
import type { Config } from '../config/types.js';
import { createTransport } from '../email/mailer.js';
import { loadSigningKeys } from '../oidc/keys.js';
import { databaseNow, isEmbedded } from '../storage/db.js';
import { migrationState } from '../storage/migrate.js';
import type { DoctorCheck, DoctorContext, Finding } from './doctor.js';
import { DIRECTORY_CHECK } from './doctor-directory.js';
import { AUTH_METADATA_CHECK, DISCOVERY_CHECK, HOMESERVER_CHECK, ISSUER_CHECK, PUBLISHED_KEYS_CHECK } from './doctor-http.js';

const DATABASE_CHECK: DoctorCheck = {
  name: 'database',
  async run(ctx) {
    let sql;
    try {
      sql = await ctx.database();
    } catch (err) {
      return {
        status: 'fail',
        message: `database: ${(err as Error).message}`,
        hint: 'check the database section (uri, or host/port/username/password/database) and that PostgreSQL runs and accepts this host',
      };
    }
    const started = Date.now();
    const now = await databaseNow(sql);
    const ended = Date.now();
    ctx.clockReadings.push({ source: 'the database server', skewMs: now.getTime() - (started + ended) / 2, uncertaintyMs: (ended - started) / 2 + 5 });
    const state = await migrationState(sql);
    if (state.pending.length > 0) {
      return {
        status: 'fail',
        message: `database: reachable, but ${state.pending.length} migration${state.pending.length === 1 ? ' is' : 's are'} not applied (${state.pending.at(-1)} the latest)`,
        hint: 'run `mauth database migrate` (`mauth server` applies them at start unless started with --no-migrate)',
      };
    }
    if (state.unknown.length > 0) {
      return {
        status: 'warn',
        message: `database: migrated by a newer Mauth (${state.unknown.join(', ')} unknown to this version)`,
        hint: 'run doctor (and the server) from the same Mauth version that migrated the database',
      };
    }
    return { status: 'ok', message: `database: reachable and migrated${isEmbedded(ctx.config.database) ? ' (embedded)' : ''}` };
  },
};

/** Signs and verifies a token with the key: proves the private and the public half belong together. */
async function usable(jwk: JWK): Promise<void> {
  const alg = jwk.alg!;
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicJwk } = jwk;
  const token = await new SignJWT({ doctor: true }).setProtectedHeader({ alg, kid: jwk.kid }).sign(await importJWK(jwk, alg));
  await jwtVerify(token, await importJWK(publicJwk, alg));
}

const KEYS_CHECK: DoctorCheck = {
  name: 'signing keys',
  async run(ctx) {
    let keys: JWK[];
    try {
      keys = await loadSigningKeys(ctx.config.secrets.keys);
    } catch (err) {
      return { status: 'fail', message: `signing keys: ${(err as Error).message}`, hint: 'secrets.keys: each entry needs key or key_file holding a PEM private key (mauth config generate writes fresh ones)' };
    }
    if (keys.length === 0) return { status: 'fail', message: 'signing keys: secrets.keys is empty', hint: 'add an RSA and an EC key (mauth config generate writes fresh ones)' };
    const findings: Finding[] = [];
    for (const jwk of keys) {
      try {
        await usable(jwk);
      } catch (err) {
        findings.push({ status: 'fail', message: `signing keys: key ${jwk.kid} (${jwk.alg}) cannot sign: ${(err as Error).message}`, hint: 'replace that entry of secrets.keys' });
      }
    }
    if (!keys.some((k) => k.kty === 'RSA')) {
      findings.push({ status: 'warn', message: 'signing keys: no RSA key', hint: 'ID tokens are expected signed with RS256: add an RSA key to secrets.keys' });
    }
    if (findings.length === 0) findings.push({ status: 'ok', message: `signing keys: ${keys.map((k) => `${k.alg} (${k.kid})`).join(', ')} sign and verify` });
    return findings;
  },
};

/** The settings that send mail, named as in the configuration. */
function needsMail(config: Config): string[] {
  const { account } = config;
  return [
    account.password_registration_enabled && account.password_registration_email_required && 'account.password_registration_email_required',
    account.password_recovery_enabled && 'account.password_recovery_enabled',
  ].filter((key): key is string => Boolean(key));
}

async function findCommand(command: string): Promise<string | undefined> {
  const candidates = isAbsolute(command) || command.includes('/') ? [command] : (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, command));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

const EMAIL_CHECK: DoctorCheck = {
  name: 'e-mail',
  async run(ctx) {
    const { email } = ctx.config;
    switch (email.transport) {
      case 'blackhole': {
        const needed = needsMail(ctx.config);
        if (needed.length === 0) return { status: 'ok', message: 'e-mail: blackhole transport (mail is dropped; nothing configured needs it)' };
        return { status: 'warn', message: `e-mail: blackhole transport, but ${needed.join(' and ')} send mail`, hint: 'configure email.transport smtp or sendmail, or users never get their codes and links' };
      }
      case 'sendmail': {
        const command = email.command ?? 'sendmail';
        const found = await findCommand(command);
        if (found) return { status: 'ok', message: `e-mail: sendmail transport (${found})` };
        return { status: 'fail', message: `e-mail: sendmail command ${command} not found or not executable`, hint: 'install sendmail or set email.command to its path' };
      }
      case 'smtp': {
        const where = `${email.hostname}${email.port ? `:${email.port}` : ''}`;
        const transport = createTransport(email);
        try {
          await transport.verify();
          return { status: 'ok', message: `e-mail: SMTP server ${where} accepts the connection${email.username ? ' and the login' : ''}` };
        } catch (err) {
          return {
            status: 'fail',
            message: `e-mail: SMTP server ${where}: ${(err as Error).message}`,
            hint: 'check email.hostname, port, mode (plain, tls, starttls), username and password, and that this host may connect',
          };
        } finally {
          transport.close();
        }
      }
      default:
        return { status: 'warn', message: `e-mail: the ${email.transport} transport is not checked`, hint: 'send yourself a recovery mail to check it' };
    }
  },
};

/** Beyond the measurement's own uncertainty. */
const CLOCK_WARN_MS = 5_000;
const CLOCK_FAIL_MS = 30_000;

const CLOCK_CHECK: DoctorCheck = {
  name: 'clock',
  async run(ctx: DoctorContext) {
    if (ctx.clockReadings.length === 0) {
      return { status: 'warn', message: 'clock: nothing to compare this host’s clock with', hint: 'the database, Mauth and the homeserver were all unreachable (see above)' };
    }
    const off = ctx.clockReadings.map((r) => ({ ...r, beyond: Math.max(0, Math.abs(r.skewMs) - r.uncertaintyMs) })).sort((a, b) => b.beyond - a.beyond);
    const worst = off[0];
    const describe = (r: (typeof off)[number]) => `${r.source} is ${(Math.abs(r.skewMs) / 1000).toFixed(1)} s ${r.skewMs > 0 ? 'ahead' : 'behind'}`;
    const hint = 'run NTP (chrony, systemd-timesyncd) on every host: tokens carry times that other servers check';
    if (worst.beyond > CLOCK_FAIL_MS) return { status: 'fail', message: `clock: ${describe(worst)}`, hint };
    if (worst.beyond > CLOCK_WARN_MS) return { status: 'warn', message: `clock: ${describe(worst)}`, hint };
    return { status: 'ok', message: `clock: agrees with ${[...new Set(off.map((r) => r.source))].join(', ')}` };
  },
};

/** In print order; the clock comes last because it reads what the others measured. */
export const DOCTOR_CHECKS: DoctorCheck[] = [
  DATABASE_CHECK,
  KEYS_CHECK,
  EMAIL_CHECK,
  DISCOVERY_CHECK,
  ISSUER_CHECK,
  PUBLISHED_KEYS_CHECK,
  HOMESERVER_CHECK,
  AUTH_METADATA_CHECK,
  DIRECTORY_CHECK,
  CLOCK_CHECK,
];
