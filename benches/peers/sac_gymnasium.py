"""SAC from SBX (JAX) or SB3 (PyTorch) on a Gymnasium env with the RL Zoo's MuJoCo settings, for
docs/gymnasium.md's side-by-side study with `maxent train --config configs/halfcheetah.toml`.

Usage: python sac_gymnasium.py sbx|sb3 SEED STEPS [ENV_ID] [--threads T]

The zoo's SAC entry for MuJoCo envs: learning_starts 10 000, SB3's defaults otherwise (lr 3e-4,
batch 256, buffer 1e6, tau 0.005, gamma 0.99, learned entropy coefficient from 1, 256x256 nets).
Evaluates like maxent does: every 10 000 steps and at the end, 5 deterministic episodes on a
separate env. Prints one JSON line per evaluation and a last line with the wall time and steps/s.
"""
import argparse, json, time

parser = argparse.ArgumentParser()
parser.add_argument("impl", choices=["sbx", "sb3"])
parser.add_argument("seed", type=int)
parser.add_argument("steps", type=int)
parser.add_argument("env_id", nargs="?", default="HalfCheetah-v5")
parser.add_argument("--threads", type=int, help="torch threads (sb3)")
cli = parser.parse_args()
impl, seed, steps, env_id, threads = cli.impl, cli.seed, cli.steps, cli.env_id, cli.threads
EVAL_EVERY, EVAL_EPISODES = 10_000, 5

if impl == "sb3":
    import torch
    if threads:
        torch.set_num_threads(threads)
    from stable_baselines3 import SAC
else:
    from sbx import SAC
import gymnasium as gym
import numpy as np
from stable_baselines3.common.callbacks import BaseCallback


def evaluate(model, env, episode):
    returns = []
    for i in range(EVAL_EPISODES):
        obs, _ = env.reset(seed=10_000 * (seed + 1) + episode * EVAL_EPISODES + i)
        done, total = False, 0.0
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return float(np.mean(returns)), float(np.std(returns))


class Eval(BaseCallback):
    def __init__(self, env, started):
        super().__init__()
        self.env, self.started, self.evals, self.eval_seconds = env, started, 0, 0.0

    def _on_step(self):
        if self.num_timesteps % EVAL_EVERY == 0:
            self.report()
        return True

    def report(self):
        t = time.perf_counter()
        mean, std = evaluate(self.model, self.env, self.evals)
        self.evals += 1
        self.eval_seconds += time.perf_counter() - t
        print(json.dumps({"step": self.num_timesteps, "return": mean, "return_std": std,
                          "wall_seconds": time.perf_counter() - self.started}), flush=True)


started = time.perf_counter()
model = SAC("MlpPolicy", gym.make(env_id), learning_starts=10_000, seed=seed, verbose=0)
callback = Eval(gym.make(env_id), started)
model.learn(steps, callback=callback)
if steps % EVAL_EVERY:
    callback.report()
wall = time.perf_counter() - started
print(json.dumps({"impl": impl, "env": env_id, "seed": seed, "steps": steps, "wall_seconds": wall,
                  "eval_seconds": callback.eval_seconds, "steps_per_second": steps / wall}))
