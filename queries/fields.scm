; Field accesses `a->f` and `a.f`; read/write/address-of comes from the parent.
(field_expression) @access.expression
