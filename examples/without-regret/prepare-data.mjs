// Cuts tiny Shakespeare (Karpathy's char-rnn corpus, ../shared/data/tinyshakespeare.txt beside
// the repository) into a training and a validation file for the without-regret sweep:
// the first 400,000 characters train, the next 20,000 validate (cut at line ends).
//
//   node examples/without-regret/prepare-data.mjs [path/to/tinyshakespeare.txt]
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const src = process.argv[2] ?? join(here, '../../../shared/data/tinyshakespeare.txt');
const text = readFileSync(src, 'utf8');
const cut = (from, n) => {
  const end = text.lastIndexOf('\n', from + n) + 1;
  return [text.slice(from, end), end];
};
const [train, at] = cut(0, 400_000);
const [valid] = cut(at, 20_000);
mkdirSync(join(here, 'data'), { recursive: true });
writeFileSync(join(here, 'data/train.txt'), train);
writeFileSync(join(here, 'data/valid.txt'), valid);
console.log(`data/train.txt: ${train.length} characters; data/valid.txt: ${valid.length} characters`);
