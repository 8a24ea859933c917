// One finite-difference check per gradient rule (float64, ONNX Runtime CPU).
import { test } from 'node:test';
import { gradCheck } from '../../helpers/gradcheck';
import * as op from '../../../src/engine/ops/index';

test('MatMul with batch broadcasting', () => gradCheck([{ name: 'a', shape: [2, 3, 4] }, { name: 'b', shape: [4, 5] }], op.MatMul));
test('Softmax', () => gradCheck([{ name: 'x', shape: [3, 5] }], (x) => op.Softmax(x, -1)));
