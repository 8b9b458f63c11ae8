//! Failures of the tool itself, mapped to documented exit codes (docs/exit-codes.md).

#[derive(Debug)]
pub enum CliError {
    /// Bad input: a missing tree or file, an unreadable config, an unknown name.
    Input(String),
    /// The cache could not be written.
    Cache(String),
    /// Nothing matched the query (a name the index does not know).
    NotFound(String),
    /// The patch is not a readable diff.
    BadPatch(String),
    /// A write would leave its folder or go through a symbolic link (verify refuses).
    Unsafe(String),
    /// The patch does not apply to the tree.
    NoApply(String),
    /// The plan was made and has error-level hazards.
    Hazards(usize),
    /// The kernel runtime refused a request (its reply).
    Refused(String),
    /// `verify`: kbuild failed (configuring or preparing the tree, or every object
    /// before the patch).
    Build(String),
    /// `update`: the walker refused the patch (every refusal, one per line, with its code).
    Walker(String),
    /// `verify`: the plan and the compiled code disagree.
    Disagree { misses: usize, over: usize },
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Input(_) => 3,
            CliError::NotFound(_) => 4,
            CliError::Cache(_) => 5,
            CliError::BadPatch(_) | CliError::Unsafe(_) => 6,
            CliError::NoApply(_) => 7,
            CliError::Hazards(_) => 1,
            CliError::Refused(_) => 8,
            CliError::Build(_) => 9,
            CliError::Walker(_) => 13,
            CliError::Disagree { misses, over } => match (*misses > 0, *over > 0) {
                (true, false) => 10,
                (false, true) => 11,
                _ => 12,
            },
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Input(m) => write!(f, "bad input: {m}"),
            CliError::Cache(m) => write!(f, "cache: {m}"),
            CliError::NotFound(m) => write!(f, "not found: {m}"),
            CliError::BadPatch(m) => write!(f, "malformed patch: {m}"),
            CliError::Unsafe(m) => write!(f, "unsafe write refused: {m}"),
            CliError::NoApply(m) => write!(f, "the patch does not apply: {m}"),
            CliError::Refused(r) if r.starts_with("refused") => write!(f, "runtime {r}"),
            CliError::Refused(r) => write!(f, "runtime refused: {r}"),
            CliError::Hazards(n) => write!(f, "the plan has {n} error-level hazard(s): see above"),
            CliError::Build(m) => write!(f, "kbuild: {m}"),
            CliError::Walker(m) => write!(f, "the walker refuses this update:\n{m}"),
            CliError::Disagree { misses, over } => {
                write!(f, "the plan and the code disagree: {misses} miss(es), {over} over-approximation(s)")
            }
        }
    }
}
