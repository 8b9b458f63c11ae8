; Names used as values rather than called: candidates for address-taken functions.
(pointer_expression operator: "&" argument: (identifier) @value.reference)
(argument_list (identifier) @value.reference)
(assignment_expression right: (identifier) @value.reference)
(init_declarator value: (identifier) @value.reference)
(initializer_list (identifier) @value.reference)
(return_statement (identifier) @value.reference)
(conditional_expression (identifier) @value.reference)
