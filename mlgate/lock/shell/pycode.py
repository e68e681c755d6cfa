"""What a piece of Python code may do (``python -c``, ``python - <<EOF``), read statically.

Standard library only (the hook path imports it; ``ast`` only once there is code to read).
:func:`python_writes` reads the code against an **allow-list**, because a deny-list of
writers is never complete (aliases, ``getattr``, ``__import__``, modules reached through
other modules):

* imports: modules that cannot write files or start processes (``json``, ``math``, ``re``,
  ``collections`` …) are free; ``os``, ``sys``, ``pathlib`` and ``shutil`` only through the
  read-only names listed here; numerical libraries (``numpy``, ``torch``, ``pandas`` …) except
  their savers; anything else is *unknown*;
* the builtins that run or reach code (``exec``, ``eval``, ``compile``, ``__import__``,
  ``getattr``, ``globals`` …), names and attributes that start with ``_`` (but
  ``__name__``/``__version__``/``__file__``/``__doc__``), attributes named like a standard
  module that is not on the free list (``platform.os``), string annotations (they are
  evaluated by ``typing.get_type_hints``): *unknown*;
* ``open(path, mode)`` with a literal mode: reading is free, writing gives the literal
  ``path`` (or *unknown* when the path is not a literal); methods that write files
  (``write_text``, ``unlink``, ``mkdir``, ``rename``, ``savefig``, ``to_csv`` …) give their
  literal target or *unknown*.

So ``python -c "print(1)"`` and ``python -c "import json; print(json.dumps(...))"`` write
nothing, and every other shape of code that can write or spawn is reported as unknown, which
the hook refuses while a ticket is Locked. Code that does not parse is unknown too.
"""
from __future__ import annotations

import os
import sys
from mlgate.record import field, record
TYPE_CHECKING = False

if TYPE_CHECKING:
    import ast

# modules with no way to write a file or start a process (free to use)
SAFE_MODULES = frozenset({
    "json", "math", "cmath", "re", "collections", "collections.abc", "itertools",
    "functools", "statistics", "string", "textwrap", "datetime", "time", "calendar",
    "random", "decimal", "fractions", "numbers", "enum", "pprint", "hashlib", "base64",
    "binascii", "struct", "array", "bisect", "heapq", "copy", "difflib", "unicodedata",
    "uuid", "secrets", "zlib", "keyword", "html", "colorsys", "ipaddress", "shlex",
    "errno", "stat", "os.path", "posixpath", "fnmatch", "tomllib", "abc", "dataclasses",
    "contextlib", "locale", "platform", "sysconfig", "zoneinfo", "graphlib", "reprlib",
    "token", "ast",
})
# read-only names of the modules that can also write
_READ_NAMES = {
    "os": frozenset({
        "path", "environ", "getenv", "getcwd", "getcwdb", "listdir", "scandir", "walk",
        "stat", "lstat", "sep", "linesep", "name", "cpu_count", "getpid", "getppid",
        "access", "readlink", "get_terminal_size", "uname", "getuid", "geteuid", "getgid",
        "getegid", "getlogin", "fspath", "fsencode", "fsdecode", "devnull", "curdir",
        "pardir", "pathsep", "extsep", "altsep", "times", "getloadavg", "urandom",
        "sched_getaffinity", "R_OK", "W_OK", "X_OK", "F_OK", "strerror", "get_exec_path",
        "environb", "supports_follow_symlinks", "sysconf", "confstr", "isatty"}),
    "sys": frozenset({
        "version", "version_info", "executable", "platform", "path", "argv", "maxsize",
        "byteorder", "prefix", "base_prefix", "exec_prefix", "base_exec_prefix",
        "implementation", "stdin", "stdout", "stderr", "exit", "getrecursionlimit",
        "getsizeof", "float_info", "int_info", "hexversion", "api_version", "flags",
        "getdefaultencoding", "getfilesystemencoding", "maxunicode", "stdlib_module_names",
        "builtin_module_names", "copyright", "thread_info", "hash_info", "orig_argv",
        "platlibdir", "getrefcount"}),
    "pathlib": frozenset({"Path", "PurePath", "PosixPath", "PurePosixPath",
                          "PureWindowsPath"}),
    "shutil": frozenset({"which", "disk_usage", "get_terminal_size"}),
}
# numerical libraries: free, except the names that write, run or load code
_DATA_MODULES = frozenset({"numpy", "torch", "pandas", "scipy", "sklearn", "yaml",
                           "jax", "tensorflow", "matplotlib", "PIL", "transformers",
                           "datasets", "tqdm", "rich", "tabulate", "packaging", "pydantic",
                           "omegaconf", "hydra", "einops", "polars", "pyarrow", "h5py"})
_DATA_DENY = frozenset({
    "save", "savez", "savez_compressed", "savetxt", "tofile", "savefig", "save_pretrained",
    "save_model", "save_state", "imwrite", "imsave", "to_csv", "to_json", "to_parquet",
    "to_pickle", "to_excel", "to_feather", "to_hdf", "to_html", "to_latex", "to_markdown",
    "to_sql", "to_stata", "to_xml", "to_clipboard", "to_netcdf", "to_zarr", "write_csv",
    "write_parquet", "write_json", "write_table", "write_ipc", "write_ndjson", "memmap",
    "open_memmap", "hub", "cpp_extension", "load_inline", "system", "export", "read_pickle",
    "unsafe_load", "unsafe_load_all", "UnsafeLoader", "Loader", "FullLoader", "full_load",
    "full_load_all", "load_all", "dump_all", "ctypeslib", "f2py", "distutils", "DataSource",
    "compile_commands", "show", "hdf5", "File", "to_file", "write", "writer", "logger",
    "wandb", "utils_save", "to_filename", "to_image", "savemat", "mmwrite", "wavfile",
    "run", "spawn", "popen", "Popen", "ExcelWriter", "HDFStore", "SummaryWriter",
})
# yaml.load without SafeLoader runs constructors; everything else is data
_DENY_IN = {"yaml": frozenset({"load"})}
_BAD_BUILTINS = frozenset({"exec", "eval", "compile", "__import__", "getattr", "setattr",
                           "delattr", "globals", "locals", "vars", "breakpoint", "help",
                           "execfile", "reload", "__builtins__"})
_OK_DUNDERS = frozenset({"__name__", "__version__", "__file__", "__doc__", "__main__"})
# methods that write files on whatever they are called on (the receiver is the target)
_WRITER_METHODS = frozenset({"write_text", "write_bytes", "touch", "mkdir", "rmdir",
                             "unlink", "symlink_to", "hardlink_to", "link_to", "chmod",
                             "lchmod", "chown", "rmtree", "makedirs", "removedirs",
                             "truncate", "extractall", "extract", "mkfifo", "utime"})
# methods that write their first argument (a path)
_SAVER_METHODS = frozenset({"savefig", "save", "savez", "savetxt", "tofile", "to_csv",
                            "to_json", "to_parquet", "to_pickle", "to_excel", "to_feather",
                            "to_hdf", "to_html", "to_latex", "to_markdown", "to_stata",
                            "to_xml", "save_pretrained", "save_model", "imwrite", "imsave",
                            "write_csv", "write_parquet", "to_netcdf", "to_zarr", "export"})
# standard modules that are no threat as an attribute name (``datetime.time``, ``e.errno``)
_HARMLESS_ATTRS = SAFE_MODULES | {"path", "test", "site", "signal", "select", "parser",
                                  "token", "string"}


@record
class PythonWrites:
    paths: list[str] = field(default_factory=list)  # literal files the code writes
    unknown: list[str] = field(default_factory=list)  # what cannot be placed or analysed
    commands: list[str] = field(default_factory=list)  # shell commands it runs (unused now)


def python_writes(code: str) -> PythonWrites:
    """What ``code`` writes, read against the allow-list (see the module docstring)."""
    out = PythonWrites()
    import ast

    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        out.unknown.append(f"python code that cannot be parsed ({type(exc).__name__}), so "
                           f"mlgate cannot tell what it does")
        return out
    try:
        _Reader(out).visit_all(tree)
    except RecursionError:
        out.unknown.append("python code nested too deeply to read")
    return out


class _Reader:
    def __init__(self, out: PythonWrites) -> None:
        self.out = out
        self.modules: dict[str, str] = {}  # bound name -> dotted module
        self.names: dict[str, str | None] = {}  # name -> literal str value
        self.paths: set[str] = set()  # names bound to a Path(...)
        self.path_names = {"Path", "PurePath", "PosixPath"}  # the class, and its aliases

    def bad(self, why: str) -> None:
        why = f"python code that {why}"
        if why not in self.out.unknown:
            self.out.unknown.append(why)

    def target(self, value: ast.AST | None, what: str) -> None:
        lit = self.literal(value)
        if lit is None:
            self.bad(f"uses {what} on a path that is not a literal")
        elif lit not in self.out.paths:
            self.out.paths.append(lit)

    def visit_all(self, tree: ast.AST) -> None:
        import ast

        nodes = list(ast.walk(tree))
        for node in nodes:  # bindings first: imports and literal assignments
            if isinstance(node, ast.Import):
                for alias in node.names:
                    self.import_(alias.name, alias.asname or alias.name.split(".")[0],
                                 whole=alias.asname is None)
            elif isinstance(node, ast.ImportFrom):
                mod = ("." * node.level) + (node.module or "")
                for alias in node.names:
                    self.import_from(mod, alias.name, alias.asname or alias.name)
            elif isinstance(node, ast.Assign) and len(node.targets) == 1 and \
                    isinstance(node.targets[0], ast.Name):
                self.names[node.targets[0].id] = self.literal(node.value)
                if self.is_path(node.value):
                    self.paths.add(node.targets[0].id)
        parents: dict[int, ast.AST] = {}
        for node in nodes:
            for child in ast.iter_child_nodes(node):
                parents[id(child)] = node
        for node in nodes:
            if isinstance(node, ast.Name):
                self.name(node, parents.get(id(node)))
            elif isinstance(node, ast.Attribute):
                self.attribute(node)
            elif isinstance(node, ast.Call):
                self.call(node)
            elif isinstance(node, (ast.arg, ast.AnnAssign, ast.FunctionDef,
                                   ast.AsyncFunctionDef)):
                ann = getattr(node, "annotation", None) or getattr(node, "returns", None)
                if isinstance(ann, ast.Constant) and isinstance(ann.value, str):
                    self.bad("has string annotations (evaluated as code)")

    # bindings ------------------------------------------------------------------------
    def import_(self, dotted: str, bound: str, whole: bool) -> None:
        root = dotted.split(".")[0]
        if not self.module_ok(dotted):
            self.bad(f"imports {dotted}")
        self.modules[bound] = root if whole else dotted

    def import_from(self, mod: str, name: str, bound: str) -> None:
        if mod == "__future__":
            if name == "annotations":
                self.bad("makes annotations strings (evaluated as code)")
            return
        full = f"{mod}.{name}"
        if self.module_ok(full):
            self.modules[bound] = full
            return
        root = mod.split(".")[0]
        if mod in _READ_NAMES:
            if name in _READ_NAMES[mod]:
                if mod == "os" and name == "path":
                    self.modules[bound] = "os.path"
                if mod == "pathlib":
                    self.path_names.add(bound)
                return
            self.bad(f"imports {name} from {mod}")
            return
        if self.module_ok(mod):
            if name == "*" and (root in _READ_NAMES or root in _DATA_MODULES):
                self.bad(f"imports everything from {mod}")
            elif root in _DATA_MODULES and (name in _DATA_DENY or name in _DENY_IN.get(root, ())):
                self.bad(f"imports {name} from {mod}")
            elif name.startswith("_") and name not in _OK_DUNDERS:
                self.bad(f"imports the private name {name} from {mod}")
            return
        self.bad(f"imports {name} from {mod}")

    @staticmethod
    def module_ok(dotted: str) -> bool:
        root = dotted.split(".")[0]
        if dotted in SAFE_MODULES or root in SAFE_MODULES and root not in ("os",):
            return not any(p.startswith("_") for p in dotted.split(".")[1:])
        if root in _DATA_MODULES:
            return not any(p in _DATA_DENY for p in dotted.split(".")[1:])
        return dotted in _READ_NAMES or dotted == "os.path"

    # uses ----------------------------------------------------------------------------
    def name(self, node: ast.Name, parent: ast.AST | None) -> None:
        import ast

        ident = node.id
        if ident in _BAD_BUILTINS:
            self.bad(f"uses {ident}()")
            return
        if ident.startswith("_") and ident not in _OK_DUNDERS and ident != "_":
            self.bad(f"uses the private name {ident}")
            return
        if ident == "open" and not (isinstance(parent, ast.Call) and parent.func is node):
            self.bad("passes open around (an alias of open)")
            return
        mod = self.modules.get(ident)
        if mod is None:
            return
        root = mod.split(".")[0]
        if mod in _READ_NAMES or (root in _READ_NAMES and mod != "os.path"):
            if not (isinstance(parent, ast.Attribute) and parent.value is node):
                self.bad(f"passes the module {mod} around")

    def chain(self, node: ast.AST) -> list[str] | None:
        import ast

        names: list[str] = []
        while isinstance(node, ast.Attribute):
            names.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name):
            names.append(node.id)
            return names[::-1]
        return None

    def attribute(self, node: ast.Attribute) -> None:
        attr = node.attr
        if attr.startswith("_") and attr not in _OK_DUNDERS:
            self.bad(f"reaches the private attribute .{attr}")
            return
        if attr in sys.stdlib_module_names and attr not in _HARMLESS_ATTRS:
            self.bad(f"reaches the module {attr} through .{attr}")
            return
        chain = self.chain(node)
        if not chain or chain[0] not in self.modules:
            return
        mod = self.modules[chain[0]]
        dotted = ".".join([mod] + chain[1:])
        root = mod.split(".")[0]
        if root in _DATA_MODULES:
            if any(p in _DATA_DENY for p in chain[1:]) or any(
                    p in _DENY_IN.get(root, ()) for p in chain[1:]):
                self.bad(f"uses {dotted}")
            return
        if mod in _READ_NAMES and len(chain) >= 2:
            if chain[1] not in _READ_NAMES[mod]:
                self.bad(f"uses {mod}.{chain[1]}")
            return
        if mod == "os.path" or mod in SAFE_MODULES or root in SAFE_MODULES:
            return

    def call(self, node: ast.Call) -> None:
        import ast

        func = node.func
        kw = {k.arg: k.value for k in node.keywords if k.arg}
        if any(k.arg is None for k in node.keywords):
            kw_unknown = True
        else:
            kw_unknown = False
        if any(isinstance(a, ast.Starred) for a in node.args) and (
                isinstance(func, ast.Name) and func.id == "open" or
                isinstance(func, ast.Attribute) and (func.attr in _WRITER_METHODS
                                                     or func.attr in _SAVER_METHODS
                                                     or func.attr == "open")):
            self.bad("passes unpacked arguments to a call that may write")
            return
        if isinstance(func, ast.Name) and func.id == "open":
            self.open_call(node.args[1] if len(node.args) > 1 else kw.get("mode"),
                           node.args[0] if node.args else kw.get("file"), kw_unknown)
            return
        if not isinstance(func, ast.Attribute):
            return
        short = func.attr
        chain = self.chain(func)
        if chain and chain[0] in self.modules:
            return  # module functions: judged by attribute() above
        if short == "open":
            mode = node.args[0] if node.args else kw.get("mode")
            self.open_call(mode, func.value, kw_unknown)
        elif short in _WRITER_METHODS:
            self.target(func.value, f".{short}()")
        elif short in ("rename", "replace"):
            if short == "replace" and (len(node.args) >= 2 or (not node.args and kw)):
                return  # str.replace(a, b) / datetime.replace(year=...)
            if short == "rename" and node.args and isinstance(node.args[0], (ast.Dict,
                                                                              ast.Set)):
                return  # DataFrame.rename({...})
            self.target(func.value, f".{short}()")
            if node.args:
                self.target(node.args[0], f".{short}()")
        elif short in _SAVER_METHODS:
            if short == "save" and not node.args and not kw:
                return
            cand = node.args[0] if node.args else (
                kw.get("path") or kw.get("fname") or kw.get("file") or kw.get("path_or_buf")
                or kw.get("save_directory") or kw.get("f"))
            if cand is None:
                self.bad(f"calls .{short}() with a target mlgate cannot read")
                return
            self.target(cand, f".{short}()")
        elif short in ("write", "writelines", "print"):
            return
        elif short in ("copy", "copyfile", "copy2", "copytree", "move", "copy_into",
                       "move_into") and node.args:
            self.target(node.args[1] if len(node.args) >= 2 else node.args[0], f".{short}()")

    def open_call(self, mode: ast.AST | None, path: ast.AST | None, kw_unknown: bool) -> None:
        import ast

        if kw_unknown:
            self.bad("calls open() with arguments mlgate cannot read")
            return
        if mode is None:
            return  # default mode "r"
        if not (isinstance(mode, ast.Constant) and isinstance(mode.value, str)):
            self.bad("calls open() with a mode that is not a literal")
            return
        if any(ch in mode.value for ch in "wax+"):
            self.target(path, "open() for writing")

    # literals ------------------------------------------------------------------------
    def is_path(self, node: ast.AST) -> bool:
        import ast

        if isinstance(node, ast.Call):
            chain = self.chain(node.func) or []
            return bool(chain) and (chain[-1] in self.path_names or chain[-1] in (
                "with_name", "with_suffix", "joinpath", "resolve", "absolute"))
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            return self.is_path(node.left) or self.is_path(node.right)
        if isinstance(node, ast.Name):
            return node.id in self.paths
        return False

    def literal(self, node: ast.AST | None) -> str | None:
        import ast

        if node is None:
            return None
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name):
            return self.names.get(node.id)
        if isinstance(node, ast.Call):
            chain = self.chain(node.func) or []
            if chain and chain[-1] in self.path_names and not node.keywords:
                parts = [self.literal(a) for a in node.args]
                if not parts:
                    return "."
                if any(p is None for p in parts):
                    return None
                return os.path.join(*[p for p in parts if p is not None])
            if chain[-2:] == ["path", "join"] or chain == ["join"]:
                parts = [self.literal(a) for a in node.args]
                if parts and all(p is not None for p in parts):
                    return os.path.join(*[p for p in parts if p is not None])
            return None
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            left, right = self.literal(node.left), self.literal(node.right)
            if left is None or right is None:
                return None
            return os.path.join(left, right)
        return None
