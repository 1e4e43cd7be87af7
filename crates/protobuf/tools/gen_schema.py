#!/usr/bin/env python3
"""Generate crates/protobuf/src/schema_gen.rs from the Go API types.

The Go structs of k8s.io/api and k8s.io/apimachinery carry everything the
decoder needs in their struct tags: the protobuf field number and wire type
(`protobuf:"bytes,3,opt,name=template"`), the JSON name and omitempty
(`json:"template,omitempty"`), and whether the field is a pointer, slice,
map or inlined struct. This script extracts exactly that into a static
table; it copies no code.

Usage (git checkouts or bare mirrors of both repositories):
    gen_schema.py API_GIT_DIR APIMACHINERY_GIT_DIR > src/schema_gen.rs
then run rustfmt on the output.
"""

import re
import subprocess
import sys

API = "k8s.io/api"
AM = "k8s.io/apimachinery"
META = AM + "/pkg/apis/meta/v1"

# Types with hand-written protobuf and JSON codecs: handled natively.
SPECIAL = {
    (META, "Time"): "Time",
    (META, "MicroTime"): "MicroTime",
    (META, "Duration"): "Duration",
    (META, "FieldsV1"): "FieldsV1",
    (AM + "/pkg/api/resource", "Quantity"): "Quantity",
    (AM + "/pkg/util/intstr", "IntOrString"): "IntOrString",
    (AM + "/pkg/runtime", "RawExtension"): "RawExtension",
}
# Named scalars from packages we do not parse.
EXTERNAL_SCALARS = {
    (AM + "/pkg/types", "UID"): "string",
    (AM + "/pkg/types", "NodeName"): "string",
}
BUILTIN = {
    "string": "Str",
    "bool": "Bool",
    "int32": "I32",
    "int64": "I64",
    "uint32": "U32",
    "uint64": "U64",
    "float64": "F64",
    "float32": "F32",
}
META_KINDS = {"Status", "DeleteOptions", "CreateOptions", "UpdateOptions", "PatchOptions", "ListOptions", "GetOptions"}


def git(repo, *args):
    return subprocess.run(["git", "-C", repo] + list(args), check=True, capture_output=True, text=True).stdout


def strip_comments(src):
    out = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c == "`":
            j = src.index("`", i + 1)
            out.append(src[i : j + 1])
            i = j + 1
        elif c == '"':
            j = i + 1
            while src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            out.append(src[i : j + 1])
            i = j + 1
        elif src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
        elif src.startswith("/*", i):
            i = src.index("*/", i) + 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


class Pkg:
    def __init__(self, path):
        self.path = path
        self.structs = {}  # name -> list of raw field tuples + imports
        self.named = {}  # name -> (type expr, imports)
        self.group = None


def parse_imports(src):
    imports = {}
    for block in re.findall(r"^import\s*\((.*?)^\)", src, re.S | re.M):
        for line in block.splitlines():
            m = re.match(r'\s*(\w+\s+)?"([^"]+)"', line)
            if m:
                alias = (m.group(1) or "").strip() or m.group(2).rsplit("/", 1)[-1]
                imports[alias] = m.group(2)
    for m in re.finditer(r'^import\s+(\w+\s+)?"([^"]+)"', src, re.M):
        alias = (m.group(1) or "").strip() or m.group(2).rsplit("/", 1)[-1]
        imports[alias] = m.group(2)
    return imports


def parse_file(pkg, src):
    raw = src
    src = strip_comments(src)
    imports = parse_imports(src)
    m = re.search(r"^// \+groupName=(\S*)", raw, re.M)
    if m:
        pkg.group = m.group(1)
    elif re.search(r"^// \+groupName=\s*$", raw, re.M):
        pkg.group = ""
    m = re.search(r'^\s*(?:const\s+)?GroupName\s*=\s*"([^"]*)"', src, re.M)
    if m and pkg.group is None:
        pkg.group = m.group(1)
    lines = src.splitlines()
    i = 0
    in_type_block = False
    while i < len(lines):
        line = lines[i]
        if re.match(r"^type\s*\($", line):
            in_type_block = True
            i += 1
            continue
        if in_type_block and line.strip() == ")":
            in_type_block = False
            i += 1
            continue
        m = re.match(r"^(?:type\s+|\s+)(\w+)(\[[^\]]*\])?\s+struct\s*\{\s*$", line) if (line.startswith("type") or in_type_block) else None
        if m:
            name = m.group(1)
            body = []
            depth = 1
            i += 1
            while i < len(lines) and depth > 0:
                l = lines[i]
                depth += l.count("{") - l.count("}")
                if depth > 0:
                    body.append(l)
                i += 1
            pkg.structs[name] = (body, imports)
            continue
        m = re.match(r"^(?:type\s+|\s+)(\w+)\s+struct\s*\{\s*\}\s*$", line) if (line.startswith("type") or in_type_block) else None
        if m:
            pkg.structs[m.group(1)] = ([], imports)
            i += 1
            continue
        m = re.match(r"^(?:type\s+|\s+)(\w+)\s+(=\s*)?([\w\.\[\]\*]+)\s*$", line) if (line.startswith("type") or in_type_block) else None
        if m and m.group(3) not in ("struct", "interface"):
            pkg.named[m.group(1)] = (m.group(3), imports)
        i += 1


def load_pkg(repo, commit, modpath, dirpath):
    pkg = Pkg(modpath + "/" + dirpath if dirpath else modpath)
    files = git(repo, "ls-tree", "--name-only", commit, dirpath + "/").split()
    for f in files:
        base = f.rsplit("/", 1)[-1]
        if not base.endswith(".go") or base.endswith("_test.go") or base.startswith("zz_generated") or base in ("generated.pb.go",) or "swagger_doc" in base or "fuzz" in base:
            continue
        parse_file(pkg, git(repo, "show", f"{commit}:{f}"))
    return pkg


def main():
    api_repo, am_repo = sys.argv[1], sys.argv[2]
    api_commit = git(api_repo, "rev-parse", "HEAD").strip()
    am_commit = git(am_repo, "rev-parse", "HEAD").strip()
    pkgs = {}
    dirs = sorted({f.rsplit("/", 1)[0] for f in git(api_repo, "ls-tree", "-r", "--name-only", api_commit).split() if re.match(r"^[a-z0-9]+/v[0-9a-z]+/types\.go$", f)})
    for d in dirs:
        p = load_pkg(api_repo, api_commit, API, d)
        pkgs[p.path] = p
    for d in ["pkg/apis/meta/v1"]:
        p = load_pkg(am_repo, am_commit, AM, d)
        pkgs[p.path] = p

    proto_names = {}  # (pkg, struct) -> {number: proto field name}
    messages = []  # (qualified name, fields)
    index = {}
    warnings = []

    def resolve(expr, pkgpath, imports):
        """Returns a resolved type: ('scalar', Ty) | ('bytes',) | ('msg', key) | ('special', name)
        | ('slice', t) | ('map', k, v) | ('ptr', t) | ('named_slice', t)."""
        if expr.startswith("*"):
            return ("ptr", resolve(expr[1:], pkgpath, imports))
        if expr == "[]byte":
            return ("bytes",)
        if expr.startswith("[]"):
            return ("slice", resolve(expr[2:], pkgpath, imports))
        if expr.startswith("map["):
            depth, j = 0, 3
            while True:
                if expr[j] == "[":
                    depth += 1
                elif expr[j] == "]":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            return ("map", resolve(expr[4:j], pkgpath, imports), resolve(expr[j + 1 :], pkgpath, imports))
        if expr in BUILTIN:
            return ("scalar", BUILTIN[expr])
        if "." in expr:
            alias, name = expr.split(".", 1)
            target = imports.get(alias)
            if target is None:
                raise KeyError(f"unknown import {alias} in {pkgpath}")
        else:
            target, name = pkgpath, expr
        if (target, name) in SPECIAL:
            return ("special", SPECIAL[(target, name)])
        if (target, name) in EXTERNAL_SCALARS:
            return ("scalar", BUILTIN[EXTERNAL_SCALARS[(target, name)]])
        p = pkgs.get(target)
        if p is None:
            raise KeyError(f"package {target} not parsed (type {name})")
        if name in p.structs:
            return ("msg", (target, name))
        if name in p.named:
            under, imps = p.named[name]
            r = resolve(under, target, imps)
            if r[0] == "slice":
                return ("named_slice", r[1])
            return r
        raise KeyError(f"unknown type {target}.{name}")

    def ty_code(r):
        kind = r[0]
        if kind == "scalar":
            return "Ty::" + r[1]
        if kind == "bytes":
            return "Ty::Bytes"
        if kind == "special":
            return "Ty::" + r[1]
        if kind == "msg":
            return f"Ty::Msg({msg_id(r[1])})"
        if kind == "named_slice":
            inner = ty_code(r[1])
            return f"Ty::List(&{inner})"
        raise ValueError(f"unsupported element type {r}")

    def msg_id(key):
        if key in index:
            return index[key]
        idx = len(messages)
        index[key] = idx
        messages.append([key, None])
        messages[idx][1] = build_fields(key)
        return idx

    def build_fields(key):
        pkgpath, name = key
        body, imports = pkgs[pkgpath].structs[name]
        fields = []
        for line in body:
            line = line.strip()
            if not line:
                continue
            m = re.match(r"^(?:(\w+)\s+)?([\w\.\[\]\*]+(?:\[[\w\.\[\]\*]+\][\w\.\[\]\*]+)?)\s*`([^`]*)`\s*$", line)
            if not m:
                m2 = re.match(r"^(\w+)\s+([\w\.\[\]\*]+)\s*$", line)
                if m2 or re.match(r"^[\w\.\*]+$", line):
                    warnings.append(f"{pkgpath}.{name}: untagged field {line!r}")
                    continue
                raise ValueError(f"cannot parse field in {pkgpath}.{name}: {line!r}")
            gname, gtype, tags = m.group(1), m.group(2), m.group(3)
            tagmap = dict(re.findall(r'(\w+):"([^"]*)"', tags))
            js = tagmap.get("json")
            pb = tagmap.get("protobuf")
            embedded = gname is None
            if js == "-":
                continue
            jparts = (js or "").split(",")
            jname = jparts[0]
            omitempty = "omitempty" in jparts[1:]
            inline = embedded and jname == "" or "inline" in jparts[1:]
            if pb is None or pb == "-":
                if embedded and gtype.endswith("TypeMeta"):
                    continue
                warnings.append(f"{pkgpath}.{name}: field without protobuf tag {line!r}")
                continue
            pparts = pb.split(",")
            wire, number = pparts[0], int(pparts[1])
            pname = next((x[5:] for x in pparts if x.startswith("name=")), None)
            proto_names.setdefault((pkgpath, name), {})[number] = pname
            if not jname and not inline:
                jname = gname or gtype.rsplit(".", 1)[-1].lstrip("*")
            r = resolve(gtype, pkgpath, imports)
            flags = []
            if omitempty:
                flags.append("OMIT")
            if inline:
                ptr = r[0] == "ptr"
                inner = r[1] if ptr else r
                if inner[0] != "msg":
                    raise ValueError(f"inline non-struct in {name}: {line}")
                shape = "Shape::InlinePtr" if ptr else "Shape::Inline"
                fields.append((jname, number, ty_code(inner), shape, flags, wire))
                continue
            if r[0] == "ptr":
                shape, inner = "Shape::Ptr", r[1]
            elif r[0] == "slice":
                # A few hand-written tags say "opt" for a slice; the
                # generated .proto is "repeated" regardless.
                shape, inner = "Shape::Rep", r[1]
            elif r[0] == "map":
                shape, inner = "Shape::Map", r[2]
                if r[1] != ("scalar", "Str"):
                    raise ValueError(f"non-string map key in {name}: {line}")
            else:
                shape, inner = "Shape::One", r
            fields.append((jname, number, ty_code(inner), shape, flags, wire))
        return fields

    kinds = []
    for path, p in sorted(pkgs.items()):
        if path == META:
            continue
        gv_dir = path[len(API) + 1 :]
        version = gv_dir.split("/")[1]
        group = p.group
        if group is None:
            warnings.append(f"{path}: no +groupName")
            continue
        api_version = f"{group}/{version}" if group else version
        for sname, (body, imports) in sorted(p.structs.items()):
            if any(re.match(r"^(metav1|v1)\.TypeMeta\s*`", l.strip()) for l in body):
                kinds.append((api_version, sname, msg_id((path, sname))))
    meta_kinds = []
    for sname in sorted(META_KINDS):
        meta_kinds.append((sname, msg_id((META, sname))))
    kinds.sort()

    varint = ("Ty::Bool", "Ty::I32", "Ty::I64", "Ty::U32", "Ty::U64")
    for (path, sname), fields in messages:
        for jname, number, ty, shape, flags, wire in fields:
            want = "varint" if ty in varint else "fixed64" if ty == "Ty::F64" else "fixed32" if ty == "Ty::F32" else "bytes"
            if wire != want:
                # go-to-protobuf derives the wire type from the Go type; a
                # hand-written tag can be wrong (ListMeta.remainingItemCount).
                warnings.append(f"{path}.{sname}.{jname}: tag says {wire}, Go type is {ty}")
    # Cross-check field numbers against the generated .proto of each package.
    protos = {}
    for (path, sname), fields in messages:
        if path not in protos:
            repo, commit, d = (api_repo, api_commit, path[len(API) + 1 :]) if path.startswith(API + "/") else (am_repo, am_commit, path[len(AM) + 1 :])
            try:
                text = git(repo, "show", f"{commit}:{d}/generated.proto")
            except subprocess.CalledProcessError:
                text = ""
            table = {}
            for mm in re.finditer(r"^message (\w+) \{(.*?)^\}", text, re.S | re.M):
                table[mm.group(1)] = {int(n): fname for fname, n in re.findall(r"^\s+(?:optional|repeated)?\s*[\w\.<>, ]+?\s(\w+) = (\d+);", mm.group(2), re.M)}
            protos[path] = table
        want = protos[path].get(sname)
        if want is None:
            warnings.append(f"{path}.{sname}: not in generated.proto")
            continue
        got = {f[1] for f in fields}
        if got != set(want):
            warnings.append(f"{path}.{sname}: field numbers {sorted(got)} != proto {sorted(want)}")
        for num, pname in proto_names.get((path, sname), {}).items():
            if num in want and pname and want[num] != pname:
                warnings.append(f"{path}.{sname}: field {num} named {pname}, proto says {want[num]}")
    w = sys.stdout.write
    w("// @generated by tools/gen_schema.py from the Go struct tags of\n")
    w(f"// kubernetes/api@{api_commit} and kubernetes/apimachinery@{am_commit}.\n")
    w("// Do not edit by hand; re-run the generator.\n\n")
    w("use crate::schema::{f, Msg, Shape, Ty, OMIT};\n\n")
    w(f"pub(crate) static MESSAGES: [Msg; {len(messages)}] = [\n")
    for idx, ((path, sname), fields) in enumerate(messages):
        short = path.replace("k8s.io/", "").replace("/pkg/apis", "")
        w(f'    // {idx}\n    Msg {{ name: "{short}.{sname}", fields: &[\n')
        for jname, number, ty, shape, flags, _wire in fields:
            fl = " | ".join(flags) if flags else "0"
            w(f'        f("{jname}", {number}, {ty}, {shape}, {fl}),\n')
        w("    ]},\n")
    w("];\n\n")
    w("/// (apiVersion, kind, message index), sorted for binary search.\n")
    w(f"pub(crate) static KINDS: [(&str, &str, u16); {len(kinds)}] = [\n")
    for av, k, i in kinds:
        w(f'    ("{av}", "{k}", {i}),\n')
    w("];\n\n")
    w("/// meta/v1 kinds that every group version also serves.\n")
    w(f"pub(crate) static META_KINDS: [(&str, u16); {len(meta_kinds)}] = [\n")
    for k, i in meta_kinds:
        w(f'    ("{k}", {i}),\n')
    w("];\n")
    for wmsg in warnings:
        print("warning:", wmsg, file=sys.stderr)


if __name__ == "__main__":
    main()
