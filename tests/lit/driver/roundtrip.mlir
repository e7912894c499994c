// The driver reads the IR text it prints: print -> parse -> print is the identity, and a
// malformed module is rejected with a located diagnostic.
//
// RUN: %phic %s --emit=snn | FileCheck %s
// RUN: %phic %s --emit=snn | %phic - --emit=snn | FileCheck %s
// RUN: %phic %s --emit=snn --quantized | FileCheck %s --check-prefix=INT
// RUN: sed 's/"snn.lif"(%1)/"snn.lif"(%7)/' %s > %t.mlir
// RUN: not %phic %t.mlir --emit=snn 2>&1 | FileCheck %s --check-prefix=ERR

"builtin.module"() ({
  %0 = "snn.input"() {index = 0 : i64, name = "x"} : () -> tensor<2x3xi1>
  %1 = "snn.linear"(%0) {bias = dense_resource<b> : tensor<2xf32>, weight = dense_resource<w> : tensor<3x2xf32>} : (tensor<2x3xi1>) -> tensor<2x2xf32>
  %2 = "snn.lif"(%1) {beta = 0.9 : f32, reset = "subtract", threshold = 1.0 : f32} : (tensor<2x2xf32>) -> tensor<2x2xi1>
  "snn.output"(%2) {index = 0 : i64, name = "y"} : (tensor<2x2xi1>) -> ()
}) {sym_name = "tiny"} : () -> ()

{-#
  dialect_resources: {
    builtin: {
      w: "0x040000000000803F00000000000000000000803F0000003F0000003F",
      b: "0x040000000000000000000000"
    }
  }
#-}

// CHECK-LABEL: "builtin.module"() ({
// CHECK-NEXT:    %[[X:[0-9]+]] = "snn.input"()
// CHECK-SAME:      name = "x"
// CHECK-SAME:      -> tensor<2x3xi1>
// CHECK-NEXT:    %[[L:[0-9]+]] = "snn.linear"(%[[X]])
// CHECK-SAME:      weight = dense_resource<w> : tensor<3x2xf32>
// CHECK-NEXT:    %[[S:[0-9]+]] = "snn.lif"(%[[L]])
// CHECK-SAME:      beta = 0.9 : f32
// CHECK-NEXT:    "snn.output"(%[[S]])
// CHECK-NEXT:  }) {sym_name = "tiny"} : () -> ()
// CHECK-NOT:   snn.conv2d
// CHECK:       dialect_resources
// CHECK-DAG:     b: "0x040000000000000000000000"
// CHECK-DAG:     w: "0x04000000{{[0-9A-F]+}}"
// CHECK:       #-}

// INT:         "snn.linear"
// INT-SAME:      tensor<3x2xi8>
// INT-NEXT:    "snn.lif"
// INT-SAME:      leak_shift = 15
// INT-NOT:       beta

// ERR:      error: use of undefined value `%7`
// ERR-NEXT:  --> {{.*}}.tmp.mlir:13:18
