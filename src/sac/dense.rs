//! Dense MLP kernels on flat f32 buffers, with hand-written backward passes: the hot path of SAC.
//!
//! Matrix products go to [`crate::matrix`] (`gemm`, the kernel candle's CPU backend runs, at the
//! core's FMA peak here) on the calling thread, with strides, so no transpose is ever copied; bias
//! adds, bias gradients, ReLU masks and the like are single fused loops over preallocated buffers.
//! Threads are the caller's business ([`both`]). Measured on this machine (shared/notes): candle's
//! autograd spends as much time around the matmuls as in them, which these kernels avoid.
//!
//! Layout of an MLP with sizes `[n_0, n_1, …, n_L]`: for each layer `l`, its weight `W_l`
//! (`[n_{l+1}, n_l]`, row-major, as PyTorch's `nn.Linear`) then its bias `b_l` (`[n_{l+1}]`).
//! Forward: `h_{l+1} = relu(h_l·W_lᵀ + b_l)` for hidden layers, no activation on the last.

use crate::matrix::{Mat, matmul};

/// Runs `a` and `b`, on two threads when `parallel` (the results are the same either way: each
/// closure does the same work in the same order wherever it runs).
pub fn both<RA: Send, RB: Send>(
    parallel: bool,
    a: impl FnOnce() -> RA + Send,
    b: impl FnOnce() -> RB + Send,
) -> (RA, RB) {
    if parallel {
        rayon::join(a, b)
    } else {
        (a(), b())
    }
}

/// The sizes of an MLP and where each layer's parameters sit in its flat buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub sizes: Vec<usize>,
    offsets: Vec<usize>,
}

impl Layout {
    pub fn new(sizes: Vec<usize>) -> Self {
        let mut offsets = vec![0];
        for w in sizes.windows(2) {
            offsets.push(offsets.last().unwrap() + w[1] * w[0] + w[1]);
        }
        Layout { sizes, offsets }
    }

    pub fn layers(&self) -> usize {
        self.sizes.len() - 1
    }

    /// Parameters in all.
    pub fn len(&self) -> usize {
        *self.offsets.last().unwrap()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn input(&self) -> usize {
        self.sizes[0]
    }

    pub fn output(&self) -> usize {
        *self.sizes.last().unwrap()
    }

    /// Ranges of layer `l`'s weight and bias in the flat buffer.
    pub fn ranges(&self, l: usize) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
        let (o, i) = (self.sizes[l + 1], self.sizes[l]);
        let w = self.offsets[l]..self.offsets[l] + o * i;
        (w.clone(), w.end..w.end + o)
    }
}

/// Activations kept from a forward pass, for the backward pass.
#[derive(Debug, Clone, Default)]
pub struct Cache {
    /// Output of each layer (after ReLU for hidden ones), `[batch, n_{l+1}]`.
    pub acts: Vec<Vec<f32>>,
    /// Ping-pong buffers for gradients flowing back.
    g: [Vec<f32>; 2],
    batch: usize,
}

impl Cache {
    /// The network's output of the last forward pass.
    pub fn output(&self) -> &[f32] {
        self.acts.last().expect("a forward pass ran")
    }
}

/// Forward pass of `batch` rows of `input` (`[batch, n_0]`); keeps activations in `cache`.
pub fn forward(layout: &Layout, params: &[f32], input: &[f32], batch: usize, cache: &mut Cache) {
    let n = layout.layers();
    cache.acts.resize_with(n, Vec::new);
    cache.batch = batch;
    for l in 0..n {
        let (wr, br) = layout.ranges(l);
        let (i, o) = (layout.sizes[l], layout.sizes[l + 1]);
        let (before, rest) = cache.acts.split_at_mut(l);
        let x = if l == 0 { input } else { &before[l - 1][..] };
        let y = &mut rest[0];
        y.resize(batch * o, 0.0);
        matmul(
            y,
            Mat::new(x, batch, i),
            Mat::new(&params[wr], o, i).t(),
            false,
        );
        // The bias and the ReLU in one pass (no copy of the bias into every row first).
        let bias = &params[br];
        let relu = l + 1 < n;
        for row in y.chunks_exact_mut(o) {
            for (v, b) in row.iter_mut().zip(bias) {
                let z = *v + b;
                *v = if relu { z.max(0.0) } else { z };
            }
        }
    }
}

/// Makes `v` at least `n` long, zeroing only what it adds: gradient buffers keep their size
/// between passes, so the products that overwrite them need no fill first.
fn grow(v: &mut Vec<f32>, n: usize) {
    if v.len() < n {
        v.resize(n, 0.0);
    }
}

/// Layers narrower than this (in inputs or outputs) run their backward on one thread.
const SPLIT_MIN_WIDTH: usize = 32;

/// Backward pass from `grad_out = ∂L/∂output` (`[batch, n_L]`) of the last forward pass on
/// `input`. Writes parameter gradients into `grads` (overwriting) and, if asked, `∂L/∂input` into
/// `grad_in`. With `parallel`, each hidden layer's weight gradient and the gradient flowing on to
/// the layer below run on two threads (each is one product of the same size).
#[allow(clippy::too_many_arguments)]
pub fn backward(
    layout: &Layout,
    params: &[f32],
    input: &[f32],
    cache: &mut Cache,
    grad_out: &[f32],
    mut grads: Option<&mut [f32]>,
    grad_in: Option<&mut [f32]>,
    parallel: bool,
) {
    let n = layout.layers();
    let batch = cache.batch;
    let [ga, gb] = &mut cache.g;
    let mut len = batch * layout.output();
    grow(ga, batch * layout.sizes.iter().max().unwrap());
    grow(gb, ga.len());
    ga[..len].copy_from_slice(&grad_out[..len]);
    let mut grad_in = grad_in;
    for l in (0..n).rev() {
        let (wr, br) = layout.ranges(l);
        let (i, o) = (layout.sizes[l], layout.sizes[l + 1]);
        let x = if l == 0 {
            input
        } else {
            &cache.acts[l - 1][..]
        };
        let g = &ga[..len];
        // ∂L/∂W_l = gᵀ·x, ∂L/∂b_l = Σ_rows g
        let weight_grads = |grads: Option<&mut [f32]>| {
            let Some(grads) = grads else { return };
            let (dw, db) = grads[wr.start..br.end].split_at_mut(wr.len());
            matmul(dw, Mat::new(g, batch, o).t(), Mat::new(x, batch, i), false);
            db.fill(0.0);
            for row in g.chunks_exact(o) {
                for (d, g) in db.iter_mut().zip(row) {
                    *d += g;
                }
            }
        };
        let w = Mat::new(&params[wr.clone()], o, i);
        if l > 0 {
            // ∂L/∂h_l = g·W_l, masked by ReLU'(h_l) = [h_l > 0]
            let down = &mut gb[..batch * i];
            let flow = || {
                matmul(down, Mat::new(g, batch, o), w, false);
                for (g, h) in down.iter_mut().zip(x) {
                    *g = if *h > 0.0 { *g } else { 0.0 }; // a select, so the loop vectorizes
                }
            };
            // Worth a second thread only when the two products are large (not for the heads).
            let split = parallel && o.min(i) >= SPLIT_MIN_WIDTH;
            both(split, || weight_grads(grads.as_deref_mut()), flow);
            std::mem::swap(ga, gb);
            len = batch * i;
        } else {
            weight_grads(grads.as_deref_mut());
            if let Some(gi) = grad_in.take() {
                matmul(gi, Mat::new(g, batch, o), w, false);
            }
        }
    }
}

/// `∂L/∂input` for the rows `rows` of the last forward pass alone, from their output gradients
/// `grad_out` (`[rows.len(), n_L]`, compact) into `dx` (`[rows.len(), n_0]`): the products shrink
/// to the rows asked for. `scratch` holds the gradients between layers.
pub fn input_grad_rows(
    layout: &Layout,
    params: &[f32],
    cache: &Cache,
    rows: &[usize],
    grad_out: &[f32],
    dx: &mut [f32],
    scratch: &mut [Vec<f32>; 2],
) {
    let m = rows.len();
    let n = layout.layers();
    assert_eq!(dx.len(), m * layout.input());
    let [ga, gb] = scratch;
    grow(ga, m * layout.sizes.iter().max().unwrap());
    grow(gb, ga.len());
    ga[..m * layout.output()].copy_from_slice(&grad_out[..m * layout.output()]);
    for l in (0..n).rev() {
        let (wr, _) = layout.ranges(l);
        let (i, o) = (layout.sizes[l], layout.sizes[l + 1]);
        let w = Mat::new(&params[wr], o, i);
        let g = &ga[..m * o];
        if l == 0 {
            matmul(dx, Mat::new(g, m, o), w, false);
            break;
        }
        let down = &mut gb[..m * i];
        matmul(down, Mat::new(g, m, o), w, false);
        let h = &cache.acts[l - 1];
        for (&r, row) in rows.iter().zip(down.chunks_exact_mut(i)) {
            for (g, h) in row.iter_mut().zip(&h[r * i..(r + 1) * i]) {
                *g = if *h > 0.0 { *g } else { 0.0 };
            }
        }
        std::mem::swap(ga, gb);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_with_transposed_views() {
        // A = [[1,2,3],[4,5,6]] (2×3), B = [[1,0],[0,1],[1,1]] (3×2): A·B = [[4,5],[10,11]]
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let b = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        let mut c = [0.0; 4];
        matmul(&mut c, Mat::new(&a, 2, 3), Mat::new(&b, 3, 2), false);
        assert_eq!(c, [4.0, 5.0, 10.0, 11.0]);
        // Aᵀ·A (3×3) through the view
        let mut d = [0.0; 9];
        matmul(&mut d, Mat::new(&a, 2, 3).t(), Mat::new(&a, 2, 3), false);
        assert_eq!(d, [17.0, 22.0, 27.0, 22.0, 29.0, 36.0, 27.0, 36.0, 45.0]);
        matmul(&mut c, Mat::new(&a, 2, 3), Mat::new(&b, 3, 2), true);
        assert_eq!(c, [8.0, 10.0, 20.0, 22.0]);
    }

    #[test]
    fn gradients_match_finite_differences() {
        let layout = Layout::new(vec![3, 5, 4, 2]);
        let mut rng = crate::rng::seeded(3);
        use rand::Rng;
        let params: Vec<f32> = (0..layout.len())
            .map(|_| rng.random_range(-0.8..0.8))
            .collect();
        let input: Vec<f32> = (0..2 * 3).map(|_| rng.random_range(-1.0..1.0)).collect();
        // L = Σ output·c for fixed c
        let c: Vec<f32> = (0..2 * 2).map(|_| rng.random_range(-1.0..1.0)).collect();
        let loss = |p: &[f32], x: &[f32]| -> f64 {
            let mut cache = Cache::default();
            forward(&layout, p, x, 2, &mut cache);
            cache
                .output()
                .iter()
                .zip(&c)
                .map(|(o, c)| f64::from(o * c))
                .sum()
        };
        let mut cache = Cache::default();
        forward(&layout, &params, &input, 2, &mut cache);
        let mut grads = vec![0.0; layout.len()];
        let mut grad_in = vec![0.0; 6];
        backward(
            &layout,
            &params,
            &input,
            &mut cache,
            &c,
            Some(&mut grads),
            Some(&mut grad_in),
            false,
        );
        let h = 1e-3f32;
        for k in 0..layout.len() {
            let (mut up, mut down) = (params.clone(), params.clone());
            up[k] += h;
            down[k] -= h;
            let fd = (loss(&up, &input) - loss(&down, &input)) / (2.0 * f64::from(h));
            assert!(
                (fd - f64::from(grads[k])).abs() < 2e-3,
                "param {k}: {fd} vs {}",
                grads[k]
            );
        }
        for k in 0..6 {
            let (mut up, mut down) = (input.clone(), input.clone());
            up[k] += h;
            down[k] -= h;
            let fd = (loss(&params, &up) - loss(&params, &down)) / (2.0 * f64::from(h));
            assert!(
                (fd - f64::from(grad_in[k])).abs() < 2e-3,
                "input {k}: {fd} vs {}",
                grad_in[k]
            );
        }
    }

    /// The two-thread backward gives the same bits as the serial one, and the input gradients of
    /// a subset of rows equal those rows of the full input gradient.
    #[test]
    fn split_backward_and_row_gradients_agree_with_the_full_pass() {
        let layout = Layout::new(vec![4, 32, 24, 1]);
        let mut rng = crate::rng::seeded(5);
        use rand::Rng;
        let batch = 40;
        let params: Vec<f32> = (0..layout.len())
            .map(|_| rng.random_range(-0.5..0.5))
            .collect();
        let input: Vec<f32> = (0..batch * 4)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let g: Vec<f32> = (0..batch).map(|_| rng.random_range(-1.0..1.0)).collect();
        let mut full = [vec![0.0; layout.len()], vec![0.0; layout.len()]];
        let mut grad_in = vec![0.0; batch * 4];
        for (parallel, grads) in [false, true].into_iter().zip(&mut full) {
            let mut cache = Cache::default();
            forward(&layout, &params, &input, batch, &mut cache);
            backward(
                &layout,
                &params,
                &input,
                &mut cache,
                &g,
                Some(grads),
                Some(&mut grad_in),
                parallel,
            );
        }
        assert_eq!(full[0], full[1]);
        let mut cache = Cache::default();
        forward(&layout, &params, &input, batch, &mut cache);
        let rows = [3, 17, 0, 39, 22];
        let g_rows: Vec<f32> = rows.iter().map(|&r| g[r]).collect();
        let mut dx = vec![0.0; rows.len() * 4];
        let mut scratch = Default::default();
        input_grad_rows(
            &layout,
            &params,
            &cache,
            &rows,
            &g_rows,
            &mut dx,
            &mut scratch,
        );
        for (k, &r) in rows.iter().enumerate() {
            for i in 0..4 {
                let (a, b) = (dx[k * 4 + i], grad_in[r * 4 + i]);
                assert!(
                    (a - b).abs() <= 1e-6 * (1.0 + b.abs()),
                    "row {r}: {a} vs {b}"
                );
            }
        }
    }
}
