//! Syntax tree of the ONNX textual syntax.
//!
//! The tree mirrors the text, not the protobuf: every element keeps the [`Span`] it was parsed
//! from, lists keep their order, and nothing is resolved (names are not looked up, attribute
//! types are only checked against their annotation, operators are not known). The parser does
//! check what the reference parser checks (initializers have a tensor type with numeric
//! dimensions, an empty attribute list needs a type annotation, the known model-header keys
//! have values of the right kind), so a lowering can rely on those.

use phi_dialect::diag::Span;

/// A value with the span it was parsed from.
#[derive(Clone, Debug, PartialEq)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub span: Span,
}

/// A name: an identifier, or a quoted string where the syntax allows one.
///
/// An omitted optional node input or output (`Op(x, , y)`, `Op("", y)`) is a name with empty
/// [`Name::text`]; its span is then empty (at the following `,`) or covers the `""`.
#[derive(Clone, Debug, PartialEq)]
pub struct Name {
    /// The name, unescaped.
    pub text: String,
    /// Whether it was written as a quoted string.
    pub quoted: bool,
    /// Where it was written (with the quotes, if any).
    pub span: Span,
}

impl Name {
    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.text
    }
    /// Whether this is an omitted optional input or output.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }
}

macro_rules! prim_types {
    ($($variant:ident = $name:literal, $code:literal;)*) => {
        /// An ONNX primitive (element) type, as named in the textual syntax.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum PrimType {
            $(
                #[doc = concat!("`", $name, "` (`TensorProto.DataType` ", stringify!($code), ").")]
                $variant,
            )*
        }

        impl PrimType {
            /// Every primitive type, in `TensorProto.DataType` order.
            pub const ALL: &'static [PrimType] = &[$(PrimType::$variant),*];

            /// The type of a keyword of the syntax (`"float"`, `"int64"`, ...).
            pub fn from_name(name: &str) -> Option<PrimType> {
                match name {
                    $($name => Some(PrimType::$variant),)*
                    _ => None,
                }
            }

            /// The keyword of the syntax for this type.
            pub fn name(self) -> &'static str {
                match self {
                    $(PrimType::$variant => $name,)*
                }
            }

            /// The `TensorProto.DataType` number.
            pub fn onnx_code(self) -> i32 {
                match self {
                    $(PrimType::$variant => $code,)*
                }
            }
        }
    };
}

prim_types! {
    Float = "float", 1;
    Uint8 = "uint8", 2;
    Int8 = "int8", 3;
    Uint16 = "uint16", 4;
    Int16 = "int16", 5;
    Int32 = "int32", 6;
    Int64 = "int64", 7;
    String = "string", 8;
    Bool = "bool", 9;
    Float16 = "float16", 10;
    Double = "double", 11;
    Uint32 = "uint32", 12;
    Uint64 = "uint64", 13;
    Complex64 = "complex64", 14;
    Complex128 = "complex128", 15;
    Bfloat16 = "bfloat16", 16;
    Float8e4m3fn = "float8e4m3fn", 17;
    Float8e4m3fnuz = "float8e4m3fnuz", 18;
    Float8e5m2 = "float8e5m2", 19;
    Float8e5m2fnuz = "float8e5m2fnuz", 20;
    Uint4 = "uint4", 21;
    Int4 = "int4", 22;
    Float4e2m1 = "float4e2m1", 23;
    Float8e8m0 = "float8e8m0", 24;
    Uint2 = "uint2", 25;
    Int2 = "int2", 26;
}

impl PrimType {
    /// Whether inline data of this type is written as integers (booleans and the small float
    /// formats included, as in the reference parser).
    pub fn takes_int_data(self) -> bool {
        !matches!(
            self,
            PrimType::Float | PrimType::Double | PrimType::Complex64 | PrimType::Complex128 | PrimType::String
        )
    }
}

/// One dimension of a tensor shape.
#[derive(Clone, Debug, PartialEq)]
pub enum Dim {
    /// A known size (`8`).
    Int(i64),
    /// A symbolic size (`N`, or a quoted `"batch size"`).
    Sym(String),
    /// An unknown size (`?`).
    Unknown,
}

/// A tensor type: element type and optional shape.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorType {
    /// The element type.
    pub elem: PrimType,
    /// Where the element type keyword is.
    pub elem_span: Span,
    /// The dimensions: `None` for an unknown rank (`float[]`), `Some(vec![])` for a scalar
    /// (`float`), otherwise one entry per dimension.
    pub dims: Option<Vec<Spanned<Dim>>>,
    /// The whole type.
    pub span: Span,
}

impl TensorType {
    /// The rank, if known.
    pub fn rank(&self) -> Option<usize> {
        self.dims.as_ref().map(Vec::len)
    }

    /// The dimensions as sizes, if the rank is known and every dimension is a number.
    pub fn static_shape(&self) -> Option<Vec<i64>> {
        self.dims
            .as_ref()?
            .iter()
            .map(|d| match d.value {
                Dim::Int(v) => Some(v),
                Dim::Sym(_) | Dim::Unknown => None,
            })
            .collect()
    }
}

/// A type.
#[derive(Clone, Debug, PartialEq)]
pub struct Type {
    /// What kind of type.
    pub kind: TypeKind,
    /// Where it was written.
    pub span: Span,
}

/// The kinds of types of the syntax.
#[derive(Clone, Debug, PartialEq)]
pub enum TypeKind {
    /// `float[N, 8]`, `float[]`, `float`.
    Tensor(TensorType),
    /// `sparse_tensor(float[N])`.
    SparseTensor(TensorType),
    /// `seq(type)`.
    Sequence(Box<Type>),
    /// `map(key, type)`.
    Map {
        /// The key type (a primitive type).
        key: Spanned<PrimType>,
        /// The value type.
        value: Box<Type>,
    },
    /// `optional(type)`.
    Optional(Box<Type>),
    /// `opaque()`, `opaque(name)`, `opaque(domain, name)`; the one-argument form sets only the
    /// name (which may be dotted).
    Opaque {
        /// The domain (dotted), when given.
        domain: Option<Name>,
        /// The name, when given.
        name: Option<Name>,
    },
}

impl Type {
    /// The tensor type, if this is a (dense) tensor type.
    pub fn as_tensor(&self) -> Option<&TensorType> {
        match &self.kind {
            TypeKind::Tensor(t) => Some(t),
            TypeKind::SparseTensor(_)
            | TypeKind::Sequence(_)
            | TypeKind::Map { .. }
            | TypeKind::Optional(_)
            | TypeKind::Opaque { .. } => None,
        }
    }
}

/// A name with an optional type: a graph input or output, a value-info, a function input or
/// output.
#[derive(Clone, Debug, PartialEq)]
pub struct ValueInfo {
    /// The type, when written.
    pub ty: Option<Type>,
    /// The name.
    pub name: Name,
    /// Type and name.
    pub span: Span,
}

/// A literal constant.
#[derive(Clone, Debug, PartialEq)]
pub struct Literal {
    /// The value.
    pub kind: LiteralKind,
    /// Where it was written (with its sign).
    pub span: Span,
}

/// The values of literals.
#[derive(Clone, Debug, PartialEq)]
pub enum LiteralKind {
    /// An integer (no `.` and no exponent).
    Int(i64),
    /// A float (with a `.`, an exponent, or `inf`/`infinity`/`nan`).
    Float(f64),
    /// A string, unescaped.
    Str(String),
}

impl Literal {
    /// The integer, if this is an integer literal.
    pub fn as_i64(&self) -> Option<i64> {
        match self.kind {
            LiteralKind::Int(v) => Some(v),
            LiteralKind::Float(_) | LiteralKind::Str(_) => None,
        }
    }
    /// The number as a float (integers converted), if this is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self.kind {
            LiteralKind::Int(v) => Some(v as f64),
            LiteralKind::Float(v) => Some(v),
            LiteralKind::Str(_) => None,
        }
    }
    /// The string, if this is a string literal.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            LiteralKind::Str(s) => Some(s),
            LiteralKind::Int(_) | LiteralKind::Float(_) => None,
        }
    }
}

/// A `"key": "value"` pair of strings (external data, metadata properties).
#[derive(Clone, Debug, PartialEq)]
pub struct KeyValue {
    /// The key, unescaped.
    pub key: String,
    /// The value, unescaped.
    pub value: String,
    /// Where the key is.
    pub key_span: Span,
    /// Where the value is.
    pub value_span: Span,
}

/// The data of an initializer or tensor constant.
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    /// `{1.0, 2.0}`: the values, as written.
    Inline(Vec<Literal>),
    /// `["location": "weights.safetensors", "key": "fc1.weight"]`: ONNX external data, every
    /// pair verbatim and in order (the lowering interprets `location`, `key`, `offset`,
    /// `length`, ...).
    External(Vec<KeyValue>),
}

impl TensorData {
    /// The value of the first external-data pair with this key.
    pub fn external(&self, key: &str) -> Option<&str> {
        match self {
            TensorData::External(pairs) => pairs.iter().find(|p| p.key == key).map(|p| p.value.as_str()),
            TensorData::Inline(_) => None,
        }
    }
}

/// A graph initializer: `float[2] b = {1.0, 2.0}`, or an input with a default value.
#[derive(Clone, Debug, PartialEq)]
pub struct Initializer {
    /// The type: always a tensor type with numeric dimensions (checked by the parser).
    pub ty: TensorType,
    /// The name.
    pub name: Name,
    /// The data.
    pub data: TensorData,
    /// Where the data (`{...}` or `[...]`) is.
    pub data_span: Span,
    /// Whether it was written as the default value of a graph input (the input is then also
    /// listed in [`Graph::inputs`]).
    pub is_input_default: bool,
    /// The whole declaration.
    pub span: Span,
}

impl Initializer {
    /// The shape (the parser checked that every dimension is a number).
    pub fn shape(&self) -> Vec<i64> {
        self.ty.static_shape().unwrap_or_default()
    }
}

/// A tensor constant used as an attribute value: `float[3] {1, 2, 3}`, `int64[2] t = {1, 2}`.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorConst {
    /// The type: a tensor type with numeric dimensions (checked by the parser).
    pub ty: TensorType,
    /// The tensor's name, when written.
    pub name: Option<Name>,
    /// The data.
    pub data: TensorData,
    /// The whole constant.
    pub span: Span,
}

/// The attribute types of an annotation `name: type = value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttrType {
    /// `float`.
    Float,
    /// `int`.
    Int,
    /// `string`.
    String,
    /// `tensor`.
    Tensor,
    /// `graph`.
    Graph,
    /// `sparse_tensor`.
    SparseTensor,
    /// `type_proto`.
    TypeProto,
    /// `floats`.
    Floats,
    /// `ints`.
    Ints,
    /// `strings`.
    Strings,
    /// `tensors`.
    Tensors,
    /// `graphs`.
    Graphs,
    /// `sparse_tensors`.
    SparseTensors,
    /// `type_protos`.
    TypeProtos,
}

impl AttrType {
    /// Every attribute type.
    pub const ALL: &'static [AttrType] = &[
        AttrType::Float,
        AttrType::Int,
        AttrType::String,
        AttrType::Tensor,
        AttrType::Graph,
        AttrType::SparseTensor,
        AttrType::TypeProto,
        AttrType::Floats,
        AttrType::Ints,
        AttrType::Strings,
        AttrType::Tensors,
        AttrType::Graphs,
        AttrType::SparseTensors,
        AttrType::TypeProtos,
    ];

    /// The name used in annotations.
    pub fn name(self) -> &'static str {
        match self {
            AttrType::Float => "float",
            AttrType::Int => "int",
            AttrType::String => "string",
            AttrType::Tensor => "tensor",
            AttrType::Graph => "graph",
            AttrType::SparseTensor => "sparse_tensor",
            AttrType::TypeProto => "type_proto",
            AttrType::Floats => "floats",
            AttrType::Ints => "ints",
            AttrType::Strings => "strings",
            AttrType::Tensors => "tensors",
            AttrType::Graphs => "graphs",
            AttrType::SparseTensors => "sparse_tensors",
            AttrType::TypeProtos => "type_protos",
        }
    }

    /// The type of an annotation name.
    pub fn from_name(name: &str) -> Option<AttrType> {
        AttrType::ALL.iter().copied().find(|t| t.name() == name)
    }

    /// Whether this is a list type (`ints`, `floats`, ...).
    pub fn is_list(self) -> bool {
        self.element() != self
    }

    /// The element type of a list type; a singleton type is its own element type.
    pub fn element(self) -> AttrType {
        match self {
            AttrType::Floats => AttrType::Float,
            AttrType::Ints => AttrType::Int,
            AttrType::Strings => AttrType::String,
            AttrType::Tensors => AttrType::Tensor,
            AttrType::Graphs => AttrType::Graph,
            AttrType::SparseTensors => AttrType::SparseTensor,
            AttrType::TypeProtos => AttrType::TypeProto,
            AttrType::Float
            | AttrType::Int
            | AttrType::String
            | AttrType::Tensor
            | AttrType::Graph
            | AttrType::SparseTensor
            | AttrType::TypeProto => self,
        }
    }

    /// The list type whose elements have this type; a list type is its own list type.
    pub fn list(self) -> AttrType {
        match self {
            AttrType::Float => AttrType::Floats,
            AttrType::Int => AttrType::Ints,
            AttrType::String => AttrType::Strings,
            AttrType::Tensor => AttrType::Tensors,
            AttrType::Graph => AttrType::Graphs,
            AttrType::SparseTensor => AttrType::SparseTensors,
            AttrType::TypeProto => AttrType::TypeProtos,
            AttrType::Floats
            | AttrType::Ints
            | AttrType::Strings
            | AttrType::Tensors
            | AttrType::Graphs
            | AttrType::SparseTensors
            | AttrType::TypeProtos => self,
        }
    }
}

/// An attribute value.
#[derive(Clone, Debug, PartialEq)]
pub struct AttrValue {
    /// The value.
    pub kind: AttrValueKind,
    /// Where it was written.
    pub span: Span,
}

/// The kinds of attribute values.
#[derive(Clone, Debug, PartialEq)]
pub enum AttrValueKind {
    /// `1`, `-3`.
    Int(i64),
    /// `1.5`, `-inf`, or an integer written for a `float` annotation.
    Float(f64),
    /// `"subtract"`.
    Str(String),
    /// `float[3] {1, 2, 3}`.
    Tensor(TensorConst),
    /// A type (`type = float[3]`).
    Type(Type),
    /// A graph (`then_branch = g () => (float y) { ... }`).
    Graph(Box<Graph>),
    /// `@name`: the value of an attribute of the enclosing function.
    Ref(Name),
    /// `[1, 2]`, `["a", "b"]`, `[]`: the elements are never lists or references; the parser
    /// checked they are of one kind (integers in a float list are converted to floats).
    List(Vec<AttrValue>),
}

impl AttrValue {
    /// The attribute type the value has, if it can be told from the value alone (not for a
    /// reference, nor for an empty list).
    pub fn inferred_type(&self) -> Option<AttrType> {
        match &self.kind {
            AttrValueKind::Int(_) => Some(AttrType::Int),
            AttrValueKind::Float(_) => Some(AttrType::Float),
            AttrValueKind::Str(_) => Some(AttrType::String),
            AttrValueKind::Tensor(_) => Some(AttrType::Tensor),
            AttrValueKind::Type(_) => Some(AttrType::TypeProto),
            AttrValueKind::Graph(_) => Some(AttrType::Graph),
            AttrValueKind::Ref(_) => None,
            AttrValueKind::List(items) => items.first().and_then(AttrValue::inferred_type).map(AttrType::list),
        }
    }
    /// The integer, for an int value.
    pub fn as_int(&self) -> Option<i64> {
        if let AttrValueKind::Int(v) = self.kind { Some(v) } else { None }
    }
    /// The number as a float, for an int or float value.
    pub fn as_float(&self) -> Option<f64> {
        if let AttrValueKind::Int(v) = self.kind {
            Some(v as f64)
        } else if let AttrValueKind::Float(v) = self.kind {
            Some(v)
        } else {
            None
        }
    }
    /// The string, for a string value.
    pub fn as_str(&self) -> Option<&str> {
        if let AttrValueKind::Str(s) = &self.kind { Some(s) } else { None }
    }
    /// The graph, for a graph value.
    pub fn as_graph(&self) -> Option<&Graph> {
        if let AttrValueKind::Graph(g) = &self.kind { Some(g) } else { None }
    }
    /// The elements, for a list.
    pub fn as_list(&self) -> Option<&[AttrValue]> {
        if let AttrValueKind::List(items) = &self.kind { Some(items) } else { None }
    }
    /// The integers, for a list of integers (or an empty list).
    pub fn as_ints(&self) -> Option<Vec<i64>> {
        self.as_list()?.iter().map(AttrValue::as_int).collect()
    }
    /// The numbers as floats, for a list of numbers (or an empty list).
    pub fn as_floats(&self) -> Option<Vec<f64>> {
        self.as_list()?.iter().map(AttrValue::as_float).collect()
    }
    /// The strings, for a list of strings (or an empty list).
    pub fn as_strs(&self) -> Option<Vec<&str>> {
        self.as_list()?.iter().map(AttrValue::as_str).collect()
    }
}

/// An attribute: `name = value` or `name: type = value`.
#[derive(Clone, Debug, PartialEq)]
pub struct Attribute {
    /// The name.
    pub name: Name,
    /// The annotated type, when written.
    pub declared: Option<Spanned<AttrType>>,
    /// The value.
    pub value: AttrValue,
    /// The whole attribute.
    pub span: Span,
}

impl Attribute {
    /// The attribute's type: the annotation if any, else what the value tells.
    pub fn ty(&self) -> Option<AttrType> {
        self.declared.as_ref().map(|d| d.value).or_else(|| self.value.inferred_type())
    }
}

/// A node: `[label] outs = domain.Op:overload <attrs> (ins)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The `[label]` (the node's name), when written.
    pub label: Option<Name>,
    /// The outputs; an omitted optional output has an empty name.
    pub outputs: Vec<Name>,
    /// The operator's domain (`com.microsoft` of `com.microsoft.Foo`), when qualified. Its span
    /// covers all the dotted parts.
    pub domain: Option<Name>,
    /// The operator's name (`Foo`).
    pub op: Name,
    /// The overload after `:` (`Op:overload`), when written.
    pub overload: Option<Name>,
    /// The attributes, in order, wherever they were written.
    pub attributes: Vec<Attribute>,
    /// Whether the attributes were written after the inputs.
    pub attributes_after_inputs: bool,
    /// The inputs; an omitted optional input has an empty name.
    pub inputs: Vec<Name>,
    /// The whole node.
    pub span: Span,
}

impl Node {
    /// The domain as a string (`""` for the default domain).
    pub fn domain_str(&self) -> &str {
        self.domain.as_ref().map_or("", Name::as_str)
    }
    /// The first attribute with this name.
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name.text == name)
    }
}

/// A graph: `name (inputs) => (outputs) <initializers, value-infos> { nodes }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Graph {
    /// The name.
    pub name: Name,
    /// The inputs.
    pub inputs: Vec<ValueInfo>,
    /// The outputs.
    pub outputs: Vec<ValueInfo>,
    /// The initializers: input defaults (`(float x = {1.0})`) and the `= data` entries of the
    /// `<...>` list, in order of appearance.
    pub initializers: Vec<Initializer>,
    /// The entries of the `<...>` list without data.
    pub value_infos: Vec<ValueInfo>,
    /// The nodes.
    pub nodes: Vec<Node>,
    /// The whole graph.
    pub span: Span,
}

impl Graph {
    /// The initializer with this name.
    pub fn initializer(&self, name: &str) -> Option<&Initializer> {
        self.initializers.iter().find(|i| i.name.text == name)
    }
}

/// One item of a header list: a literal, or a `key: value` pair of literals.
#[derive(Clone, Debug, PartialEq)]
pub struct HeaderItem {
    /// The key, for a pair.
    pub key: Option<Literal>,
    /// The value.
    pub value: Literal,
    /// The whole item.
    pub span: Span,
}

/// The value of a header entry.
#[derive(Clone, Debug, PartialEq)]
pub enum HeaderValueKind {
    /// A literal (`8`, `"name"`).
    Literal(Literal),
    /// A list: `["" : 17, "snn" : 1]`, `["k" : "v"]`.
    List(Vec<HeaderItem>),
}

/// The value of a header entry, with its span.
#[derive(Clone, Debug, PartialEq)]
pub struct HeaderValue {
    /// The value.
    pub kind: HeaderValueKind,
    /// Where it was written.
    pub span: Span,
}

/// A `key: value` entry of a model or function header.
#[derive(Clone, Debug, PartialEq)]
pub struct HeaderEntry {
    /// The key.
    pub key: Name,
    /// The value.
    pub value: HeaderValue,
    /// The whole entry.
    pub span: Span,
}

/// An `opset_import` entry: `"domain" : version`.
#[derive(Clone, Debug, PartialEq)]
pub struct OpsetImport {
    /// The domain (`""` for the default ONNX domain).
    pub domain: String,
    /// The version.
    pub version: i64,
    /// The whole entry.
    pub span: Span,
}

/// Typed access to a list of header entries.
pub trait Header {
    /// The entries, in order.
    fn entries(&self) -> &[HeaderEntry];

    /// The entry with this key (the parser rejects duplicates of the known keys).
    fn entry(&self, key: &str) -> Option<&HeaderEntry> {
        self.entries().iter().find(|e| e.key.text == key)
    }
    /// The literal value of an entry.
    fn literal(&self, key: &str) -> Option<&Literal> {
        match &self.entry(key)?.value.kind {
            HeaderValueKind::Literal(l) => Some(l),
            HeaderValueKind::List(_) => None,
        }
    }
    /// The string value of an entry.
    fn string(&self, key: &str) -> Option<&str> {
        self.literal(key)?.as_str()
    }
    /// `opset_import` (empty when absent).
    fn opset_import(&self) -> Vec<OpsetImport> {
        let Some(HeaderValueKind::List(items)) = self.entry("opset_import").map(|e| &e.value.kind) else {
            return Vec::new();
        };
        items
            .iter()
            .filter_map(|i| {
                let domain = i.key.as_ref()?.as_str()?.to_string();
                Some(OpsetImport { domain, version: i.value.as_i64()?, span: i.span })
            })
            .collect()
    }
    /// The version imported for a domain.
    fn opset_version(&self, domain: &str) -> Option<i64> {
        self.opset_import().into_iter().find(|o| o.domain == domain).map(|o| o.version)
    }
    /// `domain`.
    fn domain(&self) -> Option<&str> {
        self.string("domain")
    }
    /// `doc_string`.
    fn doc_string(&self) -> Option<&str> {
        self.string("doc_string")
    }
}

/// A model: header, main graph, local functions.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    /// The `<key: value, ...>` header entries, in order (unknown keys included).
    pub header: Vec<HeaderEntry>,
    /// The main graph.
    pub graph: Graph,
    /// The local functions.
    pub functions: Vec<Function>,
    /// The whole model.
    pub span: Span,
}

impl Header for Model {
    fn entries(&self) -> &[HeaderEntry] {
        &self.header
    }
}

impl Model {
    /// `ir_version`.
    pub fn ir_version(&self) -> Option<i64> {
        self.literal("ir_version")?.as_i64()
    }
    /// `model_version`.
    pub fn model_version(&self) -> Option<i64> {
        self.literal("model_version")?.as_i64()
    }
    /// `producer_name`.
    pub fn producer_name(&self) -> Option<&str> {
        self.string("producer_name")
    }
    /// `producer_version`.
    pub fn producer_version(&self) -> Option<&str> {
        self.string("producer_version")
    }
    /// `metadata_props` pairs, in order (empty when absent).
    pub fn metadata_props(&self) -> Vec<KeyValue> {
        let Some(HeaderValueKind::List(items)) = self.entry("metadata_props").map(|e| &e.value.kind) else {
            return Vec::new();
        };
        items
            .iter()
            .filter_map(|i| {
                let key = i.key.as_ref()?;
                Some(KeyValue {
                    key: key.as_str()?.to_string(),
                    value: i.value.as_str()?.to_string(),
                    key_span: key.span,
                    value_span: i.value.span,
                })
            })
            .collect()
    }
    /// The value of a metadata property.
    pub fn metadata(&self, key: &str) -> Option<String> {
        self.metadata_props().into_iter().find(|p| p.key == key).map(|p| p.value)
    }
    /// The local function with this name (and domain, when given).
    pub fn function(&self, domain: Option<&str>, name: &str) -> Option<&Function> {
        self.functions.iter().find(|f| f.name.text == name && domain.is_none_or(|d| f.domain().unwrap_or("") == d))
    }
}

/// An attribute parameter of a function: a name, or an attribute giving its default value.
#[derive(Clone, Debug, PartialEq)]
pub enum FunctionAttr {
    /// `alpha`.
    Plain(Name),
    /// `alpha: float = 1.0`.
    WithDefault(Attribute),
}

impl FunctionAttr {
    /// The attribute's name.
    pub fn name(&self) -> &Name {
        match self {
            FunctionAttr::Plain(n) => n,
            FunctionAttr::WithDefault(a) => &a.name,
        }
    }
    /// The default, when given.
    pub fn default(&self) -> Option<&Attribute> {
        match self {
            FunctionAttr::Plain(_) => None,
            FunctionAttr::WithDefault(a) => Some(a),
        }
    }
}

/// A local function:
/// `<domain: "local", opset_import: [...]> name <attrs> (inputs) => (outputs) <value-infos> { nodes }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Function {
    /// The `<key: value, ...>` header entries, in order.
    pub header: Vec<HeaderEntry>,
    /// The name.
    pub name: Name,
    /// The attribute parameters.
    pub attributes: Vec<FunctionAttr>,
    /// The inputs (optionally typed).
    pub inputs: Vec<ValueInfo>,
    /// The outputs (optionally typed).
    pub outputs: Vec<ValueInfo>,
    /// The `<...>` value-infos after the outputs.
    pub value_infos: Vec<ValueInfo>,
    /// The nodes.
    pub nodes: Vec<Node>,
    /// The whole function.
    pub span: Span,
}

impl Header for Function {
    fn entries(&self) -> &[HeaderEntry] {
        &self.header
    }
}

impl Function {
    /// `overload`.
    pub fn overload(&self) -> Option<&str> {
        self.string("overload")
    }
}
