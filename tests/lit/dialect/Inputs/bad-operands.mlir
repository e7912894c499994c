"builtin.module"() ({
  %0 = "snn.input"() {index = 0 : i64, name = "x"} : () -> tensor<2x3xi1>
  %1 = "snn.linear"(%0, %0) {weight = dense_resource<w> : tensor<3x2xf32>} : (tensor<2x3xi1>, tensor<2x3xi1>) -> tensor<2x2xf32>
  "snn.output"(%1) {index = 0 : i64, name = "y"} : (tensor<2x2xf32>) -> ()
}) {sym_name = "bad"} : () -> ()

{-#
  dialect_resources: {
    builtin: {
      w: "0x040000000000803F00000000000000000000803F0000003F0000003F"
    }
  }
#-}
