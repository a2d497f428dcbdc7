"""Writes mountain_car_gymnasium.jsonl: Gymnasium MountainCarContinuous-v0 trajectories for
tests/mountain_car.rs.

    pip install gymnasium==1.4.0 numpy==2.4.6
    python3 tests/data/gen_mountain_car_gymnasium.py > tests/data/mountain_car_gymnasium.jsonl

Each trajectory starts from a state set on the unwrapped env as a float64 array (as `reset`
leaves it, and as `maxent rollout --state` takes it) and steps float32 actions until the car
reaches the flag or the actions run out (the unwrapped env has no time limit). Cases: seeded
resets with random actions; actions far outside [-1, 1]; starts at the left wall driving into it;
starts at the flag's edge; velocities at and near the speed limit; an energy-pumping driver that
reaches the flag from the bottom; other constants (power, max_speed, goal_position, goal_velocity
as a `gym.make` argument, the walls); one trajectory past the 999-step time limit.
"""
import json

import gymnasium as gym
import numpy as np

rng = np.random.default_rng(2026)


def run(name, init, actions=None, driver=None, steps=0, make=None, attrs=None, seed=0):
    env = gym.make("MountainCarContinuous-v0", **(make or {})).unwrapped
    env.reset(seed=seed)
    for key, value in (attrs or {}).items():
        setattr(env, key, value)
    if init is None:
        init = [float(x) for x in env.state]
    env.state = np.array(init, dtype=np.float64)
    obs = np.array(env.state, dtype=np.float32)
    taken, states, observations, rewards, terminated = [], [], [], [], []
    for t in range(len(actions) if actions is not None else steps):
        a = np.float32(actions[t]) if actions is not None else np.float32(driver(obs))
        obs, r, term, _, _ = env.step(np.array([a], dtype=np.float32))
        taken.append(float(a))
        states.append([float(x) for x in env.state])
        observations.append([float(x) for x in obs])
        rewards.append(float(r))
        terminated.append(bool(term))
        if term:
            break
    print(json.dumps(dict(name=name, make=make or {}, attrs=attrs or {}, init=init,
                          actions=taken, states=states, obs=observations, rewards=rewards,
                          terminated=terminated)))


pump = lambda o: 1.0 if o[1] >= 0 else -1.0
for k in range(8):
    run(f"reset {k}, uniform actions", None, rng.uniform(-1, 1, 200), seed=k)
for k in range(4):
    run(f"reset {k}, actions beyond the bounds", None, rng.uniform(-6, 6, 150), seed=100 + k)
run("reset, pumping to the flag", None, driver=pump, steps=999, seed=7)
run("reset, pumping with noise to the flag", None,
    driver=lambda o: np.clip(pump(o) + rng.normal(0, 0.5), -1.5, 1.5), steps=999, seed=8)
run("left wall, driving into it", [-1.2, -0.05], [-1.0] * 40)
run("near the wall, fast", [-1.15, -0.07], rng.uniform(-1, 0, 60))
run("at the wall, still", [-1.2, 0.0], [0.0, -0.5, 1.0, -1.0] * 10)
run("the flag's edge", [0.449, 0.0005], [0.0, 0.0, 0.0])
run("just below the flag, still", [0.44999999, 0.0], [1.0] * 20)
run("float32 of the flag", [float(np.float32(0.45)), 0.0], [0.5] * 5)
run("at the speed limit", [-0.5236, 0.07], [1.0] * 30)
run("just under the speed limit", [-0.5, 0.0699], rng.uniform(0.5, 1, 30))
run("at the negative limit", [0.1, -0.07], [-1.0] * 30)
run("right wall", [0.59, 0.069], [1.0] * 5, make={"goal_velocity": 0.07})
run("goal_velocity 0.02", None, driver=pump, steps=999, make={"goal_velocity": 0.02}, seed=3)
run("power 0.0025", None, driver=pump, steps=999, attrs={"power": 0.0025}, seed=4)
run("max_speed 0.05, goal 0.3", None, rng.uniform(-1, 1, 250),
    attrs={"max_speed": 0.05, "goal_position": 0.3}, seed=5)
run("walls -1.0 and 0.5", [-0.95, -0.03], rng.uniform(-1.5, 1.5, 200),
    attrs={"min_position": -1.0, "max_position": 0.5}, seed=6)
run("past the time limit", None, rng.uniform(-0.2, 0.2, 1002), seed=9)
