"""dispatch.geo: great-circle distances and the grid/station areas."""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import pytest
from hypothesis import given, strategies as st

from dispatch.errors import AreaError, DispatchError
from dispatch.geo import EARTH_RADIUS_M, Areas, Place, distance_m, distances_m


def square(west: float, south: float, size: float) -> list[list[list[float]]]:
    east, north = west + size, south + size
    return [[[west, south], [east, south], [east, north], [west, north], [west, south]]]


def feature(props: dict[str, Any], geometry: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "properties": props, "geometry": geometry}


def collection(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def polygon(west: float, south: float, size: float) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": square(west, south, size)}


# Two stations: S-a over lon 0..2, lat 0..1 (one polygon), S-b a MultiPolygon of two squares
# (lon 2..3 and, apart, an island at lon 5..6). Cells: A1 (0..1), A2 (1..2), B (2..3, and the
# island as a second part); nothing covers lon 3..5.
STATIONS = collection(
    feature({"id": "S-a", "name": "A", "county": "C-1"}, {"type": "Polygon", "coordinates": [
        [[0, 0], [2, 0], [2, 1], [0, 1], [0, 0]]
    ]}),
    feature({"id": "S-b", "name": "B", "county": "C-2"}, {"type": "MultiPolygon", "coordinates": [
        square(2, 0, 1), square(5, 0, 1)
    ]}),
)  # fmt: skip
GRID = collection(
    feature({"id": "A1", "station": "S-a"}, polygon(0, 0, 1)),
    feature({"id": "A2", "station": "S-a"}, polygon(1, 0, 1)),
    feature(
        {"id": "B", "station": "S-b"},
        {"type": "MultiPolygon", "coordinates": [square(2, 0, 1), square(5, 0, 1)]},
    ),
)


@pytest.fixture(scope="module")
def areas() -> Areas:
    return Areas.from_geojson(GRID, STATIONS)


def test_one_degree_of_latitude() -> None:
    assert distance_m(0.0, 0.0, 1.0, 0.0) == pytest.approx(111_195.08, abs=0.01)
    assert distance_m(30.0, 120.0, 31.0, 120.0) == pytest.approx(111_195.08, abs=0.01)
    assert EARTH_RADIUS_M * math.pi / 180 == pytest.approx(111_195.08, abs=0.01)


def test_known_city_pairs() -> None:
    # Ed Williams' Aviation Formulary example, LAX (33°57'N 118°24'W) -> JFK (40°38'N 73°47'W):
    # 0.623585 rad of great circle (2144 nm)
    lax, jfk = (33 + 57 / 60, -(118 + 24 / 60)), (40 + 38 / 60, -(73 + 47 / 60))
    assert distance_m(*lax, *jfk) / EARTH_RADIUS_M == pytest.approx(0.623585, rel=2e-6)
    # JFK-LAX airports, 3,983 km on the WGS84 ellipsoid (gcmap.com): the sphere is within 0.5 %
    assert distance_m(40.6398, -73.7789, 33.9425, -118.4081) == pytest.approx(3_983_000, rel=5e-3)


def test_degenerate_distances() -> None:
    assert distance_m(30.25, 120.15, 30.25, 120.15) == 0.0
    half = math.pi * EARTH_RADIUS_M
    assert distance_m(0.0, 0.0, 0.0, 180.0) == pytest.approx(half)
    assert distance_m(90.0, 0.0, -90.0, 0.0) == pytest.approx(half)
    # across the antimeridian: 2 degrees of longitude on the equator, not 358
    assert distance_m(0.0, 179.0, 0.0, -179.0) == pytest.approx(2 * 111_195.08, abs=0.1)


coords = st.tuples(st.floats(-90, 90, allow_nan=False), st.floats(-180, 180, allow_nan=False))


@given(origin=coords, points=st.lists(coords, min_size=1, max_size=20))
def test_vectorised_equals_scalar(
    origin: tuple[float, float], points: list[tuple[float, float]]
) -> None:
    lats = np.array([p[0] for p in points])
    lons = np.array([p[1] for p in points])
    got = distances_m(origin[0], origin[1], lats, lons)
    want = [distance_m(origin[0], origin[1], lat, lon) for lat, lon in points]
    assert got.tolist() == pytest.approx(want, rel=1e-9, abs=1e-6)


def test_locate_inside_outside_and_multipolygon(areas: Areas) -> None:
    assert areas.locate(0.5, 0.5) == Place(grid="A1", station="S-a", county="C-1")
    assert areas.locate(0.5, 1.5) == Place(grid="A2", station="S-a", county="C-1")
    assert areas.locate(0.5, 2.5) == Place(grid="B", station="S-b", county="C-2")
    # the island: second part of both MultiPolygons
    assert areas.locate(0.2, 5.7) == Place(grid="B", station="S-b", county="C-2")
    assert areas.locate(0.5, 4.0) == Place(grid=None, station=None, county=None)
    assert areas.locate(30.0, 120.0) == Place(grid=None, station=None, county=None)


def test_locate_on_a_shared_edge_takes_the_first_listed(areas: Areas) -> None:
    assert areas.locate(0.5, 1.0).grid == "A1"  # edge of A1 and A2
    assert areas.locate(0.5, 2.0) == Place(grid="A2", station="S-a", county="C-1")
    assert areas.locate(0.0, 0.0).grid == "A1"  # the outer boundary counts as inside


def test_a_point_in_a_station_but_no_cell() -> None:
    grid = collection(feature({"id": "A1", "station": "S-a"}, polygon(0, 0, 1)))
    only_a1 = Areas.from_geojson(grid, STATIONS)
    assert only_a1.locate(0.5, 1.5) == Place(grid=None, station="S-a", county="C-1")


def test_random_point_lies_inside_its_cell(areas: Areas) -> None:
    rng = random.Random(7)
    for cell in areas.cells():
        for _ in range(200):
            lat, lon = areas.random_point(cell, rng)
            assert areas.locate(lat, lon).grid == cell
    islands = {areas.random_point("B", rng)[1] > 4 for _ in range(200)}
    assert islands == {True, False}  # both parts are used


def test_lookups(areas: Areas) -> None:
    assert areas.cells() == ["A1", "A2", "B"]
    assert areas.stations() == ["S-a", "S-b"]
    assert areas.station("S-b") == {"id": "S-b", "name": "B", "county": "C-2"}
    assert areas.cell_station("A2") == "S-a"
    assert areas.centre("A1") == pytest.approx((0.5, 0.5))
    assert areas.locate(*areas.centre("B")).grid == "B"  # centroid between the parts: moved
    assert areas.extent() == (0.0, 0.0, 1.0, 6.0)
    for call in (lambda: areas.station("S-x"), lambda: areas.centre("Z")):
        with pytest.raises(DispatchError) as caught:
            call()
        assert caught.value.status_hint == 404


@pytest.mark.parametrize(
    ("layer", "grid", "key", "problem"),
    [
        ("grid", [feature({"id": "A1", "station": "S-x"}, polygon(0, 0, 1))],
         "features[0].properties.station", "unknown station 'S-x'"),
        ("grid", [feature({"id": "A1", "station": "S-a"}, polygon(0, 0, 1)),
                  feature({"id": "A1", "station": "S-a"}, polygon(1, 0, 1))],
         "features[1].properties.id", "duplicate id 'A1'"),
        ("grid", [feature({"station": "S-a"}, polygon(0, 0, 1))],
         "features[0].properties.id", "must be a non-empty string"),
        ("grid", [feature({"id": "A1", "station": "S-a"}, {"type": "Point", "coordinates": [0, 0]})],
         "features[0].geometry", "must be a Polygon or MultiPolygon, not 'Point'"),
        ("grid", [feature({"id": "A1", "station": "S-a"}, polygon(30, 120, 1))],
         "features[0].geometry", "out of range (GeoJSON order is [lon, lat])"),
        ("grid", [feature({"id": "A1", "station": "S-a"}, {"type": "Polygon", "coordinates": [
            [[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]})],
         "features[0].geometry", "invalid: Self-intersection"),
        ("grid", [feature({"id": "A1", "station": "S-a"}, {"type": "Polygon", "coordinates": [[0, 0]]})],
         "features[0].geometry", "bad coordinates"),
        ("grid", ["not a feature"], "features[0]", "must be a GeoJSON Feature"),
    ],
)  # fmt: skip
def test_bad_features_name_the_feature_and_key(
    layer: str, grid: list[Any], key: str, problem: str
) -> None:
    with pytest.raises(AreaError) as caught:
        Areas.from_geojson(collection(*grid), STATIONS)
    assert (caught.value.layer, caught.value.key) == (layer, key)
    assert problem in caught.value.problem
    assert isinstance(caught.value, ValueError)


def test_bad_station_and_collection() -> None:
    no_county = collection(feature({"id": "S-a", "name": "A"}, polygon(0, 0, 1)))
    with pytest.raises(AreaError) as caught:
        Areas.from_geojson(collection(), no_county)
    assert (caught.value.layer, caught.value.key) == ("stations", "features[0].properties.county")
    with pytest.raises(AreaError) as caught:
        Areas.from_geojson({"type": "Feature"}, STATIONS)
    assert (caught.value.layer, caught.value.index, caught.value.key) == ("grid", -1, "type")
