//! Secrets as people paste them (a Secrets Manager value, an environment variable): surrounding
//! whitespace and a trailing newline are not part of the secret, and a blank one is refused at
//! start — every signer and checker of a secret reads it through [`secret_text`], so the key that
//! signs an email link is byte for byte the key that checks it.

/// A secret that is empty or only whitespace.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the secret {name} is empty (or only whitespace): set it before starting")]
pub struct BlankSecret {
    /// Where the secret comes from (a secret name or an environment variable), never its value.
    pub name: String,
}

/// `raw` without surrounding whitespace; [`BlankSecret`] when nothing is left.
pub fn secret_text<'a>(name: &str, raw: &'a str) -> Result<&'a str, BlankSecret> {
    let text = raw.trim();
    if text.is_empty() {
        Err(BlankSecret { name: name.into() })
    } else {
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_refuses_blank() {
        assert_eq!(secret_text("k", " s3cret\n").unwrap(), "s3cret");
        assert_eq!(
            secret_text("cp/email/link-key", " \n\t")
                .unwrap_err()
                .to_string(),
            "the secret cp/email/link-key is empty (or only whitespace): set it before starting"
        );
        assert!(secret_text("k", "").is_err());
    }
}
