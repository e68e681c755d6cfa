"""Which files a piece of Python writes (``python -c``, ``python - <<EOF``), read statically.

Standard library only (the hook path imports it; ``ast`` only once code looks like it writes).
:func:`python_writes` finds the literal targets of ``open(..., 'w'/'a'/'x'/'+')``,
``Path(...).write_text`` and friends, ``shutil``/``os`` file functions and
``savefig``/``to_csv``/``torch.save``-style savers, and the command strings of
``os.system``/``subprocess`` (analysed by :mod:`mlgate.lock.shell.analyze` as commands of their own).
"""
from __future__ import annotations

import os
import re
from mlgate.record import field, record
TYPE_CHECKING = False

if TYPE_CHECKING:
    import ast


# The words that hint at a write; compiled (and kept by `re`) at the first Python snippet, not
# at import (~1 ms here: most Bash commands have none, and the hook pays its imports each call).
_PY_HINT = (
    r"open\s*\(|write_text|write_bytes|\.touch\(|unlink|rmdir|mkdir|makedirs|rename|replace|"
    r"symlink|hardlink_to|\blink\(|truncate|chmod|shutil|subprocess|os\.system|os\.popen|"
    r"\bexec\s*\(|\beval\s*\(|__import__|importlib|savefig|\.save\w*\(|\.to_(csv|json|parquet|"
    r"pickle|excel|feather|hdf|html|latex|markdown|sql|stata|xml)\(|\bdump\(|copy|move|"
    r"remove|os\.write|fdopen|tofile|writelines|\.write\(")
_PY_COPY = {"copy", "copy2", "copyfile", "copytree", "copymode", "copystat", "copyfileobj"}
_PY_FIRST = {"remove", "unlink", "rmdir", "removedirs", "truncate", "mkdir", "makedirs",
             "chmod", "chown", "rmtree", "mkfifo", "utime", "lchmod", "lchown", "mknod"}
_PY_BOTH = {"rename", "renames", "replace", "move"}
_PY_LAST = {"symlink", "link"}
_PY_METHODS = {"write_text", "write_bytes", "touch", "unlink", "rmdir", "mkdir", "chmod",
               "symlink_to", "hardlink_to", "rename", "replace", "lchmod"}
_PY_SAVERS = {"save", "savez", "savez_compressed", "savetxt", "savefig", "to_csv", "to_json",
              "to_parquet", "to_pickle", "to_excel", "to_feather", "to_hdf", "to_html",
              "to_latex", "to_markdown", "to_stata", "to_xml", "tofile", "dump",
              "save_pretrained", "save_model", "imwrite", "imsave", "write"}


@record
class PythonWrites:
    paths: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)  # shell commands it runs


def python_writes(code: str) -> PythonWrites:
    """Files a piece of Python code (``python -c``, a heredoc) writes, as far as a static read
    can tell: literal paths of ``open(..., 'w'/'a'/'x'/'+')``, ``Path(...).write_text``,
    ``shutil``/``os`` file functions, ``savefig``/``to_csv``/``torch.save``-style savers, and
    ``os.system``/``subprocess`` command strings. A write whose target is not a literal is
    reported in ``unknown``."""
    out = PythonWrites()
    if not re.search(_PY_HINT, code):
        return out
    import ast

    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        out.unknown.append("python code that could not be parsed but may write files")
        return out
    names: dict[str, str | None] = {}
    paths: set[str] = set()  # names bound to a Path(...) value
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and \
                isinstance(node.targets[0], ast.Name):
            names[node.targets[0].id] = _py_literal(node.value, names)
            if _is_path_expr(node.value, paths):
                paths.add(node.targets[0].id)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            _py_call(node, names, paths, out)
    return out


def _is_path_expr(node: ast.AST, paths: set[str]) -> bool:
    """``Path(...)``, ``p / 'x'`` or a name bound to one: a pathlib value, whose
    ``rename``/``replace`` move files (``str.replace`` does not)."""
    import ast

    if isinstance(node, ast.Call):
        return _py_name(node.func).rsplit(".", 1)[-1] in ("Path", "PurePath", "PosixPath",
                                                          "with_name", "with_suffix",
                                                          "joinpath", "resolve", "absolute")
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        return _is_path_expr(node.left, paths) or _is_path_expr(node.right, paths)
    if isinstance(node, ast.Name):
        return node.id in paths
    return False


def _py_literal(node: ast.AST | None, names: dict[str, str | None]) -> str | None:
    import ast

    if node is None:
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.Call) and _py_name(node.func) in ("Path", "PurePath",
                                                              "PosixPath", "pathlib.Path"):
        parts = [_py_literal(a, names) for a in node.args]
        if not parts:
            return "."
        if any(p is None for p in parts):
            return None
        return os.path.join(*[p for p in parts if p is not None])
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        left, right = _py_literal(node.left, names), _py_literal(node.right, names)
        if left is None or right is None:
            return None
        return os.path.join(left, right)
    if isinstance(node, ast.Call) and _py_name(node.func) in ("os.path.join", "join"):
        parts = [_py_literal(a, names) for a in node.args]
        if parts and all(p is not None for p in parts):
            return os.path.join(*[p for p in parts if p is not None])
    return None


def _py_name(node: ast.AST) -> str:
    import ast

    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _py_name(node.value)
        return f"{base}.{node.attr}" if base else node.attr
    return ""


def _py_call(node: ast.Call, names: dict[str, str | None], paths: set[str],
             out: PythonWrites) -> None:
    import ast

    func = node.func
    fname = _py_name(func)
    short = fname.rsplit(".", 1)[-1]
    args = node.args
    kw = {k.arg: k.value for k in node.keywords if k.arg}

    def target(value: ast.AST | None, what: str) -> None:
        lit = _py_literal(value, names)
        if lit is None:
            out.unknown.append(f"python {what} with a target that is not a literal")
        elif lit not in out.paths:
            out.paths.append(lit)

    if short == "open" or fname in ("io.open", "codecs.open", "gzip.open", "bz2.open",
                                     "lzma.open"):
        receiver = func.value if isinstance(func, ast.Attribute) else None
        is_method = receiver is not None and not _py_name(receiver) in (
            "io", "codecs", "gzip", "bz2", "lzma", "os", "tarfile", "zipfile", "builtins")
        if fname == "os.open":
            flags = ast.dump(args[1]) if len(args) > 1 else ""
            if any(f in flags for f in ("O_WRONLY", "O_RDWR", "O_CREAT", "O_APPEND",
                                         "O_TRUNC")) or (len(args) > 1 and not
                                                         isinstance(args[1], ast.Attribute)):
                target(args[0] if args else None, "os.open")
            return
        mode_node = (args[0] if is_method and args else
                     args[1] if not is_method and len(args) > 1 else kw.get("mode"))
        if mode_node is None:
            return  # default mode "r"
        if not (isinstance(mode_node, ast.Constant) and isinstance(mode_node.value, str)):
            target(receiver if is_method else (args[0] if args else kw.get("file")),
                   "open() with a mode that is not a literal")
            return
        if any(ch in mode_node.value for ch in "wax+"):
            target(receiver if is_method else (args[0] if args else kw.get("file")),
                   "open() for writing")
        return
    if fname.startswith("shutil.") or fname in _PY_COPY:
        if short in _PY_COPY and len(args) >= 2:
            target(args[1], f"shutil.{short}")
        elif short in _PY_BOTH and len(args) >= 2:
            target(args[0], f"shutil.{short}")
            target(args[1], f"shutil.{short}")
        elif short in _PY_FIRST and args:
            target(args[0], f"shutil.{short}")
        elif short in _PY_COPY | _PY_BOTH | _PY_FIRST:
            out.unknown.append(f"python shutil.{short} with targets that are not literals")
        return
    if fname.startswith("os."):
        if short in ("system", "popen") and args:
            lit = _py_literal(args[0], names)
            if lit is None:
                out.unknown.append(f"python os.{short} of a command that is not a literal")
            else:
                out.commands.append(lit)
        elif short in _PY_BOTH and len(args) >= 2:
            target(args[0], f"os.{short}")
            target(args[1], f"os.{short}")
        elif short in _PY_LAST and len(args) >= 2:
            target(args[1], f"os.{short}")
        elif short in _PY_FIRST and args:
            target(args[0], f"os.{short}")
        elif short in ("write", "fdopen", "ftruncate"):
            pass  # writes through a descriptor opened elsewhere (os.open is checked)
        return
    if fname.startswith("subprocess.") and short in ("run", "call", "check_call",
                                                     "check_output", "Popen", "getoutput",
                                                     "getstatusoutput"):
        cmd = args[0] if args else kw.get("args")
        if isinstance(cmd, (ast.List, ast.Tuple)):
            parts = [_py_literal(e, names) for e in cmd.elts]
            if all(p is not None for p in parts):
                import shlex

                out.commands.append(shlex.join([p for p in parts if p is not None]))
                return
        lit = _py_literal(cmd, names)
        if lit is None:
            out.unknown.append("python subprocess call of a command that is not a literal")
        else:
            out.commands.append(lit)
        return
    if fname in ("exec", "eval", "compile", "__import__", "execfile"):
        out.unknown.append(f"python {fname}() of code the hook cannot read")
        return
    if isinstance(func, ast.Attribute) and short in _PY_METHODS:
        if short in ("rename", "replace") and not _is_path_expr(func.value, paths):
            return  # str.replace(...) and friends on a value that is not a Path
        target(func.value, f"Path.{short}()")
        if short in ("rename", "replace", "symlink_to", "hardlink_to") and args:
            if short in ("rename", "replace"):
                target(args[0], f"Path.{short}()")
        return
    if short in _PY_SAVERS:
        if short == "write" and isinstance(func, ast.Attribute):
            return  # fh.write(): the open() that made fh is what counts
        if short == "dump":
            return  # json.dump(obj, fh): the file handle comes from an open() seen above
        cand = None
        if fname in ("torch.save",) or short == "save" and len(args) >= 2 and \
                _py_name(func.value if isinstance(func, ast.Attribute) else func) in (
                    "torch", "th"):
            cand = args[1] if len(args) > 1 else kw.get("f")
        elif args:
            cand = args[0]
        else:
            cand = kw.get("path") or kw.get("fname") or kw.get("file") or \
                kw.get("path_or_buf") or kw.get("save_directory")
        if cand is None:
            return  # e.g. model.save() with no path: nothing a literal can tell
        target(cand, f"{short}()")
        return
