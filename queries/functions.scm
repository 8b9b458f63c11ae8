; Function definitions (ANSI and K&R). Syscall macros and storage/attributes are read by
; the extractor from the declarator and the original bytes.
(function_definition) @function.definition
