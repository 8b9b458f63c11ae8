//! The dynwalk walker.
