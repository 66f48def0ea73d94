"""The board's filters, read from the page's URL so a view can be bookmarked: each value
checked against its vocabulary, and turned into the requests the services answer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from urllib.parse import urlencode

from fengqiao.domain.model import Colour, Route
from fengqiao.domain.vocabulary import CATEGORIES
from fengqiao.platform.convert import colour_to_proto, route_to_proto
from fengqiao.v1 import dispute_pb2, intake_pb2

COLOUR_ANY = dispute_pb2.COLOUR_UNSPECIFIED


@dataclass(frozen=True, slots=True)
class BoardFilter:
    street: str = ""
    community: str = ""
    category: str = ""
    route: str = ""
    colour: str = ""
    overdue: bool = False

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> tuple[BoardFilter, list[str]]:
        """The filter in `query`, and what was wrong with it (those values are ignored)."""
        problems: list[str] = []

        def pick(name: str, allowed: Mapping[str, object] | None, what: str) -> str:
            value = query.get(name, "").strip()[:200]
            if value and allowed is not None and value not in allowed:
                problems.append(f"未知的{what}“{value}”，已忽略")
                return ""
            return value

        return (
            cls(
                street=pick("street", None, "街道"),
                community=pick("community", None, "社区"),
                category=pick("category", CATEGORIES, "纠纷类型"),
                route=pick("route", {r.value: r for r in Route}, "分流去向"),
                colour=pick("colour", {c.value: c for c in Colour}, "颜色"),
                overdue=query.get("overdue", "") in ("1", "true", "on"),
            ),
            problems,
        )

    def list_request(self, page_size: int, page_token: str = "") -> intake_pb2.ListDisputesRequest:
        return intake_pb2.ListDisputesRequest(
            street=self.street,
            community=self.community,
            category=self.category,
            route=route_to_proto(Route(self.route) if self.route else None),
            colour=colour_to_proto(Colour(self.colour)) if self.colour else COLOUR_ANY,
            overdue=self.overdue,
            page_size=page_size,
            page_token=page_token,
        )

    def query(self, **more: str) -> str:
        """This filter as a URL query (only what is set), plus `more`."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["overdue"] = "1" if self.overdue else ""
        return urlencode({k: v for k, v in {**values, **more}.items() if v})
