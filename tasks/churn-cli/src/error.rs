//! The command's one error type, in a module of its own so every command module can use it
//! without depending on `commands`; and the exit codes (README "Exit codes", docs/SPEC.md §10).

/// The exit codes of `churn`, the same for every command.
pub mod exit {
    /// Done; `churn check`: nothing to fix.
    pub const OK: u8 = 0;
    /// The command ran to the end but part of it failed: the Monday run with an owner `failed`
    /// (rerun it for that owner); `churn check`: warnings only — rows that would be skipped,
    /// names that look misspelled — and the run would proceed.
    pub const INCOMPLETE: u8 = 1;
    /// The command line is wrong: an unknown option, a missing or unreadable argument (clap's
    /// own code, also used for argument values refused after parsing).
    pub const USAGE: u8 = 2;
    /// Bad input stopped the command before anything was written or sent: a rules doc with
    /// mistakes, a customer list that cannot be used, a bad config.toml; `churn check`: errors
    /// that would stop the run.
    pub const BAD_INPUT: u8 = 3;
    /// Anything else went wrong: a file that could not be read or written, the state store, the
    /// network, an outcome refused.
    pub const FAILED: u8 = 4;
    /// The reader of the output went away (`churn … | head`), as a process ended by SIGPIPE.
    pub const CLOSED_PIPE: u8 = 141;
}

/// What kind of failure a [`CliError`] is: it decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// [`exit::USAGE`].
    Usage,
    /// [`exit::BAD_INPUT`].
    BadInput,
    /// [`exit::FAILED`].
    Failed,
}

/// A failure, printed as one line after `churn: `.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub kind: ErrorKind,
}

/// A failure of kind [`ErrorKind::Failed`], the usual one (`CliError(message)`, as the type was
/// once a bare message).
#[allow(non_snake_case)]
pub fn CliError(message: String) -> CliError {
    CliError {
        message,
        kind: ErrorKind::Failed,
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl CliError {
    /// The reader of our output went away (`churn … | head`): not worth a message.
    pub const CLOSED_PIPE: &str = "the output's reader has gone";

    /// An argument value refused after parsing: exit code [`exit::USAGE`].
    pub fn usage(message: impl Into<String>) -> CliError {
        CliError {
            message: message.into(),
            kind: ErrorKind::Usage,
        }
    }

    /// Bad input that stops the command: exit code [`exit::BAD_INPUT`].
    pub fn bad_input(message: impl std::fmt::Display) -> CliError {
        CliError {
            message: message.to_string(),
            kind: ErrorKind::BadInput,
        }
    }

    /// The exit code for this failure.
    pub fn exit_code(&self) -> u8 {
        if self.is_closed_pipe() {
            return exit::CLOSED_PIPE;
        }
        match self.kind {
            ErrorKind::Usage => exit::USAGE,
            ErrorKind::BadInput => exit::BAD_INPUT,
            ErrorKind::Failed => exit::FAILED,
        }
    }

    /// A failed write of the command's output.
    pub fn output(e: std::io::Error) -> CliError {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            CliError(Self::CLOSED_PIPE.into())
        } else {
            CliError(format!("could not write the output: {e}"))
        }
    }

    /// Whether this is [`CliError::output`] of a closed pipe.
    pub fn is_closed_pipe(&self) -> bool {
        self.message == Self::CLOSED_PIPE
    }
}

impl<E: std::error::Error> From<E> for CliError {
    fn from(e: E) -> Self {
        CliError(e.to_string())
    }
}
