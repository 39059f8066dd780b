// Turns TLS on in the local PostgreSQL for one test file, with a throw-away CA made by the test
// (`openssl` CLI), and turns it off again. Plaintext keeps working meanwhile (`host` entries of
// pg_hba.conf accept both), so tests running beside it are not affected.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { connect as netConnect } from 'node:net';
import { chmod, chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import * as tls from 'node:tls';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';

const run = promisify(execFile);

export interface Pem {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}

export interface TestPki {
  dir: string;
  ca: Pem;
  /** A CA that signed nothing the server uses. */
  otherCa: Pem;
  /** Signed by `ca`, subjectAltName IP:127.0.0.1. */
  server: Pem;
  /** Signed by `ca`, subjectAltName DNS:elsewhere.test only: right CA, wrong host. */
  serverElsewhere: Pem;
  /** Signed by `ca`, for client authentication (CN=mauth-client). */
  client: Pem;
}

/** Why TLS cannot be turned on here, or undefined when it can. */
export async function tlsUnavailable(adminUrl: string): Promise<string | undefined> {
  try {
    await run('openssl', ['version']);
  } catch {
    return 'the openssl CLI is missing';
  }
  // The server key must belong to the postgres OS user: only root (or postgres itself) can do that.
  if (process.getuid?.() !== 0 && userInfo().username !== 'postgres') return 'not root: cannot hand the key to the postgres user';
  const host = new URL(adminUrl).hostname;
  if (host !== '127.0.0.1' && host !== 'localhost') return 'the test database is not local';
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql<{ superuser: boolean }[]>`SELECT rolsuper AS superuser FROM pg_roles WHERE rolname = current_user`;
    return row?.superuser ? undefined : 'the test database user is not a superuser';
  } catch (err) {
    return `cannot reach the test database: ${(err as Error).message}`;
  } finally {
    await sql.end();
  }
}

async function openssl(dir: string, ...args: string[]): Promise<void> {
  await run('openssl', args, { cwd: dir });
}

async function readPem(dir: string, name: string): Promise<Pem> {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  return { cert: await readFile(certFile, 'utf8'), key: await readFile(keyFile, 'utf8'), certFile, keyFile };
}

async function selfSigned(dir: string, name: string, cn: string): Promise<Pem> {
  await openssl(dir, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${cn}`);
  return readPem(dir, name);
}

async function signed(dir: string, name: string, cn: string, extensions: string): Promise<Pem> {
  await writeFile(join(dir, `${name}.ext`), extensions);
  await openssl(dir, 'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
  await openssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`);
  return readPem(dir, name);
}

export async function createTestPki(): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), 'mauth-tls-'));
  // The postgres server process reads the certificates from here.
  await chmod(dir, 0o755);
  const ca = await selfSigned(dir, 'ca', 'Mauth Test CA');
  const otherCa = await selfSigned(dir, 'other-ca', 'Mauth Other CA');
  const serverExt = 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n';
  const server = await signed(dir, 'server', '127.0.0.1', `${serverExt}subjectAltName=IP:127.0.0.1\n`);
  const serverElsewhere = await signed(dir, 'server-elsewhere', 'elsewhere.test', `${serverExt}subjectAltName=DNS:elsewhere.test\n`);
  const client = await signed(dir, 'client', 'mauth-client', 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n');
  for (const pem of [server, serverElsewhere]) {
    await chmod(pem.certFile, 0o644);
    // PostgreSQL refuses a key others can read; owned by postgres with 0600 it accepts it.
    await chmod(pem.keyFile, 0o600);
    if (process.getuid?.() === 0) {
      const { stdout } = await run('id', ['-u', 'postgres']);
      const { stdout: gid } = await run('id', ['-g', 'postgres']);
      await chown(pem.keyFile, Number(stdout.trim()), Number(gid.trim()));
    }
  }
  await chmod(ca.certFile, 0o644);
  return { dir, ca, otherCa, server, serverElsewhere, client };
}

function literal(path: string): string {
  // ALTER SYSTEM takes no bind parameters; the paths are the test's own temp files.
  if (!/^[\w/.-]+$/.test(path)) throw new Error(`unexpected characters in ${path}`);
  return `'${path}'`;
}

const SETTINGS = ['ssl', 'ssl_cert_file', 'ssl_key_file', 'ssl_ca_file'];

/**
 * Serves `server` over TLS and asks for (but does not require) client certificates signed by
 * `ca`; resolves once a new connection is served with that certificate.
 */
export async function serveTls(adminUrl: string, server: Pem, ca: Pem): Promise<void> {
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(`ALTER SYSTEM SET ssl_cert_file = ${literal(server.certFile)}`);
    await sql.unsafe(`ALTER SYSTEM SET ssl_key_file = ${literal(server.keyFile)}`);
    await sql.unsafe(`ALTER SYSTEM SET ssl_ca_file = ${literal(ca.certFile)}`);
    await sql.unsafe('ALTER SYSTEM SET ssl = on');
    await sql`SELECT pg_reload_conf()`;
  } finally {
    await sql.end();
  }
  const expected = new X509Certificate(server.cert).fingerprint256;
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if ((await peerFingerprint(adminUrl)) === expected) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`PostgreSQL did not start serving the test certificate`);
}

/** The SHA-256 fingerprint of the certificate the server presents, from a raw SSLRequest. */
async function peerFingerprint(adminUrl: string): Promise<string | undefined> {
  const url = new URL(adminUrl);
  return new Promise((resolve) => {
    const socket = netConnect({ host: url.hostname, port: Number(url.port || 5432) }, () => {
      // SSLRequest: length 8, code 80877103.
      const request = Buffer.alloc(8);
      request.writeInt32BE(8, 0);
      request.writeInt32BE(80877103, 4);
      socket.write(request);
    });
    socket.once('error', () => resolve(undefined));
    socket.once('data', (answer) => {
      if (answer[0] !== 0x53) {
        socket.destroy();
        resolve(undefined);
        return;
      }
      const secure = tls.connect({ socket, rejectUnauthorized: false }, () => {
        const fingerprint = secure.getPeerX509Certificate()?.fingerprint256;
        secure.destroy();
        resolve(fingerprint);
      });
      secure.once('error', () => resolve(undefined));
    });
  });
}

/** Puts the server's TLS settings back to the defaults (TLS off). Safe to call more than once. */
export async function restoreTls(adminUrl: string): Promise<void> {
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    for (const name of SETTINGS) await sql.unsafe(`ALTER SYSTEM RESET ${name}`);
    await sql`SELECT pg_reload_conf()`;
  } finally {
    await sql.end();
  }
}

export async function removeTestPki(pki: TestPki | undefined): Promise<void> {
  if (pki) await rm(pki.dir, { recursive: true, force: true });
}
