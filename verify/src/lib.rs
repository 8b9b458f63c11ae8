//! `dynwalk verify`'s binary layer: prepare a kernel tree with kbuild, compile the objects
//! a patch can affect before and after, compare them function by function, and hold a
//! plan against the result. `object` and `iced-x86` types stay inside this crate; the
//! plan comes in as plain data ([`compare::PlanItems`]), so this crate does not know the
//! analyzer.

pub mod objdiff;

/// Failures of the verifier itself (not findings): the CLI maps them to exit codes.
#[derive(Debug)]
pub enum VerifyError {
    /// An object file could not be read.
    Object(String),
    /// A file or folder could not be read or written.
    Io(String),
    /// kbuild failed where it must not (configuring or preparing the tree, or building
    /// the unpatched object).
    Build(String),
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VerifyError::Object(m) => write!(f, "object file: {m}"),
            VerifyError::Io(m) => write!(f, "{m}"),
            VerifyError::Build(m) => write!(f, "kbuild: {m}"),
        }
    }
}

impl std::error::Error for VerifyError {}
