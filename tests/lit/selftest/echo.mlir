// The simplest lit test: a command's output checked by FileCheck against this file.
// RUN: echo "hello,   lit" | FileCheck %s
// RUN: printf 'one\ntwo\n\nthree\n' | FileCheck %s --check-prefix=LINES

// CHECK: hello, lit

// LINES:      one
// LINES-NEXT: two
// LINES-EMPTY:
// LINES-NEXT: three
