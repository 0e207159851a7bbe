//! `--format`: the part of Go's `text/template` that people type after
//! `docker ps`, `docker images` and `docker inspect`, evaluated over the JSON
//! the CLI builds for a row (or the whole inspect document). (Go:
//! `text/template`, `text/tabwriter`; docker/cli: `templates/templates.go`,
//! `cli/command/formatter/formatter.go`.)
//!
//! - [`Template::parse`], [`Template::render`]: one template over one value, as
//!   `docker inspect --format`. Errors read like Go's (`template: :1: function
//!   "foo" not defined`); docker prints them after `template parsing error: `,
//!   which the caller adds.
//! - [`format_list`]: `--format` of a list command: `table …` (a header row,
//!   then aligned rows), `json`, or a template printed once per item. A bare
//!   `table` means the command's default table: the caller substitutes it.
//! - [`tabwrite`]: Go's tabwriter with docker's settings, for default tables too.
//!
//! Supported: `{{ }}` with `{{-`/`-}}` trimming; `.`, `.A.B`, `$`, `$x.A`,
//! `(pipeline).A`; strings, numbers, `true`/`false`/`nil`; pipelines `a | f`;
//! `if`/`with`/`range` with `else` and `else if`; `{{$x := …}}` and
//! `{{range $k, $v := …}}`; docker's functions `json split join title lower
//! upper truncate` and Go's `index len println eq ne not`. Not supported:
//! comments, raw strings, `printf`, `and`/`or`, `lt`/`gt`…, `slice`, docker's
//! `pad`, `define`/`template`, `break`/`continue`, methods (ps's `{{.Label
//! "x"}}`). Go rejects an undefined variable when parsing, we when rendering.

use std::fmt::Display;

use anyhow::{Result, anyhow, bail};
use serde_json::{Map, Number, Value};

/// Deeper nesting is refused: it keeps the recursion off the stack's edge.
const MAX_DEPTH: usize = 100;
/// docker/cli's formatter: `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`.
const MIN_WIDTH: usize = 10;
const PADDING: usize = 3;
/// docker's HeaderFunctions: in a table's header these return the title as it is.
const HEADER_FUNCS: &[&str] = &[
    "json", "split", "join", "title", "lower", "upper", "truncate",
];
const FUNCS: &[&str] = &[
    "json", "split", "join", "title", "lower", "upper", "truncate", "index", "len", "println",
    "eq", "ne", "not",
];
static NULL: Value = Value::Null;
static EMPTY: Value = Value::String(String::new());

/// A parsed template: parse once, render each row.
pub struct Template {
    src: String,
    nodes: Vec<Node>,
}

enum Node {
    Text(String),
    Action(Pipe),
    /// `if`, `with` or `range`: its pipeline, its body, its `{{else}}` branch.
    Block(&'static str, Pipe, Vec<Node>, Vec<Node>),
}

/// `$k, $v := cmd | cmd`: never empty; a command is a function and its
/// arguments, or one operand.
struct Pipe {
    decl: Vec<String>,
    cmds: Vec<Vec<Arg>>,
}

/// An operand, with its place and text for error messages (`at <.ID.Foo>`).
struct Arg {
    pos: usize,
    text: String,
    kind: Kind,
}

enum Kind {
    /// `.A.B` from dot, or `$x.A.B` from a variable.
    Field(Option<String>, Vec<String>),
    Func(String),
    Lit(Value),
    /// `(pipeline).A.B`
    Sub(Pipe, Vec<String>),
}

/// A token (`|` `,` `:=` `(` `)`, a quoted string or a word) and where it starts.
type Tok = (usize, String);

enum Seg {
    Text(String),
    Action(usize, Vec<Tok>),
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn error(src: &str, pos: usize, msg: impl Display) -> anyhow::Error {
    anyhow!("template: :{}: {msg}", 1 + src[..pos].matches('\n').count())
}

/// Splits the source into text and actions (Go: `text/template/parse/lex.go`).
/// Unlike Go's, the first `}}` ends an action even inside a quoted string.
fn lex(src: &str) -> Result<Vec<Seg>> {
    let (mut segs, mut i, mut trim) = (Vec::new(), 0, false);
    loop {
        let open = src[i..].find("{{").map_or(src.len(), |k| i + k);
        // `{{- ` trims the space before it; the `-` needs a space after it (`{{-3}}` is -3).
        let left = src[open..].starts_with("{{-") && src[open + 3..].starts_with(is_space);
        let text = src[i..open].trim_start_matches(|c| trim && is_space(c));
        let text = text.trim_end_matches(|c| left && is_space(c));
        if !text.is_empty() {
            segs.push(Seg::Text(text.to_string()));
        }
        let start = open + if left { 4 } else { 2 };
        if open == src.len() {
            return Ok(segs);
        }
        let Some(len) = src[start..].find("}}") else {
            return Err(error(src, open, "unclosed action"));
        };
        // ` -}}` trims the space after it.
        let inner = &src[start..start + len];
        trim = inner.ends_with('-') && inner[..len - 1].ends_with(is_space);
        let inner = if trim { &inner[..len - 2] } else { inner };
        segs.push(Seg::Action(open, tokens(inner, start)));
        i = start + len + 2;
    }
}

fn tokens(s: &str, base: usize) -> Vec<Tok> {
    let (mut toks, mut k) = (Vec::new(), 0);
    while let Some(c) = s[k..].chars().next() {
        let rest = &s[k..];
        let len = match c {
            c if is_space(c) => {
                k += 1;
                continue;
            }
            '|' | ',' | '(' | ')' => 1,
            ':' if rest.starts_with(":=") => 2,
            // To the quote that no backslash escapes, or to the end.
            '"' => {
                let mut escaped = false;
                let end = rest[1..].find(|c| {
                    let closes = c == '"' && !escaped;
                    escaped = c == '\\' && !escaped;
                    closes
                });
                end.map_or(rest.len(), |e| e + 2)
            }
            _ => rest
                .find(|c| is_space(c) || "|,():\"".contains(c))
                .unwrap_or(rest.len()),
        };
        let len = len.max(c.len_utf8());
        toks.push((base + k, rest[..len].to_string()));
        k += len;
    }
    toks
}

/// Go's lexer takes letters, digits and `_` in names; anything else is a "bad character".
fn check_name(name: &str) -> Result<(), String> {
    match name.chars().find(|&c| c != '_' && !c.is_alphanumeric()) {
        Some(c) => Err(format!("bad character U+{:04X} '{c}'", c as u32)),
        None => Ok(()),
    }
}

/// `.A.B` → `[A, B]`; `.` or nothing → `[]`.
fn fields(path: &str) -> Result<Vec<String>, String> {
    if path.len() <= 1 {
        return Ok(Vec::new());
    }
    let field = |n: &str| match n {
        "" => Err("unexpected . after term".to_string()),
        n => check_name(n).map(|_| n.to_string()),
    };
    path[1..].split('.').map(field).collect()
}

/// What a token is as an operand.
fn operand_kind(w: &str) -> Result<Kind, String> {
    let c = w.chars().next().unwrap_or(' ');
    if c == '"' {
        // JSON strings share Go's escapes \" \\ \n \t \u00e9 (a raw tab is fine in Go).
        return match serde_json::from_str::<String>(&w.replace('\t', "\\t")) {
            Ok(text) => Ok(Kind::Lit(text.into())),
            Err(e) if e.is_eof() => Err("unterminated quoted string".into()),
            Err(_) => Err("invalid syntax".into()),
        };
    }
    if c == '$' || (c == '.' && !w[1..].starts_with(|d: char| d.is_ascii_digit())) {
        let dot = if c == '$' {
            w.find('.').unwrap_or(w.len())
        } else {
            0
        };
        let (var, path) = w.split_at(dot);
        check_name(var.get(1..).unwrap_or_default())?;
        let var = (c == '$').then(|| var.to_string());
        return Ok(Kind::Field(var, fields(path)?));
    }
    if c.is_ascii_digit() || matches!(c, '-' | '+' | '.') {
        return match (w.parse::<i64>(), w.parse().ok().and_then(Number::from_f64)) {
            (Ok(i), _) => Ok(Kind::Lit(i.into())),
            (_, Some(f)) => Ok(Kind::Lit(Value::Number(f))),
            _ => Err(format!("bad number syntax: {w:?}")),
        };
    }
    match w {
        "true" | "false" => Ok(Kind::Lit(Value::Bool(w == "true"))),
        "nil" => Ok(Kind::Lit(Value::Null)),
        _ if FUNCS.contains(&w) => Ok(Kind::Func(w.to_string())),
        _ => check_name(w).and(Err(format!("function {w:?} not defined"))),
    }
}

enum Stop {
    End(usize),
    Else(usize),
    Eof,
}

struct Parser<'a> {
    src: &'a str,
    segs: std::vec::IntoIter<Seg>,
    /// The current action's tokens, and the next one to read.
    toks: Vec<Tok>,
    i: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&str> {
        self.toks.get(self.i).map(|(_, t)| t.as_str())
    }

    /// Fails unless the action was read to its end.
    fn done(&self, ctx: &str) -> Result<()> {
        match self.toks.get(self.i) {
            Some((pos, t)) => Err(error(self.src, *pos, format!("unexpected {t:?} in {ctx}"))),
            None => Ok(()),
        }
    }

    fn nest(&mut self, pos: usize) -> Result<()> {
        self.depth += 1;
        match self.depth > MAX_DEPTH {
            true => Err(error(self.src, pos, "max depth exceeded")),
            false => Ok(()),
        }
    }

    /// Nodes up to `{{end}}`, `{{else}}` or the end of the template.
    fn list(&mut self) -> Result<(Vec<Node>, Stop)> {
        let mut nodes = Vec::new();
        while let Some(seg) = self.segs.next() {
            let (pos, toks) = match seg {
                Seg::Text(text) => {
                    nodes.push(Node::Text(text));
                    continue;
                }
                Seg::Action(pos, toks) => (pos, toks),
            };
            (self.toks, self.i) = (toks, 1);
            let first = self.toks.first().map_or("", |(_, w)| w.as_str());
            match ["if", "with", "range", "else", "end"]
                .into_iter()
                .find(|k| *k == first)
            {
                Some("end") => return self.done("end").map(|_| (nodes, Stop::End(pos))),
                Some("else") => return Ok((nodes, Stop::Else(pos))),
                Some(kind) => nodes.push(self.block(kind, pos)?),
                None => {
                    self.i = 0;
                    nodes.push(Node::Action(self.pipeline("command", pos)?));
                    self.done("command")?;
                }
            }
        }
        Ok((nodes, Stop::Eof))
    }

    fn block(&mut self, kind: &'static str, pos: usize) -> Result<Node> {
        self.nest(pos)?;
        let pipe = self.pipeline(kind, pos)?;
        self.done(kind)?;
        let (body, mut stop) = self.list()?;
        let mut alt = Vec::new();
        if let Stop::Else(at) = stop {
            (alt, stop) = match self.peek() {
                // `{{else if …}}` is `{{else}}{{if …}}` sharing the outer `{{end}}`.
                Some("if") => {
                    self.i += 1;
                    (vec![self.block("if", at)?], Stop::End(at))
                }
                _ => self.done("else").and_then(|_| self.list())?,
            };
        }
        self.depth -= 1;
        match stop {
            Stop::End(_) => Ok(Node::Block(kind, pipe, body, alt)),
            Stop::Else(at) => Err(error(self.src, at, "expected end; found {{else}}")),
            Stop::Eof => Err(error(self.src, self.src.len(), "unexpected EOF")),
        }
    }

    /// `[$x :=] command | command …`, up to `)` or the end of the action.
    fn pipeline(&mut self, ctx: &str, pos: usize) -> Result<Pipe> {
        let var = |t: &Tok| t.1.starts_with('$');
        let decl = match &self.toks[self.i..] {
            [k, (_, c), v, (_, d), ..]
                if ctx == "range" && var(k) && c == "," && var(v) && d == ":=" =>
            {
                vec![k.1.clone(), v.1.clone()]
            }
            [v, (_, d), ..] if var(v) && d == ":=" => vec![v.1.clone()],
            _ => Vec::new(),
        };
        self.i += 2 * decl.len();
        let mut cmds: Vec<Vec<Arg>> = Vec::new();
        loop {
            let mut cmd = Vec::new();
            while !matches!(self.peek(), None | Some("|" | ")")) {
                cmd.push(self.operand()?);
            }
            if cmd.is_empty() {
                let what = if cmds.is_empty() { ctx } else { "command" };
                return Err(error(self.src, pos, format!("missing value for {what}")));
            }
            cmds.push(cmd);
            if self.peek() != Some("|") {
                return Ok(Pipe { decl, cmds });
            }
            self.i += 1;
        }
    }

    fn operand(&mut self) -> Result<Arg> {
        let Some((pos, tok)) = self.toks.get(self.i).cloned() else {
            bail!("no operand")
        };
        self.i += 1;
        if tok != "(" {
            let kind = match tok.as_str() {
                "," | ":=" => Err(format!("unexpected {tok:?} in operand")),
                _ => operand_kind(&tok),
            };
            let kind = kind.map_err(|e| error(self.src, pos, e))?;
            return Ok(Arg {
                pos,
                text: tok,
                kind,
            });
        }
        self.nest(pos)?;
        let pipe = self.pipeline("parenthesized pipeline", pos)?;
        self.depth -= 1;
        let Some((close, ")")) = self.toks.get(self.i).map(|(p, t)| (*p, t.as_str())) else {
            return Err(error(self.src, pos, "unclosed left paren"));
        };
        self.i += 1;
        // `(…).A`: a field right after the parenthesis applies to its value.
        let (mut chain, mut end) = (Vec::new(), close + 1);
        let next = self.toks.get(self.i);
        if let Some((at, w)) = next.filter(|(at, w)| *at == end && w.starts_with('.')) {
            chain = fields(w).map_err(|e| error(self.src, *at, e))?;
            (self.i, end) = (self.i + 1, at + w.len());
        }
        Ok(Arg {
            pos,
            text: self.src[pos..end].to_string(),
            kind: Kind::Sub(pipe, chain),
        })
    }
}

impl Template {
    pub fn parse(text: &str) -> Result<Template> {
        let segs = lex(text)?.into_iter();
        let mut parser = Parser {
            src: text,
            segs,
            toks: Vec::new(),
            i: 0,
            depth: 0,
        };
        match parser.list()? {
            (nodes, Stop::Eof) => Ok(Template {
                src: text.to_string(),
                nodes,
            }),
            (_, Stop::End(pos)) => Err(error(text, pos, "unexpected {{end}}")),
            (_, Stop::Else(pos)) => Err(error(text, pos, "unexpected {{else}}")),
        }
    }

    pub fn render(&self, data: &Value) -> Result<String> {
        let mut out = String::new();
        self.exec(data, false, false, &mut out)?;
        Ok(out)
    }

    /// `header`: docker's HeaderFunctions (see `call`); `escape_root`: the data
    /// is a list row, whose `{{json .}}` escapes HTML. On error, `out` keeps
    /// what was written before.
    fn exec(&self, data: &Value, header: bool, escape_root: bool, out: &mut String) -> Result<()> {
        let vars = vec![("$".to_string(), data.clone())];
        let mut exec = Exec {
            src: &self.src,
            root: data,
            vars,
            header,
            escape_root,
        };
        exec.walk(&self.nodes, data, out)
    }
}

struct Exec<'a> {
    src: &'a str,
    root: &'a Value,
    /// Variables in scope, innermost last; `$` is the data.
    vars: Vec<(String, Value)>,
    header: bool,
    escape_root: bool,
}

impl Exec<'_> {
    fn err(&self, arg: &Arg, msg: impl Display) -> anyhow::Error {
        let before = &self.src[..arg.pos];
        let line = 1 + before.matches('\n').count();
        let col = arg.pos - before.rfind('\n').map_or(0, |k| k + 1);
        anyhow!(
            "template: :{line}:{col}: executing \"\" at <{}>: {msg}",
            arg.text
        )
    }

    /// Names get values in reverse: `$v` the element, then `$k` the key (see `block`).
    fn declare(&mut self, names: &[String], values: impl IntoIterator<Item = Value>) {
        self.vars.extend(names.iter().rev().cloned().zip(values));
    }

    fn walk(&mut self, nodes: &[Node], dot: &Value, out: &mut String) -> Result<()> {
        for node in nodes {
            match node {
                Node::Text(text) => out.push_str(text),
                // An action that declares a variable prints nothing; nil prints `<no value>`.
                Node::Action(pipe) => {
                    let v = self.eval(pipe, dot)?;
                    if pipe.decl.is_empty() {
                        out.push_str(&if v.is_null() {
                            "<no value>".into()
                        } else {
                            go_print(&v)
                        });
                    }
                    self.declare(&pipe.decl, [v]);
                }
                // A variable declared in a block lives until its `{{end}}`.
                Node::Block(kind, pipe, body, alt) => {
                    let scope = self.vars.len();
                    let result = self.block(kind, pipe, [body, alt], dot, out);
                    self.vars.truncate(scope);
                    result?;
                }
            }
        }
        Ok(())
    }

    fn block(
        &mut self,
        kind: &str,
        pipe: &Pipe,
        [body, alt]: [&Vec<Node>; 2],
        dot: &Value,
        out: &mut String,
    ) -> Result<()> {
        let val = self.eval(pipe, dot)?;
        let items: Vec<(Value, Value)> = match val {
            _ if kind != "range" => {
                self.declare(&pipe.decl, [val.clone()]);
                let dot = if kind == "with" { &val } else { dot };
                return match truth(&val) {
                    true => self.walk(body, dot, out),
                    false => self.walk(alt, dot, out),
                };
            }
            // Go ranges over a map in key order, and zero times over nil.
            Value::Array(a) => a
                .into_iter()
                .enumerate()
                .map(|(i, v)| (v, i.into()))
                .collect(),
            Value::Object(m) => sorted(&m)
                .map(|(k, v)| (v.clone(), k.clone().into()))
                .collect(),
            Value::Null => Vec::new(),
            v => {
                let msg = format!("range can't iterate over {}", go_print(&v));
                return Err(self.err(&pipe.cmds[0][0], msg));
            }
        };
        if items.is_empty() {
            return self.walk(alt, dot, out);
        }
        let scope = self.vars.len();
        for (elem, key) in items {
            self.vars.truncate(scope);
            self.declare(&pipe.decl, [elem.clone(), key]);
            self.walk(body, &elem, out)?;
        }
        Ok(())
    }

    fn eval(&mut self, pipe: &Pipe, dot: &Value) -> Result<Value> {
        let mut val = None;
        for cmd in &pipe.cmds {
            val = Some(self.command(cmd, dot, val)?);
        }
        Ok(val.unwrap_or_default())
    }

    /// A function gets the value piped into it as its last argument.
    fn command(&mut self, cmd: &[Arg], dot: &Value, piped: Option<Value>) -> Result<Value> {
        let Some(first) = cmd.first() else {
            return Ok(Value::Null);
        };
        let Kind::Func(name) = &first.kind else {
            return match cmd.len() > 1 || piped.is_some() {
                true => Err(self.err(
                    first,
                    format!("can't give argument to non-function {}", first.text),
                )),
                false => self.arg(first, dot),
            };
        };
        let mut args = Vec::new();
        for arg in &cmd[1..] {
            args.push(self.arg(arg, dot)?);
        }
        args.extend(piped);
        self.call(name, args).map_err(|e| self.err(first, e))
    }

    fn arg(&mut self, arg: &Arg, dot: &Value) -> Result<Value> {
        let owned;
        let (mut v, chain) = match &arg.kind {
            Kind::Field(None, chain) => (dot, chain),
            Kind::Field(Some(var), chain) => match self.vars.iter().rev().find(|(n, _)| n == var) {
                Some((_, v)) => (v, chain),
                None => return Err(self.err(arg, format!("undefined variable {var:?}"))),
            },
            Kind::Lit(v) => return Ok(v.clone()),
            Kind::Func(name) => return self.call(name, Vec::new()).map_err(|e| self.err(arg, e)),
            Kind::Sub(pipe, chain) => {
                owned = self.eval(pipe, dot)?;
                (&owned, chain)
            }
        };
        for name in chain {
            v = match v {
                // Go: a missing map key is "no value" (printed `<no value>`), not an error.
                Value::Object(m) => m.get(name).unwrap_or(&NULL),
                Value::Null => &NULL,
                v => {
                    return Err(self.err(
                        arg,
                        format!("can't evaluate field {name} in type {}", go_type(v)),
                    ));
                }
            };
        }
        Ok(v.clone())
    }

    fn call(&self, name: &str, args: Vec<Value>) -> Result<Value> {
        let want = match name {
            "index" | "println" | "eq" => args.len(),
            "split" | "join" | "truncate" | "ne" => 2,
            _ => 1,
        };
        let got = args.len();
        if got != want {
            bail!("wrong number of args for {name}: want {want} got {got}");
        }
        let arg = |i: usize| args.get(i).unwrap_or(&NULL);
        let s = |i: usize| str_arg(arg(i));
        if self.header && HEADER_FUNCS.contains(&name) {
            return Ok(s(0)?.into());
        }
        Ok(match name {
            // docker's json turns HTML escaping off, but a ps/images row is first
            // marshalled by its own MarshalJSON (json.Marshal), which escapes <, >, &.
            "json" => go_json(arg(0), self.escape_root && arg(0) == self.root).into(),
            // Go's strings.Split with an empty separator splits after each character.
            "split" if s(1)?.is_empty() => s(0)?.chars().map(String::from).collect(),
            "split" => s(0)?.split(s(1)?).collect(),
            "join" => match arg(0) {
                Value::Array(a) => join(a, s(1)?).into(),
                Value::Null => "".into(), // a nil slice, as docker's typed structs have
                v => bail!(
                    "wrong type for value; expected []string; got {}",
                    go_type(v)
                ),
            },
            "title" => title(s(0)?).into(),
            "lower" => s(0)?.to_lowercase().into(),
            "upper" => s(0)?.to_uppercase().into(),
            // Go cuts bytes, even inside a character; we cut at a character boundary.
            "truncate" => {
                let Some(n) = arg(1).as_u64() else {
                    bail!("error calling truncate: bad length {}", arg(1))
                };
                let (text, n) = (s(0)?, usize::try_from(n).unwrap_or(usize::MAX));
                let end = (0..=n.min(text.len()))
                    .rev()
                    .find(|&e| text.is_char_boundary(e));
                text[..end.unwrap_or(0)].into()
            }
            "index" => index(arg(0), args.get(1..).unwrap_or_default())?,
            "len" => match arg(0) {
                Value::String(s) => s.len().into(), // bytes, as Go's len
                Value::Array(a) => a.len().into(),
                Value::Object(m) => m.len().into(),
                Value::Null => 0.into(),
                v => bail!("error calling len: len of type {}", go_type(v)),
            },
            "println" => (join(&args, " ") + "\n").into(),
            "eq" => args.iter().skip(1).any(|b| go_eq(arg(0), b)).into(),
            "ne" => (!go_eq(arg(0), arg(1))).into(),
            "not" => (!truth(arg(0))).into(),
            _ => bail!("function {name:?} not defined"),
        })
    }
}

fn str_arg(v: &Value) -> Result<&str> {
    match v {
        Value::String(s) => Ok(s),
        v => bail!("wrong type for value; expected string; got {}", go_type(v)),
    }
}

/// Go's `index x k1 k2` is `x[k1][k2]`. A missing map key gives the zero value
/// of the map's element type: "" for docker's `map[string]string` labels (and
/// for a null map: a nil one of those), nil otherwise.
fn index(item: &Value, keys: &[Value]) -> Result<Value> {
    let mut v = item;
    for key in keys {
        v = match (v, key) {
            (Value::Object(m), Value::String(k)) => match m.get(k) {
                Some(x) => x,
                None if m.values().all(Value::is_string) => &EMPTY,
                None => &NULL,
            },
            (Value::Null, Value::String(_)) => &EMPTY,
            (Value::Array(a), Value::Number(n)) => {
                let found = n.as_u64().and_then(|i| a.get(usize::try_from(i).ok()?));
                found.ok_or_else(|| anyhow!("error calling index: index out of range: {n}"))?
            }
            (v, k) => bail!(
                "error calling index: cannot index {} with {}",
                go_type(v),
                go_type(k)
            ),
        };
    }
    Ok(v.clone())
}

fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "nil",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// Go's truth: false, 0, nil, and empty strings, slices and maps are false.
fn truth(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

fn join(items: &[Value], sep: &str) -> String {
    items.iter().map(go_print).collect::<Vec<_>>().join(sep)
}

fn go_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn sorted(m: &Map<String, Value>) -> impl Iterator<Item = (&String, &Value)> {
    let mut pairs: Vec<_> = m.iter().collect();
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    pairs.into_iter()
}

/// Go's fmt `%v`: strings raw, slices `[a b]`, maps `map[k:v]` (keys sorted), nil `<nil>`.
fn go_print(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_f64() => go_float(n.as_f64().unwrap_or_default()),
        Value::Array(a) => format!("[{}]", join(a, " ")),
        Value::Object(m) => {
            let pairs: Vec<_> = sorted(m)
                .map(|(k, v)| format!("{k}:{}", go_print(v)))
                .collect();
            format!("map[{}]", pairs.join(" "))
        }
        _ => v.to_string(),
    }
}

/// `%v` of a float64 is `%g` with the shortest digits: exponent form when the
/// exponent is below -4 or at least 6 (`1e+06`, `1e-05`), plain otherwise.
fn go_float(f: f64) -> String {
    let e = format!("{f:e}");
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    match exp.parse::<i32>().unwrap_or(0) {
        x if (-4..6).contains(&x) => f.to_string(),
        x => format!("{mantissa}e{x:+03}"),
    }
}

/// Go's encoding/json, compact. serde_json writes the same (keys sorted as Go
/// sorts a map's, the same escapes) but for floats (Go: `1` and `1e+21` where
/// serde_json writes `1.0` and `1e21`) and these escapes, which Go adds: U+2028
/// and U+2029 always, `<`, `>`, `&` when escaping HTML. All occur only in strings.
fn go_json(v: &Value, escape_html: bool) -> String {
    let mut out = String::new();
    for c in v.to_string().chars() {
        match c {
            '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            '<' | '>' | '&' if escape_html => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Go's strings.Title: upper-cases a letter that follows a separator (in ASCII,
/// anything but a letter, digit or `_`; beyond it, white space).
fn title(s: &str) -> String {
    let (mut out, mut prev) = (String::new(), ' ');
    for c in s.chars() {
        let word = prev.is_alphanumeric() || prev == '_';
        match !word && (prev.is_ascii() || prev.is_whitespace()) {
            true => out.extend(c.to_uppercase()),
            false => out.push(c),
        }
        prev = c;
    }
    out
}

/// Go's `text/tabwriter` as docker/cli sets it up (`NewWriter(out, 10, 1, 3, ' ', 0)`).
/// A cell ends with a tab; the text after a line's last tab is in no column
/// and never padded. Tab-ended cells of consecutive lines make a column, as
/// wide as its widest cell plus 3, and at least 10. Widths are counted in
/// characters (docker's fork counts East Asian wide ones as 2).
pub fn tabwrite(text: &str) -> String {
    tabwrite_min(text, MIN_WIDTH)
}

/// The same with another minimum cell width (`docker top` asks for 20).
pub fn tabwrite_min(text: &str, min_width: usize) -> String {
    let mut lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
    // Flush drops an empty unterminated last cell: a final "a\t" is one cell, in no column.
    if let Some(last) = lines.last_mut().filter(|l| l.last() == Some(&"")) {
        last.pop();
    }
    let mut widths: Vec<Vec<usize>> = lines
        .iter()
        .map(|l| vec![0; l.len().saturating_sub(1)])
        .collect();
    let columns = widths.iter().map(Vec::len).max().unwrap_or(0);
    for col in 0..columns {
        let mut i = 0;
        while i < lines.len() {
            let (start, mut width) = (i, min_width);
            while i < lines.len() && lines[i].len() > col + 1 {
                width = width.max(lines[i][col].chars().count() + PADDING);
                i += 1;
            }
            widths[start..i].iter_mut().for_each(|w| w[col] = width);
            i += usize::from(i == start);
        }
    }
    let mut out = Vec::new();
    for (cells, widths) in lines.iter().zip(&widths) {
        let width = |j: usize| widths.get(j).copied().unwrap_or(0);
        let padded = cells
            .iter()
            .enumerate()
            .map(|(j, cell)| format!("{cell:<0$}", width(j)));
        out.push(padded.collect::<String>());
    }
    out.join("\n")
}

// ANCHOR: format_list
/// `--format` of a list command, as docker/cli's formatter.Context does it:
/// `table …` renders the rows, then the header by running the same template
/// over `headers` (field → title) with json, upper… returning the title as
/// it is, and aligns it all with [`tabwrite`]; a field without a title prints
/// `<no value>`, as over docker's header map. `json` is `{{json .}}`.
/// Otherwise each item gives a line. The two characters `\t` and `\n` in the
/// format mean tab and newline. Errors start with `template parsing error: `.
pub fn format_list(format: &str, items: &[Value], headers: &[(&str, &str)]) -> Result<String> {
    let table = format.starts_with("table");
    let format = match format {
        _ if table => &format["table".len()..],
        "json" => "{{json .}}",
        other => other,
    };
    let format = format
        .trim_matches(' ')
        .replace("\\t", "\t")
        .replace("\\n", "\n");
    let parsing_error = |e| anyhow!("template parsing error: {e}");
    let template = Template::parse(&format).map_err(parsing_error)?;
    let mut rows = String::new();
    for item in items {
        template
            .exec(item, false, true, &mut rows)
            .map_err(parsing_error)?;
        rows.push('\n');
    }
    if !table {
        return Ok(rows);
    }
    let titles: Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), Value::from(*v)))
        .collect();
    let mut text = String::new();
    // docker ignores a header that fails, keeping what it printed before.
    let _ = template.exec(&Value::Object(titles), true, false, &mut text);
    Ok(tabwrite(&(text + "\n" + &rows)))
}
// ANCHOR_END: format_list

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data() -> Value {
        json!({"Id": "4f66ad9a", "Name": "/web", "Args": ["-g", "off;"], "Env": [],
            "State": {"Pid": 42, "Running": true}, "Labels": {"com.x": "ACME", "m": "N <x@y>"},
            "Mounts": [{"Src": "/a"}, {"Src": "/b"}], "Ports": {"80/tcp": [{"HostPort": "8080"}]}})
    }

    /// Each line of `table`: a template, ` => `, and what it prints over
    /// `data` (or `ERR` and the error); `\n` stands for a newline.
    fn check(table: &str, data: &Value) {
        for line in table.lines().filter(|l| !l.trim().is_empty()) {
            let (template, want) = line.trim_start().split_once(" => ").unwrap_or((line, ""));
            let template = template.replace("\\n", "\n");
            let got = Template::parse(&template).and_then(|t| t.render(data));
            let got = got.unwrap_or_else(|e| format!("ERR {e}"));
            assert_eq!(got, want.replace("\\n", "\n"), "{template}");
        }
    }

    #[test]
    fn fields_values_and_trimming() {
        check(
            r#"
            {{.Id}} {{.State.Pid}} {{.State.Running}} {{.Args}} => 4f66ad9a 42 true [-g off;]
            {{.State.Nope}}|{{.Nope.Deeper}} => <no value>|<no value>
            {{.Mounts}} {{.Labels}} => [map[Src:/a] map[Src:/b]] map[com.x:ACME m:N <x@y>]
            a  {{- .Name -}}\n b {{-3}} => a/webb -3
            "#,
            &data(),
        );
        check(
            "{{.}} => [1.5 1e+06 1e-05 3 <nil> map[]]",
            &json!([1.5, 1e6, 1e-5, 3, null, {}]),
        );
    }

    #[test]
    fn functions() {
        check(
            r#"
            {{index .Labels "com.x"}}|{{index .Labels "y"}}|{{index .Args 1}} => ACME||off;
            {{(index (index .Ports "80/tcp") 0).HostPort}} => 8080
            {{join .Args ","}} {{.Name | upper}} {{lower "AbC"}} {{title "a wide-world"}} => -g,off; /WEB abc A Wide-World
            {{split "a:b" ":"}} {{len .Args}} {{len "héllo"}} {{truncate .Id 4}} {{truncate "héllo" 2}} => [a b] 2 6 4f66 h
            {{println .State.Pid "x"}}{{json .Labels}} => 42 x\n{"com.x":"ACME","m":"N <x@y>"}
            {{json .Args}} {{json .State.Pid}} {{json .Nope}} {{json "\u2028"}} => ["-g","off;"] 42 null "\u2028"
            {{join .Nope ","}}|{{len .Nope}}|{{index .Nope "k"}} => |0|
            "#,
            &data(),
        );
    }

    #[test]
    fn control_flow_and_variables() {
        let truthiness = "{{range .}}{{if .}}T{{else}}F{{end}}{{end}} => TFFTFFTFTFT";
        check(
            truthiness,
            &json!([true, false, 0, 0.5, null, "", "x", [], [0], {}, {"a": 0}]),
        );
        check(
            r#"
            {{if eq .Name "/db"}}D{{else if .State.Running}}R{{else}}?{{end}} => R
            {{if not .Env}}{{with .State}}{{.Pid}}{{end}}{{end}}{{with .No}}x{{else}}-{{end}} => 42-
            {{range .Mounts}}{{.Src}};{{end}} => /a;/b;
            {{range $k, $v := .Labels}}{{$k}}={{$v}};{{end}} => com.x=ACME;m=N <x@y>;
            {{range $i, $m := .Mounts}}{{$i}}{{$m.Src}}{{$.Name}};{{end}} => 0/a/web;1/b/web;
            {{range .Env}}x{{else}}none{{end}}{{range .Nope}}y{{end}} => none
            {{$n := .Name}}{{range .Args}}{{$n}}{{.}},{{end}} => /web-g,/weboff;,
            "#,
            &data(),
        );
    }

    #[test]
    fn execution_errors_read_like_go() {
        check(
            r#"
            {{.Name.Foo}} => ERR template: :1:2: executing "" at <.Name.Foo>: can't evaluate field Foo in type string
            {{index .Args 5}} => ERR template: :1:2: executing "" at <index>: error calling index: index out of range: 5
            {{upper .State.Pid}} => ERR template: :1:2: executing "" at <upper>: wrong type for value; expected string; got int
            {{json}} => ERR template: :1:2: executing "" at <json>: wrong number of args for json: want 1 got 0
            {{range .Name}}{{end}} => ERR template: :1:8: executing "" at <.Name>: range can't iterate over /web
            {{if 1}}{{$x := 1}}{{end}}{{$x}} => ERR template: :1:28: executing "" at <$x>: undefined variable "$x"
            "#,
            &data(),
        );
    }

    #[test]
    fn parse_errors_read_like_go() {
        check(
            r#"
            {{.ID}x}} => ERR template: :1: bad character U+007D '}'
            {{.} => ERR template: :1: unclosed action
            {{}} => ERR template: :1: missing value for command
            {{range}}{{end}} => ERR template: :1: missing value for range
            {{if .}}{{else}}{{else}}{{end}} => ERR template: :1: expected end; found {{else}}
            {{else}} => ERR template: :1: unexpected {{else}}
            x\n{{end}} => ERR template: :2: unexpected {{end}}
            {{if .}} => ERR template: :1: unexpected EOF
            {{foo .}} => ERR template: :1: function "foo" not defined
            {{"a\qb"}} => ERR template: :1: invalid syntax
            {{"ab}} => ERR template: :1: unterminated quoted string
            {{(.A}} => ERR template: :1: unclosed left paren
            {{.A)}} => ERR template: :1: unexpected ")" in command
            {{.A.}} => ERR template: :1: unexpected . after term
            {{1x}} => ERR template: :1: bad number syntax: "1x"
            {{.A , .B}} => ERR template: :1: unexpected "," in operand
            "#,
            &data(),
        );
    }

    #[test]
    fn odd_input_never_panics() {
        let pieces = [
            "{{", "}}", "{{-", " -}}", ".", ".A", "$", "$x", ":=", ",", "|", "(", ")", "\"", "\\",
            "-", "1e", "if", "else", "range", "with", "end", "json", "index", "nil", " ", "\n",
            "é", "\t",
        ];
        let mut seed = 7u64;
        for _ in 0..20_000 {
            let mut src = String::new();
            for _ in 0..seed % 12 {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                src.push_str(pieces[(seed >> 33) as usize % pieces.len()]);
            }
            if let Ok(t) = Template::parse(&src) {
                let _ = t.render(&data());
            }
            let _ = format_list(&format!("table {src}"), &[data()], &[("A", "AA")]);
        }
        let deep = [
            "{{if .}}".repeat(5000),
            format!("{{{{{}}}}}", "(".repeat(5000)),
        ];
        assert!(deep.iter().all(|src| Template::parse(src).is_err()));
    }

    #[test]
    fn tabwriter_like_go() {
        // `docker images`: the last column is never padded.
        let images = "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\n\
                      alpine\tlatest\tc059bfaa849c\t2 weeks ago\t5.59MB\n";
        let aligned = "REPOSITORY   TAG       IMAGE ID       CREATED       SIZE\n\
                       alpine       latest    c059bfaa849c   2 weeks ago   5.59MB\n";
        assert_eq!(tabwrite(images), aligned);
        // A column spans only consecutive lines that have the cell (Go's doc example).
        let cells = tabwrite("aaaa\tbbb\td\naa\tb\tdd\na\t\naa\tcccc\teee");
        let want =
            "aaaa      bbb       d\naa        b         dd\na         \naa        cccc      eee";
        assert_eq!(cells, want);
        assert_eq!(tabwrite("no tabs\n\nx\t"), "no tabs\n\nx");
    }

    #[test]
    fn list_formats_like_docker() {
        let headers = [
            ("ID", "CONTAINER ID"),
            ("Image", "IMAGE"),
            ("Command", "COMMAND"),
        ]
        .into_iter()
        .chain([
            ("RunningFor", "CREATED"),
            ("Status", "STATUS"),
            ("Ports", "PORTS"),
        ])
        .chain([("Names", "NAMES")])
        .collect::<Vec<_>>();
        let ps = r"table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";
        let empty = "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n";
        assert_eq!(format_list(ps, &[], &headers).unwrap(), empty);
        let row = json!({"Command": "\"/docker-entrypoint.…\"", "CreatedAt": "2021-03-10 00:15:05 +0100 CET",
            "ID": "a762a2b37a1d", "Image": "nginx", "Labels": "maintainer=NGINX Docker Maintainers <docker-maint@nginx.com>",
            "LocalVolumes": "0", "Mounts": "", "Names": "boring_keldysh", "Networks": "bridge", "Ports": "80/tcp",
            "RunningFor": "4 seconds ago", "Size": "0B", "State": "running", "Status": "Up 3 seconds"});
        let rows = [row.clone()];
        let table = "CONTAINER ID   IMAGE     COMMAND                  CREATED         STATUS         PORTS     NAMES\n\
             a762a2b37a1d   nginx     \"/docker-entrypoint.…\"   4 seconds ago   Up 3 seconds   80/tcp    boring_keldysh\n";
        assert_eq!(format_list(ps, &rows, &headers).unwrap(), table);
        // `docker ps --format json`: the row's own json.Marshal escapes <, >, &.
        let json = r#"{"Command":"\"/docker-entrypoint.…\"","CreatedAt":"2021-03-10 00:15:05 +0100 CET","ID":"a762a2b37a1d","Image":"nginx","Labels":"maintainer=NGINX Docker Maintainers \u003cdocker-maint@nginx.com\u003e","LocalVolumes":"0","Mounts":"","Names":"boring_keldysh","Networks":"bridge","Ports":"80/tcp","RunningFor":"4 seconds ago","Size":"0B","State":"running","Status":"Up 3 seconds"}"#;
        assert_eq!(
            format_list("json", &rows, &[]).unwrap(),
            format!("{json}\n")
        );
        assert_eq!(
            format_list("{{json .}}", &rows, &[]).unwrap(),
            format!("{json}\n")
        );
        // Header functions keep the title; a field without one prints `<no value>`.
        let upper = format_list(r"table {{upper .Names}}\t{{.Foo}}", &rows, &headers).unwrap();
        assert_eq!(
            upper,
            "NAMES            <no value>\nBORING_KELDYSH   <no value>\n"
        );
        let lines = format_list(r"{{.Names}}\n", &[row.clone(), row], &[]).unwrap();
        assert_eq!(lines, "boring_keldysh\n\nboring_keldysh\n\n");
        let err = format_list("{{.ID}x}}", &[], &[]).unwrap_err().to_string();
        assert_eq!(
            err,
            "template parsing error: template: :1: bad character U+007D '}'"
        );
    }
}
