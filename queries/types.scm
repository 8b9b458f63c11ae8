; Aggregate and enum definitions (with a body), and typedefs.
(struct_specifier body: (field_declaration_list)) @type.struct
(union_specifier body: (field_declaration_list)) @type.union
(enum_specifier body: (enumerator_list)) @type.enum
(type_definition) @type.typedef
