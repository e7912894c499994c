// `not` inverts a command's exit status; FileCheck's own diagnostics can be checked.
// RUN: not false
// RUN: not sh -c 'exit 3'
// RUN: echo hello | not FileCheck %s --check-prefix=BAD
// RUN: echo hello | not FileCheck %s --check-prefix=BAD 2>&1 | FileCheck %s --check-prefix=DIAG
// RUN: not not true

// BAD: goodbye

// DIAG:      {{.*}}not.mlir:[[#@LINE-2]]:9: error: {{B}}AD: expected string not found in input
// DIAG-NEXT: // {{B}}AD: goodbye
// DIAG-NEXT: {{^ +\^$}}
// DIAG-NEXT: <stdin>:1:1: note: scanning from here
// DIAG-NEXT: hello
// DIAG:      Input was:
// DIAG-NEXT: <<<<<<
// DIAG-NEXT: 1: hello
