//! Configuration errors: what is wrong, in which file, at which line and key.

use std::fmt;
use std::path::{Path, PathBuf};

use super::file::FileConfig;

/// A configuration error, naming where in which file it is.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    /// The file that was read (or `<flags>` for command-line values).
    pub file: PathBuf,
    /// 1-based line and column, when the error has a position.
    pub position: Option<(usize, usize)>,
    /// The dotted key the error is about (`dns.ttl`, `static[1].name`), if any.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Runs serde over the text, turning its errors into [`ConfigError`]s with key path and position.
pub(super) fn parse_file(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
    let to_err = |key: String, e: &toml::de::Error| ConfigError {
        file: path.to_path_buf(),
        position: e.span().map(|s| line_col(text, s.start)),
        key,
        message: e.message().trim().to_string(),
    };
    let de = toml::Deserializer::parse(text).map_err(|e| to_err(String::new(), &e))?;
    serde_path_to_error::deserialize(de).map_err(|e| to_err(key_path(e.path()), e.inner()))
}

/// The dotted key of a serde path (`static[1].name`), leaving out serde_spanned's internals.
fn key_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut key = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => key.push_str(&format!("[{index}]")),
            Segment::Map { key: k } | Segment::Enum { variant: k } if !k.starts_with("$__") => {
                if !key.is_empty() {
                    key.push('.');
                }
                key.push_str(k);
            }
            _ => {}
        }
    }
    key
}

/// 1-based line and column of a byte offset.
pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}
