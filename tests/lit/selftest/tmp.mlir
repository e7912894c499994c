// %t is a path unique to this test (its directory is removed afterwards); %% is a percent sign.
// RUN: echo "written to %%t" > %t
// RUN: FileCheck %s --input-file %t
// RUN: rm -rf %t.dir && mkdir %t.dir && cp %s %t.dir/copy.mlir
// RUN: ls %t.dir | FileCheck %s --check-prefix=LS

// CHECK: written to %t
// LS: copy.mlir
