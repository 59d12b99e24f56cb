//! The command's one error type, in a module of its own so every command module can use it
//! without depending on `commands`.

/// A failure, printed as one line after `churn: `.
#[derive(Debug)]
pub struct CliError(pub String);

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl CliError {
    /// The reader of our output went away (`churn … | head`): not worth a message.
    pub const CLOSED_PIPE: &str = "the output's reader has gone";

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
        self.0 == Self::CLOSED_PIPE
    }
}

impl<E: std::error::Error> From<E> for CliError {
    fn from(e: E) -> Self {
        CliError(e.to_string())
    }
}
