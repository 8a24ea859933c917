// QR, Jacobi SVD and truncated SVD of src/engine/merge/linalg.ts against hand-computed values
// and matrices built with a known spectrum.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type Mat, mat, matmul, qr, svdJacobi, svdOfProduct, transpose, truncatedSvd } from '../../../src/engine/merge/linalg';
import { createRng } from '../../../src/engine/data/random';

const close = (a: number, b: number, tol: number, what = '') => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);
function randMat(rows: number, cols: number, rand: () => number): Mat {
  return mat(rows, cols, Array.from({ length: rows * cols }, () => rand() * 2 - 1));
}
function maxAbsDiff(a: Mat, b: Mat): number {
  let m = 0;
  for (let i = 0; i < a.data.length; i++) m = Math.max(m, Math.abs(a.data[i] - b.data[i]));
  return m;
}
function scaleCols(a: Mat, s: ArrayLike<number>): Mat {
  const out = mat(a.rows, a.cols, a.data);
  for (let i = 0; i < a.rows; i++) for (let j = 0; j < a.cols; j++) out.data[i * a.cols + j] *= s[j];
  return out;
}
function isOrthonormalCols(q: Mat, tol: number): void {
  const g = matmul(transpose(q), q);
  for (let i = 0; i < g.rows; i++) for (let j = 0; j < g.cols; j++) close(g.data[i * g.cols + j], i === j ? 1 : 0, tol, `QᵀQ[${i},${j}]`);
}

test('qr: [[3, 0], [4, 5]] gives |R| = [[5, 4], [0, 3]] (by hand), Q·R = A, QᵀQ = I', () => {
  const A = mat(2, 2, [3, 0, 4, 5]);
  const { Q, R } = qr(A);
  close(Math.abs(R.data[0]), 5, 1e-15, 'R00');
  close(Math.abs(R.data[1]), 4, 1e-15, 'R01');
  close(R.data[2], 0, 0, 'R10');
  close(Math.abs(R.data[3]), 3, 1e-15, 'R11');
  assert.ok(maxAbsDiff(matmul(Q, R), A) < 1e-14);
  isOrthonormalCols(Q, 1e-15);
});

test('qr: tall, wide and rank-deficient matrices factor exactly', () => {
  const rand = createRng(3);
  for (const [m, n] of [[9, 4], [4, 9], [6, 6]]) {
    const A = randMat(m, n, rand);
    const { Q, R } = qr(A);
    assert.deepEqual([Q.rows, Q.cols, R.rows, R.cols], [m, Math.min(m, n), Math.min(m, n), n]);
    assert.ok(maxAbsDiff(matmul(Q, R), A) < 1e-14);
    isOrthonormalCols(Q, 1e-14);
    for (let i = 0; i < R.rows; i++) for (let j = 0; j < Math.min(i, n); j++) assert.equal(R.data[i * n + j], 0);
  }
  const dup = mat(3, 2, [1, 2, 2, 4, 3, 6]); // column 2 = 2 × column 1
  const { Q, R } = qr(dup);
  assert.ok(maxAbsDiff(matmul(Q, R), dup) < 1e-14);
  close(R.data[3], 0, 1e-14, 'R11 of a rank-1 matrix');
});

test('svdJacobi: [[3, 0], [4, 5]] has σ = 3√5, √5 (AᵀA = [[25, 20], [20, 25]], eigenvalues 45 and 5)', () => {
  const { U, S, V } = svdJacobi(mat(2, 2, [3, 0, 4, 5]));
  close(S[0], 3 * Math.sqrt(5), 1e-14, 'σ1');
  close(S[1], Math.sqrt(5), 1e-14, 'σ2');
  // v1 = ±(1, 1)/√2 (eigenvector of 45)
  close(Math.abs(V.data[0]), Math.SQRT1_2, 1e-14, 'v1x');
  close(V.data[0], V.data[2], 1e-14, 'v1 ∥ (1, 1)');
  assert.ok(maxAbsDiff(matmul(scaleCols(U, S), transpose(V)), mat(2, 2, [3, 0, 4, 5])) < 1e-14);
});

test('svdJacobi: a rank-1 3×2 matrix [[1, 1], [1, 1], [0, 0]] has σ = 2, 0; random wide and tall matrices reconstruct', () => {
  const r1 = svdJacobi(mat(3, 2, [1, 1, 1, 1, 0, 0]));
  close(r1.S[0], 2, 1e-15, 'σ1');
  close(r1.S[1], 0, 1e-15, 'σ2');
  const rand = createRng(5);
  for (const [m, n] of [[7, 5], [5, 7], [12, 12]]) {
    const A = randMat(m, n, rand);
    const { U, S, V } = svdJacobi(A);
    assert.ok(maxAbsDiff(matmul(scaleCols(U, S), transpose(V)), A) < 1e-13, `${m}×${n}`);
    isOrthonormalCols(U, 1e-13);
    isOrthonormalCols(V, 1e-13);
    for (let i = 1; i < S.length; i++) assert.ok(S[i] <= S[i - 1]);
  }
});

/** M = P·diag(σ)·Qᵀ with orthonormal P [m, p], Q [n, p]: the singular values are σ by construction. */
function withSpectrum(m: number, n: number, sigma: number[], rand: () => number): Mat {
  const P = qr(randMat(m, sigma.length, rand)).Q;
  const Q = qr(randMat(n, sigma.length, rand)).Q;
  return matmul(scaleCols(P, sigma), transpose(Q));
}

test('svdOfProduct: singular values of B·A equal the constructed spectrum; factors reconstruct B·A', () => {
  const rand = createRng(7);
  const sigma = [5, 3, 2, 0.5, 0.25, 0.125];
  const M = withSpectrum(40, 30, sigma, rand);
  // Split M = B·A with a random invertible 6×6 mixing G: B = P·diag(σ)·G, A = G⁻¹·Qᵀ is awkward;
  // instead take B = M·Qₛ (40×6) and A = Qₛᵀ (6×30) with Qₛ an orthonormal basis of M's row space.
  const rowBasis = qr(transpose(M)).Q; // [30, 30]; the first 6 columns span the row space
  const Qs = mat(30, 6);
  for (let i = 0; i < 30; i++) for (let j = 0; j < 6; j++) Qs.data[i * 6 + j] = rowBasis.data[i * 30 + j];
  const B = matmul(M, Qs);
  const A = transpose(Qs);
  const s = svdOfProduct(B, A);
  sigma.forEach((x, i) => close(s.S[i], x, 1e-12, `σ${i + 1}`));
  assert.ok(maxAbsDiff(matmul(scaleCols(s.U, s.S), transpose(s.V)), M) < 1e-12);
});

test('truncatedSvd: randomized path (300×200, k = 5) finds the top singular values and the optimal error', () => {
  const rand = createRng(11);
  const sigma = Array.from({ length: 40 }, (_, i) => 0.8 ** i);
  const M = withSpectrum(300, 200, sigma, rand);
  const k = 5;
  const s = truncatedSvd(M, k, { rand: createRng(1) });
  assert.equal(s.S.length, k);
  sigma.slice(0, k).forEach((x, i) => close(s.S[i], x, 1e-10, `σ${i + 1}`));
  // Eckart–Young: ‖M − M_k‖_F² = Σ_{i>k} σᵢ²
  const Mk = matmul(scaleCols(s.U, s.S), transpose(s.V));
  let err2 = 0;
  for (let i = 0; i < M.data.length; i++) err2 += (M.data[i] - Mk.data[i]) ** 2;
  const opt2 = sigma.slice(k).reduce((a, x) => a + x * x, 0);
  close(err2, opt2, 1e-9 * opt2 + 1e-12, '‖M − M_k‖²');
});

test('truncatedSvd: exact path (small matrix) equals the constructed spectrum', () => {
  const rand = createRng(13);
  const M = withSpectrum(20, 12, [4, 2, 1], rand);
  const s = truncatedSvd(M, 2, { rand });
  close(s.S[0], 4, 1e-13, 'σ1');
  close(s.S[1], 2, 1e-13, 'σ2');
  const wide = truncatedSvd(transpose(M), 3, { rand });
  [4, 2, 1].forEach((x, i) => close(wide.S[i], x, 1e-13, `wide σ${i + 1}`));
});
