//! [`ErrorChain`]: an error displayed with its whole source chain on one line (`X: Y: Z`), so a fatal error
//! names its cause (a BPF load failure shows the libbpf or verifier message beneath it).

use std::error::Error;
use std::fmt;

/// Displays an error followed by each of its sources, separated by `: `.
///
/// A source whose text the level above already ends with is not repeated, so errors that also print their source
/// in their own message (`"reading x failed: {source}"`) show it once.
pub struct ErrorChain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut above = self.0.to_string();
        f.write_str(&above)?;
        let mut source = self.0.source();
        while let Some(err) = source {
            let text = err.to_string();
            if !above.ends_with(&text) {
                write!(f, ": {text}")?;
            }
            above = text;
            source = err.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("the verifier rejected the program")]
    struct Verifier;

    #[derive(Debug, thiserror::Error)]
    #[error("loading the BPF program failed")]
    struct Load(#[source] Verifier);

    #[derive(Debug, thiserror::Error)]
    #[error("cannot attach scx_x")]
    struct Attach(#[source] Load);

    #[test]
    fn prints_three_levels_in_order() {
        let err = Attach(Load(Verifier));
        assert_eq!(
            ErrorChain(&err).to_string(),
            "cannot attach scx_x: loading the BPF program failed: the verifier rejected the program"
        );
    }

    #[derive(Debug, thiserror::Error)]
    #[error("reading the ring failed: {0}")]
    struct Repeats(#[source] Load);

    #[test]
    fn a_source_already_in_the_message_is_not_repeated() {
        let err = Repeats(Load(Verifier));
        assert_eq!(
            ErrorChain(&err).to_string(),
            "reading the ring failed: loading the BPF program failed: the verifier rejected the program"
        );
    }

    #[test]
    fn an_error_without_source_is_its_message() {
        assert_eq!(
            ErrorChain(&Verifier).to_string(),
            "the verifier rejected the program"
        );
    }
}
