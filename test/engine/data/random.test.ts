/** The seeded PRNG, shuffling and the validation split. */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createRng, permutation, shuffle, splitHoldout } from '../../../src/engine/data/index';

describe('createRng / shuffle', () => {
  test('same keys → same sequence; other keys → another; values in [0, 1)', () => {
    const draw = (...keys: number[]) => { const r = createRng(...keys); return Array.from({ length: 1000 }, () => r()); };
    const a = draw(0, 2, 5);
    assert.deepEqual(draw(0, 2, 5), a);
    assert.notDeepEqual(draw(0, 2, 6), a);
    assert.notDeepEqual(draw(1, 2, 5), a);
    assert.notDeepEqual(draw(2 ** 32, 2, 5), draw(0, 2, 5), 'high bits of a seed count');
    assert.ok(a.every((x) => x >= 0 && x < 1));
    const mean = a.reduce((s, x) => s + x, 0) / a.length;
    assert.ok(Math.abs(mean - 0.5) < 0.05, `mean ${mean}`);
    assert.throws(() => createRng(1.5), RangeError);
  });

  test('permutation is a permutation, seeded, and roughly uniform in its first position', () => {
    const p = permutation(50, createRng(9));
    assert.deepEqual([...p].sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
    assert.deepEqual(permutation(50, createRng(9)), p);
    const firsts = new Array<number>(4).fill(0);
    for (let s = 0; s < 4000; s++) firsts[permutation(4, createRng(s))[0]]++;
    for (const n of firsts) assert.ok(n > 850 && n < 1150, `first-position counts ${firsts}`);
    const items = ['a', 'b', 'c'];
    assert.equal(shuffle(items, createRng(1)), items, 'in place');
  });
});

describe('splitHoldout', () => {
  const items = Array.from({ length: 100 }, (_, i) => i);
  test('reproducible with the seed, disjoint, order kept, ceil(f·n) held out', () => {
    const a = splitHoldout(items, 0.05, 0);
    assert.deepEqual(splitHoldout(items, 0.05, 0), a);
    assert.notDeepEqual(splitHoldout(items, 0.05, 1).validation, a.validation);
    assert.equal(a.validation.length, 5);
    assert.equal(a.train.length, 95);
    assert.ok(a.validation.every((x) => !a.train.includes(x)));
    assert.deepEqual([...a.train, ...a.validation].sort((x, y) => x - y), items);
    assert.deepEqual(a.train, [...a.train].sort((x, y) => x - y));
    assert.equal(splitHoldout(items, 0.001, 0).validation.length, 1);
    assert.equal(splitHoldout(items, 0.3, 0).validation.length, 30, 'no float round-up past 30');
    assert.throws(() => splitHoldout([1], 0.5, 0), /leaves none to train on/);
    assert.throws(() => splitHoldout(items, 1, 0), /fraction must be in \(0, 1\)/);
  });
});
