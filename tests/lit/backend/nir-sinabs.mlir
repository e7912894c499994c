// The structure of the NIR paper's Sinabs N-MNIST CNN (conv 2→16 5×5 stride 2 → IF → conv →
// IF → SumPool 2×2 → conv → IF → SumPool 2×2 → fc → IF → fc → IF), written by the real `nir`
// package (tests/nir/sinabs_cnn.nir), compiled with phic and run on phi-emu: the Phi program and
// both baselines give the integer interpreter's spikes, with Sinabs' subtracting reset.
//
// RUN: %phic %S/../../nir/sinabs_cnn.nir --time-steps 5 --nir-spiking-input --nir-reset subtract --calib %S/../../nir/sinabs_cnn.input.npy -o %t.phibin --baselines -q
// RUN: %phi-emu %t.phibin --input %S/../../nir/sinabs_cnn.input.npy --output %t.phi.npy | FileCheck %s
// RUN: %phi-emu %t.bit-sparse.phibin --input %S/../../nir/sinabs_cnn.input.npy --output %t.bs.npy
// RUN: %phi-emu %t.dense.phibin --input %S/../../nir/sinabs_cnn.input.npy --output %t.dense.npy
// RUN: %phic %S/../../nir/sinabs_cnn.nir --time-steps 5 --nir-spiking-input --nir-reset subtract --quantized --calib %S/../../nir/sinabs_cnn.input.npy --interpret --input %S/../../nir/sinabs_cnn.input.npy -o %t.ref.npy -q
// RUN: cmp %t.phi.npy %t.ref.npy
// RUN: cmp %t.bs.npy %t.ref.npy
// RUN: cmp %t.dense.npy %t.ref.npy

// CHECK: on the phi accelerator: 2 samples
// CHECK: conv1
