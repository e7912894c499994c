// The `snn` and `phi` dialects of the Phi toolchain in IRDL, so that stock MLIR tools verify
// our IR as registered operations with their operand counts and required attributes:
//
//   phic MODEL --emit=snn | mlir-opt --irdl-file=dialect/irdl/phi.irdl.mlir
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
