; Designated initializers of ops tables: `.open = foo_open`, `.open = &foo_open`,
; and the GNU/2.4 form `open: foo_open`.
(initializer_pair
  designator: (field_designator (field_identifier) @init.field)
  value: (identifier) @init.value) @init.pair
(initializer_pair
  designator: (field_designator (field_identifier) @init.field)
  value: (pointer_expression argument: (identifier) @init.value)) @init.pair
(initializer_pair
  designator: (field_identifier) @init.field
  value: (identifier) @init.value) @init.pair
