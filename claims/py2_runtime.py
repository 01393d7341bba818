"""What the proofs use of today's standard library, for Python 2.7 (copied as ``claims._py2``).

Written in the Python that 2.7 and 3 both read: `claims.py2` rewrites the proofs' imports of
``dataclasses``, ``typing``, ``types.SimpleNamespace`` and ``importlib.util`` to these, and
their ``a @ b``, ``{**a}`` and ``max(..., default=d)`` to the functions below.
"""

import types

import numpy

#: A field's default, where it has one: ``field(default_factory=dict)``.
_MISSING = object()


class _Typing:
    """``Any``, ``Callable[[A], B]``: names for annotations, which 2.7 has not."""

    def __getitem__(self, item):
        return self


Any = Callable = _Typing()


class _Field:
    def __init__(self, default=_MISSING, default_factory=None):
        self.default, self.default_factory = default, default_factory


def field(default=_MISSING, default_factory=None):
    """``dataclasses.field`` (``default`` or ``default_factory``)."""
    return _Field(default, default_factory)


def dataclass(cls=None, **options):
    """``dataclasses.dataclass``: an ``__init__``, ``__repr__`` and ``__eq__`` from the fields
    the rewrite lists in ``__dataclass_fields__`` (their defaults stay class attributes)."""

    def wrap(cls):
        names = cls.__dict__.get("__dataclass_fields__", ())
        defaults = {}
        for name in names:
            value = cls.__dict__.get(name, _MISSING)
            if isinstance(value, _Field):
                defaults[name] = value
                delattr(cls, name)
            elif value is not _MISSING:
                defaults[name] = _Field(default=value)

        def __init__(self, *args, **kwargs):
            if len(args) > len(names):
                raise TypeError("%s takes %d arguments" % (cls.__name__, len(names)))
            given = dict(zip(names, args))
            for key in kwargs:
                if key not in names or key in given:
                    raise TypeError("%s: unexpected argument %r" % (cls.__name__, key))
            given.update(kwargs)
            for name in names:
                if name in given:
                    value = given[name]
                elif name in defaults and defaults[name].default_factory is not None:
                    value = defaults[name].default_factory()
                elif name in defaults and defaults[name].default is not _MISSING:
                    value = defaults[name].default
                else:
                    raise TypeError("%s: missing argument %r" % (cls.__name__, name))
                object.__setattr__(self, name, value)

        def __repr__(self):
            shown = ", ".join("%s=%r" % (n, getattr(self, n)) for n in names)
            return "%s(%s)" % (cls.__name__, shown)

        def __eq__(self, other):
            if other.__class__ is not self.__class__:
                return NotImplemented
            return all(getattr(self, n) == getattr(other, n) for n in names)

        def __ne__(self, other):
            equal = __eq__(self, other)
            return equal if equal is NotImplemented else not equal

        cls.__init__, cls.__repr__, cls.__eq__, cls.__ne__ = __init__, __repr__, __eq__, __ne__
        if options.get("frozen"):
            cls.__hash__ = lambda self: hash(tuple(getattr(self, n) for n in names))
        return cls

    return wrap if cls is None else wrap(cls)


class SimpleNamespace:
    """``types.SimpleNamespace``."""

    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)


def matmul(a, b):
    """``a @ b``."""
    return numpy.matmul(a, b)


def merge(*parts):
    """``{**a, **b, ...}``: a new dict, later parts winning."""
    out = {}
    for part in parts:
        out.update(part)
    return out


def max_default(iterable, default):
    """``max(iterable, default=default)``."""
    items = list(iterable)
    return max(items) if items else default


def min_default(iterable, default):
    """``min(iterable, default=default)``."""
    items = list(iterable)
    return min(items) if items else default


class _Loader:
    def __init__(self, name, path):
        self.name, self.path = name, path

    def exec_module(self, module):
        with open(self.path) as source:
            code = compile(source.read(), self.path, "exec")
        exec(code, module.__dict__)


class _Spec:
    def __init__(self, name, path):
        self.name, self.origin, self.loader = name, path, _Loader(name, path)


class importlib_util:
    """``importlib.util.spec_from_file_location`` and ``module_from_spec``, for a source file."""

    @staticmethod
    def spec_from_file_location(name, path):
        return _Spec(name, str(path))

    @staticmethod
    def module_from_spec(spec):
        module = types.ModuleType(str(spec.name))  # 2.7 wants a byte string here
        module.__file__ = spec.origin
        return module


class Claim:
    """A claim as a proof sees it: its id (the grid runner plans its variants)."""

    def __init__(self, id):
        self.id = id
