//! Child processes that end with the stack: each is started in a process group of its own
//! (so `cargo lambda watch` and the functions it runs stop together) and stopped with SIGTERM,
//! then SIGKILL, when the stack stops or the handle is dropped.

use std::fs::File;
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

/// Where a child's output goes.
#[derive(Debug, Clone)]
pub enum Output {
    /// The stack's own terminal (`make dev`: the functions' logs are the point).
    Inherit,
    /// A log file (`make demo`, tests).
    File(std::path::PathBuf),
}

/// A running child and its process group.
#[derive(Debug)]
pub struct ChildGroup {
    name: &'static str,
    child: Child,
    stopped: bool,
}

impl ChildGroup {
    /// Starts `command` as the leader of a new process group.
    ///
    /// # Errors
    /// When the program cannot be started or the log file created.
    pub fn spawn(name: &'static str, mut command: Command, output: &Output) -> anyhow::Result<ChildGroup> {
        command.stdin(Stdio::null()).process_group(0);
        if let Output::File(path) = output {
            let log = File::create(path).with_context(|| format!("creating {}", path.display()))?;
            command.stdout(log.try_clone()?).stderr(log);
        }
        let child =
            command.spawn().with_context(|| format!("starting {name} ({})", command.get_program().display()))?;
        Ok(ChildGroup { name, child, stopped: false })
    }

    /// The child's name in messages.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// `Some(status)` once the child has exited by itself.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGTERM to the whole group; SIGKILL after `grace` if anything is left.
    pub fn stop(&mut self, grace: Duration) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        signal_group(self.child.id(), "TERM");
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.exited().is_some() {
                // The leader is gone; make sure nothing it started lingers.
                signal_group(self.child.id(), "KILL");
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        signal_group(self.child.id(), "KILL");
        let _ = self.child.wait();
    }
}

impl Drop for ChildGroup {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(3));
    }
}

/// `kill -<signal> -- -<pgid>` (without a libc binding: `unsafe` is forbidden here).
fn signal_group(pgid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}
