//! Adam (Kingma & Ba 2015) on flat f32 buffers, as PyTorch's `torch.optim.Adam` computes it
//! (`_single_tensor_adam`, bias corrections folded into the step size and the denominator), with
//! no weight decay (candle-nn's `AdamW` defaults to 0.01, which SAC does not want), and with its
//! state exposed so that checkpoints can save and restore it:
//!
//! ```text
//! m ← β₁·m + (1 − β₁)·g        v ← β₂·v + (1 − β₂)·g²
//! θ ← θ − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
//! ```

pub const BETA1: f64 = 0.9;
pub const BETA2: f64 = 0.999;
pub const EPS: f64 = 1e-8;

/// Adam's state for one flat parameter buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct Adam {
    pub lr: f64,
    pub t: u64,
    pub m: Vec<f32>,
    pub v: Vec<f32>,
}

impl Adam {
    pub fn new(len: usize, lr: f64) -> Self {
        Adam {
            lr,
            t: 0,
            m: vec![0.0; len],
            v: vec![0.0; len],
        }
    }

    pub fn step(&mut self, params: &mut [f32], grads: &[f32]) {
        let step = self.begin();
        step.apply(params, grads, &mut self.m, &mut self.v, None);
    }

    /// Counts a step and returns its constants, to [`AdamStep::apply`] to parts of the buffer.
    pub fn begin(&mut self) -> AdamStep {
        self.t += 1;
        let c1 = 1.0 - BETA1.powi(self.t as i32);
        let c2 = 1.0 - BETA2.powi(self.t as i32);
        AdamStep {
            w1: (1.0 - BETA1) as f32,
            b2: BETA2 as f32,
            w2: (1.0 - BETA2) as f32,
            step_size: (self.lr / c1) as f32,
            c2_sqrt: c2.sqrt() as f32,
            eps: EPS as f32,
        }
    }
}

/// The constants of one Adam step, bias corrections folded in as PyTorch's `_single_tensor_adam`
/// folds them: `θ ← θ − (lr/(1−β₁ᵗ))·m / (√v/√(1−β₂ᵗ) + ε)`, with its order of operations.
#[derive(Debug, Clone, Copy)]
pub struct AdamStep {
    /// `1 − β₁` and `1 − β₂` rounded from f64, as PyTorch passes them (`1 − 0.999f32` would be
    /// 1.3e-5 off).
    w1: f32,
    b2: f32,
    w2: f32,
    step_size: f32,
    c2_sqrt: f32,
    eps: f32,
}

impl AdamStep {
    /// Applies the step to `params` with their `grads` and moments `m`, `v` (all the same length),
    /// then, given a target and τ, moves the target: `θ̄ ← τ·θ + (1 − τ)·θ̄` (Polyak), in the same
    /// pass over memory.
    pub fn apply(
        &self,
        params: &mut [f32],
        grads: &[f32],
        m: &mut [f32],
        v: &mut [f32],
        target: Option<(&mut [f32], f32)>,
    ) {
        let n = params.len();
        assert!(grads.len() == n && m.len() == n && v.len() == n);
        let (target, tau) = match target {
            Some((t, tau)) => {
                assert_eq!(t.len(), n);
                (Some(t), tau)
            }
            None => (None, 0.0),
        };
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked above); the kernel is plain safe code compiled
            // for it. Without fast-math, the arithmetic (and so every bit) is the same.
            unsafe { self.kernel_avx2(params, grads, m, v, target, tau) };
            return;
        }
        self.kernel(params, grads, m, v, target, tau);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn kernel_avx2(
        &self,
        params: &mut [f32],
        grads: &[f32],
        m: &mut [f32],
        v: &mut [f32],
        target: Option<&mut [f32]>,
        tau: f32,
    ) {
        self.kernel(params, grads, m, v, target, tau);
    }

    #[inline(always)]
    fn kernel(
        &self,
        params: &mut [f32],
        grads: &[f32],
        m: &mut [f32],
        v: &mut [f32],
        target: Option<&mut [f32]>,
        tau: f32,
    ) {
        let AdamStep {
            w1,
            b2,
            w2,
            step_size,
            c2_sqrt,
            eps,
        } = *self;
        let adam = |p: &mut f32, g: f32, m: &mut f32, v: &mut f32| {
            *m = flush(*m + w1 * (g - *m)); // torch: exp_avg.lerp_(grad, 1 − β₁)
            *v = flush(*v * b2 + w2 * g * g); // exp_avg_sq.mul_(β₂).addcmul_(grad, grad, 1 − β₂)
            *p -= step_size * (*m / (v.sqrt() / c2_sqrt + eps));
        };
        let it = params.iter_mut().zip(grads).zip(m).zip(v);
        match target {
            Some(target) => {
                for ((((p, g), m), v), t) in it.zip(target) {
                    adam(p, *g, m, v);
                    *t = tau * *p + (1.0 - tau) * *t;
                }
            }
            None => {
                for (((p, g), m), v) in it {
                    adam(p, *g, m, v);
                }
            }
        }
    }
}

/// `x`, or 0 where it is subnormal (|x| < 2⁻¹²⁶). A weight that stops receiving gradient (the
/// weights into a dead ReLU unit, a third to a half of the hidden layer's on the pendulum after a
/// few thousand steps) has its first moment decay by β₁ a step into the subnormal range, where it
/// stays: IEEE arithmetic on subnormals runs through microcode on Intel cores, 28× slower a
/// parameter here, which made the optimizer a fifth of SAC's update. Flushed, the moment is 0 from
/// then on. The parameters come out the same bits: the step such a moment would make is below
/// 2⁻¹²⁶·lr/ε, under half an ulp of any weight larger than about 1e-28 (a 3 000-step pendulum
/// run writes the same model file with and without the flush). PyTorch flushes every subnormal
/// with `torch.set_flush_denormal(True)`; this flushes only the two moments.
#[inline(always)]
fn flush(x: f32) -> f32 {
    if x.abs() < f32::MIN_POSITIVE { 0.0 } else { x }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two steps on three parameters with fixed gradients against the textbook form in f64, and
    /// Polyak in the same pass; the vectorized kernel (when the CPU has AVX2) against the plain one.
    #[test]
    fn two_steps_match_the_textbook_and_polyak_follows() {
        let grads = [6.0f32, -0.003, 0.0];
        let mut params = [1.0f32, -2.0, 0.5];
        let mut target = [0.0f32; 3];
        let mut adam = Adam::new(3, 0.1);
        let (mut m, mut v, mut theta) = ([0.0f64; 3], [0.0f64; 3], [1.0f64, -2.0, 0.5]);
        let mut theta_bar = [0.0f64; 3];
        for t in 1..=2 {
            let step = adam.begin();
            let (m_buf, v_buf) = (&mut adam.m, &mut adam.v);
            step.apply(&mut params, &grads, m_buf, v_buf, Some((&mut target, 0.25)));
            for i in 0..3 {
                let g = f64::from(grads[i]);
                m[i] = BETA1 * m[i] + (1.0 - BETA1) * g;
                v[i] = BETA2 * v[i] + (1.0 - BETA2) * g * g;
                let (mh, vh) = (m[i] / (1.0 - BETA1.powi(t)), v[i] / (1.0 - BETA2.powi(t)));
                theta[i] -= 0.1 * mh / (vh.sqrt() + EPS);
                theta_bar[i] = 0.25 * theta[i] + 0.75 * theta_bar[i];
            }
        }
        for i in 0..3 {
            assert!(
                (f64::from(params[i]) - theta[i]).abs() < 1e-6,
                "θ[{i}] {} vs {}",
                params[i],
                theta[i]
            );
            assert!((f64::from(target[i]) - theta_bar[i]).abs() < 1e-6, "θ̄[{i}]");
        }
        // Step 1 moves every parameter with a gradient by lr (m̂/√v̂ = ±1); none without.
        assert_eq!(params[2], 0.5);
        assert_eq!(adam.t, 2);

        let n = 1003; // not a multiple of the vector width
        let g: Vec<f32> = (0..n)
            .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
            .collect();
        let (mut p1, mut m1, mut v1) = (vec![0.3f32; n], vec![0.01f32; n], vec![0.02f32; n]);
        let (mut p2, mut m2, mut v2) = (p1.clone(), m1.clone(), v1.clone());
        let step = Adam::new(n, 1e-3).begin();
        step.apply(&mut p1, &g, &mut m1, &mut v1, None);
        step.kernel(&mut p2, &g, &mut m2, &mut v2, None, 0.0);
        assert_eq!((p1, m1, v1), (p2, m2, v2));
    }

    /// A weight whose gradient stops: its first moment decays by β₁ a step, reaches the subnormal
    /// range after about 780 steps and is flushed to 0 there (never stored subnormal), while the
    /// weight takes the same bits as in IEEE arithmetic without the flush.
    #[test]
    fn moments_of_a_weight_without_gradient_flush_to_zero_and_the_weight_is_unchanged() {
        let mut adam = Adam::new(2, 1e-3);
        let mut params = [0.25f32, -0.003];
        let (mut p, mut m, mut v) = ([0.25f32, -0.003], [0.0f32; 2], [0.0f32; 2]);
        let mut flushed_at = None;
        for t in 1..=2000 {
            let g = if t == 1 { [1e-3f32, -2e-4] } else { [0.0; 2] };
            let step = adam.begin();
            step.apply(&mut params, &g, &mut adam.m, &mut adam.v, None);
            let (c1, c2) = (1.0 - BETA1.powi(t), 1.0 - BETA2.powi(t));
            let (w1, b2, w2) = ((1.0 - BETA1) as f32, BETA2 as f32, (1.0 - BETA2) as f32);
            for i in 0..2 {
                m[i] += w1 * (g[i] - m[i]);
                v[i] = v[i] * b2 + w2 * g[i] * g[i];
                p[i] -= (1e-3 / c1) as f32 * (m[i] / (v[i].sqrt() / c2.sqrt() as f32 + EPS as f32));
            }
            assert_eq!(params, p, "step {t}");
            for x in adam.m.iter().chain(&adam.v) {
                assert!(
                    *x == 0.0 || x.abs() >= f32::MIN_POSITIVE,
                    "step {t}: {x:e} stored"
                );
            }
            if flushed_at.is_none() && adam.m.iter().all(|&x| x == 0.0) {
                flushed_at = Some(t);
            }
        }
        // IEEE arithmetic leaves the moments subnormal (stuck there: β₁'s step rounds to nothing).
        assert!(
            m.iter().all(|&x| x != 0.0 && x.abs() < f32::MIN_POSITIVE),
            "{m:?}"
        );
        let t = flushed_at.expect("the moments reached 0");
        assert!((700..900).contains(&t), "flushed at step {t}");
    }
}
