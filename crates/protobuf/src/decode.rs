//! Schema-driven conversion of gogo-protobuf bytes to the JSON that Go's
//! `encoding/json` would write for the same Kubernetes Go struct.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::schema::{Field, Msg, Shape, Ty};
use crate::schema_gen::MESSAGES;
use crate::wire::{expect, Reader, FIXED32, FIXED64, LEN, VARINT};
use crate::ProtobufError;

/// Deepest message nesting accepted; real objects stay far below this and it
/// keeps recursion on hostile input bounded.
pub(crate) const MAX_DEPTH: usize = 64;

/// Seconds of Go's zero `time.Time` (0001-01-01T00:00:00Z) since the Unix epoch.
const GO_ZERO_TIME_SECS: i64 = -62_135_596_800;

fn malformed(msg: &Msg, field: &Field, reason: impl std::fmt::Display) -> ProtobufError {
    ProtobufError::Malformed(format!("{}.{}: {reason}", msg.name, field.json))
}

/// What has been read so far for one field.
enum Slot<'a> {
    Empty,
    Val(Value),
    /// Sub-message chunks; protobuf merges repeated occurrences, which is
    /// what decoding the chunks in sequence does.
    Chunks(Vec<&'a [u8]>),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
}

pub(crate) fn message(
    idx: u16,
    chunks: &[&[u8]],
    depth: usize,
) -> Result<Map<String, Value>, ProtobufError> {
    if depth > MAX_DEPTH {
        return Err(ProtobufError::TooDeep(MAX_DEPTH));
    }
    let msg = MESSAGES
        .get(usize::from(idx))
        .ok_or_else(|| ProtobufError::Malformed("schema index out of range".into()))?;
    let mut slots: Vec<Slot> = msg.fields.iter().map(|_| Slot::Empty).collect();
    for chunk in chunks {
        let mut r = Reader::new(chunk);
        while !r.done() {
            let (num, wire) = r.key()?;
            match msg.fields.iter().position(|f| f.tag == num) {
                Some(i) => read_field(msg, &msg.fields[i], wire, &mut r, &mut slots[i], depth)?,
                None => r.skip(wire)?,
            }
        }
    }
    let mut out = Map::new();
    for (field, slot) in msg.fields.iter().zip(slots) {
        emit(msg, field, slot, depth, &mut out)?;
    }
    Ok(out)
}

fn read_field<'a>(
    msg: &Msg,
    field: &Field,
    wire: u8,
    r: &mut Reader<'a>,
    slot: &mut Slot<'a>,
    depth: usize,
) -> Result<(), ProtobufError> {
    match field.shape {
        Shape::One | Shape::Ptr | Shape::Inline | Shape::InlinePtr => {
            if let Ty::Msg(_) = field.ty {
                expect(wire, LEN, field.json)?;
                let b = r.bytes()?;
                match slot {
                    Slot::Chunks(v) => v.push(b),
                    _ => *slot = Slot::Chunks(vec![b]),
                }
            } else {
                *slot = Slot::Val(value(msg, field, field.ty, wire, r, depth)?);
            }
        }
        Shape::Rep => {
            if !matches!(slot, Slot::List(_)) {
                *slot = Slot::List(Vec::new());
            }
            let Slot::List(list) = slot else {
                return Err(malformed(msg, field, "internal: list slot"));
            };
            if wire == LEN && scalar_wire(field.ty).is_some_and(|w| w != LEN) {
                // Packed repeated scalars.
                let mut p = Reader::new(r.bytes()?);
                while !p.done() {
                    list.push(value(
                        msg,
                        field,
                        field.ty,
                        scalar_wire(field.ty).unwrap_or(LEN),
                        &mut p,
                        depth,
                    )?);
                }
            } else {
                list.push(value(msg, field, field.ty, wire, r, depth)?);
            }
        }
        Shape::Map => {
            expect(wire, LEN, field.json)?;
            let mut e = Reader::new(r.bytes()?);
            let mut key = String::new();
            let mut val = None;
            while !e.done() {
                let (num, w) = e.key()?;
                match num {
                    1 => {
                        expect(w, LEN, "map key")?;
                        key = String::from_utf8_lossy(e.bytes()?).into_owned();
                    }
                    2 => val = Some(value(msg, field, field.ty, w, &mut e, depth)?),
                    _ => e.skip(w)?,
                }
            }
            let val = match val {
                Some(v) => v,
                None => zero(field.ty, depth)?,
            };
            match slot {
                Slot::Map(m) => {
                    m.insert(key, val);
                }
                _ => *slot = Slot::Map(BTreeMap::from([(key, val)])),
            }
        }
    }
    Ok(())
}

/// The wire type a scalar is encoded with, or None for message-like types.
fn scalar_wire(ty: Ty) -> Option<u8> {
    match ty {
        Ty::Bool | Ty::I32 | Ty::I64 | Ty::U32 | Ty::U64 => Some(VARINT),
        Ty::F64 => Some(FIXED64),
        Ty::F32 => Some(FIXED32),
        Ty::Str | Ty::Bytes => Some(LEN),
        _ => None,
    }
}

/// Decodes one value of type `ty` whose key has been read.
fn value(
    msg: &Msg,
    field: &Field,
    ty: Ty,
    wire: u8,
    r: &mut Reader,
    depth: usize,
) -> Result<Value, ProtobufError> {
    let want = scalar_wire(ty).unwrap_or(LEN);
    expect(wire, want, field.json)?;
    Ok(match ty {
        Ty::Bool => Value::Bool(r.varint()? != 0),
        // Go truncates the varint to the field's width.
        Ty::I32 => Value::from(r.varint()? as i32),
        Ty::I64 => Value::from(r.varint()? as i64),
        Ty::U32 => Value::from(r.varint()? as u32),
        Ty::U64 => Value::from(r.varint()?),
        Ty::F64 => float(msg, field, f64::from_bits(r.fixed64()?))?,
        Ty::F32 => float(msg, field, f64::from(f32::from_bits(r.fixed32()?)))?,
        // gogo does not validate UTF-8; encoding/json then writes U+FFFD.
        Ty::Str => Value::String(String::from_utf8_lossy(r.bytes()?).into_owned()),
        Ty::Bytes => Value::String(base64::engine::general_purpose::STANDARD.encode(r.bytes()?)),
        Ty::Msg(idx) => Value::Object(message(idx, &[r.bytes()?], depth + 1)?),
        Ty::Time => time(msg, field, r.bytes()?, false)?,
        Ty::MicroTime => time(msg, field, r.bytes()?, true)?,
        Ty::Duration => {
            let mut d = 0i64;
            each(r.bytes()?, |num, w, fr| {
                if num == 1 {
                    expect(w, VARINT, "duration")?;
                    d = fr.varint()? as i64;
                } else {
                    fr.skip(w)?;
                }
                Ok(())
            })?;
            Value::String(go_duration(d))
        }
        Ty::Quantity => {
            let mut s = String::new();
            each(r.bytes()?, |num, w, fr| {
                if num == 1 {
                    expect(w, LEN, "quantity")?;
                    s = String::from_utf8_lossy(fr.bytes()?).into_owned();
                } else {
                    fr.skip(w)?;
                }
                Ok(())
            })?;
            // Go marshals the zero Quantity as "0".
            Value::String(if s.is_empty() { "0".into() } else { s })
        }
        Ty::IntOrString => {
            let (mut kind, mut int, mut string) = (0u64, 0i32, String::new());
            each(r.bytes()?, |num, w, fr| {
                match num {
                    1 => {
                        expect(w, VARINT, "intOrString type")?;
                        kind = fr.varint()?;
                    }
                    2 => {
                        expect(w, VARINT, "intOrString intVal")?;
                        int = fr.varint()? as i32;
                    }
                    3 => {
                        expect(w, LEN, "intOrString strVal")?;
                        string = String::from_utf8_lossy(fr.bytes()?).into_owned();
                    }
                    _ => fr.skip(w)?,
                }
                Ok(())
            })?;
            match kind {
                0 => Value::from(int),
                1 => Value::String(string),
                _ => return Err(malformed(msg, field, "impossible IntOrString type")),
            }
        }
        Ty::RawExtension | Ty::FieldsV1 => {
            let mut raw: &[u8] = &[];
            each(r.bytes()?, |num, w, fr| {
                if num == 1 {
                    expect(w, LEN, "raw")?;
                    raw = fr.bytes()?;
                } else {
                    fr.skip(w)?;
                }
                Ok(())
            })?;
            embedded(msg, field, raw, depth)?
        }
        Ty::List(inner) => {
            let mut items = Vec::new();
            let b = r.bytes()?;
            let mut fr = Reader::new(b);
            while !fr.done() {
                let (num, w) = fr.key()?;
                if num != 1 {
                    fr.skip(w)?;
                } else if w == LEN && scalar_wire(*inner).is_some_and(|x| x != LEN) {
                    let mut p = Reader::new(fr.bytes()?);
                    while !p.done() {
                        items.push(value(
                            msg,
                            field,
                            *inner,
                            scalar_wire(*inner).unwrap_or(LEN),
                            &mut p,
                            depth,
                        )?);
                    }
                } else {
                    items.push(value(msg, field, *inner, w, &mut fr, depth)?);
                }
            }
            // A wrapper with no items unmarshals to a nil slice.
            if items.is_empty() {
                Value::Null
            } else {
                Value::Array(items)
            }
        }
    })
}

/// Runs `f` for every field of a small fixed-layout message.
fn each<'a>(
    buf: &'a [u8],
    mut f: impl FnMut(u32, u8, &mut Reader<'a>) -> Result<(), ProtobufError>,
) -> Result<(), ProtobufError> {
    let mut r = Reader::new(buf);
    while !r.done() {
        let (num, w) = r.key()?;
        f(num, w, &mut r)?;
    }
    Ok(())
}

fn float(msg: &Msg, field: &Field, v: f64) -> Result<Value, ProtobufError> {
    if !v.is_finite() {
        return Err(malformed(msg, field, "non-finite number"));
    }
    // Go writes integral floats without a fraction.
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return Ok(Value::from(v as i64));
    }
    serde_json::Number::from_f64(v)
        .map(Value::Number)
        .ok_or_else(|| malformed(msg, field, "number not representable"))
}

/// metav1.Time (seconds precision, as its Unmarshal drops nanos) or
/// metav1.MicroTime (microsecond precision). Empty bytes are the zero time,
/// which both marshal as JSON null.
fn time(msg: &Msg, field: &Field, b: &[u8], micro: bool) -> Result<Value, ProtobufError> {
    if b.is_empty() {
        return Ok(Value::Null);
    }
    let (mut secs, mut nanos) = (0i64, 0i64);
    each(b, |num, w, r| {
        match num {
            1 => {
                expect(w, VARINT, "timestamp seconds")?;
                secs = r.varint()? as i64;
            }
            2 => {
                expect(w, VARINT, "timestamp nanos")?;
                nanos = i64::from(r.varint()? as i32);
            }
            _ => r.skip(w)?,
        }
        Ok(())
    })?;
    let nanos = if micro { nanos / 1000 * 1000 } else { 0 };
    // time.Unix normalises nanoseconds outside [0, 1e9).
    let secs = secs
        .checked_add(nanos.div_euclid(1_000_000_000))
        .ok_or_else(|| malformed(msg, field, "time out of range"))?;
    let nanos = nanos.rem_euclid(1_000_000_000);
    if secs == GO_ZERO_TIME_SECS && nanos == 0 {
        return Ok(Value::Null);
    }
    let t = chrono::DateTime::from_timestamp(secs, nanos as u32)
        .filter(|t| (0..=9999).contains(&chrono::Datelike::year(t)))
        .ok_or_else(|| malformed(msg, field, "time out of range"))?;
    let fmt = if micro {
        "%Y-%m-%dT%H:%M:%S%.6fZ"
    } else {
        "%Y-%m-%dT%H:%M:%SZ"
    };
    Ok(Value::String(t.format(fmt).to_string()))
}

/// The contents of a RawExtension or FieldsV1: JSON, or a nested
/// protobuf-enveloped object.
fn embedded(msg: &Msg, field: &Field, raw: &[u8], depth: usize) -> Result<Value, ProtobufError> {
    if raw.is_empty() {
        return Ok(Value::Null);
    }
    if raw.starts_with(crate::MAGIC) {
        return crate::decode_at(raw, None, depth + 1);
    }
    serde_json::from_slice(raw)
        .map_err(|e| malformed(msg, field, format!("embedded object is not JSON: {e}")))
}

/// Go's `time.Duration.String()`.
pub(crate) fn go_duration(d: i64) -> String {
    let neg = d < 0;
    let mut u = d.unsigned_abs();
    if u == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    if u < 1_000_000_000 {
        let (prec, unit) = if u < 1_000 {
            (0, "ns")
        } else if u < 1_000_000 {
            (3, "µs")
        } else {
            (6, "ms")
        };
        let (int, frac) = frac_digits(u, prec);
        out.push_str(&int.to_string());
        out.push_str(&frac);
        out.push_str(unit);
    } else {
        let (secs, frac) = frac_digits(u, 9);
        u = secs;
        let s = u % 60;
        u /= 60;
        if u > 0 {
            let m = u % 60;
            u /= 60;
            if u > 0 {
                out.push_str(&format!("{u}h"));
            }
            out.push_str(&format!("{m}m"));
        }
        out.push_str(&format!("{s}{frac}s"));
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

/// Splits `v` into `v / 10^prec` and its fraction as ".ddd" without trailing zeros.
fn frac_digits(v: u64, prec: u32) -> (u64, String) {
    let p = 10u64.pow(prec);
    let (int, frac) = (v / p, v % p);
    if frac == 0 {
        return (int, String::new());
    }
    let s = format!("{frac:0width$}", width = prec as usize);
    (int, format!(".{}", s.trim_end_matches('0')))
}

/// Go's zero value of a type, as JSON.
fn zero(ty: Ty, depth: usize) -> Result<Value, ProtobufError> {
    Ok(match ty {
        Ty::Str => Value::String(String::new()),
        Ty::Bool => Value::Bool(false),
        Ty::I32 | Ty::I64 | Ty::U32 | Ty::U64 | Ty::F64 | Ty::F32 | Ty::IntOrString => {
            Value::from(0)
        }
        Ty::Bytes | Ty::Time | Ty::MicroTime | Ty::RawExtension | Ty::FieldsV1 | Ty::List(_) => {
            Value::Null
        }
        Ty::Duration => Value::String("0s".into()),
        Ty::Quantity => Value::String("0".into()),
        Ty::Msg(idx) => Value::Object(message(idx, &[], depth + 1)?),
    })
}

/// Whether encoding/json's omitempty drops this value of a value field.
/// Struct types are never empty to encoding/json.
fn omitted_as_empty(ty: Ty, v: &Value) -> bool {
    match ty {
        Ty::Str
        | Ty::Bool
        | Ty::I32
        | Ty::I64
        | Ty::U32
        | Ty::U64
        | Ty::F64
        | Ty::F32
        | Ty::Bytes
        | Ty::List(_) => match v {
            Value::Null => true,
            Value::Bool(b) => !b,
            Value::String(s) => s.is_empty(),
            Value::Number(n) => n.as_f64() == Some(0.0),
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
        },
        _ => false,
    }
}

fn emit(
    msg: &Msg,
    field: &Field,
    slot: Slot,
    depth: usize,
    out: &mut Map<String, Value>,
) -> Result<(), ProtobufError> {
    let omit = field.omitempty();
    let v = match (field.shape, slot) {
        (Shape::Inline | Shape::InlinePtr, slot) => {
            let chunks = match slot {
                Slot::Chunks(c) => c,
                _ if field.shape == Shape::InlinePtr => return Ok(()),
                _ => Vec::new(),
            };
            let Ty::Msg(idx) = field.ty else {
                return Err(malformed(msg, field, "inline field is not a struct"));
            };
            out.extend(message(idx, &chunks, depth + 1)?);
            return Ok(());
        }
        (Shape::One, Slot::Chunks(c)) | (Shape::Ptr, Slot::Chunks(c)) => match field.ty {
            Ty::Msg(idx) => Value::Object(message(idx, &c, depth + 1)?),
            _ => return Err(malformed(msg, field, "unexpected sub-message")),
        },
        (Shape::One, Slot::Val(v)) => {
            if omit && omitted_as_empty(field.ty, &v) {
                return Ok(());
            }
            v
        }
        (Shape::One, _) => {
            let v = zero(field.ty, depth)?;
            if omit && omitted_as_empty(field.ty, &v) {
                return Ok(());
            }
            v
        }
        // A pointer present on the wire is non-nil, even when it points to a zero value.
        (Shape::Ptr, Slot::Val(v)) => v,
        (Shape::Rep, Slot::List(l)) if !l.is_empty() => Value::Array(l),
        (Shape::Map, Slot::Map(m)) if !m.is_empty() => Value::Object(m.into_iter().collect()),
        // nil pointer, nil slice, nil map.
        (Shape::Ptr | Shape::Rep | Shape::Map, _) => {
            if omit {
                return Ok(());
            }
            Value::Null
        }
    };
    out.insert(field.json.to_string(), v);
    Ok(())
}
