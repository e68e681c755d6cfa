"""``@record``: the part of ``@dataclass`` the hook path needs, without its import cost.

``import dataclasses`` pulls in ``inspect`` (and with it ``ast``, ``dis``, ``tokenize``…), and
``typing`` is as heavy; together they were about half of a hook call's time, and the hooks
must stay within 4x a bare ``python -c pass`` (SPEC §13). ``record`` generates ``__init__``,
``__repr__`` and ``__eq__`` (and, when frozen, ``__hash__`` and read-only attributes) from the
class annotations, in definition order. Type checkers see ``dataclasses.dataclass``.

Supported: positional or keyword construction, defaults, ``field(default_factory=...)``.
Not supported (not needed here): ``__post_init__``, ``InitVar``, ordering, ``slots``.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from dataclasses import dataclass as record
    from dataclasses import field
else:
    _MISSING = object()

    class _Field:
        __slots__ = ("default", "default_factory")

        def __init__(self, default=_MISSING, default_factory=_MISSING):
            self.default = default
            self.default_factory = default_factory

    def field(*, default=_MISSING, default_factory=_MISSING):
        return _Field(default, default_factory)

    def _build(cls, frozen):
        names = []
        for klass in reversed(cls.__mro__):
            for name in klass.__dict__.get("__annotations__", {}):
                if name not in names and not name.startswith("__"):
                    names.append(name)
        defaults = {}
        for klass in reversed(cls.__mro__):
            for name in names:
                if name in klass.__dict__:
                    defaults[name] = klass.__dict__[name]
        params, body, ns = [], [], {"_MISSING": _MISSING}
        # Frozen: write the instance dict directly (object.__setattr__ per field is several
        # times slower, and records are built per parsed line).
        setter = "_sd[{n!r}] = {v}" if frozen else "self.{n} = {v}"
        for name in names:
            value = defaults.get(name, _MISSING)
            if isinstance(value, _Field):
                if value.default_factory is not _MISSING:
                    ns[f"_f_{name}"] = value.default_factory
                    params.append(f"{name}=_MISSING")
                    body.append(setter.format(
                        n=name, v=f"_f_{name}() if {name} is _MISSING else {name}"))
                    continue
                value = value.default
            if value is _MISSING:
                if any("=" in p for p in params):
                    raise TypeError(f"{cls.__name__}: non-default field {name!r} follows a "
                                    "default one")
                params.append(name)
            else:
                ns[f"_d_{name}"] = value
                params.append(f"{name}=_d_{name}")
            body.append(setter.format(n=name, v=name))
        if frozen and body:
            body.insert(0, "_sd = self.__dict__")
        src = f"def __init__(self, {', '.join(params)}):\n    " + \
            ("\n    ".join(body) or "pass") + "\n"

        # Compiling the generated __init__ costs ~0.2 ms a class (most of a class's creation
        # cost, and the hook path defines ~25 records): it is compiled at the first
        # instantiation, so records a command never builds cost nothing.
        def __init__(self, *args, **kwargs):
            real = cls.__dict__["__init__"]
            if real is __init__:
                exec(src, ns)  # noqa: S102 - generated from the class's own annotations
                real = ns["__init__"]
                real.__qualname__ = f"{cls.__qualname__}.__init__"
                cls.__init__ = real
            real(self, *args, **kwargs)

        __init__.__qualname__ = f"{cls.__qualname__}.__init__"
        cls.__init__ = __init__
        for name in names:  # class attributes holding defaults would shadow nothing useful
            if isinstance(cls.__dict__.get(name), _Field):
                delattr(cls, name)
        fields = tuple(names)
        cls.__record_fields__ = fields

        def __repr__(self):
            inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in fields)
            return f"{type(self).__name__}({inner})"

        def __eq__(self, other):
            if other.__class__ is not self.__class__:
                return NotImplemented
            return all(getattr(self, n) == getattr(other, n) for n in fields)

        if "__repr__" not in cls.__dict__:
            cls.__repr__ = __repr__
        if "__eq__" not in cls.__dict__:
            cls.__eq__ = __eq__
        if frozen:
            def __setattr__(self, name, value):
                raise AttributeError(f"cannot assign to field {name!r} of a frozen "
                                     f"{type(self).__name__}")

            def __hash__(self):
                return hash(tuple(getattr(self, n) for n in fields))

            cls.__setattr__ = __setattr__
            cls.__delattr__ = __setattr__
            cls.__hash__ = __hash__
        else:
            cls.__hash__ = None
        return cls

    def record(cls=None, /, *, frozen=False):
        if cls is None:
            return lambda c: _build(c, frozen)
        return _build(cls, frozen)


def as_dict(obj: object) -> dict[str, object]:
    """The fields of a ``@record`` (or dataclass) instance as a dict (not recursive)."""
    names = getattr(obj, "__record_fields__", None)
    if names is None:
        names = tuple(getattr(obj, "__dataclass_fields__", {}))
    return {n: getattr(obj, n) for n in names}
