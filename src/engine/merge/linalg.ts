/**
 * Dense float64 linear algebra for adapter merging: matrix products, thin Householder QR, a
 * one-sided Jacobi SVD for small matrices, and the truncated SVD of a low-rank product B·A or of
 * a dense matrix.
 *
 * Matrices are row-major `Mat` { rows, cols, data: Float64Array }. The matrices here are
 * either small (k×k cores, k ≤ a few hundred) or tall and thin (out × Σr), so plain loops
 * suffice. Algorithms: Golub & Van Loan, "Matrix Computations" (4th ed.): Householder QR
 * §5.2.2, one-sided Jacobi (Hestenes 1958; de Rijk 1989) §8.6.3; randomized subspace iteration:
 * Halko, Martinsson & Tropp 2011, "Finding structure with randomness", Algorithm 4.4 + 5.1.
 *
 * Why not ml-matrix (npm, maintained, has QR and SVD): the heavy work here is products of large
 * flat Float32/Float64 arrays that we need in our own loops anyway; ml-matrix stores matrices as
 * arrays of row arrays, so every call would copy, and its QR/SVD would cover ~120 lines.
 */

/** A dense row-major float64 matrix [rows, cols]. */
export interface Mat {
  rows: number;
  cols: number;
  data: Float64Array;
}

/** A zero (or given) matrix [rows, cols]; throws when `data` has the wrong length. */
export function mat(rows: number, cols: number, data?: ArrayLike<number>): Mat {
  const d = new Float64Array(rows * cols);
  if (data !== undefined) {
    if (data.length !== rows * cols) throw new Error(`mat: [${rows}, ${cols}] needs ${rows * cols} values, got ${data.length}`);
    d.set(data);
  }
  return { rows, cols, data: d };
}

/** Aᵀ [cols, rows]. */
export function transpose(a: Mat): Mat {
  const t = mat(a.cols, a.rows);
  for (let i = 0; i < a.rows; i++) for (let j = 0; j < a.cols; j++) t.data[j * a.rows + i] = a.data[i * a.cols + j];
  return t;
}

/** A·B [a.rows, b.cols]; throws on an inner-dimension mismatch. */
export function matmul(a: Mat, b: Mat): Mat {
  if (a.cols !== b.rows) throw new Error(`matmul: [${a.rows}, ${a.cols}]·[${b.rows}, ${b.cols}] inner dims differ`);
  const c = mat(a.rows, b.cols);
  const n = b.cols;
  for (let i = 0; i < a.rows; i++) {
    const ci = i * n;
    for (let k = 0; k < a.cols; k++) {
      const x = a.data[i * a.cols + k];
      if (x === 0) continue;
      const bk = k * n;
      for (let j = 0; j < n; j++) c.data[ci + j] += x * b.data[bk + j];
    }
  }
  return c;
}

/** Aᵀ·B [a.cols, b.cols] without forming Aᵀ. */
export function matmulTN(a: Mat, b: Mat): Mat {
  if (a.rows !== b.rows) throw new Error(`matmulTN: [${a.rows}, ${a.cols}]ᵀ·[${b.rows}, ${b.cols}] inner dims differ`);
  const c = mat(a.cols, b.cols);
  const n = b.cols;
  for (let k = 0; k < a.rows; k++) {
    const bk = k * n;
    for (let i = 0; i < a.cols; i++) {
      const x = a.data[k * a.cols + i];
      if (x === 0) continue;
      const ci = i * n;
      for (let j = 0; j < n; j++) c.data[ci + j] += x * b.data[bk + j];
    }
  }
  return c;
}

/** ‖A‖_F² (sum of squares). */
export function frobenius2(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return s;
}

/**
 * Thin QR by Householder reflections: A [m, n] = Q·R with p = min(m, n), Q [m, p] having
 * orthonormal columns and R [p, n] upper triangular (upper trapezoidal when n > m). Exact in
 * the sense of backward stability (Golub & Van Loan §5.2.2). A zero column gives a zero
 * reflector (no-op), so rank-deficient A is fine: R then has zeros on its diagonal.
 */
export function qr(a: Mat): { Q: Mat; R: Mat } {
  const m = a.rows;
  const n = a.cols;
  const p = Math.min(m, n);
  // Work column-major: col[j] is column j of the matrix being reduced.
  const col: Float64Array[] = [];
  for (let j = 0; j < n; j++) {
    const c = new Float64Array(m);
    for (let i = 0; i < m; i++) c[i] = a.data[i * n + j];
    col.push(c);
  }
  const vs: Float64Array[] = []; // reflector j acts on rows j..m-1: H = I − 2·v·vᵀ, ‖v‖ = 1
  for (let j = 0; j < p; j++) {
    const x = col[j];
    let norm = 0;
    for (let i = j; i < m; i++) norm += x[i] * x[i];
    norm = Math.sqrt(norm);
    const v = new Float64Array(m - j);
    if (norm === 0) {
      vs.push(v);
      continue;
    }
    const alpha = x[j] >= 0 ? -norm : norm; // x ↦ alpha·e_j, sign chosen to avoid cancellation
    for (let i = j; i < m; i++) v[i - j] = x[i];
    v[0] -= alpha;
    let vn = 0;
    for (let i = 0; i < v.length; i++) vn += v[i] * v[i];
    vn = Math.sqrt(vn);
    if (vn === 0) {
      vs.push(new Float64Array(m - j));
      continue;
    }
    for (let i = 0; i < v.length; i++) v[i] /= vn;
    vs.push(v);
    for (let c = j; c < n; c++) {
      const y = col[c];
      let d = 0;
      for (let i = j; i < m; i++) d += v[i - j] * y[i];
      if (d === 0) continue;
      d *= 2;
      for (let i = j; i < m; i++) y[i] -= d * v[i - j];
    }
  }
  const R = mat(p, n);
  for (let i = 0; i < p; i++) for (let j = i; j < n; j++) R.data[i * n + j] = col[j][i];
  // Q = H_0·H_1·…·H_{p−1}·I[:, :p], applied to each unit vector from the last reflector back.
  const Q = mat(m, p);
  const e = new Float64Array(m);
  for (let c = 0; c < p; c++) {
    e.fill(0);
    e[c] = 1;
    for (let j = p - 1; j >= 0; j--) {
      const v = vs[j];
      let d = 0;
      for (let i = j; i < m; i++) d += v[i - j] * e[i];
      if (d === 0) continue;
      d *= 2;
      for (let i = j; i < m; i++) e[i] -= d * v[i - j];
    }
    for (let i = 0; i < m; i++) Q.data[i * p + c] = e[i];
  }
  return { Q, R };
}

/** An SVD A = U·diag(S)·Vᵀ with S descending, U [m, p], V [n, p], p = min(m, n). */
export interface Svd {
  U: Mat;
  S: Float64Array;
  V: Mat;
}

/**
 * Full thin SVD of a small matrix by one-sided Jacobi (Hestenes): columns of A·V are rotated
 * pairwise until mutually orthogonal (|uₚ·u_q| ≤ 1e-15·‖uₚ‖‖u_q‖), then σⱼ = ‖uⱼ‖. Accurate to
 * a few ulps relative to ‖A‖ (Demmel & Veselić 1992). Cost ≈ sweeps·n²·m; meant for n up to a
 * few hundred. Columns with σ = 0 get a zero U column (they never contribute to U·diag(S)).
 */
export function svdJacobi(a: Mat): Svd {
  if (a.rows < a.cols) {
    const t = svdJacobi(transpose(a));
    return { U: t.V, S: t.S, V: t.U };
  }
  const m = a.rows;
  const n = a.cols;
  const u: Float64Array[] = [];
  for (let j = 0; j < n; j++) {
    const c = new Float64Array(m);
    for (let i = 0; i < m; i++) c[i] = a.data[i * n + j];
    u.push(c);
  }
  const v: Float64Array[] = [];
  for (let j = 0; j < n; j++) {
    const c = new Float64Array(n);
    c[j] = 1;
    v.push(c);
  }
  const eps = 1e-15;
  for (let sweep = 0; sweep < 80; sweep++) {
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const up = u[p];
        const uq = u[q];
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        for (let i = 0; i < m; i++) {
          alpha += up[i] * up[i];
          beta += uq[i] * uq[i];
          gamma += up[i] * uq[i];
        }
        if (gamma === 0 || Math.abs(gamma) <= eps * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (let i = 0; i < m; i++) {
          const x = up[i];
          const y = uq[i];
          up[i] = c * x - s * y;
          uq[i] = s * x + c * y;
        }
        const vp = v[p];
        const vq = v[q];
        for (let i = 0; i < n; i++) {
          const x = vp[i];
          const y = vq[i];
          vp[i] = c * x - s * y;
          vq[i] = s * x + c * y;
        }
      }
    }
    if (!rotated) break;
  }
  const sig = u.map((c) => Math.sqrt(frobenius2(c)));
  const order = [...sig.keys()].sort((x, y) => sig[y] - sig[x] || x - y);
  const U = mat(m, n);
  const V = mat(n, n);
  const S = new Float64Array(n);
  order.forEach((j, k) => {
    S[k] = sig[j];
    const inv = sig[j] > 0 ? 1 / sig[j] : 0;
    for (let i = 0; i < m; i++) U.data[i * n + k] = u[j][i] * inv;
    for (let i = 0; i < n; i++) V.data[i * n + k] = v[j][i];
  });
  return { U, S, V };
}

/** The first `k` columns of `a`. */
export function leadingColumns(a: Mat, k: number): Mat {
  const out = mat(a.rows, k);
  for (let i = 0; i < a.rows; i++) for (let j = 0; j < k; j++) out.data[i * k + j] = a.data[i * a.cols + j];
  return out;
}

/**
 * The SVD of a product B·A (B [m, R], A [R, n]) without forming the m×n matrix: B = Q_B·R_B,
 * Aᵀ = Q_A·R_A (thin QR), core C = R_B·R_Aᵀ [≤R, ≤R], C = U_c·S·V_cᵀ (Jacobi), so
 * B·A = (Q_B·U_c)·S·(Q_A·V_c)ᵀ. Exact up to float64 rounding (no iteration beyond the Jacobi
 * sweeps of the small core). Returns p = min(R, m, n) singular triplets, S descending.
 * Cost O((m + n)·R² + R³) instead of O(m·n·R) for forming B·A.
 */
export function svdOfProduct(B: Mat, A: Mat): Svd {
  if (B.cols !== A.rows) throw new Error(`svdOfProduct: B [${B.rows}, ${B.cols}] and A [${A.rows}, ${A.cols}] ranks differ`);
  const qb = qr(B);
  const qa = qr(transpose(A));
  const core = matmul(qb.R, transpose(qa.R)); // [pB, pA]
  const s = svdJacobi(core);
  return { U: matmul(qb.Q, s.U), S: s.S, V: matmul(qa.Q, s.V) };
}

/** Options of `truncatedSvd`. */
export interface TruncatedSvdOptions {
  /** Extra columns of the random subspace (Halko et al. §4.2); default 10. */
  oversample?: number;
  /** Largest number of power iterations; default 40. */
  maxIterations?: number;
  /** Stop when the top-k singular values change by less than this, relative; default 1e-12. */
  tolerance?: number;
  /** Uniform [0, 1) random source for the start subspace (seeded by the caller). */
  rand: () => number;
}

/**
 * The leading `k` singular triplets of a dense matrix M [m, n] (row-major float64).
 *
 * Exact (QR of M or Mᵀ, then Jacobi SVD of the square factor) when min(m, n) ≤ max(128, 2·(k +
 * oversample)). Otherwise approximate: randomized subspace iteration with re-orthonormalization
 * (Halko, Martinsson & Tropp 2011, Alg. 4.4), Rayleigh–Ritz on the final basis (Alg. 5.1),
 * iterated until the top-k Ritz values change by less than `tolerance` relative (or
 * `maxIterations`). The result is then within the subspace-iteration error of the optimal rank-k
 * approximation (Eckart–Young); its singular values are those of the returned factors exactly.
 */
export function truncatedSvd(M: Mat, k: number, opts: TruncatedSvdOptions): Svd {
  const { rows: m, cols: n } = M;
  const p = Math.min(m, n);
  const kk = Math.min(k, p);
  const over = opts.oversample ?? 10;
  const l = Math.min(p, kk + over);
  if (p <= Math.max(128, 2 * l)) {
    const s = m >= n ? (() => {
      const f = qr(M); // M = Q·R, R [n, n]
      const r = svdJacobi(f.R);
      return { U: matmul(f.Q, r.U), S: r.S, V: r.V };
    })() : (() => {
      const f = qr(transpose(M)); // Mᵀ = Q·R → M = Rᵀ·Qᵀ
      const r = svdJacobi(transpose(f.R));
      return { U: r.U, S: r.S, V: matmul(f.Q, r.V) };
    })();
    return { U: leadingColumns(s.U, kk), S: s.S.slice(0, kk), V: leadingColumns(s.V, kk) };
  }
  const omega = mat(n, l);
  for (let i = 0; i < omega.data.length; i++) omega.data[i] = opts.rand() * 2 - 1;
  let Q = qr(matmul(M, omega)).Q; // [m, l]
  let prev: Float64Array | null = null;
  const maxIt = opts.maxIterations ?? 40;
  const tol = opts.tolerance ?? 1e-12;
  let result: Svd | null = null;
  for (let it = 0; ; it++) {
    // Rayleigh–Ritz: Qᵀ·M [l, n] = (Q_t·R_t)ᵀ → SVD of R_tᵀ [l, l].
    const small = matmulTN(Q, M); // [l, n]
    const f = qr(transpose(small)); // smallᵀ = Q_t·R_t, Q_t [n, l]
    const r = svdJacobi(transpose(f.R)); // R_tᵀ = U·S·Vᵀ
    result = { U: matmul(Q, r.U), S: r.S, V: matmul(f.Q, r.V) };
    const top = r.S.slice(0, kk);
    if (prev !== null) {
      let change = 0;
      for (let i = 0; i < kk; i++) change = Math.max(change, Math.abs(top[i] - prev[i]) / Math.max(top[0], Number.MIN_VALUE));
      if (change <= tol) break;
    }
    if (it >= maxIt) break;
    prev = top;
    // One power step with re-orthonormalization: Q ← orth(M·orth(Mᵀ·Q)).
    const z = qr(matmulTN(M, Q)).Q; // [n, l]
    Q = qr(matmul(M, z)).Q;
  }
  return { U: leadingColumns(result.U, kk), S: result.S.slice(0, kk), V: leadingColumns(result.V, kk) };
}
