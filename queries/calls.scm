; Every call expression; the extractor classifies the callee (direct, member, pointer).
(call_expression function: (_) @call.callee) @call.expression

; Iterator macros followed by a statement were rewritten to `if` (see rewrite.rs);
; the extractor keeps the ones whose original bytes are not `if`.
(if_statement) @call.if_statement
