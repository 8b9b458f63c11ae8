; Syntax errors: reported as DW0001, never fatal.
(ERROR) @error.node
