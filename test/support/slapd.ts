// A real OpenLDAP server (Debian's slapd) for the directory tests: a throwaway slapd.conf and mdb
// database in a temporary folder, listening on a free loopback port, optionally with StartTLS
// under a CA the harness makes with the openssl CLI. The test seeds its own entries through an
// admin client. The process runs in the foreground (`-d 0`), so the harness can stop, hang
// (SIGSTOP) and restart it on the same port and data; it is killed when the test process exits.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Attribute, Change, Client } from 'ldapts';
import { freePort } from './mauth-process.js';

const run = promisify(execFile);

export const SLAPD = process.env.MAUTH_TEST_SLAPD ?? '/usr/sbin/slapd';
const SCHEMA_DIR = '/etc/ldap/schema';
const MODULE_DIR = '/usr/lib/ldap';

export const SUFFIX = 'dc=example,dc=org';
export const ADMIN_DN = `cn=admin,${SUFFIX}`;
export const SERVICE_DN = `cn=matrix,ou=services,${SUFFIX}`;
export const PEOPLE = `ou=people,${SUFFIX}`;
export const STAFF = `ou=staff,${SUFFIX}`;
/** A subtree outside the base DNs the tests configure. */
export const OUTSIDERS = `ou=outsiders,${SUFFIX}`;

/** Whether slapd is installed (the tests say why they skip when it is not). */
export const slapdAvailable = existsSync(SLAPD) && existsSync(join(SCHEMA_DIR, 'inetorgperson.schema'));

// Active Directory's account flags, for entries that behave like AD users (bit 2: disabled).
const TEST_SCHEMA = `
attributetype ( 1.3.6.1.4.1.99999.1.1 NAME 'userAccountControl'
  EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.99999.2.1 NAME 'mauthTestAccount' SUP top AUXILIARY
  MAY ( userAccountControl ) )
`;

export interface SlapdOptions {
  /** Serve StartTLS with a certificate for 127.0.0.1 under a CA made for this run. */
  tls?: boolean;
}

export interface Slapd {
  /** `ldap://127.0.0.1:<port>` */
  url: string;
  port: number;
  adminPassword: string;
  servicePassword: string;
  /** PEM file of the CA that signed the server certificate (with `tls`). */
  caFile?: string;
  /** An admin connection for seeding and changing entries (closed by `close`). */
  admin(): Promise<Client>;
  addUser(uid: string, fields: UserFields): Promise<string>;
  modify(dn: string, attribute: string, values: string[]): Promise<void>;
  remove(dn: string): Promise<void>;
  /** SIGSTOP: the process keeps its port (the kernel still accepts connections) but answers nothing. */
  hang(): void;
  /** SIGCONT after `hang`. */
  resume(): void;
  /** Ends the process; the data stays for `start`. */
  stop(): Promise<void>;
  /** Starts again on the same port with the same data. */
  start(): Promise<void>;
  /** Stops and removes everything. */
  close(): Promise<void>;
  /** What slapd printed (on failures). */
  output(): string;
}

export interface UserFields {
  password: string;
  /** Parent entry; default ou=people. */
  parent?: string;
  cn?: string;
  displayName?: string;
  mail?: string[];
  employeeNumber?: string;
  /** `employeeType: matrix` is what the tests' user_filter asks for; default true. */
  matrix?: boolean;
  userAccountControl?: number;
}

async function makeCertificates(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const ca = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca.key');
  const key = join(dir, 'server.key');
  const csr = join(dir, 'server.csr');
  const cert = join(dir, 'server.pem');
  const ext = join(dir, 'server.ext');
  await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=Mauth test directory CA', '-keyout', caKey, '-out', ca,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  await run('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=localhost', '-keyout', key, '-out', csr]);
  await writeFile(ext, 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n');
  await run('openssl', ['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', cert]);
  return { ca, cert, key };
}

function slapdConf(dir: string, adminPassword: string, tls?: { ca: string; cert: string; key: string }): string {
  return [
    ...['core', 'cosine', 'inetorgperson'].map((s) => `include ${SCHEMA_DIR}/${s}.schema`),
    `include ${join(dir, 'test.schema')}`,
    `pidfile ${join(dir, 'slapd.pid')}`,
    `argsfile ${join(dir, 'slapd.args')}`,
    `modulepath ${MODULE_DIR}`,
    'moduleload back_mdb',
    ...(tls ? [`TLSCACertificateFile ${tls.ca}`, `TLSCertificateFile ${tls.cert}`, `TLSCertificateKeyFile ${tls.key}`] : []),
    'database mdb',
    'maxsize 16777216',
    `suffix "${SUFFIX}"`,
    `rootdn "${ADMIN_DN}"`,
    `rootpw ${adminPassword}`,
    `directory ${join(dir, 'data')}`,
    // Passwords: only for binding. Everything else: the service account reads, users read their
    // own entry, anonymous clients see nothing (so searches need the service account).
    'access to attrs=userPassword by self write by anonymous auth by * none',
    `access to * by dn.exact="${SERVICE_DN}" read by self read by * none`,
    '',
  ].join('\n');
}

function waitForPort(port: number, child: ChildProcess, output: () => string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        reject(new Error(`slapd exited (${child.exitCode ?? child.signalCode}):\n${output()}`));
        return;
      }
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`slapd did not listen on ${port} within ${timeoutMs} ms:\n${output()}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  // A test that failed before its `after` must not leave slapd behind (SIGKILL works on a stopped process too).
  for (const child of running) child.kill('SIGKILL');
});

export async function startSlapd(options: SlapdOptions = {}): Promise<Slapd> {
  if (!slapdAvailable) throw new Error(`slapd is not installed (${SLAPD}); .ci/run installs it`);
  const dir = await mkdtemp(join(tmpdir(), 'mauth-slapd-'));
  await mkdir(join(dir, 'data'));
  await writeFile(join(dir, 'test.schema'), TEST_SCHEMA);
  const adminPassword = `admin-${Math.random().toString(36).slice(2)}`;
  const servicePassword = `service-${Math.random().toString(36).slice(2)}`;
  const certificates = options.tls ? await makeCertificates(dir) : undefined;
  const conf = join(dir, 'slapd.conf');
  await writeFile(conf, slapdConf(dir, adminPassword, certificates));
  const port = await freePort();
  const url = `ldap://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let output = '';
  const clients: Client[] = [];

  const launch = async () => {
    const proc = spawn(SLAPD, ['-f', conf, '-h', `${url}/`, '-d', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout!.on('data', (d) => (output += d));
    proc.stderr!.on('data', (d) => (output += d));
    running.add(proc);
    proc.once('exit', () => running.delete(proc));
    child = proc;
    try {
      await waitForPort(port, proc, () => output);
    } catch (err) {
      proc.kill('SIGKILL');
      throw err;
    }
  };

  const end = async (signal: NodeJS.Signals) => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGCONT');
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };

  const admin = async () => {
    const client = new Client({ url, timeout: 10_000, connectTimeout: 10_000 });
    if (certificates) await client.startTLS({ ca: [await readFile(certificates.ca, 'utf8')], host: '127.0.0.1' });
    await client.bind(ADMIN_DN, adminPassword);
    clients.push(client);
    return client;
  };

  await launch();
  try {
    const seed = await admin();
    await seed.add(SUFFIX, { objectClass: ['dcObject', 'organization'], dc: 'example', o: 'Example' });
    for (const ou of ['people', 'staff', 'services', 'outsiders']) {
      await seed.add(`ou=${ou},${SUFFIX}`, { objectClass: 'organizationalUnit', ou });
    }
    await seed.add(SERVICE_DN, { objectClass: ['person', 'simpleSecurityObject'], cn: 'matrix', sn: 'service', userPassword: servicePassword });
    await seed.unbind();
  } catch (err) {
    await end('SIGKILL');
    throw new Error(`seeding slapd failed: ${(err as Error).message}\n${output}`, { cause: err });
  }

  return {
    url,
    port,
    adminPassword,
    servicePassword,
    caFile: certificates?.ca,
    admin,
    async addUser(uid, fields) {
      const dn = `uid=${uid},${fields.parent ?? PEOPLE}`;
      const client = await admin();
      try {
        const attributes: Record<string, string | string[]> = {
          objectClass: ['inetOrgPerson', 'mauthTestAccount'],
          uid,
          cn: fields.cn ?? uid,
          sn: uid,
          userPassword: fields.password,
        };
        if (fields.displayName) attributes.displayName = fields.displayName;
        if (fields.mail?.length) attributes.mail = fields.mail;
        if (fields.employeeNumber) attributes.employeeNumber = fields.employeeNumber;
        if (fields.matrix !== false) attributes.employeeType = 'matrix';
        if (fields.userAccountControl !== undefined) attributes.userAccountControl = String(fields.userAccountControl);
        await client.add(dn, attributes);
      } finally {
        await client.unbind();
      }
      return dn;
    },
    async modify(dn, attribute, values) {
      const client = await admin();
      try {
        await client.modify(dn, new Change({ operation: 'replace', modification: new Attribute({ type: attribute, values }) }));
      } finally {
        await client.unbind();
      }
    },
    async remove(dn) {
      const client = await admin();
      try {
        await client.del(dn);
      } finally {
        await client.unbind();
      }
    },
    hang() {
      if (!child) throw new Error('slapd is not running');
      child.kill('SIGSTOP');
    },
    resume() {
      child?.kill('SIGCONT');
    },
    stop: () => end('SIGTERM'),
    async start() {
      if (child) throw new Error('slapd is running already');
      await launch();
    },
    async close() {
      await Promise.all(clients.map((c) => c.unbind().catch(() => {})));
      await end('SIGTERM');
      await rm(dir, { recursive: true, force: true });
    },
    output: () => output,
  };
}
