"""Select fields of the list filters, drawn in Python.

A list page draws its filters on every request, with a camera select of a few hundred options.
Django's `Select` draws each option through a template, and `ModelChoiceField` reads its rows
through a server-side cursor (on PostgreSQL a round trip to open it, one per fetch and one to
close it): the filters were a third of the To-annotate page's time. These draw the same markup
from the same widget context, and read the rows, only the columns the labels need, in one
plain query.
"""

from __future__ import annotations

from django import forms
from django.forms.models import ModelChoiceIterator
from django.forms.utils import flatatt
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from sequences.models import Camera, Organization


class OptionsSelect(forms.Select):
    """A single select whose options are drawn in Python (no option groups)."""

    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        widget = self.get_context(name, value, attrs)["widget"]
        options = format_html_join(
            "",
            '<option value="{}"{}>{}</option>',
            (
                (option["value"], " selected" if option["selected"] else "", option["label"])
                for _, group, _ in widget["optgroups"]
                for option in group
            ),
        )
        attributes = flatatt(widget["attrs"])
        return format_html('<select name="{}"{}>{}</select>', name, attributes, options)


class _ListedChoices(ModelChoiceIterator):
    """The choices read in one plain query (kept for the form's life) instead of through a
    server-side cursor."""

    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for row in self.queryset:
            yield self.choice(row)


class ListedModelChoiceField(forms.ModelChoiceField):
    iterator = _ListedChoices
    widget = OptionsSelect


class CameraChoiceField(ListedModelChoiceField):
    """Cameras named with their organisation."""

    def __init__(self, **kwargs) -> None:
        cameras = Camera.objects.select_related("organization").only(
            "id", "name", "organization__name"
        )
        super().__init__(queryset=cameras, **kwargs)

    def label_from_instance(self, obj: Camera) -> str:
        return f"{obj.name} ({obj.organization.name})"


class OrganizationChoiceField(ListedModelChoiceField):
    def __init__(self, **kwargs) -> None:
        super().__init__(queryset=Organization.objects.only("id", "name"), **kwargs)


class SelectChoiceField(forms.ChoiceField):
    """A fixed list of choices in an `OptionsSelect`."""

    widget = OptionsSelect
