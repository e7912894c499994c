"builtin.module"() ({
  %0 = "snn.input"() {index = 0 : i64, name = "x"} : () -> tensor<2x3xi1>
  %1 = "snn.linear"(%0) {bias = dense_resource<b> : tensor<2xf32>} : (tensor<2x3xi1>) -> tensor<2x2xf32>
  "snn.output"(%1) {index = 0 : i64, name = "y"} : (tensor<2x2xf32>) -> ()
}) {sym_name = "bad"} : () -> ()

{-#
  dialect_resources: {
    builtin: {
      b: "0x040000000000803F00000000"
    }
  }
#-}
