// `phic MODEL.nir`: NIR graphs (written by the real `nir` package, tests/nir/) import into the
// `snn` dialect. LIF parameters follow forward Euler with dt = 1e-4 (snnTorch's export): the
// input gain r·dt/tau and the leak term (dt/tau)·v_leak become snn.mul / snn.add, non-uniform
// tau and v_threshold per-neuron resources; a uniform snnTorch-style LIF imports with scalar
// beta and threshold. Conv1d is a height-1 snn.conv2d between reshapes; CubaLIF is its synaptic
// current (snn.li) followed by a LIF; Threshold is a LIF with beta = 0 and zero reset. Spiking
// neurons reset as NIR defines it, to v_reset (= 0: reset = "zero"), or with --nir-reset
// subtract by subtracting the threshold.
//
// RUN: %phic %S/../../nir/lif_general.nir --time-steps 5 --emit=snn --elide-weights | FileCheck %s --check-prefix=GENERAL
// RUN: %phic %S/../../nir/lif.nir --time-steps 5 --emit=snn --elide-weights | FileCheck %s --check-prefix=LIF
// RUN: %phic %S/../../nir/lif.nir --time-steps 5 --nir-reset subtract --emit=snn --elide-weights | FileCheck %s --check-prefix=LIF-SUB
// RUN: %phic %S/../../nir/conv_if_pool_flatten_affine_lif.nir --time-steps 5 --emit=snn --elide-weights | FileCheck %s --check-prefix=CNN
// RUN: %phic %S/../../nir/conv1d.nir --time-steps 5 --emit=snn --elide-weights | FileCheck %s --check-prefix=CONV1D
// RUN: %phic %S/../../nir/cubalif.nir --time-steps 5 --emit=snn --elide-weights | FileCheck %s --check-prefix=CUBA
// RUN: %phic %S/../../nir/threshold.nir --time-steps 5 --emit=snn --elide-weights | FileCheck %s --check-prefix=THR
// RUN: %phic %S/../../nir/lif_general.nir --time-steps 5 --emit=snn > %t.mlir
// RUN: %phic %t.mlir --emit=snn | diff - %t.mlir
// RUN: %phic %S/../../nir/nested_graph.nir --time-steps 5 --emit=snn > %t.nested.mlir
// RUN: %phic %t.nested.mlir --emit=snn | diff - %t.nested.mlir
// RUN: %phic %S/../../nir/cubalif.nir --time-steps 5 --emit=snn > %t.cuba.mlir
// RUN: %phic %t.cuba.mlir --emit=snn | diff - %t.cuba.mlir
// RUN: %phic %t.cuba.mlir --interpret --input %S/../../nir/cubalif.input.npy -o %t.out.npy
// RUN: not %phic %S/../../nir/lif.nir --emit=snn 2>&1 | FileCheck %s --check-prefix=NO-T
// RUN: not %phic %S/../../nir/lif.nir --time-steps 5 --nir-dt 1 --emit=snn 2>&1 | FileCheck %s --check-prefix=DT
// RUN: not %phic %S/../../nir/lif.nir --time-steps 5 --emit=snn --quantized --calib %S/../../nir/lif.input.npy 2>&1 | FileCheck %s --check-prefix=QUANT
// RUN: not %phic %S/../../nir/lif_general.nir --time-steps 5 --emit=snn --quantized --calib %S/../../nir/lif_general.input.npy 2>&1 | FileCheck %s --check-prefix=QUANT-MUL
// RUN: not %phic %S/../../../examples/digits_mlp/model.snn --time-steps 5 --emit=snn 2>&1 | FileCheck %s --check-prefix=USAGE

// GENERAL:      %0 = "snn.input"() {index = 0 : i64, name = "input"} : () -> tensor<5x2x3xf32>
// GENERAL-NEXT: %1 = "snn.constant"
// GENERAL-NEXT: %2 = "snn.mul"(%0, %1)
// GENERAL-NEXT: %3 = "snn.constant"
// GENERAL-NEXT: %4 = "snn.add"(%2, %3)
// GENERAL-NEXT: %5 = "snn.lif"(%4) {beta = dense_resource<__elided__> : tensor<2x3xf32>, reset = "zero", threshold = dense_resource<__elided__> : tensor<2x3xf32>}
// GENERAL-NEXT: "snn.output"(%5)
// GENERAL:      phi.nir_version = "1.0.8"

// lif.nir is snnTorch-style (unit gain to within an ulp, no leak) with per-neuron tau and thresholds
// LIF:      %0 = "snn.input"
// LIF-NEXT: %1 = "snn.lif"(%0) {beta = dense_resource<__elided__> : tensor<6xf32>, reset = "zero", threshold = dense_resource<__elided__> : tensor<6xf32>}
// LIF-SUB: "snn.lif"(%0) {{.*}}reset = "subtract"

// CNN:      "snn.conv2d"
// CNN-SAME: pads = array<i64: 1, 1, 1, 1>
// CNN:      "snn.if"
// CNN:      "snn.sum_pool"
// CNN:      "snn.reshape"
// CNN:      "snn.linear"
// CNN:      "snn.lif"

// CONV1D:      %1 = "snn.reshape"(%0) : (tensor<5x2x8xf32>) -> tensor<5x2x1x8xf32>
// CONV1D-NEXT: %2 = "snn.conv2d"(%1)
// CONV1D-SAME: tensor<3x2x1x3xf32>
// CONV1D-NEXT: %3 = "snn.reshape"(%2) : (tensor<5x3x1x8xf32>) -> tensor<5x3x8xf32>

// CUBA:     "snn.li"
// CUBA:     "snn.lif"

// THR:      "snn.lif"
// THR-SAME: beta = dense_resource<__elided__>
// THR-SAME: reset = "zero"

// NO-T: error: {{.*}}lif.nir: a NIR graph does not fix the number of time steps
// NO-T: help: pass --time-steps T

// DT: error: {{.*}}node `lif`: tau = {{.*}} is below dt = 1

// QUANT: error: `snn.lif` has a decay and threshold per neuron, which the integer datapath does not support
// QUANT-MUL: error: `snn.mul` has no integer form

// USAGE: --time-steps, --nir-dt, --nir-spiking-input and --nir-reset apply to .nir models only
