//! The JSONPath dialect of client-go's jsonpath package, as CRD
//! additionalPrinterColumns use it: `.a.b`, `['a.b']`, `[0]`, `[-1]`,
//! `[1:3]`, `[*]`, `.*`, `..name`, `[0,2]`, `[?(@.type=="Ready")]`.
//! Missing keys yield no results rather than errors.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Field(String),
    Fields(Vec<String>),
    Wildcard,
    Recursive,
    Slice {
        start: Option<i64>,
        end: Option<i64>,
        step: Option<i64>,
    },
    Index(i64),
    Indices(Vec<i64>),
    Filter(Box<Filter>),
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Path(Vec<Seg>),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

#[derive(Debug, Clone, PartialEq)]
struct Filter {
    left: Operand,
    cmp: Option<(String, Operand)>,
}

/// A parsed JSONPath expression.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    segs: Vec<Seg>,
}

/// The expression does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

/// Evaluation failed as client-go's would (comparing incompatible types,
/// a filter operand matching several values); the cell is then empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalError;

struct Parser<'a> {
    s: &'a [u8],
    src: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn err(&self, what: &str) -> ParseError {
        ParseError(format!("{what} at {} in {:?}", self.pos, self.src))
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn starts_with(&self, p: &str) -> bool {
        self.s[self.pos..].starts_with(p.as_bytes())
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|c| c == b' ' || c == b'\t') {
            self.pos += 1;
        }
    }

    /// A bare field name after `.`: up to the next `.`, `[`, space or `)`;
    /// `\.` escapes a dot.
    fn ident(&mut self) -> Result<String, ParseError> {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            match c {
                b'\\' if self.s.get(self.pos + 1) == Some(&b'.') => {
                    out.push('.');
                    self.pos += 2;
                }
                b'.' | b'[' | b']' | b' ' | b'\t' | b')' | b'=' | b'!' | b'<' | b'>' | b',' => {
                    break
                }
                _ => {
                    // Multi-byte UTF-8 is copied whole.
                    let rest = &self.src[self.pos..];
                    let ch = rest.chars().next().ok_or_else(|| self.err("bad text"))?;
                    out.push(ch);
                    self.pos += ch.len_utf8();
                }
            }
        }
        if out.is_empty() {
            return Err(self.err("expected a field name"));
        }
        Ok(out)
    }

    fn quoted(&mut self) -> Result<String, ParseError> {
        let quote = self.peek().ok_or_else(|| self.err("expected a quote"))?;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let rest = &self.src[self.pos..];
            let ch = rest
                .chars()
                .next()
                .ok_or_else(|| self.err("unterminated string"))?;
            self.pos += ch.len_utf8();
            if ch as u32 == u32::from(quote) {
                return Ok(out);
            }
            if ch == '\\' {
                let next = self.src[self.pos..]
                    .chars()
                    .next()
                    .ok_or_else(|| self.err("unterminated string"))?;
                self.pos += next.len_utf8();
                out.push(match next {
                    'n' => '\n',
                    't' => '\t',
                    other => other,
                });
                continue;
            }
            out.push(ch);
        }
    }

    fn int(&mut self) -> Result<Option<i64>, ParseError> {
        self.skip_ws();
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let text = &self.src[start..self.pos];
        self.skip_ws();
        if text.is_empty() {
            return Ok(None);
        }
        text.parse()
            .map(Some)
            .map_err(|_| self.err("bad array index"))
    }

    fn path(&mut self, stop_at_operator: bool) -> Result<Vec<Seg>, ParseError> {
        let mut segs = Vec::new();
        loop {
            match self.peek() {
                None => break,
                Some(b'.') => {
                    if self.starts_with("..") {
                        self.pos += 2;
                        segs.push(Seg::Recursive);
                        if self.peek() == Some(b'[') {
                            continue;
                        }
                    } else {
                        self.pos += 1;
                    }
                    if self.peek() == Some(b'*') {
                        self.pos += 1;
                        segs.push(Seg::Wildcard);
                    } else if self.peek().is_none() && segs.is_empty() {
                        // `.` alone is the whole object.
                        break;
                    } else {
                        segs.push(Seg::Field(self.ident()?));
                    }
                }
                Some(b'[') => {
                    self.pos += 1;
                    segs.push(self.bracket()?);
                }
                Some(b' ' | b'\t' | b')' | b'=' | b'!' | b'<' | b'>') if stop_at_operator => break,
                Some(_) if segs.is_empty() && !stop_at_operator => {
                    // client-go accepts a leading bare field (`{metadata.name}`).
                    segs.push(Seg::Field(self.ident()?));
                }
                Some(_) => return Err(self.err("unexpected character")),
            }
        }
        Ok(segs)
    }

    fn bracket(&mut self) -> Result<Seg, ParseError> {
        self.skip_ws();
        let seg = match self.peek() {
            Some(b'*') => {
                self.pos += 1;
                Seg::Wildcard
            }
            Some(b'?') => {
                self.pos += 1;
                self.skip_ws();
                if self.peek() != Some(b'(') {
                    return Err(self.err("expected ( after ?"));
                }
                self.pos += 1;
                let f = self.filter()?;
                self.skip_ws();
                if self.peek() != Some(b')') {
                    return Err(self.err("expected ) closing the filter"));
                }
                self.pos += 1;
                Seg::Filter(Box::new(f))
            }
            Some(b'\'' | b'"') => {
                let mut names = vec![self.quoted()?];
                self.skip_ws();
                while self.peek() == Some(b',') {
                    self.pos += 1;
                    self.skip_ws();
                    names.push(self.quoted()?);
                    self.skip_ws();
                }
                if names.len() == 1 {
                    Seg::Field(names.remove(0))
                } else {
                    Seg::Fields(names)
                }
            }
            _ => self.index_or_slice()?,
        };
        self.skip_ws();
        if self.peek() != Some(b']') {
            return Err(self.err("expected ]"));
        }
        self.pos += 1;
        Ok(seg)
    }

    fn index_or_slice(&mut self) -> Result<Seg, ParseError> {
        let first = self.int()?;
        match self.peek() {
            Some(b':') => {
                self.pos += 1;
                let end = self.int()?;
                let step = if self.peek() == Some(b':') {
                    self.pos += 1;
                    self.int()?
                } else {
                    None
                };
                Ok(Seg::Slice {
                    start: first,
                    end,
                    step,
                })
            }
            Some(b',') => {
                let mut all = vec![first.ok_or_else(|| self.err("expected an index"))?];
                while self.peek() == Some(b',') {
                    self.pos += 1;
                    all.push(self.int()?.ok_or_else(|| self.err("expected an index"))?);
                }
                Ok(Seg::Indices(all))
            }
            _ => Ok(Seg::Index(
                first.ok_or_else(|| self.err("expected an index"))?,
            )),
        }
    }

    fn operand(&mut self) -> Result<Operand, ParseError> {
        self.skip_ws();
        match self.peek() {
            Some(b'@') => {
                self.pos += 1;
                Ok(Operand::Path(self.path(true)?))
            }
            Some(b'\'' | b'"') => Ok(Operand::Str(self.quoted()?)),
            _ => {
                let start = self.pos;
                while self
                    .peek()
                    .is_some_and(|c| !matches!(c, b' ' | b'\t' | b')' | b'=' | b'!' | b'<' | b'>'))
                {
                    self.pos += 1;
                }
                let text = &self.src[start..self.pos];
                if let Ok(i) = text.parse::<i64>() {
                    Ok(Operand::Int(i))
                } else if let Ok(f) = text.parse::<f64>() {
                    Ok(Operand::Float(f))
                } else if text == "true" || text == "false" {
                    Ok(Operand::Bool(text == "true"))
                } else {
                    Err(self.err("unrecognized filter operand"))
                }
            }
        }
    }

    fn filter(&mut self) -> Result<Filter, ParseError> {
        let left = self.operand()?;
        self.skip_ws();
        for op in ["==", "!=", "<=", ">=", "<", ">"] {
            if self.starts_with(op) {
                self.pos += op.len();
                let right = self.operand()?;
                return Ok(Filter {
                    left,
                    cmp: Some((op.to_string(), right)),
                });
            }
        }
        Ok(Filter { left, cmp: None })
    }
}

impl JsonPath {
    /// Parses a CRD column's jsonPath, with or without the `{}` template braces.
    pub fn parse(expr: &str) -> Result<JsonPath, ParseError> {
        let mut e = expr.trim();
        if let Some(inner) = e.strip_prefix('{').and_then(|x| x.strip_suffix('}')) {
            e = inner.trim();
        }
        if let Some(rest) = e.strip_prefix('$') {
            e = rest;
        }
        if e.is_empty() {
            return Err(ParseError("empty JSONPath".to_string()));
        }
        let mut p = Parser {
            s: e.as_bytes(),
            src: e,
            pos: 0,
        };
        let segs = p.path(false)?;
        Ok(JsonPath { segs })
    }

    /// Every match, in document order. Err when evaluation fails the way
    /// client-go's does (e.g. comparing incompatible types).
    pub fn find<'v>(&self, root: &'v Value) -> Result<Vec<&'v Value>, EvalError> {
        eval(&self.segs, vec![root])
    }
}

fn descendants<'v>(v: &'v Value, out: &mut Vec<&'v Value>) {
    out.push(v);
    match v {
        Value::Object(m) => m.values().for_each(|c| descendants(c, out)),
        Value::Array(a) => a.iter().for_each(|c| descendants(c, out)),
        _ => {}
    }
}

fn slice_indices(len: i64, start: Option<i64>, end: Option<i64>, step: Option<i64>) -> Vec<usize> {
    let mut s = start.unwrap_or(0);
    if s < 0 {
        s += len;
    }
    let mut e = end.unwrap_or(len);
    if e < 0 {
        e += len;
    }
    let step = step.unwrap_or(1);
    if s == e || step <= 0 || s < 0 || s >= len || e < 0 || e > len || s > e {
        return Vec::new();
    }
    (s..e)
        .step_by(usize::try_from(step).unwrap_or(1))
        .filter_map(|i| usize::try_from(i).ok())
        .collect()
}

fn eval<'v>(segs: &[Seg], mut cur: Vec<&'v Value>) -> Result<Vec<&'v Value>, EvalError> {
    for seg in segs {
        let mut next = Vec::new();
        for v in cur {
            match seg {
                Seg::Field(name) => {
                    if let Some(x) = v.as_object().and_then(|m| m.get(name)) {
                        next.push(x);
                    }
                }
                Seg::Fields(names) => {
                    if let Some(m) = v.as_object() {
                        next.extend(names.iter().filter_map(|n| m.get(n)));
                    }
                }
                Seg::Wildcard => match v {
                    Value::Object(m) => next.extend(m.values()),
                    Value::Array(a) => next.extend(a.iter()),
                    _ => {}
                },
                Seg::Recursive => descendants(v, &mut next),
                Seg::Index(i) => {
                    if let Some(a) = v.as_array() {
                        let len = i64::try_from(a.len()).unwrap_or(i64::MAX);
                        let idx = if *i < 0 { i + len } else { *i };
                        if let Some(x) = usize::try_from(idx).ok().and_then(|u| a.get(u)) {
                            next.push(x);
                        }
                    }
                }
                Seg::Indices(is) => {
                    if let Some(a) = v.as_array() {
                        let len = i64::try_from(a.len()).unwrap_or(i64::MAX);
                        for i in is {
                            let idx = if *i < 0 { i + len } else { *i };
                            if let Some(x) = usize::try_from(idx).ok().and_then(|u| a.get(u)) {
                                next.push(x);
                            }
                        }
                    }
                }
                Seg::Slice { start, end, step } => {
                    if let Some(a) = v.as_array() {
                        let len = i64::try_from(a.len()).unwrap_or(i64::MAX);
                        for i in slice_indices(len, *start, *end, *step) {
                            if let Some(x) = a.get(i) {
                                next.push(x);
                            }
                        }
                    }
                }
                Seg::Filter(f) => {
                    if let Some(a) = v.as_array() {
                        for item in a {
                            if filter_matches(f, item)? {
                                next.push(item);
                            }
                        }
                    }
                }
            }
        }
        cur = next;
    }
    Ok(cur)
}

enum Scalar<'a> {
    Str(&'a str),
    Num(f64),
    Bool(bool),
}

fn scalar_of(v: &Value) -> Option<Scalar<'_>> {
    match v {
        Value::String(s) => Some(Scalar::Str(s)),
        Value::Number(n) => n.as_f64().map(Scalar::Num),
        Value::Bool(b) => Some(Scalar::Bool(*b)),
        _ => None,
    }
}

fn filter_matches(f: &Filter, item: &Value) -> Result<bool, EvalError> {
    let lefts = match &f.left {
        Operand::Path(p) => eval(p, vec![item])?,
        _ => return Err(EvalError),
    };
    let Some((op, right)) = &f.cmp else {
        return Ok(!lefts.is_empty());
    };
    if lefts.is_empty() {
        return Ok(false);
    }
    if lefts.len() > 1 {
        return Err(EvalError);
    }
    let right_value;
    let r = match right {
        Operand::Str(s) => Scalar::Str(s),
        Operand::Int(i) => Scalar::Num(*i as f64),
        Operand::Float(x) => Scalar::Num(*x),
        Operand::Bool(b) => Scalar::Bool(*b),
        Operand::Path(p) => {
            let rs = eval(p, vec![item])?;
            if rs.len() != 1 {
                return Ok(false);
            }
            right_value = rs[0];
            scalar_of(right_value).ok_or(EvalError)?
        }
    };
    let l = scalar_of(lefts[0]).ok_or(EvalError)?;
    let ord = match (l, r) {
        (Scalar::Str(a), Scalar::Str(b)) => a.partial_cmp(b),
        (Scalar::Num(a), Scalar::Num(b)) => a.partial_cmp(&b),
        (Scalar::Bool(a), Scalar::Bool(b)) => {
            return match op.as_str() {
                "==" => Ok(a == b),
                "!=" => Ok(a != b),
                _ => Err(EvalError),
            }
        }
        _ => return Err(EvalError),
    };
    let Some(ord) = ord else {
        return Ok(false);
    };
    use std::cmp::Ordering::*;
    Ok(match op.as_str() {
        "==" => ord == Equal,
        "!=" => ord != Equal,
        "<" => ord == Less,
        ">" => ord == Greater,
        "<=" => ord != Greater,
        ">=" => ord != Less,
        _ => return Err(EvalError),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn find(expr: &str, v: &Value) -> Vec<Value> {
        JsonPath::parse(expr)
            .unwrap()
            .find(v)
            .unwrap()
            .into_iter()
            .cloned()
            .collect()
    }

    #[test]
    fn paths() {
        let obj = json!({
            "metadata": {"name": "x", "labels": {"app.kubernetes.io/name": "web"}},
            "spec": {"replicas": 3, "containers": [
                {"name": "a", "image": "nginx", "ports": [{"containerPort": 80}]},
                {"name": "b", "image": "redis"}
            ]},
            "status": {"conditions": [
                {"type": "Progressing", "status": "True"},
                {"type": "Ready", "status": "False", "count": 2}
            ]}
        });
        assert_eq!(find(".spec.replicas", &obj), vec![json!(3)]);
        assert_eq!(find("{.spec.replicas}", &obj), vec![json!(3)]);
        assert_eq!(find("$.spec.replicas", &obj), vec![json!(3)]);
        assert_eq!(find(".spec.missing", &obj), Vec::<Value>::new());
        assert_eq!(
            find(".spec.containers[*].image", &obj),
            vec![json!("nginx"), json!("redis")]
        );
        assert_eq!(find(".spec.containers[1].name", &obj), vec![json!("b")]);
        assert_eq!(find(".spec.containers[-1].name", &obj), vec![json!("b")]);
        assert_eq!(find(".spec.containers[5].name", &obj), Vec::<Value>::new());
        assert_eq!(find(".spec.containers[0:1].name", &obj), vec![json!("a")]);
        assert_eq!(
            find(".spec.containers[0,1].name", &obj),
            vec![json!("a"), json!("b")]
        );
        assert_eq!(
            find(".status.conditions[?(@.type==\"Ready\")].status", &obj),
            vec![json!("False")]
        );
        assert_eq!(
            find(".status.conditions[?(@.type == 'Ready')].status", &obj),
            vec![json!("False")]
        );
        assert_eq!(
            find(".status.conditions[?(@.type!=\"Ready\")].type", &obj),
            vec![json!("Progressing")]
        );
        assert_eq!(
            find(".status.conditions[?(@.count)].type", &obj),
            vec![json!("Ready")]
        );
        assert_eq!(
            find(".status.conditions[?(@.count>1)].type", &obj),
            vec![json!("Ready")]
        );
        assert_eq!(
            find(".metadata.labels['app.kubernetes.io/name']", &obj),
            vec![json!("web")]
        );
        assert_eq!(
            find(".metadata.labels.app\\.kubernetes\\.io/name", &obj),
            vec![json!("web")]
        );
        assert_eq!(find("..containerPort", &obj), vec![json!(80)]);
        assert_eq!(find(".metadata.*", &obj).len(), 2);
        assert!(JsonPath::parse(".spec[").is_err());
        assert!(JsonPath::parse("").is_err());
        // Comparing a string with a number is an evaluation error upstream.
        let bad = JsonPath::parse(".status.conditions[?(@.type==1)]").unwrap();
        assert!(bad.find(&obj).is_err());
    }
}
