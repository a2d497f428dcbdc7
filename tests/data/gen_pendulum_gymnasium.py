"""Writes pendulum_gymnasium_more.jsonl: Gymnasium Pendulum-v1 trajectories for tests/cli.rs.

    pip install gymnasium==1.4.0 numpy==2.4.6
    python3 tests/data/gen_pendulum_gymnasium.py > tests/data/pendulum_gymnasium_more.jsonl

Beyond ../shared/reference: other g (a `gym.make` argument), other m and l (attributes of the
unwrapped env), start states outside [-pi, pi] and beyond max_speed, torques far outside the
bounds, and up to 260 steps (past the 200-step time limit, which the unwrapped env ignores).
Actions are float32, as the action space declares: NumPy 2 then computes the torque term and
the action cost in float32.
"""
import json

import gymnasium as gym
import numpy as np

rng = np.random.default_rng(2026)
for k in range(30):
    g = [10.0, 9.81, 3.7][k % 3]
    m, l = [(1.0, 1.0), (1.0, 1.0), (1.3, 0.7)][(k // 3) % 3]
    env = gym.make("Pendulum-v1", g=g).unwrapped
    env.m, env.l = m, l
    env.reset(seed=k)
    init = [float(rng.uniform(-12, 12)), float(rng.uniform(-12, 12))]
    env.state = np.array(init)
    n = int(rng.integers(1, 261))
    scale = [2.5, 10.0, 1e4][k % 3]
    actions = rng.uniform(-scale, scale, n).astype(np.float32)
    states, obs, rewards = [], [], []
    for a in actions:
        o, r, _, _, _ = env.step(np.array([a], dtype=np.float32))
        states.append([float(x) for x in env.state])
        obs.append([float(x) for x in o])
        rewards.append(float(r))
    print(json.dumps(dict(g=g, m=m, l=l, init=init, actions=[float(a) for a in actions],
                          states=states, obs=obs, rewards=rewards)))
