"""Step 2 of reading a resource: the content rules of the read models (cds.fhir.models).

msgspec has checked the JSON shape while decoding; this checks what the ``Format`` markers in the
models' types say (cds.fhir.formats), one value per choice element, and no ``modifierExtension``. It
runs only for the resources the pre-filter keeps (cds.fhir.select).

Each model class gets a plan once (the positions of its fields that carry a rule or hold elements
that may), so a check takes all of a model's values in one call (``msgspec.structs.astuple``) and
walks a few positions: no attribute looked up by name.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from msgspec.structs import astuple

from cds.fhir.formats import Format
from cds.fhir.models import CHOICES, COMPONENT_CHOICES, ChoiceError, Element, ObservationComponent, Resource


class FormatError(ValueError):
    """An element breaks a FHIR content rule; ``where`` is its path in the resource (``code.coding.0``)."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where
        self.message = message

    def within(self, parent: str) -> FormatError:
        return FormatError(f"{parent}.{self.where}" if self.where else parent, self.message)


class _Field:
    """One field of a plan: its rule (``fmt``), or the model of the elements it holds."""

    def __init__(
        self, name: str, *, fmt: Format | None, model: type[Element] | None, many: bool, refused: bool
    ) -> None:
        self.name = name
        self.index = -1  # its position in the model's fields (set by _plan_of)
        self.fmt = fmt
        self.model = model
        self.many = many
        self.refused = refused


class _Plan:
    def __init__(self, fields: tuple[_Field, ...], choices: tuple[tuple[str, tuple[int, ...]], ...]) -> None:
        self.fields = fields
        self.choices = choices  # (group, the positions of its declared variants)


_PLANS: dict[type, _Plan] = {}


def check(model: Element) -> None:
    """Raise FormatError or ChoiceError (both ValueErrors) when ``model`` breaks a content rule."""
    plan = _PLANS.get(type(model))
    if plan is None:
        plan = _PLANS[type(model)] = _plan_of(type(model))
    values = astuple(model)
    for group, variants in plan.choices:
        present = 0
        for i in variants:
            if values[i] is not None:
                present += 1
        if present > 1:
            raise ChoiceError(f"more than one {group}[x] element")
    for f in plan.fields:
        value = values[f.index]
        if value is None:
            continue
        if f.refused:
            if value:
                raise FormatError(f.name, "a modifierExtension this service does not understand")
        elif f.many:
            for i, item in enumerate(value):
                try:
                    _check_value(f, item)
                except (FormatError, ChoiceError) as exc:
                    raise _within(exc, f"{f.name}.{i}") from None
        else:
            try:
                _check_value(f, value)
            except (FormatError, ChoiceError) as exc:
                raise _within(exc, f.name) from None


def _within(exc: FormatError | ChoiceError, parent: str) -> FormatError | ChoiceError:
    if isinstance(exc, FormatError):
        return exc.within(parent)
    return ChoiceError(f"{parent}: {exc}")


def _check_value(f: _Field, value: Any) -> None:
    if f.model is not None:
        check(value)
    elif f.fmt is not None and not f.fmt.conforms(value):
        raise FormatError("", f.fmt.message)


# --- plans ----------------------------------------------------------------------------------------


def _plan_of(cls: type) -> _Plan:
    hints = typing.get_type_hints(cls, include_extras=True)
    fields: list[_Field] = []
    for index, name in enumerate(cls.__struct_fields__):  # type: ignore[attr-defined]
        f = _field(name, hints[name])
        if f is not None:
            f.index = index
            fields.append(f)
    return _Plan(tuple(fields), _choices_of(cls))


def _field(name: str, hint: Any) -> _Field | None:
    if name == "modifierExtension":
        return _Field(name, fmt=None, model=None, many=False, refused=True)
    many = False
    hint = _without_none(hint)
    if typing.get_origin(hint) is list:
        many, hint = True, _without_none(typing.get_args(hint)[0])
    if typing.get_origin(hint) is typing.Annotated:
        marks = [m for m in hint.__metadata__ if isinstance(m, Format)]
        return _Field(name, fmt=marks[0], model=None, many=many, refused=False) if marks else None
    if isinstance(hint, type) and issubclass(hint, Element):
        return _Field(name, fmt=None, model=hint, many=many, refused=False)
    return None  # a JSON type msgspec checked completely (bool, number), or an unread choice variant


def _without_none(hint: Any) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint


def _choices_of(cls: type) -> tuple[tuple[str, tuple[int, ...]], ...]:
    if cls is ObservationComponent:
        groups = COMPONENT_CHOICES
    elif isinstance(cls, type) and issubclass(cls, Resource):
        groups = CHOICES.get(cls.__resource_type__, {})
    else:
        return ()
    variants: dict[str, list[str]] = {}
    for name, group in groups.items():
        variants.setdefault(group, []).append(name)
    position = {name: i for i, name in enumerate(cls.__struct_fields__)}
    missing = sorted(n for names in variants.values() for n in names if n not in position)
    if missing:  # a test keeps this from happening; never read a resource without seeing every variant
        raise TypeError(f"{cls.__name__} does not declare the choice variants {missing}")
    return tuple((group, tuple(position[n] for n in names)) for group, names in variants.items())
