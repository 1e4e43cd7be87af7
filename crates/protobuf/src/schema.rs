//! Shape of the generated schema table (`schema_gen.rs`).

/// Value type of a field, as Go's JSON encoder sees it.
#[derive(Clone, Copy, Debug)]
#[allow(
    dead_code,
    reason = "the decoder handles every Go type the generator can emit; today's API uses a subset"
)]
pub(crate) enum Ty {
    Str,
    Bool,
    I32,
    I64,
    U32,
    U64,
    F64,
    F32,
    /// `[]byte`: base64 in JSON.
    Bytes,
    /// Index into `MESSAGES`.
    Msg(u16),
    Time,
    MicroTime,
    Duration,
    Quantity,
    IntOrString,
    RawExtension,
    FieldsV1,
    /// A named slice type (e.g. `ExtraValue []string`): on the wire a
    /// message `{repeated T items = 1}`, in JSON an array.
    List(&'static Ty),
}

/// How the Go field holds its type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// A value field (`T`).
    One,
    /// A pointer field (`*T`): nil when absent from the wire.
    Ptr,
    /// A slice (`[]T`).
    Rep,
    /// A `map[string]T`.
    Map,
    /// An embedded struct whose fields JSON flattens into the parent.
    Inline,
    /// An embedded pointer to a struct, flattened when non-nil.
    InlinePtr,
}

pub(crate) const OMIT: u8 = 1;

#[derive(Debug)]
pub(crate) struct Field {
    pub json: &'static str,
    pub tag: u32,
    pub ty: Ty,
    pub shape: Shape,
    pub flags: u8,
}

impl Field {
    pub fn omitempty(&self) -> bool {
        self.flags & OMIT != 0
    }
}

#[derive(Debug)]
pub(crate) struct Msg {
    pub name: &'static str,
    pub fields: &'static [Field],
}

pub(crate) const fn f(json: &'static str, tag: u32, ty: Ty, shape: Shape, flags: u8) -> Field {
    Field {
        json,
        tag,
        ty,
        shape,
        flags,
    }
}
