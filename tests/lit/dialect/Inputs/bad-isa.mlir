"builtin.module"() ({
  "isa.lif"() {cols = 16 : i64, deps = array<i64: 0, 0, 0, 0>, layer = 0 : i64, out = 0 : i64, p0 = 0 : i64, psum = 0 : i64, row0 = 0 : i64, rows = 8 : i64} : () -> ()
  "isa.halt"() : () -> ()
}) {isa.meta = "{}", sym_name = "bad"} : () -> ()
