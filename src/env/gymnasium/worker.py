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


def read_frame(fd, buf, n):
    """`buf` (what one read gave) completed to at least `n` bytes."""
    while len(buf) < n:
        more = os.read(fd, 65536)
        if not more:
            raise EOFError
        buf += more
    return buf


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def one_line(error):
    text = f"{type(error).__name__}: {error}".strip()
    return " ".join(text.split())


class Fail(Exception):
    def __init__(self, key, message):
        super().__init__(message)
        self.key = key
        self.message = message


def send_text(fd, tag, text):
    data = text.encode("utf-8", "replace")
    write_all(fd, tag + struct.pack("<I", len(data)) + data)


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
    flat = np.asarray(obs, dtype="<f8")
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
    if hasattr(base, "_get_obs"):
        return base._get_obs()
    space = env.observation_space
    if hasattr(base, "state") and np.shape(base.state) == space.shape:
        # Classic-control envs that observe their state (MountainCarContinuous) return it so.
        return np.array(base.state, dtype=space.dtype)
    raise Fail("state", f"{type(base).__name__} cannot say the observation of a state")


def serve(fd_in, fd_out, env, np, description):
    """Answers requests until the input ends. A request arrives whole in one read (the binary
    writes each in one call, the size of a pipe's atomic write for any action of up to 500
    components), and is completed by further reads if not."""
    obs_dim = description["observation_dim"]
    act_space = env.action_space
    act_dtype, act_shape = act_space.dtype, act_space.shape
    act_dim = int(np.prod(act_shape))
    step_frame = 1 + 8 * act_dim
    head = struct.Struct("<cdBB")
    steps, seconds = 0, 0.0
    while True:
        try:
            buf = os.read(fd_in, 65536)
        except OSError:
            return
        if not buf or buf[:1] == b"Q":
            return
        op = buf[:1]
        try:
            if op == b"S":
                buf = read_frame(fd_in, buf, step_frame)
                raw = np.frombuffer(buf, dtype="<f8", count=act_dim, offset=1)
                action = raw.astype(act_dtype).reshape(act_shape)
                started = time.perf_counter()
                obs, reward, terminated, truncated, _ = env.step(action)
                seconds += time.perf_counter() - started
                steps += 1
                reply = head.pack(b"T", float(reward), bool(terminated), bool(truncated))
                write_all(fd_out, reply + observation(np, obs, obs_dim))
            elif op == b"R":
                buf = read_frame(fd_in, buf, 10)
                seeded, seed = struct.unpack_from("<BQ", buf, 1)
                obs, _ = env.reset(seed=int(seed) if seeded else None)
                write_all(fd_out, b"O" + observation(np, obs, obs_dim))
            elif op == b"X":
                buf = read_frame(fd_in, buf, 5)
                (n,) = struct.unpack_from("<I", buf, 1)
                buf = read_frame(fd_in, buf, 5 + 8 * n)
                values = np.frombuffer(buf, dtype="<f8", count=n, offset=5)
                write_all(fd_out, b"O" + observation(np, set_state(np, env, values), obs_dim))
            elif op == b"P":
                write_all(fd_out, b"P" + struct.pack("<Qd", steps, seconds))
            else:
                raise Fail("protocol", f"unknown request {op!r}")
        except EOFError:
            return
        except Fail as e:
            send_text(fd_out, b"E", f"{e.key}\t{e.message}")
        except BaseException as e:
            traceback.print_exc()
            send_text(fd_out, b"E", f"step\t{one_line(e)}")


def main():
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    fd_in, fd_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    spec = json.loads(sys.argv[1])
    try:
        env, np, description = make(spec)
    except Fail as e:
        send_text(fd_out, b"E", f"{e.key}\t{e.message}")
        return
    send_text(fd_out, b"D", json.dumps(description))
    serve(fd_in, fd_out, env, np, description)
    env.close()


main()
