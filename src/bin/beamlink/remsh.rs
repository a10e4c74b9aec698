//! `beamlink remsh NODE`: an interactive Erlang shell on an erl node in
//! this terminal, over TCP or TLS — the remote console of `erl -remsh`,
//! which release scripts lose once distribution runs over TLS.
//!
//! The shell runs on the erl node (`shell:start/0`, called with a group
//! leader here); its reads and writes come to [`crate::group_leader`],
//! which reads the terminal through rustyline (line editing, history).
//! Ctrl-C at the prompt drops the line; during an evaluation it
//! interrupts that evaluation (as Ctrl-G `i` does), never the node.
//! Ctrl-D leaves: only the shell process is stopped, and the node's
//! other processes run on.

use std::io::Write;
use std::sync::mpsc;
use std::time::Duration;

use beamlink::node::Node;
use beamlink::proto::NodeName;
use beamlink::term::Term;
use tokio::sync::oneshot;

use crate::group_leader::{self, Device, Input};
use crate::outcome::{Failure, Printed};

/// A read the terminal thread is asked for.
struct Read {
    prompt: String,
    answer: oneshot::Sender<Input>,
}

/// The terminal: a thread that owns the line editor, and stdout.
struct Terminal {
    reads: mpsc::Sender<Read>,
    /// Told once when the user leaves (Ctrl-D at a prompt).
    left: Option<oneshot::Sender<()>>,
}

impl Terminal {
    fn start(left: oneshot::Sender<()>) -> Result<Terminal, Failure> {
        let mut editor = rustyline::DefaultEditor::new().map_err(|e| Failure::usage(format!("no terminal: {e}")))?;
        let (reads, requests) = mpsc::channel::<Read>();
        std::thread::spawn(move || {
            for Read { prompt, answer } in requests {
                let input = match editor.readline(&prompt) {
                    Ok(line) => {
                        if !line.trim().is_empty() {
                            let _ = editor.add_history_entry(line.as_str());
                        }
                        Input::Line(line)
                    }
                    Err(rustyline::error::ReadlineError::Interrupted) => Input::Interrupted,
                    Err(_) => Input::Eof,
                };
                let _ = answer.send(input);
            }
        });
        Ok(Terminal { reads, left: Some(left) })
    }
}

impl Device for Terminal {
    fn write(&mut self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(text.as_bytes());
        let _ = stdout.flush();
    }

    async fn read_line(&mut self, prompt: &str) -> Input {
        let (answer, read) = oneshot::channel();
        if self.reads.send(Read { prompt: prompt.to_string(), answer }).is_err() {
            return self.leave().await;
        }
        match read.await {
            Ok(Input::Eof) | Err(_) => self.leave().await,
            Ok(input) => input,
        }
    }

    fn geometry(&self, rows: bool) -> Option<u16> {
        let mut size = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: TIOCGWINSZ fills the winsize it is given.
        let got = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) };
        let n = if rows { size.ws_row } else { size.ws_col };
        (got == 0 && n > 0).then_some(n)
    }
}

impl Terminal {
    /// The user left: say so, and never answer this read. The shell must
    /// not see end of input, which makes OTP's shell halt its node.
    async fn leave(&mut self) -> Input {
        if let Some(left) = self.left.take() {
            let _ = left.send(());
        }
        std::future::pending().await
    }
}

/// Runs the shell on `target` until the user leaves or the shell stops.
pub async fn run(node: &Node, target: &NodeName, timeout: Duration) -> Result<Printed, Failure> {
    let (left, leaving) = oneshot::channel();
    let leader = group_leader::spawn(node, target.as_str(), timeout, Terminal::start(left)?);
    let shell = node
        .rpc_call_with_group_leader(target.as_str(), ("shell", "start", vec![]), &leader, timeout)
        .await
        .map_err(Failure::call)?;
    let Term::Pid(shell) = shell else { return Err(group_leader::unexpected("shell:start/0", &shell)) };
    let mut watcher = node.process();
    let down = watcher.monitor(&shell);
    let mut leaving = std::pin::pin!(leaving);
    let ended = loop {
        tokio::select! {
            _ = &mut leaving => {
                // Only the shell goes; the node and its other processes stay.
                watcher.exit(&shell, Term::atom("kill"));
                break None;
            }
            interrupted = tokio::signal::ctrl_c() => {
                if interrupted.is_ok() {
                    // As Ctrl-G `i`: the shell kills its evaluator and prompts again.
                    watcher.exit(&shell, Term::atom("interrupt"));
                }
            }
            message = watcher.recv() => match message {
                Ok(message) if is_down(&message, &down) => break Some(message),
                Ok(_) => {}
                Err(_) => break None,
            },
        }
    };
    let _ = node.process().send(&leader, Term::atom("stop")).await;
    match ended {
        Some(down) => Ok(Printed::value(format!("the shell on {target} ended: {}", down_reason(&down)))),
        None => Ok(Printed::default()),
    }
}

fn is_down(message: &Term, reference: &beamlink::term::Reference) -> bool {
    matches!(message.as_tuple(), Some([tag, Term::Ref(r), ..]) if tag.is_atom("DOWN") && **r == *reference)
}

fn down_reason(message: &Term) -> String {
    match message.as_tuple() {
        Some([_, _, _, _, reason]) => reason.bounded(200).to_string(),
        _ => message.to_string(),
    }
}
