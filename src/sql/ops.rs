//! A dense layer `y = act(x·Wᵀ + b)` as one fused candle op ([`CustomOp3`]) with its backward,
//! for the soft Q-learning networks (`x` `[n, in]`, `W` `[out, in]` as PyTorch's `nn.Linear`,
//! `b` `[out]`). candle's own `Linear` + activation costs, on these sizes, as much around the
//! matrix products as in them (`../shared/notes/candle-cpu-costs.md`; `cargo bench --bench sql`):
//! five graph nodes a layer (product, transpose, copy, broadcast add, activation), each backward
//! node a zeros tensor and an add, a bias gradient by a reduction that costs a whole product, an
//! activation gradient in four passes, and both gradients of every product even where only one is
//! wanted. Here, a layer is one node:
//!
//! - forward: one product into a fresh buffer (by [`crate::matrix`], split over the threads of
//!   the rayon pool it runs in, the same bits on one or two), then the bias and the activation
//!   in one pass;
//! - backward: `g′ = g·act′(y)` in one pass (ReLU: `[y > 0]`, so relu′(0) = 0 as in PyTorch and
//!   TensorFlow; tanh: `1 − y²`), then `∂x = g′·W`, `∂W = g′ᵀ·x`, `∂b = 1ᵀ·g′`, each only for an
//!   argument that carries a gradient (`track_op`). A network run on detached weights
//!   ([`Frozen`]) thus propagates to its input alone, which is all `∇_a Q(s, a)` needs.

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Storage, Tensor};

use crate::matrix::{Mat, matmul_on};

/// A layer's activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Relu,
    Tanh,
    Identity,
}

impl Activation {
    /// `y = act(v + b)` over each row of `y` (holding `v`), the match outside the loop so each
    /// arm is one vectorized pass.
    fn forward(self, y: &mut [f32], b: &[f32]) {
        fn rows(y: &mut [f32], b: &[f32], f: impl Fn(f32) -> f32) {
            for row in y.chunks_exact_mut(b.len()) {
                for (v, b) in row.iter_mut().zip(b) {
                    *v = f(*v + b);
                }
            }
        }
        match self {
            Activation::Relu => rows(y, b, |v| v.max(0.0)),
            Activation::Tanh => rows(y, b, f32::tanh),
            Activation::Identity => rows(y, b, |v| v),
        }
    }

    /// `g·act′` at the outputs `y`.
    fn backward(self, g: &[f32], y: &[f32]) -> Vec<f32> {
        fn each(g: &[f32], y: &[f32], f: impl Fn(f32, f32) -> f32) -> Vec<f32> {
            g.iter().zip(y).map(|(&g, &y)| f(g, y)).collect()
        }
        match self {
            Activation::Relu => each(g, y, |g, y| if y > 0.0 { g } else { 0.0 }),
            Activation::Tanh => each(g, y, |g, y| g * (1.0 - y * y)),
            Activation::Identity => g.to_vec(),
        }
    }
}

/// How a layer takes part in autograd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grad {
    /// Gradients reach every argument that carries one (the weights are variables).
    Full,
    /// The weights are held constant (detached): gradients reach the input alone.
    Frozen,
    /// No graph at all: a forward pass only.
    None,
}

/// `act(x·Wᵀ + b)`.
pub fn layer(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    act: Activation,
    grad: Grad,
) -> Result<Tensor> {
    let x = x.contiguous()?;
    match grad {
        Grad::Full => x.apply_op3(&weight.contiguous()?, &bias.contiguous()?, Layer(act)),
        Grad::Frozen => x.apply_op3(&weight.detach(), &bias.detach(), Layer(act)),
        Grad::None => x.apply_op3_no_bwd(&weight.contiguous()?, &bias.contiguous()?, &Layer(act)),
    }
}

/// The f32 values of a contiguous tensor's storage.
fn values<'a>(storage: &'a CpuStorage, layout: &Layout) -> Result<&'a [f32]> {
    let data = storage.as_slice::<f32>()?;
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("maxent's layer reads contiguous tensors"),
    }
}

/// A tensor's CPU storage (held for reading) and layout.
fn cpu(t: &Tensor) -> Result<(impl std::ops::Deref<Target = Storage> + '_, &Layout)> {
    let (storage, layout) = t.storage_and_layout();
    if !matches!(&*storage, Storage::Cpu(_)) {
        candle_core::bail!("maxent's layer runs on the CPU");
    }
    Ok((storage, layout))
}

fn slice<'a>(storage: &'a Storage, layout: &Layout) -> Result<&'a [f32]> {
    match storage {
        Storage::Cpu(s) => values(s, layout),
        _ => candle_core::bail!("maxent's layer runs on the CPU"),
    }
}

struct Layer(Activation);

impl CustomOp3 for Layer {
    fn name(&self) -> &'static str {
        "maxent-layer"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        x_layout: &Layout,
        w: &CpuStorage,
        w_layout: &Layout,
        b: &CpuStorage,
        b_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (n, inputs) = x_layout.shape().dims2()?;
        let (outputs, w_inputs) = w_layout.shape().dims2()?;
        if w_inputs != inputs || b_layout.shape().dims1()? != outputs {
            candle_core::bail!("layer shapes: x [{n}, {inputs}], W [{outputs}, {w_inputs}]");
        }
        let (x, w, b) = (
            values(x, x_layout)?,
            values(w, w_layout)?,
            values(b, b_layout)?,
        );
        let mut y = vec![0.0f32; n * outputs];
        matmul_on(
            &mut y,
            Mat::new(x, n, inputs),
            Mat::new(w, outputs, inputs).t(),
            false,
            rayon::current_num_threads(),
        );
        self.0.forward(&mut y, b);
        Ok((CpuStorage::F32(y), Shape::from((n, outputs))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (n, inputs) = x.dims2()?;
        let outputs = w.dims2()?.0;
        let grad = grad.contiguous()?;
        let (g, gl) = cpu(&grad)?;
        let (ys, yl) = cpu(y)?;
        let g = self.0.backward(slice(&g, gl)?, slice(&ys, yl)?);
        let g_mat = Mat::new(&g, n, outputs);
        let dev = x.device();
        let dx = if x.track_op() {
            let (ws, wl) = cpu(w)?;
            let mut dx = vec![0.0f32; n * inputs];
            let w = Mat::new(slice(&ws, wl)?, outputs, inputs);
            matmul_on(&mut dx, g_mat, w, false, rayon::current_num_threads());
            Some(Tensor::from_vec(dx, (n, inputs), dev)?)
        } else {
            None
        };
        let dw = if w.track_op() {
            let (xs, xl) = cpu(x)?;
            let mut dw = vec![0.0f32; outputs * inputs];
            let x = Mat::new(slice(&xs, xl)?, n, inputs);
            matmul_on(&mut dw, g_mat.t(), x, false, rayon::current_num_threads());
            Some(Tensor::from_vec(dw, (outputs, inputs), dev)?)
        } else {
            None
        };
        let db = if b.track_op() {
            let mut db = vec![0.0f32; outputs];
            for row in g.chunks_exact(outputs) {
                for (s, g) in db.iter_mut().zip(row) {
                    *s += g;
                }
            }
            Some(Tensor::from_vec(db, outputs, dev)?)
        } else {
            None
        };
        Ok((dx, dw, db))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;

    /// Forward values equal candle's `Linear` + activation bit for bit; the gradients of a loss
    /// through both agree to f32 rounding, for each activation, with and without the weights'
    /// gradients, the input a leaf stored transposed (a strided view the layer copies).
    #[test]
    fn layer_matches_candles_own_ops_and_gradients() {
        let dev = &Device::Cpu;
        let mut rng = crate::rng::seeded(3);
        let w = Var::from_tensor(&crate::sql::nets::normal(&mut rng, 4, 7).unwrap()).unwrap();
        let b = Var::from_tensor(&Tensor::new(&[0.5f32, -0.25, 0.1, 2.0], dev).unwrap()).unwrap();
        // x a leaf too, stored transposed: the layer reads it through a copy.
        let x_t = Var::from_tensor(&crate::sql::nets::normal(&mut rng, 7, 5).unwrap()).unwrap();
        let weights = Tensor::new(&[1.0f32, -2.0, 3.0, 0.5], dev).unwrap();
        for act in [Activation::Relu, Activation::Tanh, Activation::Identity] {
            for grad in [Grad::Full, Grad::Frozen] {
                let loss = |ours: bool| {
                    let x = x_t.as_tensor().t().unwrap();
                    let h = if ours {
                        layer(&x, w.as_tensor(), b.as_tensor(), act, grad).unwrap()
                    } else {
                        let (w, b) = match grad {
                            Grad::Full => (w.as_tensor().clone(), b.as_tensor().clone()),
                            _ => (w.as_tensor().detach(), b.as_tensor().detach()),
                        };
                        // gemm rounds a strided product otherwise: give it the same rows.
                        let x = x.contiguous().unwrap();
                        let pre =
                            candle_nn::Module::forward(&candle_nn::Linear::new(w, Some(b)), &x)
                                .unwrap();
                        match act {
                            Activation::Relu => pre.relu().unwrap(),
                            Activation::Tanh => pre.tanh().unwrap(),
                            Activation::Identity => pre,
                        }
                    };
                    let l = h.broadcast_mul(&weights).unwrap().sum_all().unwrap();
                    let g = l.backward().unwrap();
                    let read = |t: &Tensor| {
                        g.get(t)
                            .map(|g| g.flatten_all().unwrap().to_vec1::<f32>().unwrap())
                    };
                    (
                        h.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                        [
                            read(x_t.as_tensor()),
                            read(w.as_tensor()),
                            read(b.as_tensor()),
                        ],
                    )
                };
                let (ours, theirs) = (loss(true), loss(false));
                assert_eq!(ours.0, theirs.0, "{act:?} forward values");
                for (i, (a, b)) in ours.1.iter().zip(&theirs.1).enumerate() {
                    if grad == Grad::Frozen && i > 0 {
                        assert!(a.is_none(), "{act:?}: no gradient for frozen argument {i}");
                        continue;
                    }
                    let (a, b) = (a.as_ref().unwrap(), b.as_ref().unwrap());
                    for (a, b) in a.iter().zip(b) {
                        assert!(
                            (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                            "{act:?} {i}: {a} vs {b}"
                        );
                    }
                }
            }
        }
    }

    /// relu′(0) = 0 (PyTorch's and TensorFlow's convention): an output exactly 0 passes no
    /// gradient; a forward without a graph gives the same values and no gradients at all.
    #[test]
    fn relu_at_zero_passes_no_gradient_and_no_grad_builds_no_graph() {
        let dev = &Device::Cpu;
        let x =
            Var::from_tensor(&Tensor::new(&[[1.0f32, -1.0], [0.0, 0.0]], dev).unwrap()).unwrap();
        let w =
            Var::from_tensor(&Tensor::new(&[[1.0f32, 1.0], [2.0, -1.0]], dev).unwrap()).unwrap();
        let b = Var::from_tensor(&Tensor::new(&[0.0f32, 0.5], dev).unwrap()).unwrap();
        let y = layer(
            x.as_tensor(),
            w.as_tensor(),
            b.as_tensor(),
            Activation::Relu,
            Grad::Full,
        )
        .unwrap();
        // Pre-activations: row 0 (0, 3.5), row 1 (0, 0.5).
        assert_eq!(
            y.to_vec2::<f32>().unwrap(),
            vec![vec![0.0, 3.5], vec![0.0, 0.5]]
        );
        let g = y.sum_all().unwrap().backward().unwrap();
        // Only the second unit passes: ∂b = (0, 2), ∂W row 1 = Σ_rows x = (1, −1), row 0 zero.
        assert_eq!(
            g.get(b.as_tensor()).unwrap().to_vec1::<f32>().unwrap(),
            vec![0.0, 2.0]
        );
        assert_eq!(
            g.get(w.as_tensor()).unwrap().to_vec2::<f32>().unwrap(),
            vec![vec![0.0, 0.0], vec![1.0, -1.0]]
        );
        // ∂x = g′·W: each row (0, 1)·W = (2, −1).
        assert_eq!(
            g.get(x.as_tensor()).unwrap().to_vec2::<f32>().unwrap(),
            vec![vec![2.0, -1.0], vec![2.0, -1.0]]
        );
        let plain = layer(
            x.as_tensor(),
            w.as_tensor(),
            b.as_tensor(),
            Activation::Relu,
            Grad::None,
        )
        .unwrap();
        assert_eq!(plain.to_vec2::<f32>().unwrap(), y.to_vec2::<f32>().unwrap());
        assert!(!plain.track_op(), "a forward pass without a graph");
    }
}
