"""The closed vocabularies a dispute is described with: code → Chinese label.

Codes travel on the wire and in the rules file; labels are what people read.
Adding a code here is a code change on purpose: the policy check refuses rules that
name codes intake would never accept.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from fengqiao.domain.kinds import EventKind
from fengqiao.domain.model import Route

CATEGORIES: Final = MappingProxyType(
    {
        "neighbour_noise": "邻里噪音扰民",
        "neighbour_boundary": "相邻关系与宅基地边界",
        "property_management": "物业服务（供暖、漏水、停车）",
        "marriage_family": "婚姻家庭",
        "labour_wages": "劳动争议与欠薪",
        "contract_debt": "合同与债务",
        "personal_injury": "人身损害赔偿",
        "land_acquisition": "土地征用与回迁安置",
        "title_deed": "不动产权证历史遗留问题",
        "petition": "信访事项",
        "other": "其他纠纷",
    }
)

CHANNELS: Final = MappingProxyType(
    {
        "letter": "来信",
        "visit": "来访",
        "online": "网上信访",
        "phone": "来电",
        "video": "视频接访",
        "grid_patrol": "网格员巡查",
        "hotline": "12345热线",
    }
)

RISK_FLAGS: Final = MappingProxyType(
    {
        "violence": "暴力倾向",
        "threat": "威胁恐吓",
        "self_harm": "自伤自杀倾向",
        "group_incident": "群体性事件苗头",
    }
)

PARTY_ROLES: Final = MappingProxyType(
    {
        "applicant": "申请人",
        "respondent": "被申请人",
        "other": "其他当事人",
    }
)

# Who can be told of a decision. `party` stands for every party of the dispute.
RECIPIENT_ROLES: Final = MappingProxyType(
    {
        "grid_worker": "网格员",
        "community_mediation_room": "社区人民调解室",
        "street_governance_centre": "街道综治中心",
        "police_station": "派出所",
        "court_mediation_centre": "法院诉调对接中心",
        "labour_dispute_room": "劳动争议调解室",
        "family_mediation_room": "婚姻家庭调解室",
        "lawyer_mediation_room": "律师调解工作室",
        "street_leader": "街道主要领导（包案）",
        "party": "当事人",
    }
)

# What can move a dispute: its arrival, then the events of its life (限期调处、逐级上交).
TRIGGERS: Final = MappingProxyType(
    {
        EventKind.SUBMITTED.value: "新受理",
        EventKind.MEDIATION_FAILED.value: "调解不成",
        EventKind.DEADLINE_EXPIRED.value: "办理期限届满",
        EventKind.RISK_RAISED.value: "出现风险苗头",
        EventKind.REPEAT_COMPLAINT.value: "重复投诉",
        EventKind.RESPONSE_EXPIRED.value: "未在时限内受理",
        EventKind.ESCALATION_REQUESTED.value: "申请上报",
    }
)
SUBMITTED: Final = EventKind.SUBMITTED.value

ROUTE_LABELS: Final = MappingProxyType(
    {
        Route.LOCAL: "就地化解",
        Route.STREET_OFFICE: "街道联合调解",
        Route.COURT_FAST_TRACK: "诉调对接速裁",
    }
)


def label(vocabulary: MappingProxyType[str, str], code: str) -> str:
    """The Chinese label of `code`, or the code itself when it is not in the vocabulary."""
    return vocabulary.get(code, code)
