/** The PROXY protocol v2 header a proxy such as HAProxy (`send-proxy-v2`) writes first on a connection. */

/** The header of a proxied TCP-over-IPv6 connection. */
export function proxyV2(src: string, dst: string, srcPort: number, dstPort: number): Buffer {
  const signature = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
  const head = Buffer.from([...signature, 0x21 /* v2, PROXY */, 0x21 /* TCP over IPv6 */, 0, 36]);
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(srcPort, 0);
  ports.writeUInt16BE(dstPort, 2);
  return Buffer.concat([head, v6Bytes(src), v6Bytes(dst), ports]);
}

/** 16 bytes of a full or `::`-compressed IPv6 literal (no embedded IPv4). */
function v6Bytes(text: string): Buffer {
  const [left = '', right] = text.split('::');
  const l = left === '' ? [] : left.split(':');
  const r = right === undefined || right === '' ? [] : right.split(':');
  const groups = right === undefined ? l : [...l, ...Array<string>(8 - l.length - r.length).fill('0'), ...r];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}
