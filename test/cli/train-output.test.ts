// `loralab train`'s progress bar on a terminal (a fake TTY stream): lines printed while it runs
// never leave the bar showing its raw cli-progress template.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { StepBar } from '../../src/cli/train';

test('after a validation line the progress bar shows its last values, never "{loss}" or "{eta_h}"', async () => {
  const stream = Object.assign(new PassThrough(), { isTTY: true, columns: 120 });
  let out = '';
  stream.on('data', (d: Buffer) => (out += d.toString()));
  const bar = new StepBar(stream);
  bar.start(10, 0);
  bar.update(5, { loss: '2.3456', tps: '1234', eta_h: '3s' });
  bar.line('step 5: val_loss 2.5000');
  bar.update(6, { loss: '2.2222', tps: '1200', eta_h: '2s' });
  bar.stop();
  await new Promise((r) => setImmediate(r));
  // Strip the terminal control sequences and look at what was drawn.
  const text = out.replace(new RegExp(String.raw`\u001b(\[[0-9;?]*[A-Za-z]|[78])`, 'g'), '');
  assert.doesNotMatch(text, /\{loss\}|\{tps\}|\{eta_h\}/, text);
  assert.match(text, /step 5: val_loss 2\.5000\n/);
  const afterLine = text.slice(text.indexOf('val_loss 2.5000\n') + 16);
  assert.match(afterLine, /^step 5\/10 \[.*\] loss 2\.3456 \| 1234 tok\/s \| ETA 3s/);
  assert.match(afterLine, /step 6\/10 .* loss 2\.2222/);
});
