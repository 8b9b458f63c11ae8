//! The dynwalk analyzer.
