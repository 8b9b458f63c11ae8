; Declarations give the types of locals, parameters and globals (for field-access bases),
; globals and static locals; sizeof uses matter for layout changes.
(declaration) @declaration.variable
(parameter_declaration) @declaration.parameter
(sizeof_expression) @declaration.sizeof
