/** Certificates and handshakes for the TLS tests. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Pair {
  readonly cert: string;
  readonly key: string;
}

/** A self-signed certificate and key for `cn` (no CA), written into `dir`. */
export async function selfSigned(dir: string, cn: string): Promise<Pair> {
  const pair = { cert: join(dir, `${cn}.crt.pem`), key: join(dir, `${cn}.key.pem`) };
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', pair.key, '-out', pair.cert, '-days', '1', '-subj', `/CN=${cn}`, '-addext', `subjectAltName=DNS:${cn}`]);
  return pair;
}

/** Handshakes with `servername` (none when undefined) and returns the socket and the certificate's CN. */
export function handshake(port: number, servername: string | undefined): Promise<{ socket: TLSSocket; cn: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '::1', port, rejectUnauthorized: false, ...(servername === undefined ? {} : { servername }) }, () => {
      const cn = socket.getPeerCertificate().subject?.CN;
      resolve({ socket, cn: Array.isArray(cn) ? cn.join(',') : (cn ?? '') });
    });
    socket.on('error', reject);
  });
}

/** The CN of the certificate a new connection is given. */
export async function certificateFor(port: number, servername: string | undefined): Promise<string> {
  const { socket, cn } = await handshake(port, servername);
  socket.destroy();
  return cn;
}
