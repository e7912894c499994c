// The `snn`, `phi` and `isa` dialects of the Phi toolchain in IRDL, so that stock MLIR tools
// verify our IR as registered operations with their operand counts and required attributes:
//
//   phic MODEL --emit=mlir | mlir-opt --irdl-file=dialect/irdl/phi.irdl.mlir
//   phic MODEL --emit=isa-mlir | mlir-opt --irdl-file=dialect/irdl/phi.irdl.mlir
//
// The `isa` dialect (one op per instruction, its encoding fields as integer attributes) is
// generated from the instruction encoding by `phi_dialect::isa::mlir::irdl()`; the test
// `tests/tests/irdl.rs` keeps it current (PHI_BLESS=1 rewrites it).
//
// Every operand and result is a builtin tensor (element types and shapes are checked by our
// own verifier, dialect/src/verify.rs, which knows the type rules); every inherent attribute
// that an op always carries is required here, with its kind (dense_resource weights,
// array<i64> geometry, integers, strings). Attributes that depend on the model (a LIF's `beta`
// in the float model or `leak`/`leak_shift` in the integer one, an optional `bias`) and
// discardable `phi.*` attributes are not listed: IRDL allows attributes it does not name.
// `tests/tests/irdl.rs` checks that this file names exactly the ops of the Rust enums.

irdl.dialect @snn {
  irdl.operation @input {
    %y = irdl.base "!builtin.tensor"
    %attr_name = irdl.base "#builtin.string"
    %attr_index = irdl.base "#builtin.integer"
    irdl.operands()
    irdl.results(y: %y)
    irdl.attributes {"name" = %attr_name, "index" = %attr_index}
  }
  irdl.operation @output {
    %x = irdl.base "!builtin.tensor"
    %attr_name = irdl.base "#builtin.string"
    %attr_index = irdl.base "#builtin.integer"
    irdl.operands(x: %x)
    irdl.results()
    irdl.attributes {"name" = %attr_name, "index" = %attr_index}
  }
  irdl.operation @constant {
    %y = irdl.base "!builtin.tensor"
    %attr_value = irdl.base "#builtin.dense_resource_elements"
    irdl.operands()
    irdl.results(y: %y)
    irdl.attributes {"value" = %attr_value}
  }
  irdl.operation @linear {
    %x = irdl.base "!builtin.tensor"
    %y = irdl.base "!builtin.tensor"
    %attr_weight = irdl.base "#builtin.dense_resource_elements"
    irdl.operands(x: %x)
    irdl.results(y: %y)
    irdl.attributes {"weight" = %attr_weight}
  }
  irdl.operation @conv2d {
    %x = irdl.base "!builtin.tensor"
    %y = irdl.base "!builtin.tensor"
    %attr_weight = irdl.base "#builtin.dense_resource_elements"
    %attr_strides = irdl.base "#builtin.dense_array"
    %attr_pads = irdl.base "#builtin.dense_array"
    %attr_dilations = irdl.base "#builtin.dense_array"
    %attr_groups = irdl.base "#builtin.integer"
    irdl.operands(x: %x)
    irdl.results(y: %y)
    irdl.attributes {"weight" = %attr_weight, "strides" = %attr_strides, "pads" = %attr_pads, "dilations" = %attr_dilations, "groups" = %attr_groups}
  }
  irdl.operation @lif {
    %current = irdl.base "!builtin.tensor"
    %spikes = irdl.base "!builtin.tensor"
    %attr_reset = irdl.base "#builtin.string"
    %attr_threshold = irdl.any
    irdl.operands(current: %current)
    irdl.results(spikes: %spikes)
    irdl.attributes {"reset" = %attr_reset, "threshold" = %attr_threshold}
  }
  irdl.operation @if {
    %current = irdl.base "!builtin.tensor"
    %spikes = irdl.base "!builtin.tensor"
    %attr_reset = irdl.base "#builtin.string"
    %attr_threshold = irdl.any
    irdl.operands(current: %current)
    irdl.results(spikes: %spikes)
    irdl.attributes {"reset" = %attr_reset, "threshold" = %attr_threshold}
  }
  irdl.operation @li {
    %x = irdl.base "!builtin.tensor"
    %v = irdl.base "!builtin.tensor"
    %attr_beta = irdl.any
    irdl.operands(x: %x)
    irdl.results(v: %v)
    irdl.attributes {"beta" = %attr_beta}
  }
  irdl.operation @flatten {
    %x = irdl.base "!builtin.tensor"
    %y = irdl.base "!builtin.tensor"
    irdl.operands(x: %x)
    irdl.results(y: %y)
  }
  irdl.operation @reshape {
    %x = irdl.base "!builtin.tensor"
    %y = irdl.base "!builtin.tensor"
    irdl.operands(x: %x)
    irdl.results(y: %y)
  }
  irdl.operation @sum_pool {
    %x = irdl.base "!builtin.tensor"
    %y = irdl.base "!builtin.tensor"
    %attr_kernel_shape = irdl.base "#builtin.dense_array"
    %attr_strides = irdl.base "#builtin.dense_array"
    %attr_pads = irdl.base "#builtin.dense_array"
    irdl.operands(x: %x)
    irdl.results(y: %y)
    irdl.attributes {"kernel_shape" = %attr_kernel_shape, "strides" = %attr_strides, "pads" = %attr_pads}
  }
  irdl.operation @avg_pool {
    %x = irdl.base "!builtin.tensor"
    %y = irdl.base "!builtin.tensor"
    %attr_kernel_shape = irdl.base "#builtin.dense_array"
    %attr_strides = irdl.base "#builtin.dense_array"
    %attr_pads = irdl.base "#builtin.dense_array"
    %attr_count_include_pad = irdl.base "#builtin.integer"
    irdl.operands(x: %x)
    irdl.results(y: %y)
    irdl.attributes {"kernel_shape" = %attr_kernel_shape, "strides" = %attr_strides, "pads" = %attr_pads, "count_include_pad" = %attr_count_include_pad}
  }
  irdl.operation @add {
    %lhs = irdl.base "!builtin.tensor"
    %rhs = irdl.base "!builtin.tensor"
    %y = irdl.base "!builtin.tensor"
    irdl.operands(lhs: %lhs, rhs: %rhs)
    irdl.results(y: %y)
  }
  irdl.operation @mul {
    %lhs = irdl.base "!builtin.tensor"
    %rhs = irdl.base "!builtin.tensor"
    %y = irdl.base "!builtin.tensor"
    irdl.operands(lhs: %lhs, rhs: %rhs)
    irdl.results(y: %y)
  }
  irdl.operation @im2col {
    %x = irdl.base "!builtin.tensor"
    %y = irdl.base "!builtin.tensor"
    %attr_kernel_shape = irdl.base "#builtin.dense_array"
    %attr_strides = irdl.base "#builtin.dense_array"
    %attr_pads = irdl.base "#builtin.dense_array"
    %attr_dilations = irdl.base "#builtin.dense_array"
    %attr_channels = irdl.base "#builtin.dense_array"
    irdl.operands(x: %x)
    irdl.results(y: %y)
    irdl.attributes {"kernel_shape" = %attr_kernel_shape, "strides" = %attr_strides, "pads" = %attr_pads, "dilations" = %attr_dilations, "channels" = %attr_channels}
  }
  irdl.operation @transpose {
    %x = irdl.base "!builtin.tensor"
    %y = irdl.base "!builtin.tensor"
    %attr_perm = irdl.base "#builtin.dense_array"
    irdl.operands(x: %x)
    irdl.results(y: %y)
    irdl.attributes {"perm" = %attr_perm}
  }
  irdl.operation @concat {
    %parts = irdl.base "!builtin.tensor"
    %y = irdl.base "!builtin.tensor"
    %attr_axis = irdl.base "#builtin.integer"
    irdl.operands(parts: variadic %parts)
    irdl.results(y: %y)
    irdl.attributes {"axis" = %attr_axis}
  }
}

irdl.dialect @phi {
  irdl.operation @match {
    %spikes = irdl.base "!builtin.tensor"
    %indices = irdl.base "!builtin.tensor"
    %attr_patterns = irdl.base "#builtin.dense_resource_elements"
    %attr_k = irdl.base "#builtin.integer"
    irdl.operands(spikes: %spikes)
    irdl.results(indices: %indices)
    irdl.attributes {"patterns" = %attr_patterns, "k" = %attr_k}
  }
  irdl.operation @residual {
    %spikes = irdl.base "!builtin.tensor"
    %indices = irdl.base "!builtin.tensor"
    %residual = irdl.base "!builtin.tensor"
    %attr_patterns = irdl.base "#builtin.dense_resource_elements"
    %attr_k = irdl.base "#builtin.integer"
    irdl.operands(spikes: %spikes, indices: %indices)
    irdl.results(residual: %residual)
    irdl.attributes {"patterns" = %attr_patterns, "k" = %attr_k}
  }
  irdl.operation @l1_accumulate {
    %indices = irdl.base "!builtin.tensor"
    %acc = irdl.base "!builtin.tensor"
    %attr_pwp = irdl.base "#builtin.dense_resource_elements"
    irdl.operands(indices: %indices)
    irdl.results(acc: %acc)
    irdl.attributes {"pwp" = %attr_pwp}
  }
  irdl.operation @l2_accumulate {
    %residual = irdl.base "!builtin.tensor"
    %acc = irdl.base "!builtin.tensor"
    %y = irdl.base "!builtin.tensor"
    %attr_weight = irdl.base "#builtin.dense_resource_elements"
    irdl.operands(residual: %residual, acc: %acc)
    irdl.results(y: %y)
    irdl.attributes {"weight" = %attr_weight}
  }
}

irdl.dialect @isa {
  irdl.operation @section {
    %attr_data = irdl.base "#builtin.dense_resource_elements"
    %attr_name = irdl.base "#builtin.string"
    irdl.operands()
    irdl.results()
    irdl.attributes {"data" = %attr_data, "name" = %attr_name}
  }
  irdl.operation @sample {
    %attr_data = irdl.base "#builtin.dense_resource_elements"
    irdl.operands()
    irdl.results()
    irdl.attributes {"data" = %attr_data}
  }
  irdl.operation @sync {
    %attr_deps = irdl.base "#builtin.dense_array"
    irdl.operands()
    irdl.results()
    irdl.attributes {"deps" = %attr_deps}
  }
  irdl.operation @halt {
    irdl.operands()
    irdl.results()
  }
  irdl.operation @load {
    %attr_buf = irdl.base "#builtin.integer"
    %attr_deps = irdl.base "#builtin.dense_array"
    %attr_dram = irdl.base "#builtin.integer"
    %attr_row_bytes = irdl.base "#builtin.integer"
    %attr_rows = irdl.base "#builtin.integer"
    %attr_sram = irdl.base "#builtin.integer"
    %attr_stride = irdl.base "#builtin.integer"
    irdl.operands()
    irdl.results()
    irdl.attributes {"buf" = %attr_buf, "deps" = %attr_deps, "dram" = %attr_dram, "row_bytes" = %attr_row_bytes, "rows" = %attr_rows, "sram" = %attr_sram, "stride" = %attr_stride}
  }
  irdl.operation @store {
    %attr_buf = irdl.base "#builtin.integer"
    %attr_deps = irdl.base "#builtin.dense_array"
    %attr_dram = irdl.base "#builtin.integer"
    %attr_row_bytes = irdl.base "#builtin.integer"
    %attr_rows = irdl.base "#builtin.integer"
    %attr_sram = irdl.base "#builtin.integer"
    %attr_stride = irdl.base "#builtin.integer"
    irdl.operands()
    irdl.results()
    irdl.attributes {"buf" = %attr_buf, "deps" = %attr_deps, "dram" = %attr_dram, "row_bytes" = %attr_row_bytes, "rows" = %attr_rows, "sram" = %attr_sram, "stride" = %attr_stride}
  }
  irdl.operation @gather {
    %attr_deps = irdl.base "#builtin.dense_array"
    %attr_k0 = irdl.base "#builtin.integer"
    %attr_kcols = irdl.base "#builtin.integer"
    %attr_layer = irdl.base "#builtin.integer"
    %attr_row0 = irdl.base "#builtin.integer"
    %attr_row_bytes = irdl.base "#builtin.integer"
    %attr_rows = irdl.base "#builtin.integer"
    %attr_sram = irdl.base "#builtin.integer"
    irdl.operands()
    irdl.results()
    irdl.attributes {"deps" = %attr_deps, "k0" = %attr_k0, "kcols" = %attr_kcols, "layer" = %attr_layer, "row0" = %attr_row0, "row_bytes" = %attr_row_bytes, "rows" = %attr_rows, "sram" = %attr_sram}
  }
  irdl.operation @pwp_fetch {
    %attr_col0 = irdl.base "#builtin.integer"
    %attr_cols = irdl.base "#builtin.integer"
    %attr_deps = irdl.base "#builtin.dense_array"
    %attr_idx = irdl.base "#builtin.integer"
    %attr_layer = irdl.base "#builtin.integer"
    %attr_part0 = irdl.base "#builtin.integer"
    %attr_parts = irdl.base "#builtin.integer"
    %attr_pwp = irdl.base "#builtin.integer"
    %attr_rows = irdl.base "#builtin.integer"
    irdl.operands()
    irdl.results()
    irdl.attributes {"col0" = %attr_col0, "cols" = %attr_cols, "deps" = %attr_deps, "idx" = %attr_idx, "layer" = %attr_layer, "part0" = %attr_part0, "parts" = %attr_parts, "pwp" = %attr_pwp, "rows" = %attr_rows}
  }
  irdl.operation @match {
    %attr_deps = irdl.base "#builtin.dense_array"
    %attr_idx = irdl.base "#builtin.integer"
    %attr_layer = irdl.base "#builtin.integer"
    %attr_part0 = irdl.base "#builtin.integer"
    %attr_parts = irdl.base "#builtin.integer"
    %attr_pat = irdl.base "#builtin.integer"
    %attr_res = irdl.base "#builtin.integer"
    %attr_rows = irdl.base "#builtin.integer"
    %attr_spk = irdl.base "#builtin.integer"
    irdl.operands()
    irdl.results()
    irdl.attributes {"deps" = %attr_deps, "idx" = %attr_idx, "layer" = %attr_layer, "part0" = %attr_part0, "parts" = %attr_parts, "pat" = %attr_pat, "res" = %attr_res, "rows" = %attr_rows, "spk" = %attr_spk}
  }
  irdl.operation @l1_acc {
    %attr_cols = irdl.base "#builtin.integer"
    %attr_deps = irdl.base "#builtin.dense_array"
    %attr_idx = irdl.base "#builtin.integer"
    %attr_layer = irdl.base "#builtin.integer"
    %attr_parts = irdl.base "#builtin.integer"
    %attr_psum = irdl.base "#builtin.integer"
    %attr_pwp = irdl.base "#builtin.integer"
    %attr_rows = irdl.base "#builtin.integer"
    irdl.operands()
    irdl.results()
    irdl.attributes {"cols" = %attr_cols, "deps" = %attr_deps, "idx" = %attr_idx, "layer" = %attr_layer, "parts" = %attr_parts, "psum" = %attr_psum, "pwp" = %attr_pwp, "rows" = %attr_rows}
  }
  irdl.operation @l2_acc {
    %attr_cols = irdl.base "#builtin.integer"
    %attr_deps = irdl.base "#builtin.dense_array"
    %attr_layer = irdl.base "#builtin.integer"
    %attr_part0 = irdl.base "#builtin.integer"
    %attr_parts = irdl.base "#builtin.integer"
    %attr_psum = irdl.base "#builtin.integer"
    %attr_res = irdl.base "#builtin.integer"
    %attr_rows = irdl.base "#builtin.integer"
    %attr_wgt = irdl.base "#builtin.integer"
    irdl.operands()
    irdl.results()
    irdl.attributes {"cols" = %attr_cols, "deps" = %attr_deps, "layer" = %attr_layer, "part0" = %attr_part0, "parts" = %attr_parts, "psum" = %attr_psum, "res" = %attr_res, "rows" = %attr_rows, "wgt" = %attr_wgt}
  }
  irdl.operation @bs_acc {
    %attr_cols = irdl.base "#builtin.integer"
    %attr_deps = irdl.base "#builtin.dense_array"
    %attr_kcols = irdl.base "#builtin.integer"
    %attr_layer = irdl.base "#builtin.integer"
    %attr_psum = irdl.base "#builtin.integer"
    %attr_rows = irdl.base "#builtin.integer"
    %attr_spk = irdl.base "#builtin.integer"
    %attr_wgt = irdl.base "#builtin.integer"
    irdl.operands()
    irdl.results()
    irdl.attributes {"cols" = %attr_cols, "deps" = %attr_deps, "kcols" = %attr_kcols, "layer" = %attr_layer, "psum" = %attr_psum, "rows" = %attr_rows, "spk" = %attr_spk, "wgt" = %attr_wgt}
  }
  irdl.operation @dense_mac {
    %attr_cols = irdl.base "#builtin.integer"
    %attr_deps = irdl.base "#builtin.dense_array"
    %attr_kcols = irdl.base "#builtin.integer"
    %attr_layer = irdl.base "#builtin.integer"
    %attr_psum = irdl.base "#builtin.integer"
    %attr_rows = irdl.base "#builtin.integer"
    %attr_src = irdl.base "#builtin.integer"
    %attr_wgt = irdl.base "#builtin.integer"
    irdl.operands()
    irdl.results()
    irdl.attributes {"cols" = %attr_cols, "deps" = %attr_deps, "kcols" = %attr_kcols, "layer" = %attr_layer, "psum" = %attr_psum, "rows" = %attr_rows, "src" = %attr_src, "wgt" = %attr_wgt}
  }
  irdl.operation @psum_init {
    %attr_bias = irdl.base "#builtin.integer"
    %attr_cols = irdl.base "#builtin.integer"
    %attr_deps = irdl.base "#builtin.dense_array"
    %attr_layer = irdl.base "#builtin.integer"
    %attr_psum = irdl.base "#builtin.integer"
    %attr_rows = irdl.base "#builtin.integer"
    irdl.operands()
    irdl.results()
    irdl.attributes {"bias" = %attr_bias, "cols" = %attr_cols, "deps" = %attr_deps, "layer" = %attr_layer, "psum" = %attr_psum, "rows" = %attr_rows}
  }
  irdl.operation @lif {
    %attr_cols = irdl.base "#builtin.integer"
    %attr_deps = irdl.base "#builtin.dense_array"
    %attr_layer = irdl.base "#builtin.integer"
    %attr_memb = irdl.base "#builtin.integer"
    %attr_out = irdl.base "#builtin.integer"
    %attr_p0 = irdl.base "#builtin.integer"
    %attr_psum = irdl.base "#builtin.integer"
    %attr_row0 = irdl.base "#builtin.integer"
    %attr_rows = irdl.base "#builtin.integer"
    irdl.operands()
    irdl.results()
    irdl.attributes {"cols" = %attr_cols, "deps" = %attr_deps, "layer" = %attr_layer, "memb" = %attr_memb, "out" = %attr_out, "p0" = %attr_p0, "psum" = %attr_psum, "row0" = %attr_row0, "rows" = %attr_rows}
  }
}
