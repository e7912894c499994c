// %s is this file, %S its directory; a RUN line ending in a backslash continues on the next
// RUN line; Inputs/ holds helper files that are not tests. (Do not rely on the working
// directory: it is %S here but the output directory under LLVM's lit.)
// RUN: echo %s | FileCheck %s --check-prefix=FILE
// RUN: echo %S | FileCheck %s --check-prefix=DIR
// RUN: echo one two \
// RUN:   three | FileCheck %s --check-prefix=CONT
// RUN: FileCheck %s --check-prefix=INPUT --input-file %S/Inputs/greeting.txt

// FILE:  {{^/.*}}/lit/selftest/substitutions.mlir{{$}}
// DIR:   {{^/.*}}/lit/selftest{{$}}
// CONT:  one two three
// INPUT: greetings from Inputs
