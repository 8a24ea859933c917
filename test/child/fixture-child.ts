// A process built on startIpcChild alone, for test/child/ipc.test.ts: echoes `echo` requests,
// answers `burst` with n large events and then exits with the requested code after the flush,
// and on shutdown (channel closed, SIGTERM) writes `shutdown` to stderr and exits 3.
import { startIpcChild } from '../../src/child/ipc';

type Request = { type: 'echo'; text: string } | { type: 'burst'; n: number; bytes: number; code: number };
type Event = { type: 'ready'; pid: number } | { type: 'echo'; text: string } | { type: 'chunk'; i: number; data: string };

const isRequest = (m: unknown): m is Request =>
  typeof m === 'object' && m !== null && (((m as Request).type === 'echo' && typeof (m as { text: unknown }).text === 'string') || (m as Request).type === 'burst');

const child = startIpcChild<Request, Event>({ entry: 'dist/fixture.js', terminalCommand: '`loralab fixture`', isRequest, flushTimeoutMs: 10_000 });
child.listen(
  (msg) => {
    if (msg.type === 'echo') return child.send({ type: 'echo', text: msg.text });
    for (let i = 0; i < msg.n; i++) child.send({ type: 'chunk', i, data: 'x'.repeat(msg.bytes) });
    void child.exitAfterFlush(msg.code);
  },
  () => {
    process.stderr.write('shutdown\n');
    process.exit(3);
  },
  ['SIGTERM'],
);
child.send({ type: 'ready', pid: process.pid });
