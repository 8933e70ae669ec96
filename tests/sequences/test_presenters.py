"""Boxes in percent: the one helper behind the player's SVG boxes and the groups' overlays."""

import pytest

from sequences.presenters import box_percent, box_rect, box_style


def test_a_box_over_the_whole_image_in_percent():
    assert box_percent([0.1, 0.2, 0.4, 0.6]) == pytest.approx((10, 20, 30, 40))
    style = box_style([0.1, 0.2, 0.4, 0.6])
    assert style == "left:10.000%;top:20.000%;width:30.000%;height:40.000%"


def test_a_box_through_a_zoom_window_is_in_percent_of_the_window():
    # The window is the image's top-left quarter: the box fills its bottom-right quarter.
    style = box_style([0.25, 0.25, 0.5, 0.5], within=(0.0, 0.0, 0.5))
    assert style == "left:50.000%;top:50.000%;width:50.000%;height:50.000%"


def test_svg_rect_attributes_in_a_100_by_100_viewbox():
    assert box_rect([0.12, 0.13, 0.45, 0.48]) == {
        "x": "12.000",
        "y": "13.000",
        "w": "33.000",
        "h": "35.000",
    }
