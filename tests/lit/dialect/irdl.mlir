// The `snn`, `phi` and `isa` dialects are defined in IRDL (dialect/irdl/phi.irdl.mlir), so MLIR's
// own mlir-opt verifies our IR as registered ops — without --allow-unregistered-dialect — for
// both examples at every IR level, and MLIR's verifier rejects a broken op through those
// definitions: a wrong operand count, a missing attribute. Our own parser and verifier reject
// the same files.
//
// REQUIRES: mlir-opt
// RUN: %phic %S/../../../examples/digits_mlp/model.snn --emit=mlir | mlir-opt --irdl-file=%S/../../../dialect/irdl/phi.irdl.mlir | FileCheck %s
// RUN: %phic %S/../../../examples/digits_mlp/model.snn --emit=phi -q | mlir-opt --irdl-file=%S/../../../dialect/irdl/phi.irdl.mlir | FileCheck %s --check-prefix=PHI
// RUN: %phic %S/../../../examples/digits_cnn/model.snn --emit=snn | mlir-opt --irdl-file=%S/../../../dialect/irdl/phi.irdl.mlir > /dev/null
// RUN: %phic %S/../../../examples/digits_cnn/model.snn --emit=phi -q | mlir-opt --irdl-file=%S/../../../dialect/irdl/phi.irdl.mlir | FileCheck %s --check-prefix=CONV
// RUN: %phic %S/../../nir/cubalif.nir --time-steps 5 --emit=snn | mlir-opt --irdl-file=%S/../../../dialect/irdl/phi.irdl.mlir | FileCheck %s --check-prefix=NIR
//
// Our → MLIR → our is the identity: mlir-opt parses our text into MLIR's in-memory IR, verifies
// it, and prints it back (generic form, with properties `<{…}>`, location aliases and the
// resource blobs); phic reads that and prints exactly the original, locations included, for
// both examples at every IR level (float and integer `snn`, `phi`).
// RUN: %phic %S/../../../examples/digits_mlp/model.snn --emit=snn --print-debuginfo > %t.mlp.snn.mlir
// RUN: %phic %S/../../../examples/digits_mlp/model.snn --emit=snn --quantized -q --print-debuginfo > %t.mlp.int.mlir
// RUN: %phic %S/../../../examples/digits_mlp/model.snn --emit=phi -q --print-debuginfo > %t.mlp.phi.mlir
// RUN: %phic %S/../../../examples/digits_cnn/model.snn --emit=snn --print-debuginfo > %t.cnn.snn.mlir
// RUN: %phic %S/../../../examples/digits_cnn/model.snn --emit=snn --quantized -q --print-debuginfo > %t.cnn.int.mlir
// RUN: %phic %S/../../../examples/digits_cnn/model.snn --emit=phi -q --print-debuginfo > %t.cnn.phi.mlir
// RUN: mlir-opt --irdl-file=%S/../../../dialect/irdl/phi.irdl.mlir --mlir-print-op-generic --mlir-print-debuginfo %t.mlp.snn.mlir | %phic - --emit=snn --print-debuginfo | diff - %t.mlp.snn.mlir
// RUN: mlir-opt --irdl-file=%S/../../../dialect/irdl/phi.irdl.mlir --mlir-print-op-generic --mlir-print-debuginfo %t.mlp.int.mlir | %phic - --emit=snn --print-debuginfo | diff - %t.mlp.int.mlir
// RUN: mlir-opt --irdl-file=%S/../../../dialect/irdl/phi.irdl.mlir --mlir-print-op-generic --mlir-print-debuginfo %t.mlp.phi.mlir | %phic - --emit=snn --print-debuginfo | diff - %t.mlp.phi.mlir
// RUN: mlir-opt --irdl-file=%S/../../../dialect/irdl/phi.irdl.mlir --mlir-print-op-generic --mlir-print-debuginfo %t.cnn.snn.mlir | %phic - --emit=snn --print-debuginfo | diff - %t.cnn.snn.mlir
// RUN: mlir-opt --irdl-file=%S/../../../dialect/irdl/phi.irdl.mlir --mlir-print-op-generic --mlir-print-debuginfo %t.cnn.int.mlir | %phic - --emit=snn --print-debuginfo | diff - %t.cnn.int.mlir
// RUN: mlir-opt --irdl-file=%S/../../../dialect/irdl/phi.irdl.mlir --mlir-print-op-generic --mlir-print-debuginfo %t.cnn.phi.mlir | %phic - --emit=snn --print-debuginfo | diff - %t.cnn.phi.mlir
// The `isa` level (compiled programs, --emit=isa-mlir) for every target, likewise:
// RUN: %phic %S/../../../examples/digits_mlp/model.snn --emit=isa-mlir -q > %t.mlp.isa.mlir
// RUN: %phic %S/../../../examples/digits_cnn/model.snn --emit=isa-mlir -q > %t.cnn.isa.mlir
// RUN: %phic %S/../../../examples/digits_cnn/model.snn --emit=isa-mlir --target bit-sparse -q > %t.cnn.bs.isa.mlir
// RUN: %phic %S/../../../examples/digits_cnn/model.snn --emit=isa-mlir --target dense -q > %t.cnn.dense.isa.mlir
// RUN: mlir-opt --irdl-file=%S/../../../dialect/irdl/phi.irdl.mlir --mlir-print-op-generic %t.mlp.isa.mlir | %phic - --emit=isa-mlir | diff - %t.mlp.isa.mlir
// RUN: mlir-opt --irdl-file=%S/../../../dialect/irdl/phi.irdl.mlir --mlir-print-op-generic %t.cnn.isa.mlir | %phic - --emit=isa-mlir | diff - %t.cnn.isa.mlir
// RUN: mlir-opt --irdl-file=%S/../../../dialect/irdl/phi.irdl.mlir --mlir-print-op-generic %t.cnn.bs.isa.mlir | %phic - --emit=isa-mlir | diff - %t.cnn.bs.isa.mlir
// RUN: mlir-opt --irdl-file=%S/../../../dialect/irdl/phi.irdl.mlir --mlir-print-op-generic %t.cnn.dense.isa.mlir | %phic - --emit=isa-mlir | diff - %t.cnn.dense.isa.mlir
// RUN: not mlir-opt --irdl-file=%S/../../../dialect/irdl/phi.irdl.mlir %S/Inputs/bad-isa.mlir 2>&1 | FileCheck %s --check-prefix=ISA
//
// RUN: not mlir-opt --irdl-file=%S/../../../dialect/irdl/phi.irdl.mlir %S/Inputs/bad-operands.mlir 2>&1 | FileCheck %s --check-prefix=OPERANDS
// RUN: not mlir-opt --irdl-file=%S/../../../dialect/irdl/phi.irdl.mlir %S/Inputs/bad-attribute.mlir 2>&1 | FileCheck %s --check-prefix=ATTRIBUTE
// RUN: not %phic %S/Inputs/bad-operands.mlir --emit=snn 2>&1 | FileCheck %s --check-prefix=OURS-OPERANDS
// RUN: not %phic %S/Inputs/bad-attribute.mlir --emit=snn 2>&1 | FileCheck %s --check-prefix=OURS-ATTRIBUTE

// CHECK: "snn.input"
// CHECK: "snn.linear"
// CHECK: "snn.lif"

// PHI: "phi.match"
// PHI: "phi.residual"
// PHI: "phi.l1_accumulate"
// PHI: "phi.l2_accumulate"

// CONV: "snn.im2col"
// CONV: "snn.transpose"
// CONV: "snn.reshape"

// NIR: "snn.mul"
// NIR: "snn.li"

// OPERANDS: bad-operands.mlir:3:8: error: op expects exactly 1 operands, but got 2
// OPERANDS-NEXT: "snn.linear"(%0, %0)
// ATTRIBUTE: error: 'snn.linear' op attribute "weight" is expected but not provided
// OURS-OPERANDS: error: `snn.linear` cannot take 2 operands
// OURS-ATTRIBUTE: error: `snn.linear` needs the attribute `weight`
// ISA: error: 'isa.lif' op attribute "memb" is expected but not provided
