/**
 * The content and certificate watchers alone (server/watchers.ts), with fake file watchers and
 * a hand-driven clock: a burst of events makes one call after the quiet period, the link watcher
 * reacts only to the root's own name, `follow` moves the tree watcher, close cancels.
 * test/watch.test.ts and test/tls.test.ts cover the same on real files through a whole node.
 */
import { EventEmitter } from 'node:events';
import type { ChokidarOptions } from 'chokidar';
import t from 'tap';
import { CERT_DEBOUNCE_MS, CONTENT_DEBOUNCE_MS, watchCertificates, watchContent, type Watcher, type WatchFn } from '../server/watchers.js';
import { FakeClock } from './helpers/fake-clock.js';

class FakeWatcher extends EventEmitter implements Watcher {
  closed = false;
  constructor(
    readonly paths: string | string[],
    readonly options: ChokidarOptions,
  ) {
    super();
    // Like chokidar: ready once the initial walk is done, after the caller attached listeners.
    queueMicrotask(() => this.emit('ready'));
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

function fakes() {
  const clock = new FakeClock();
  const made: FakeWatcher[] = [];
  const watch: WatchFn = (paths, options) => {
    const w = new FakeWatcher(paths, options);
    made.push(w);
    return w;
  };
  const byPath = (path: string): FakeWatcher => made.filter((w) => w.paths === path).at(-1) as FakeWatcher;
  return { clock, watch, made, byPath };
}

t.test('content: a burst of changes is one call after 100 ms of quiet', async (t) => {
  const f = fakes();
  let calls = 0;
  const w = watchContent('/srv/releases/current', '/srv/releases/abc', () => calls++, f);
  await w.ready;
  t.same(f.made.map((m) => [m.paths, m.options]), [
    ['/srv/releases/abc', { ignoreInitial: true, followSymlinks: false }],
    ['/srv/releases', { ignoreInitial: true, depth: 0, followSymlinks: false }],
  ], 'the real tree, and the parent of the root for the link');
  const tree = f.byPath('/srv/releases/abc');
  tree.emit('all', 'add', '/srv/releases/abc/a.txt');
  f.clock.advance(60);
  tree.emit('all', 'change', '/srv/releases/abc/b.txt');
  f.clock.advance(CONTENT_DEBOUNCE_MS - 1);
  t.equal(calls, 0, 'still changing');
  f.clock.advance(1);
  t.equal(calls, 1, 'one call for the burst');
  tree.emit('error', new Error('EMFILE'));
  f.clock.advance(CONTENT_DEBOUNCE_MS);
  t.equal(calls, 2, 'an error counts as a change: the rescan finds out');
  await w.close();
});

t.test('content: the link watcher reacts only to the root itself', async (t) => {
  const f = fakes();
  let calls = 0;
  const w = watchContent('/srv/releases/current', '/srv/releases/abc', () => calls++, f);
  await w.ready;
  const link = f.byPath('/srv/releases');
  link.emit('all', 'add', '/srv/releases/.incoming-def');
  link.emit('all', 'change', '/srv/releases/previous');
  f.clock.advance(1000);
  t.equal(calls, 0, 'siblings are not the root');
  link.emit('all', 'change', '/srv/releases/current');
  f.clock.advance(CONTENT_DEBOUNCE_MS);
  t.equal(calls, 1, 'the link re-pointed');
  await w.close();
});

t.test('content: follow moves the tree watcher to the new target', async (t) => {
  const f = fakes();
  let calls = 0;
  const w = watchContent('/srv/releases/current', '/srv/releases/abc', () => calls++, f);
  await w.ready;
  const old = f.byPath('/srv/releases/abc');
  await w.follow('/srv/releases/def');
  t.ok(old.closed, 'the old tree is no longer watched');
  const tree = f.byPath('/srv/releases/def');
  t.same(tree.options, { ignoreInitial: true, followSymlinks: false });
  t.notOk(f.byPath('/srv/releases').closed, 'the link watcher stays');
  tree.emit('all', 'change', '/srv/releases/def/a.txt');
  f.clock.advance(CONTENT_DEBOUNCE_MS);
  t.equal(calls, 1);
  await w.close();
  t.ok(tree.closed && f.byPath('/srv/releases').closed, 'close closes both');
  await w.follow('/srv/releases/ghi');
  t.equal(f.made.length, 3, 'no watcher is made after close');
});

t.test('content: close drops a pending call', async (t) => {
  const f = fakes();
  let calls = 0;
  const w = watchContent('/srv/site', '/srv/site', () => calls++, f);
  await w.ready;
  f.byPath('/srv/site').emit('all', 'add', '/srv/site/a.txt');
  await w.close();
  f.clock.advance(10 * CONTENT_DEBOUNCE_MS);
  t.equal(calls, 0);
  t.equal(f.clock.pending, 0);
});

t.test('certificates: a renewal (cert, then key) is one reload after 500 ms of quiet', async (t) => {
  const f = fakes();
  let reloads = 0;
  const w = watchCertificates(['/etc/tls/cert.pem', '/etc/tls/key.pem'], () => reloads++, f);
  await w.ready;
  t.same(f.made.map((m) => [m.paths, m.options]), [[['/etc/tls/cert.pem', '/etc/tls/key.pem'], { ignoreInitial: true }]]);
  const files = f.made[0] as FakeWatcher;
  files.emit('all', 'change', '/etc/tls/cert.pem');
  f.clock.advance(300);
  files.emit('all', 'change', '/etc/tls/key.pem');
  f.clock.advance(CERT_DEBOUNCE_MS - 1);
  t.equal(reloads, 0);
  f.clock.advance(1);
  t.equal(reloads, 1);
  files.emit('all', 'unlink', '/etc/tls/key.pem');
  await w.close();
  f.clock.advance(CERT_DEBOUNCE_MS);
  t.equal(reloads, 1, 'close drops a pending reload');
  t.ok(files.closed);
});
