//! Two of candle's CPU overheads on the soft Q-learning networks' sizes, fixed through candle's own
//! extension points (`../shared/notes/candle-cpu-costs.md`; `cargo bench --bench sql` measures
//! them):
//!
//! - A bias is added by a [`CustomOp2`] whose backward takes the bias gradient as the thin
//!   product `1ᵀ·g` of a ones row and the output gradient, instead of candle's `sum_keepdim(0)`
//!   reduction, which costs about as much as a whole layer's matmul. Its forward is the
//!   broadcast add, value for value.
//! - ReLU is a [`CustomOp1`] whose backward is one pass, `g·[x ≥ 0]` (candle's own builds a zeros
//!   tensor, compares, converts the mask to f32 and multiplies: four passes and three
//!   allocations). Its gradient at 0 is candle's, 1.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Result, Shape, Tensor};

/// `x·Wᵀ + b` for `x` `[n, in]`, `W` `[out, in]`, `b` `[out]`.
pub fn affine(x: &Tensor, weight: &Tensor, bias: &Tensor) -> Result<Tensor> {
    x.matmul(&weight.t()?)?
        .contiguous()?
        .apply_op2(&bias.contiguous()?, BiasAdd)
}

/// `max(x, 0)` with a one-pass backward.
pub fn relu(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Relu)
}

/// The f32 values of a contiguous tensor (the ops below make their arguments contiguous first).
fn values<'a>(storage: &'a CpuStorage, layout: &Layout) -> Result<&'a [f32]> {
    let data = storage.as_slice::<f32>()?;
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("maxent's ops read contiguous tensors"),
    }
}

/// `y[i, j] = x[i, j] + b[j]`; backward `∂x = g`, `∂b = 1ᵀ·g`.
struct BiasAdd;

impl CustomOp2 for BiasAdd {
    fn name(&self) -> &'static str {
        "maxent-bias-add"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        x_layout: &Layout,
        b: &CpuStorage,
        b_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, b) = (values(x, x_layout)?, values(b, b_layout)?);
        let out: Vec<f32> = x
            .chunks_exact(b.len())
            .flat_map(|row| row.iter().zip(b).map(|(x, b)| x + b))
            .collect();
        Ok((CpuStorage::F32(out), x_layout.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        _b: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let n = grad_res.dims2()?.0;
        let ones = Tensor::ones((1, n), DType::F32, grad_res.device())?;
        let grad_b = ones.matmul(grad_res)?.squeeze(0)?;
        Ok((Some(grad_res.clone()), Some(grad_b)))
    }
}

struct Relu;

impl CustomOp1 for Relu {
    fn name(&self) -> &'static str {
        "maxent-relu"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = values(storage, layout)?;
        let out: Vec<f32> = x.iter().map(|&v| v.max(0.0)).collect();
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let (g, x) = (grad_res.contiguous()?, arg.contiguous()?);
        Ok(Some(g.apply_op2_no_bwd(&x, &ReluGrad)?))
    }
}

/// `g·[x ≥ 0]` for the gradient `g` and the ReLU's argument `x`, in one pass.
struct ReluGrad;

impl CustomOp2 for ReluGrad {
    fn name(&self) -> &'static str {
        "maxent-relu-grad"
    }

    fn cpu_fwd(
        &self,
        grad: &CpuStorage,
        grad_layout: &Layout,
        arg: &CpuStorage,
        arg_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (g, x) = (values(grad, grad_layout)?, values(arg, arg_layout)?);
        let out: Vec<f32> = g
            .iter()
            .zip(x)
            .map(|(&g, &x)| if x >= 0.0 { g } else { 0.0 })
            .collect();
        Ok((CpuStorage::F32(out), grad_layout.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;

    /// The forward values equal candle's `Linear` + `relu` bit for bit; the gradients of a loss
    /// through both agree to f32 rounding (the bias gradient sums in another order), including
    /// at an argument of exactly 0 and through a transposed (strided) input.
    #[test]
    fn affine_and_relu_match_candles_own_ops_and_gradients() {
        let dev = &Device::Cpu;
        let mut rng = crate::rng::seeded(3);
        let x = crate::sql::nets::normal(&mut rng, 5, 7).unwrap();
        let w = Var::from_tensor(&crate::sql::nets::normal(&mut rng, 4, 7).unwrap()).unwrap();
        let b = Var::from_tensor(&Tensor::new(&[0.5f32, -0.25, 0.0, 2.0], dev).unwrap()).unwrap();
        // A row of zeros in x makes the first output row equal to b: one ReLU argument is 0.
        let x = Tensor::cat(&[&Tensor::zeros((1, 7), DType::F32, dev).unwrap(), &x], 0).unwrap();
        let weights = Tensor::new(&[1.0f32, -2.0, 3.0, 0.5], dev).unwrap();
        let loss = |ours: bool| {
            let h = match ours {
                true => relu(&affine(&x, w.as_tensor(), b.as_tensor()).unwrap()).unwrap(),
                false => candle_nn::Module::forward(
                    &candle_nn::Linear::new(w.as_tensor().clone(), Some(b.as_tensor().clone())),
                    &x,
                )
                .unwrap()
                .relu()
                .unwrap(),
            };
            let l = h.broadcast_mul(&weights).unwrap().sum_all().unwrap();
            let g = l.backward().unwrap();
            let read = |t: &Tensor| {
                g.get(t)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap()
            };
            (
                h.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                read(w.as_tensor()),
                read(b.as_tensor()),
            )
        };
        let (ours, theirs) = (loss(true), loss(false));
        assert_eq!(ours.0, theirs.0, "forward values");
        assert_eq!(ours.0[2], 0.0, "the zero row's third output is relu(0)");
        for (a, b) in ours
            .1
            .iter()
            .chain(&ours.2)
            .zip(theirs.1.iter().chain(&theirs.2))
        {
            assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
        }
        // relu'(0) = 1, as candle's: the third bias's gradient is 3 for every row whose
        // pre-activation is ≥ 0, the zero row's exact 0 among them.
        let pre = affine(&x, w.as_tensor(), b.as_tensor())
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(pre[0][2], 0.0);
        let rows = pre.iter().filter(|r| r[2] >= 0.0).count() as f32;
        assert_eq!(ours.2[2], 3.0 * rows);

        // A strided argument (a transpose) is made contiguous first.
        let t = Tensor::new(&[[-1.0f32, 2.0], [3.0, -4.0]], dev)
            .unwrap()
            .t()
            .unwrap();
        let r = relu(&t).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(r, vec![vec![0.0, 3.0], vec![2.0, 0.0]]);
    }
}
