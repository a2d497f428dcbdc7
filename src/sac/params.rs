//! The SAC agent's parameters under PyTorch-style names, as its checkpoint files hold them
//! (weights `[out, in]` as `nn.Linear`'s): `actor.trunk.{i}.weight|bias` (the hidden layers, ReLU
//! after each), `actor.mean.*`, `actor.log_std.*` (log σ bounded as [`crate::tanh_gaussian`]
//! says), `critic.{0,1}.{i}.*` and `critic_target.{0,1}.{i}.*` (input `[obs, action on [-1, 1]]`,
//! ReLU between layers), and `log_alpha` (a scalar). The optimizer file holds
//! `{actor,critic,alpha}.{m,v}.<name>` and the step counts `{actor,critic,alpha}.t`.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use super::Sac;
use super::dense::Layout;
use super::optim::Adam;
use crate::error::Result;
use crate::training::{NamedTensor, Tensors, checkpoint};

/// The tag of SAC checkpoint files.
pub const FORMAT: &str = "maxent-sac-1";

/// One named tensor of a flat buffer: name, range, shape, and the fan-in of its layer.
pub type Named = (String, Range<usize>, Vec<usize>, usize);

/// The actor's tensors in its flat buffer, in the order they are initialized: trunk layers, then
/// the stacked last layer split into the mean head and the log-σ head.
pub fn actor_tensors(layout: &Layout, ad: usize) -> Vec<Named> {
    let mut out = Vec::new();
    let last = layout.layers() - 1;
    for l in 0..layout.layers() {
        let (w, b) = layout.ranges(l);
        let (i, o) = (layout.sizes[l], layout.sizes[l + 1]);
        if l < last {
            out.push((format!("actor.trunk.{l}.weight"), w, vec![o, i], i));
            out.push((format!("actor.trunk.{l}.bias"), b, vec![o], i));
        } else {
            for (k, head) in ["mean", "log_std"].iter().enumerate() {
                out.push((
                    format!("actor.{head}.weight"),
                    w.start + k * ad * i..w.start + (k + 1) * ad * i,
                    vec![ad, i],
                    i,
                ));
                out.push((
                    format!("actor.{head}.bias"),
                    b.start + k * ad..b.start + (k + 1) * ad,
                    vec![ad],
                    i,
                ));
            }
        }
    }
    out
}

/// The two critics' tensors in their flat buffer (`prefix` = `critic` or `critic_target`).
pub fn critic_tensors(layout: &Layout, prefix: &str) -> Vec<Named> {
    let mut out = Vec::new();
    for j in 0..2 {
        let base = j * layout.len();
        for l in 0..layout.layers() {
            let (w, b) = layout.ranges(l);
            let (i, o) = (layout.sizes[l], layout.sizes[l + 1]);
            out.push((
                format!("{prefix}.{j}.{l}.weight"),
                base + w.start..base + w.end,
                vec![o, i],
                i,
            ));
            out.push((
                format!("{prefix}.{j}.{l}.bias"),
                base + b.start..base + b.end,
                vec![o],
                i,
            ));
        }
    }
    out
}

fn log_alpha_name() -> Vec<Named> {
    vec![("log_alpha".into(), 0..1, vec![], 1)]
}

/// Fills the named parts of `flat` from `stored` (under `prefix` + name).
fn fill(
    flat: &mut [f32],
    names: &[Named],
    prefix: &str,
    stored: &Tensors,
    path: &Path,
) -> Result<()> {
    for (name, range, shape, _) in names {
        let values = checkpoint::stored_values(stored, &format!("{prefix}{name}"), shape, path)?;
        flat[range.clone()].copy_from_slice(values);
    }
    Ok(())
}

impl Sac {
    /// The parameter buffers with their tensor names: actor, critics, target critics.
    fn parts(&self) -> [(&[f32], Vec<Named>); 3] {
        [
            (&self.actor, actor_tensors(&self.actor_layout, self.act_dim)),
            (&self.critic, critic_tensors(&self.critic_layout, "critic")),
            (
                &self.target,
                critic_tensors(&self.critic_layout, "critic_target"),
            ),
        ]
    }

    /// Every model tensor by name: `(name, shape, values)`.
    pub fn named_tensors(&self) -> Vec<NamedTensor> {
        let mut out: Vec<_> = self
            .parts()
            .into_iter()
            .flat_map(|(flat, names)| {
                names
                    .into_iter()
                    .map(move |(n, r, shape, _)| (n, shape, flat[r].to_vec()))
            })
            .collect();
        out.push(("log_alpha".into(), vec![], vec![self.log_alpha]));
        out
    }

    pub(super) fn model_metadata(&self) -> HashMap<String, String> {
        HashMap::from([
            ("format".into(), FORMAT.into()),
            (
                "hidden".into(),
                format!(
                    "{:?}",
                    &self.actor_layout.sizes[1..self.actor_layout.sizes.len() - 1]
                ),
            ),
            (
                "log_std_min".into(),
                crate::tanh_gaussian::LOG_STD_MIN.to_string(),
            ),
            (
                "log_std_max".into(),
                crate::tanh_gaussian::LOG_STD_MAX.to_string(),
            ),
        ])
    }

    fn optimizers(&self) -> [(&'static str, Option<&Adam>, Vec<Named>); 3] {
        let [(_, actor), (_, critic), _] = self.parts();
        [
            ("actor", Some(&self.actor_opt), actor),
            ("critic", Some(&self.critic_opt), critic),
            ("alpha", self.alpha_opt.as_ref(), log_alpha_name()),
        ]
    }

    pub(super) fn optimizer_state(&self) -> (Vec<NamedTensor>, HashMap<String, String>) {
        let mut out = Vec::new();
        let mut meta = HashMap::from([("format".to_string(), FORMAT.to_string())]);
        for (which, adam, names) in self.optimizers() {
            let Some(adam) = adam else { continue };
            meta.insert(format!("{which}.t"), adam.t.to_string());
            for (name, range, shape, _) in names {
                for (moment, values) in [("m", &adam.m), ("v", &adam.v)] {
                    out.push((
                        format!("{which}.{moment}.{name}"),
                        shape.clone(),
                        values[range.clone()].to_vec(),
                    ));
                }
            }
        }
        (out, meta)
    }

    pub(super) fn fill_model(
        &mut self,
        stored: &Tensors,
        path: &Path,
        policy_only: bool,
    ) -> Result<()> {
        let names = actor_tensors(&self.actor_layout, self.act_dim);
        fill(&mut self.actor, &names, "", stored, path)?;
        if !policy_only {
            let names = critic_tensors(&self.critic_layout, "critic");
            fill(&mut self.critic, &names, "", stored, path)?;
            let names = critic_tensors(&self.critic_layout, "critic_target");
            fill(&mut self.target, &names, "", stored, path)?;
        }
        let mut la = [0.0f32];
        fill(&mut la, &log_alpha_name(), "", stored, path)?;
        self.log_alpha = la[0];
        Ok(())
    }

    pub(super) fn fill_optimizer(
        &mut self,
        stored: &Tensors,
        meta: &HashMap<String, String>,
        path: &Path,
    ) -> Result<()> {
        let actor_names = actor_tensors(&self.actor_layout, self.act_dim);
        let critic_names = critic_tensors(&self.critic_layout, "critic");
        let alpha_names = log_alpha_name();
        let opts = [
            ("actor", Some(&mut self.actor_opt), &actor_names),
            ("critic", Some(&mut self.critic_opt), &critic_names),
            ("alpha", self.alpha_opt.as_mut(), &alpha_names),
        ];
        for (which, adam, names) in opts {
            let Some(adam) = adam else { continue };
            adam.t = checkpoint::step_count(meta, which, path)?;
            fill(&mut adam.m, names, &format!("{which}.m."), stored, path)?;
            fill(&mut adam.v, names, &format!("{which}.v."), stored, path)?;
        }
        Ok(())
    }
}
