"""Where things are: great-circle distances and the city's grid cells and station areas.

Distances are haversine on a sphere of the mean Earth radius: within 0.5 % of the ellipsoid,
far below what a road network adds (`ForceConfig.road_factor`). `distances_m` is the
vectorised form used to rank every officer at once; `distance_m` is plain `math`, the
reference for tests and for the loop baseline.

`Areas` answers "which grid cell, which station, which county is this point in", from two
GeoJSON FeatureCollections (coordinates ``[lon, lat]`` as GeoJSON has them; everything else
in this package says lat first). Grid cells carry ``{"id", "station"}``; stations carry
``{"id", "name", "county"}`` and their jurisdiction as (Multi)Polygon. A point on an edge
shared by two features belongs to the one listed first in its file, so `locate` is
deterministic.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import mapping, shape

from dispatch.errors import AreaError, DispatchError

EARTH_RADIUS_M = 6_371_008.8
"""Mean Earth radius (IUGG), metres."""

FloatArray = npt.NDArray[np.float64]


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two points given in degrees (pure Python)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlam = math.radians(lon2) - math.radians(lon1)
    a = math.sin(dphi * 0.5) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlam * 0.5) ** 2
    return 2.0 * EARTH_RADIUS_M * math.asin(math.sqrt(min(a, 1.0)))


def distances_m(lat: float, lon: float, lats: FloatArray, lons: FloatArray) -> FloatArray:
    """Great-circle distances in metres from one point to many (degrees in), vectorised."""
    phis = np.radians(lats)
    return haversine_m(math.radians(lat), math.radians(lon), phis, np.radians(lons), np.cos(phis))


def haversine_m(
    phi: float, lam: float, phis: FloatArray, lams: FloatArray, cos_phis: FloatArray
) -> FloatArray:
    """`distances_m` on radians, with the cosines of the many latitudes precomputed.

    `dispatch.force` keeps officers' positions in this form (updated once per report), so a
    query costs two sines, one arcsine and a square root per officer.
    """
    a = np.sin((phis - phi) * 0.5)
    a *= a
    b = np.sin((lams - lam) * 0.5)
    b *= b
    b *= cos_phis
    b *= math.cos(phi)
    a += b
    np.minimum(a, 1.0, out=a)  # rounding can push a antipodal pair just above 1
    np.sqrt(a, out=a)
    np.arcsin(a, out=a)
    a *= 2.0 * EARTH_RADIUS_M
    return a


@dataclass(frozen=True, slots=True)
class Place:
    """What a point falls in; None where it falls outside every feature of that kind."""

    grid: str | None
    """Grid cell id."""
    station: str | None
    """Station whose jurisdiction holds the point (else the station of its grid cell)."""
    county: str | None
    """The station's county."""


class Areas:
    """Grid cells and station jurisdictions, indexed for point lookups (shapely STRtree)."""

    def __init__(
        self,
        cells: list[tuple[str, str, Any]],
        stations: list[tuple[dict[str, str], Any]],
    ) -> None:
        """Prefer `from_geojson`. `cells`: (id, station id, geometry); `stations`:
        ({"id", "name", "county"}, geometry). Ids are assumed unique and known."""
        self._cell_ids = [cell_id for cell_id, _, _ in cells]
        self._cell_station = {cell_id: station for cell_id, station, _ in cells}
        self._cell_geom = {cell_id: geom for cell_id, _, geom in cells}
        self._station_ids = [props["id"] for props, _ in stations]
        self._station_props = {props["id"]: dict(props) for props, _ in stations}
        self._station_geom = {props["id"]: geom for props, geom in stations}
        for geom in [*self._cell_geom.values(), *(geom for _, geom in stations)]:
            shapely.prepare(geom)
        self._cell_tree = shapely.STRtree([geom for _, _, geom in cells])
        self._station_tree = shapely.STRtree([geom for _, geom in stations])

    @classmethod
    def from_geojson(cls, grid: dict[str, Any], stations: dict[str, Any]) -> Areas:
        """Build from parsed GeoJSON; `AreaError` (a ValueError) names the bad feature."""
        station_features = _features("stations", stations)
        station_list: list[tuple[dict[str, str], Any]] = []
        for index, (props, geom) in enumerate(station_features):
            for key in ("name", "county"):
                _text("stations", index, props, key)
            station_list.append(
                ({"id": props["id"], "name": props["name"], "county": props["county"]}, geom)
            )
        known = {props["id"] for props, _ in station_list}
        cell_list: list[tuple[str, str, Any]] = []
        for index, (props, geom) in enumerate(_features("grid", grid)):
            station = _text("grid", index, props, "station")
            if station not in known:
                raise AreaError(
                    "grid", index, _key(index, "station"), f"unknown station {station!r}"
                )
            cell_list.append((props["id"], station, geom))
        return cls(cell_list, station_list)

    def locate(self, lat: float, lon: float) -> Place:
        """The grid cell, station and county of a point (degrees)."""
        point = shapely.Point(lon, lat)
        cell = self._first(self._cell_tree, point, self._cell_ids)
        station = self._first(self._station_tree, point, self._station_ids)
        if station is None and cell is not None:
            station = self._cell_station[cell]
        county = self._station_props[station]["county"] if station is not None else None
        return Place(grid=cell, station=station, county=county)

    @staticmethod
    def _first(tree: shapely.STRtree, point: Any, ids: list[str]) -> str | None:
        hits = tree.query(point, predicate="intersects")  # edges count: a cell is closed
        return ids[int(hits.min())] if len(hits) else None

    def cells(self) -> list[str]:
        """Grid cell ids, in file order."""
        return list(self._cell_ids)

    def stations(self) -> list[str]:
        """Station ids, in file order."""
        return list(self._station_ids)

    def station(self, station_id: str) -> dict[str, str]:
        """A station's id, name and county; DispatchError 404 when unknown."""
        props = self._station_props.get(station_id)
        if props is None:
            raise DispatchError(f"unknown station {station_id!r}", 404)
        return dict(props)

    def cell_station(self, cell: str) -> str:
        """The station a grid cell belongs to (its ``station`` property)."""
        self._geom(cell)
        return self._cell_station[cell]

    def random_point(self, cell: str, rng: random.Random) -> tuple[float, float]:
        """A uniformly random (lat, lon) strictly inside the cell (rejection sampling)."""
        geom = self._geom(cell)
        west, south, east, north = geom.bounds
        for _ in range(1000):
            lon, lat = rng.uniform(west, east), rng.uniform(south, north)
            if shapely.contains_xy(geom, lon, lat):
                return lat, lon
        # a sliver that hardly fills its bounding box: any interior point will do
        point = geom.representative_point()
        return point.y, point.x

    def centre(self, cell: str) -> tuple[float, float]:
        """The cell's centroid as (lat, lon), or an interior point if the centroid is outside."""
        geom = self._geom(cell)
        point = geom.centroid
        if not geom.contains(point):
            point = geom.representative_point()
        return point.y, point.x

    def geojson(self) -> dict[str, Any]:
        """The cells and the stations' areas as GeoJSON FeatureCollections (for maps)."""

        def collection(items: list[tuple[dict[str, Any], Any]]) -> dict[str, Any]:
            features = [
                {"type": "Feature", "properties": props, "geometry": mapping(g)}
                for props, g in items
            ]
            return {"type": "FeatureCollection", "features": features}

        cells = [
            ({"id": c, "station": self._cell_station[c]}, self._cell_geom[c])
            for c in self._cell_ids
        ]
        stations = [(self._station_props[s], self._station_geom[s]) for s in self._station_ids]
        return {"grid": collection(cells), "stations": collection(stations)}

    def extent(self) -> tuple[float, float, float, float]:
        """(south, west, north, east) of all grid cells, degrees."""
        west, south, east, north = shapely.total_bounds(list(self._cell_geom.values()))
        return float(south), float(west), float(north), float(east)

    def _geom(self, cell: str) -> Any:
        geom = self._cell_geom.get(cell)
        if geom is None:
            raise DispatchError(f"unknown grid cell {cell!r}", 404)
        return geom


def _key(index: int, *names: str) -> str:
    return ".".join([f"features[{index}]", *(f"properties.{n}" for n in names)])


def _text(layer: str, index: int, props: dict[str, Any], key: str) -> str:
    value = props.get(key)
    if not isinstance(value, str) or not value:
        raise AreaError(
            layer, index, _key(index, key), f"must be a non-empty string, not {value!r}"
        )
    return value


def _features(layer: str, collection: dict[str, Any]) -> list[tuple[dict[str, Any], Any]]:
    """Validated (properties, geometry) of each feature; ids unique within the layer."""
    if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection":
        raise AreaError(layer, -1, "type", "must be a GeoJSON FeatureCollection")
    features = collection.get("features")
    if not isinstance(features, list):
        raise AreaError(layer, -1, "features", "must be a list of features")
    seen: set[str] = set()
    out = []
    for index, feature in enumerate(features):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise AreaError(layer, index, f"features[{index}]", "must be a GeoJSON Feature")
        props = feature.get("properties")
        if not isinstance(props, dict):
            raise AreaError(layer, index, f"features[{index}].properties", "must be an object")
        ident = _text(layer, index, props, "id")
        if ident in seen:
            raise AreaError(layer, index, _key(index, "id"), f"duplicate id {ident!r}")
        seen.add(ident)
        out.append((props, _geometry(layer, index, feature.get("geometry"))))
    return out


def _geometry(layer: str, index: int, raw: Any) -> Any:
    key = f"features[{index}].geometry"
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind not in ("Polygon", "MultiPolygon"):
        raise AreaError(layer, index, key, f"must be a Polygon or MultiPolygon, not {kind!r}")
    try:
        geom = shape(raw)
    except Exception as exc:  # shapely raises several types for malformed coordinates
        raise AreaError(layer, index, key, f"bad coordinates: {exc}") from None
    if geom.is_empty:
        raise AreaError(layer, index, key, "is empty")
    west, south, east, north = geom.bounds
    in_range = west >= -180.0 and east <= 180.0 and south >= -90.0 and north <= 90.0
    if not in_range:  # also NaN, which json.loads accepts
        raise AreaError(layer, index, key, "coordinates out of range (GeoJSON order is [lon, lat])")
    if not shapely.is_valid(geom):
        raise AreaError(layer, index, key, f"invalid: {shapely.is_valid_reason(geom)}")
    return geom
