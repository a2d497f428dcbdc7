"""maxent's Gymnasium worker: one environment, stepped for the maxent binary over pipes.

Started as `python -c <this file> <spec JSON>`; the spec holds `id`, `kwargs` and `import`. The
process's own stdout is pointed at its stderr before anything is imported, so nothing an
environment or its libraries print can reach the stream; the stream runs on duplicates of the
original stdin and stdout. Every number is little-endian; an observation is its values as
float64, flattened (exact for float32 and float64 observations).

    at start                  -> b"D" u32 n, n bytes of JSON (the description)
                                | b"E" u32 n, n bytes "key<TAB>message" (then it exits)
    b"R" u8 seeded, u64 seed  -> b"O" f64[obs]           reset(seed=seed if seeded else None)
    b"S" f64[act]             -> b"T" f64 reward, u8 terminated, u8 truncated, f64[obs]
    b"X" u32 n, f64[n]        -> b"O" f64[obs]           the env's state set to the n values
    b"P"                      -> b"P" u64 steps, f64 seconds inside env.step
    b"Q" or end of input      -> exits
    a request that fails      -> b"E" u32 n, "key<TAB>message"; the worker goes on

The action arrives as float64 and is cast to the action space's dtype, as Stable-Baselines3
hands its float32 actions to the env. Signals from the terminal or the cluster (SIGINT, SIGTERM)
are the binary's to act on: the worker ignores them and exits when its input closes.
"""

import json
import os
import signal
import struct
import sys
import time
import traceback


def read_exact(stream, n):
    data = bytearray()
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return bytes(data)


def one_line(error):
    text = f"{type(error).__name__}: {error}".strip()
    return " ".join(text.split())


class Fail(Exception):
    def __init__(self, key, message):
        super().__init__(message)
        self.key = key
        self.message = message


def send(out, tag, payload=b""):
    out.write(tag + payload)


def send_text(out, tag, text):
    data = text.encode("utf-8", "replace")
    send(out, tag, struct.pack("<I", len(data)) + data)


def make(spec):
    for module in spec["import"]:
        try:
            __import__(module)
        except BaseException as e:
            raise Fail("import", f"cannot import {module}: {one_line(e)}")
    try:
        import numpy as np
        import gymnasium as gym
    except BaseException as e:
        raise Fail("python", f"cannot import gymnasium with {sys.executable}: {one_line(e)}")
    try:
        env = gym.make(spec["id"], **spec["kwargs"])
    except TypeError as e:
        raise Fail("kwargs", one_line(e))
    except BaseException as e:
        raise Fail("id", one_line(e))
    obs_space, act_space = env.observation_space, env.action_space
    for what, space in (("observation", obs_space), ("action", act_space)):
        if not isinstance(space, gym.spaces.Box):
            raise Fail("id", f"its {what} space is {space}, not a Box: maxent's learners need Box observations and actions")
    low, high = act_space.low.astype(np.float64), act_space.high.astype(np.float64)
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
        raise Fail("id", f"its action space {act_space} is unbounded: maxent's policies act on a bounded box")
    if not np.all(low < high):
        raise Fail("id", f"its action space {act_space} is empty in some component")
    steps = env.spec.max_episode_steps if env.spec is not None else None
    if steps is None:
        raise Fail("kwargs", "it has no time limit (its registration sets no max_episode_steps): give one, e.g. kwargs.max_episode_steps = 1000")
    description = {
        "gymnasium": gym.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "env": str(env),
        "observation_space": str(obs_space),
        "observation_dim": int(np.prod(obs_space.shape)),
        "action_space": str(act_space),
        "action_low": low.ravel().tolist(),
        "action_high": high.ravel().tolist(),
        "max_episode_steps": int(steps),
    }
    return env, np, description


def observation(np, obs, dim):
    flat = np.asarray(obs, dtype="<f8").reshape(-1)
    if flat.size != dim:
        raise Fail("id", f"returned an observation of {flat.size} values, its space has {dim}")
    return flat.tobytes()


def set_state(np, env, values):
    base = env.unwrapped
    x = np.array(values, dtype=np.float64)
    if hasattr(base, "set_state") and hasattr(base, "model"):
        nq, nv = base.model.nq, base.model.nv
        if x.size != nq + nv:
            raise Fail("state", f"a MuJoCo state is qpos ({nq}) and qvel ({nv}): {nq + nv} values, got {x.size}")
        base.set_state(x[:nq], x[nq:])
    elif hasattr(base, "state"):
        now = np.asarray(base.state)
        if x.size != now.size:
            raise Fail("state", f"its state has {now.size} values, got {x.size}")
        base.state = x.astype(now.dtype).reshape(now.shape)
    else:
        raise Fail("state", f"{type(base).__name__} has no state maxent can set")
    if not hasattr(base, "_get_obs"):
        raise Fail("state", f"{type(base).__name__} cannot say the observation of a state")
    return base._get_obs()


def serve(inp, out, env, np, description):
    obs_dim = description["observation_dim"]
    act_space = env.action_space
    act_dim = int(np.prod(act_space.shape))
    steps, seconds = 0, 0.0
    while True:
        try:
            op = inp.read(1)
        except OSError:
            return
        if op in (b"", b"Q"):
            return
        try:
            if op == b"R":
                seeded, seed = struct.unpack("<BQ", read_exact(inp, 9))
                obs, _ = env.reset(seed=int(seed) if seeded else None)
                send(out, b"O", observation(np, obs, obs_dim))
            elif op == b"S":
                raw = np.frombuffer(read_exact(inp, 8 * act_dim), dtype="<f8")
                action = raw.astype(act_space.dtype).reshape(act_space.shape)
                started = time.perf_counter()
                obs, reward, terminated, truncated, _ = env.step(action)
                seconds += time.perf_counter() - started
                steps += 1
                head = struct.pack("<dBB", float(reward), bool(terminated), bool(truncated))
                send(out, b"T", head + observation(np, obs, obs_dim))
            elif op == b"X":
                (n,) = struct.unpack("<I", read_exact(inp, 4))
                values = np.frombuffer(read_exact(inp, 8 * n), dtype="<f8")
                send(out, b"O", observation(np, set_state(np, env, values), obs_dim))
            elif op == b"P":
                send(out, b"P", struct.pack("<Qd", steps, seconds))
            else:
                raise Fail("protocol", f"unknown request {op!r}")
        except EOFError:
            return
        except Fail as e:
            send_text(out, b"E", f"{e.key}\t{e.message}")
        except BaseException as e:
            traceback.print_exc()
            send_text(out, b"E", f"step\t{one_line(e)}")


def main():
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    inp = os.fdopen(os.dup(0), "rb", buffering=0)
    out = os.fdopen(os.dup(1), "wb", buffering=0)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    spec = json.loads(sys.argv[1])
    try:
        env, np, description = make(spec)
    except Fail as e:
        send_text(out, b"E", f"{e.key}\t{e.message}")
        return
    send_text(out, b"D", json.dumps(description))
    serve(inp, out, env, np, description)
    env.close()


main()
