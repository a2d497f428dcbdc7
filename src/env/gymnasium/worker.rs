//! The worker process: `worker.py`, shipped in the binary, run by the configured interpreter as a
//! child with three pipes. Requests and replies are the compact binary frames `worker.py`
//! documents; its stderr is drained on a thread of its own into a bounded tail, shown when it
//! fails. Every reply is awaited with a timeout, so a hung environment stops the run instead of
//! hanging it.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::Reported;

/// The worker program.
const PROGRAM: &str = include_str!("worker.py");

/// How long a wait for the worker's answer spins before it sleeps.
const SPIN: Duration = Duration::from_millis(2);

/// How much of the worker's stderr is kept.
const TAIL_BYTES: usize = 16 * 1024;

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The worker answered with an error: the env key it concerns (`id`, `kwargs`, `import`,
    /// `python`, `state`, `step`) and its message.
    Refused { key: String, message: String },
    /// The worker died, hung or broke the protocol: what happened, with its stderr's tail.
    Lost(String),
}

/// One running worker: an environment in a child process.
pub struct Worker {
    child: Child,
    input: ChildStdin,
    output: ChildStdout,
    stderr: Arc<Mutex<VecDeque<u8>>>,
    drain: Option<JoinHandle<()>>,
    timeout: Duration,
    obs_dim: usize,
    act_dim: usize,
    frame: Vec<u8>,
}

impl Worker {
    /// Starts `python` on the worker program for `spec` (the JSON `worker.py` reads) and waits
    /// for the environment's description.
    pub fn start(
        python: &str,
        spec: &str,
        timeout: Duration,
    ) -> Result<(Worker, Reported), Failure> {
        let mut command = Command::new(python);
        command
            .arg("-c")
            .arg(PROGRAM)
            .arg(spec)
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: a Ctrl-C at the terminal is the binary's to handle.
            .process_group(0);
        let mut child = command.spawn().map_err(|e| Failure::Refused {
            key: "python".into(),
            message: match e.kind() {
                std::io::ErrorKind::NotFound => format!(
                    "no interpreter \"{python}\" (set env.python or MAXENT_PYTHON to a Python with gymnasium)"
                ),
                _ => format!("cannot start \"{python}\": {e}"),
            },
        })?;
        let input = child.stdin.take().expect("piped");
        let output = child.stdout.take().expect("piped");
        set_nonblocking(&output);
        let mut err = child.stderr.take().expect("piped");
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        let sink = Arc::clone(&stderr);
        let drain = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut tail = sink.lock().unwrap_or_else(|p| p.into_inner());
                tail.extend(&buf[..n]);
                let excess = tail.len().saturating_sub(TAIL_BYTES);
                tail.drain(..excess);
            }
        });
        let mut worker = Worker {
            child,
            input,
            output,
            stderr,
            drain: Some(drain),
            timeout,
            obs_dim: 0,
            act_dim: 0,
            frame: Vec::new(),
        };
        let text = match worker.tag()? {
            b'D' => worker.text()?,
            b'E' => return Err(worker.refusal()?),
            other => {
                return Err(worker.lost(&format!("sent {other:#04x} instead of its description")));
            }
        };
        let reported: Reported = serde_json::from_str(&text)
            .map_err(|e| worker.lost(&format!("sent a description that does not read ({e})")))?;
        worker.obs_dim = reported.observation_dim;
        worker.act_dim = reported.action_low.len();
        Ok((worker, reported))
    }

    /// Resets the environment (with `seed`, or unseeded) into `obs`.
    pub fn reset(&mut self, seed: Option<u64>, obs: &mut [f64]) -> Result<(), Failure> {
        let mut request = vec![b'R', u8::from(seed.is_some())];
        request.extend(seed.unwrap_or(0).to_le_bytes());
        self.send(&request)?;
        self.expect_observation(obs)
    }

    /// Sends a step request: the env steps while the caller goes on, until
    /// [`Worker::receive_step`].
    pub fn send_step(&mut self, action: &[f64]) -> Result<(), Failure> {
        debug_assert_eq!(action.len(), self.act_dim);
        self.frame.clear();
        self.frame.push(b'S');
        self.frame
            .extend(action.iter().flat_map(|a| a.to_le_bytes()));
        let request = std::mem::take(&mut self.frame);
        let sent = self.send(&request);
        self.frame = request;
        sent
    }

    /// The answer to the step request sent last, its observation into `obs`.
    pub fn receive_step(&mut self, obs: &mut [f64]) -> Result<(f64, bool, bool), Failure> {
        match self.tag()? {
            b'T' => {
                let mut head = [0u8; 10];
                self.read(&mut head)?;
                let reward = f64::from_le_bytes(head[..8].try_into().expect("8 bytes"));
                self.read_values(obs)?;
                Ok((reward, head[8] != 0, head[9] != 0))
            }
            b'E' => Err(self.refusal()?),
            other => Err(self.lost(&format!("answered a step with {other:#04x}"))),
        }
    }

    /// Sets the environment's state (a classic-control `state`, or MuJoCo's qpos and qvel) and
    /// writes its observation.
    pub fn set_state(&mut self, state: &[f64], obs: &mut [f64]) -> Result<(), Failure> {
        let mut request = vec![b'X'];
        request.extend((state.len() as u32).to_le_bytes());
        request.extend(state.iter().flat_map(|x| x.to_le_bytes()));
        self.send(&request)?;
        self.expect_observation(obs)
    }

    /// The steps taken and the seconds spent inside the environment's `step` in Python.
    pub fn step_time(&mut self) -> Result<(u64, f64), Failure> {
        self.send(b"P")?;
        match self.tag()? {
            b'P' => {
                let mut body = [0u8; 16];
                self.read(&mut body)?;
                let steps = u64::from_le_bytes(body[..8].try_into().expect("8 bytes"));
                Ok((
                    steps,
                    f64::from_le_bytes(body[8..].try_into().expect("8 bytes")),
                ))
            }
            other => Err(self.lost(&format!("answered a timing request with {other:#04x}"))),
        }
    }

    fn expect_observation(&mut self, obs: &mut [f64]) -> Result<(), Failure> {
        match self.tag()? {
            b'O' => self.read_values(obs),
            b'E' => Err(self.refusal()?),
            other => Err(self.lost(&format!(
                "answered with {other:#04x} instead of an observation"
            ))),
        }
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        self.input
            .write_all(bytes)
            .and_then(|()| self.input.flush())
            .map_err(|e| self.lost(&format!("stopped reading its requests ({e})")))
    }

    fn tag(&mut self) -> Result<u8, Failure> {
        let mut tag = [0u8];
        self.read(&mut tag)?;
        Ok(tag[0])
    }

    fn text(&mut self) -> Result<String, Failure> {
        let mut len = [0u8; 4];
        self.read(&mut len)?;
        let mut body = vec![0u8; u32::from_le_bytes(len) as usize];
        self.read(&mut body)?;
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    fn refusal(&mut self) -> Result<Failure, Failure> {
        let text = self.text()?;
        let (key, message) = text.split_once('\t').unwrap_or(("step", &text));
        Ok(Failure::Refused {
            key: key.to_string(),
            message: message.to_string(),
        })
    }

    fn read_values(&mut self, out: &mut [f64]) -> Result<(), Failure> {
        let mut bytes = std::mem::take(&mut self.frame);
        bytes.resize(8 * self.obs_dim, 0);
        let got = self.read(&mut bytes);
        for (o, b) in out.iter_mut().zip(bytes.chunks_exact(8)) {
            *o = f64::from_le_bytes(b.try_into().expect("8 bytes"));
        }
        self.frame = bytes;
        got
    }

    /// Fills `buf` from the worker's output, waiting at most the timeout for it all. It first
    /// spins on the (non-blocking) pipe for up to [`SPIN`] before it sleeps in `poll`: on this
    /// two-core VM a round trip through two sleeping processes took 85 µs, with this side
    /// spinning 19 µs (a Python ping-pong over pipes), and an env step is tens of µs.
    fn read(&mut self, buf: &mut [u8]) -> Result<(), Failure> {
        let started = Instant::now();
        let mut got = 0;
        while got < buf.len() {
            match self.output.read(&mut buf[got..]) {
                Ok(0) => return Err(self.lost("exited")),
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    let waited = started.elapsed();
                    if waited < SPIN {
                        std::hint::spin_loop();
                        continue;
                    }
                    if waited >= self.timeout {
                        let secs = self.timeout.as_secs_f64();
                        return Err(self.lost(&format!(
                            "did not answer within {} s (env.timeout)",
                            crate::check::number(secs)
                        )));
                    }
                    let left = self.timeout - waited;
                    let mut poll = libc::pollfd {
                        fd: self.output.as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    };
                    let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
                    // SAFETY: one valid pollfd for the duration of the call.
                    if unsafe { libc::poll(&mut poll, 1, ms) } < 0
                        && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted
                    {
                        return Err(self.lost("could not be waited on"));
                    }
                }
                Err(e) => return Err(self.lost(&format!("could not be read ({e})"))),
            }
        }
        Ok(())
    }

    /// Ends the worker (if it still runs) and says what became of it, with its stderr's tail.
    fn lost(&mut self, what: &str) -> Failure {
        let status = self.child.try_wait().ok().flatten().or_else(|| {
            std::thread::sleep(Duration::from_millis(200));
            self.child.try_wait().ok().flatten()
        });
        if status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if let Some(drain) = self.drain.take() {
            let _ = drain.join();
        }
        let how = match status {
            Some(s) => format!(" ({s})"),
            None => " (maxent stopped it)".to_string(),
        };
        let tail = self.stderr_tail(12);
        let tail = if tail.is_empty() {
            " (its stderr is empty)".to_string()
        } else {
            format!("; its stderr ends:\n{tail}")
        };
        Failure::Lost(format!("the worker {what}{how}{tail}"))
    }

    /// The last `lines` lines of the worker's stderr, indented.
    pub fn stderr_tail(&self, lines: usize) -> String {
        let tail = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
        let bytes: Vec<u8> = tail.iter().copied().collect();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        all[all.len().saturating_sub(lines)..]
            .iter()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Makes reads of `pipe` return `WouldBlock` instead of sleeping.
fn set_nonblocking(pipe: &ChildStdout) {
    let fd = pipe.as_raw_fd();
    // SAFETY: fcntl on a file descriptor this process owns.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
}

impl Drop for Worker {
    /// Closes the worker's input (it exits on end of input) and reaps it, killing it if it has
    /// not gone within a second.
    fn drop(&mut self) {
        let _ = self.input.write_all(b"Q");
        let _ = self.input.flush();
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }
}
