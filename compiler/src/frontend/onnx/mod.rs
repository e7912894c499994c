//! The ONNX textual syntax: lexer, grammar and syntax tree.
