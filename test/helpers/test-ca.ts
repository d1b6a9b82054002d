/**
 * A throw-away certificate authority made with openssl, so a client verifies a server's chain
 * (curl --cacert, tls.connect({ ca })) instead of switching verification off.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestCa {
  readonly cert: string;
  readonly key: string;
}

export interface Leaf {
  readonly cert: string;
  readonly key: string;
}

/** A CA (P-256, one day) in `dir`: `ca.crt.pem` is what clients trust. */
export async function makeCa(dir: string, cn = 'pi-origin test CA'): Promise<TestCa> {
  const ca = { cert: join(dir, 'ca.crt.pem'), key: join(dir, 'ca.key.pem') };
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', ca.key, '-out', ca.cert, '-days', '1', '-subj', `/CN=${cn}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  return ca;
}

/**
 * A server certificate signed by `ca` for `cn`, valid for the DNS names and IP addresses in
 * `sans` (`DNS:origin.test`, `IP:fd00::11`). Files `<cn>.crt.pem` (leaf then CA: a full chain)
 * and `<cn>.key.pem` in `dir`.
 */
export async function issue(ca: TestCa, dir: string, cn: string, sans: readonly string[]): Promise<Leaf> {
  const leaf = { cert: join(dir, `${cn}.crt.pem`), key: join(dir, `${cn}.key.pem`) };
  const csr = join(dir, `${cn}.csr.pem`);
  const ext = join(dir, `${cn}.ext`);
  writeFileSync(ext, `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${sans.join(',')}\n`);
  await run('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', leaf.key, '-out', csr, '-subj', `/CN=${cn}`]);
  await run('openssl', ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', '1', '-extfile', ext, '-out', leaf.cert]);
  writeFileSync(leaf.cert, readFileSync(leaf.cert, 'utf8') + readFileSync(ca.cert, 'utf8'));
  return leaf;
}

/**
 * The subject CN of the certificate a TLS server at `host`:`port` presents, verified against
 * `caFile` (a chain the CA did not sign, or a name/address not in the SANs, rejects).
 */
export function servedCertificateCn(host: string, port: number, caFile: string, servername?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, ca: readFileSync(caFile), ...(servername === undefined ? {} : { servername }), timeout: 5000 }, () => {
      const cn = socket.getPeerCertificate().subject?.CN;
      socket.destroy();
      resolve(Array.isArray(cn) ? cn.join(',') : (cn ?? ''));
    });
    socket.on('timeout', () => socket.destroy(new Error(`TLS handshake with ${host}:${port} timed out`)));
    socket.on('error', reject);
  });
}
